"""The GPU generator backend: a diffusers text-to-video pipeline loaded from a local model directory.

Decision: this module imports torch and diffusers, which the conventions otherwise keep inside
perception/. The generator is itself the heavy model, it is not a perception capability, and
nothing else needs it; so it lives with the other backend, and both imports are lazy (inside
functions) so that importing this module, or generation at all, stays cheap and the CPU
renderer's processes never load torch because of it.

What the backend does for each shot of a request: it asks the pipeline for as many frames as the
shot lasts at the requested fps, capped by what the model is made for (its own default frame
count) and snapped to its temporal rule (k·t + 1 frames for video VAEs that compress time by t);
it generates at the model's native area with the request's aspect ratio, from a seeded CPU
torch.Generator (the same latents on any device), then stretches or thins the frames evenly over
the shot and resizes them to the requested resolution. Audio is the CPU renderer's: espeak-ng
speech for quoted dialogue, a seeded chord otherwise. The result is an H.264 + AAC MP4.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gate.errors import BadRequest, ConfigurationError
from gate.settings import Settings
from generation.backends import Progress, RenderRequest, soundtrack, split_frames, write_mp4
from perception.registry import require_path

SETTING = "CAMEOGATE_DIFFUSERS_MODEL_DIR"
SIZE_MULTIPLE = 32  # every supported pipeline accepts multiples of 32 (LTX needs 32; the rest 8 or 16)
FALLBACK_FRAMES = 16  # a pipeline that states no default frame count gets ModelScope's
FALLBACK_SIZE = (512, 512)  # a pipeline that states no default resolution


OPTIONS_FILE = "cameogate.json"  # optional, beside model_index.json: {"steps": 40, "native_size": [576, 320]}
_OPTIONS = {"steps": int, "max_frames": int, "native_size": list, "device": str}


def load_backend(settings: Settings) -> DiffusersBackend:
    """The backend for CAMEOGATE_GENERATOR_BACKEND=diffusers, from CAMEOGATE_DIFFUSERS_MODEL_DIR.

    Per-model tuning (steps, native size, frame cap) lives in an optional cameogate.json in the
    model directory rather than in settings: it belongs to the weights, and travels with them."""
    model_dir: Path = require_path(settings, "diffusers_model_dir")
    return DiffusersBackend(model_dir, **read_options(model_dir))


def read_options(model_dir: Path) -> dict[str, Any]:
    path = model_dir / OPTIONS_FILE
    if not path.is_file():
        return {}
    try:
        options = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigurationError(f"{SETTING}: {path} is not valid JSON: {exc}") from exc
    if not isinstance(options, dict):
        raise ConfigurationError(f"{SETTING}: {path} must hold a JSON object")
    for key, value in options.items():
        if key not in _OPTIONS or not isinstance(value, _OPTIONS[key]) or isinstance(value, bool):
            raise ConfigurationError(f"{SETTING}: {path}: unknown option or wrong type: {key}={value!r}")
    if "native_size" in options:
        size = options["native_size"]
        if len(size) != 2 or not all(isinstance(v, int) and v >= SIZE_MULTIPLE for v in size):
            raise ConfigurationError(f"{SETTING}: {path}: native_size must be [width, height]")
        options["native_size"] = (size[0], size[1])
    return options


class DiffusersBackend:
    """A GeneratorBackend over any diffusers pipeline that takes `prompt` and `num_frames`.

    Loaded once per worker process (start-up fails with ConfigurationError naming the setting
    when the directory is not a loadable pipeline); nothing is ever downloaded.
    """

    name = "diffusers"

    def __init__(
        self,
        model_dir: Path,
        *,
        steps: int = 25,
        device: str | None = None,
        max_frames: int | None = None,
        native_size: tuple[int, int] | None = None,
    ) -> None:
        model_dir = Path(model_dir)
        if not (model_dir / "model_index.json").is_file():
            raise ConfigurationError(
                f"{SETTING}={model_dir} is not a diffusers pipeline (no model_index.json)"
            )
        import diffusers
        import torch

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # Half precision on a GPU (bf16 where the card has it: Wan, CogVideoX and LTX are trained
        # in it), full precision on the CPU, where half precision is slow or unsupported.
        if self.device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = torch.float32
        try:
            pipe = diffusers.DiffusionPipeline.from_pretrained(model_dir, local_files_only=True, dtype=dtype)
        except (
            OSError,
            ValueError,
            KeyError,
            AttributeError,
            TypeError,
            ImportError,
            NotImplementedError,
        ) as exc:
            # diffusers 0.42 loads models that pin modules to fp32 (Wan) only through accelerate.
            hint = "; install the accelerate package" if "low_cpu_mem_usage" in str(exc) else ""
            raise ConfigurationError(f"{SETTING}={model_dir} cannot be loaded: {exc}{hint}") from exc
        self._params = inspect.signature(pipe.__call__).parameters
        if "prompt" not in self._params or "num_frames" not in self._params:
            raise ConfigurationError(
                f"{SETTING}={model_dir} holds a {type(pipe).__name__}, not a text-to-video pipeline"
            )
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(self.device)
        self.steps = steps
        self.max_frames = max_frames or _default_frames(pipe, self._params)
        self.temporal = _temporal_factor(pipe)
        self.native_size = native_size or _default_size(pipe, self._params)
        # A pipeline that takes `image=` is an image-to-video model: diffusers' image-to-video
        # pipelines fail without one even where the parameter defaults to None (LTX). The API
        # can read this to refuse such a request before queueing it.
        self.requires_input_image = "image" in self._params
        self.version = (
            f"{diffusers.__version__}/{type(pipe).__name__}/{model_dir.name}@{_config_digest(model_dir)}"
        )

    def render(self, request: RenderRequest, dest: Path, *, progress: Progress) -> None:
        if self.requires_input_image and not request.input_frames:
            raise BadRequest(
                "the configured generator is an image-to-video model and needs an input image",
                code="input_image_required",
            )
        shots = request.shots
        total = max(1, round(request.duration * request.fps))
        per_shot = split_frames(total, len(shots))
        size = generation_size(request.width, request.height, self.native_size)
        steps_done, steps_total = 0, self.steps * len(shots)

        def on_step() -> None:
            nonlocal steps_done
            steps_done += 1
            progress(0.95 * steps_done / steps_total)  # raises when the job was cancelled

        def frames() -> Iterator[np.ndarray]:
            for index, (shot, wanted) in enumerate(zip(shots, per_shot, strict=True)):
                if wanted == 0:  # more shots than frames in a very short clip
                    continue
                for frame in fit_frames(self._generate(request, shot, index, wanted, size, on_step), wanted):
                    yield _resize(frame, request.width, request.height)

        write_mp4(dest, request, frames(), soundtrack(request, shots, per_shot))
        progress(1.0)

    def _generate(
        self,
        request: RenderRequest,
        shot: str,
        index: int,
        wanted: int,
        size: tuple[int, int],
        on_step: Callable[[], None],
    ) -> list[np.ndarray]:
        import torch

        # A CPU generator makes the same initial noise on any device (diffusers moves it over).
        generator = torch.Generator("cpu").manual_seed(shot_seed(request.seed, index))
        kwargs = call_kwargs(
            self._params,
            prompt=shot,
            num_frames=snap_frames(min(wanted, self.max_frames), self.temporal, self.max_frames),
            size=size,
            steps=self.steps,
            fps=request.fps,
            image=request.input_frames[0] if request.input_frames else None,
            on_step=on_step,
        )
        with torch.inference_mode():
            result = self.pipe(generator=generator, **kwargs)
        return to_frames(result)


def shot_seed(seed: int, index: int) -> int:
    """Each shot its own noise, fixed by the request's seed."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def snap_frames(wanted: int, temporal: int, cap: int) -> int:
    """The frame count closest above `wanted` that the model accepts (k·temporal + 1), within `cap`."""
    wanted = max(1, wanted)
    if temporal <= 1:
        return min(wanted, cap)
    snapped = math.ceil((wanted - 1) / temporal) * temporal + 1
    while snapped > cap and snapped > temporal:
        snapped -= temporal
    return snapped


def fit_frames(frames: list[np.ndarray], count: int) -> list[np.ndarray]:
    """`count` frames spread evenly over the generated ones: each held when the model made fewer
    (the motion is slowed to fill the shot), some skipped when it made more."""
    if not frames:
        raise ValueError("the pipeline returned no frames")
    return [frames[min(len(frames) - 1, i * len(frames) // count)] for i in range(count)]


def generation_size(width: int, height: int, native: tuple[int, int]) -> tuple[int, int]:
    """The request's aspect ratio at no more than the model's native area (never upscaled
    beyond the request), in multiples of SIZE_MULTIPLE; the frames are resized afterwards."""
    scale = min(1.0, math.sqrt(native[0] * native[1] / (width * height)))

    def snap(v: float) -> int:
        return max(SIZE_MULTIPLE, round(v / SIZE_MULTIPLE) * SIZE_MULTIPLE)

    return snap(width * scale), snap(height * scale)


def call_kwargs(
    params: Any,
    *,
    prompt: str,
    num_frames: int,
    size: tuple[int, int],
    steps: int,
    fps: int,
    image: np.ndarray | None,
    on_step: Callable[[], None],
) -> dict[str, Any]:
    """The arguments this pipeline's __call__ takes, from what it declares (pipelines differ)."""
    kwargs: dict[str, Any] = {
        "prompt": prompt,
        "num_frames": num_frames,
        "width": size[0],
        "height": size[1],
        "num_inference_steps": steps,
    }
    if "output_type" in params:
        kwargs["output_type"] = "np"
    if "frame_rate" in params:  # LTX-Video conditions on the frame rate
        kwargs["frame_rate"] = fps
    if "image" in params and image is not None:  # text-only pipelines never see an input image
        from PIL import Image

        kwargs["image"] = Image.fromarray(_resize(image, *size))
    if "callback_on_step_end" in params:

        def step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            on_step()
            return {}

        kwargs["callback_on_step_end"] = step_end
    elif "callback" in params:  # older pipelines (TextToVideoSDPipeline)
        kwargs["callback"] = lambda step, timestep, latents: on_step()
        kwargs["callback_steps"] = 1
    return {k: v for k, v in kwargs.items() if k in params}


def to_frames(result: Any) -> list[np.ndarray]:
    """The first video of a pipeline output as uint8 RGB frames, whatever form the pipeline chose
    (a float array in [0, 1], a tensor, or PIL images)."""
    frames = result.frames if hasattr(result, "frames") else result[0]
    video = frames[0]
    if isinstance(video, list | tuple) and video and hasattr(video[0], "convert"):
        return [np.asarray(img.convert("RGB")) for img in video]
    if hasattr(video, "detach"):
        video = video.detach().float().cpu().numpy()
    array = np.asarray(video)
    if array.ndim == 4 and array.shape[-1] not in (1, 3) and array.shape[1] in (1, 3):
        array = array.transpose(0, 2, 3, 1)  # frames × channels × H × W
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
    if array.shape[-1] == 1:
        array = array.repeat(3, axis=-1)
    return [np.ascontiguousarray(f) for f in array]


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    shrinking = frame.shape[1] > width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(frame, (width, height), interpolation=interpolation)


def _default_frames(pipe: Any, params: Any) -> int:
    """What the model is made for: its __call__'s default frame count, or its config's."""
    default = params["num_frames"].default
    if isinstance(default, int):
        return default
    config = getattr(getattr(pipe, "transformer", None), "config", None)
    sample_frames = getattr(config, "sample_frames", None)
    return sample_frames if isinstance(sample_frames, int) else FALLBACK_FRAMES


def _temporal_factor(pipe: Any) -> int:
    """How many frames one latent frame stands for (the k·t + 1 rule); 1 when any count works."""
    for attr in ("vae_scale_factor_temporal", "vae_temporal_compression_ratio", "vae_temporal_scale_factor"):
        value = getattr(pipe, attr, None)
        if isinstance(value, int) and value > 1:
            return value
    return 1


def _default_size(pipe: Any, params: Any) -> tuple[int, int]:
    """The model's native (width, height): its __call__ defaults, else its config."""
    width, height = params.get("width"), params.get("height")
    if width is not None and height is not None and isinstance(width.default, int):
        return width.default, height.default
    if isinstance(getattr(pipe, "default_width", None), int):
        return pipe.default_width, pipe.default_height
    unet = getattr(pipe, "unet", None)
    scale = getattr(pipe, "vae_scale_factor", None) or getattr(pipe, "vae_scale_factor_spatial", None)
    if unet is not None and isinstance(scale, int):
        side = unet.config.sample_size * scale
        return side, side
    config = getattr(getattr(pipe, "transformer", None), "config", None)
    if config is not None and isinstance(scale, int) and hasattr(config, "sample_width"):
        return config.sample_width * scale, config.sample_height * scale
    return FALLBACK_SIZE


def _config_digest(model_dir: Path) -> str:
    """A short digest of the pipeline's configuration files (weights are too large to hash here)."""
    digest = hashlib.sha256()
    for path in sorted(model_dir.glob("*.json")) + sorted(model_dir.glob("*/*.json")):
        digest.update(path.relative_to(model_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
