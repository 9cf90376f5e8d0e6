"""IP matching evaluation: recall per transform and false-positive rate of the offline signals
(SIFT + RANSAC, PDQ) at the default policy's thresholds.

References are procedural logos (eval/art.py; no image data ships in an installed package here:
scikit-image and matplotlib are not installed). Positives transform or composite each reference
as the issue lists; negatives are unrelated procedural scenes, unrelated logos that are not in
the index (hard negatives), every frame of the real video in ../shared/data/video and the real
face photos. Run: `.venv/bin/python -m eval.ip_matching [--refs 40] [--scenes 800]`.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections import defaultdict
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from eval.art import logo, paste, scene
from gate.media import iter_frames
from gate.settings import PROJECT_ROOT
from policies.schema import Safety
from policies.service import load_file
from safety.indexes import LiveOptOut, SafetyIndexes
from safety.service import frame_features
from safety.signals import RefFeatures

SHARED = PROJECT_ROOT.parent / "shared" / "data"
Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert decoded is not None
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def crop(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    f = rng.uniform(0.5, 0.9)  # keep 50-90% of each side
    ch, cw = int(h * f), int(w * f)
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return np.ascontiguousarray(rgb[y : y + ch, x : x + cw])


def scale(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    f = float(np.exp(rng.uniform(np.log(0.3), np.log(2.0))))
    h, w = rgb.shape[:2]
    size = (max(8, int(w * f)), max(8, int(h * f)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)


def rotate(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(-30, 30)
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(rgb, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def jpeg30(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _jpeg(rgb, 30)


def colour_shift(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.int32)
    hsv[..., 0] = (hsv[..., 0] + int(rng.integers(20, 60))) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.6, 1.3), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.7, 1.2) + rng.integers(-20, 20), 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def text_overlay(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = rgb.copy()
    h, w = out.shape[:2]
    words = ["SALE 50%", "NEW!", "meme text here", "follow me", "2026"]
    for i in range(2):
        cv2.putText(
            out, str(rng.choice(words)), (int(w * 0.05), int(h * (0.2 + 0.6 * i))), cv2.FONT_HERSHEY_SIMPLEX,
            w / 300, (255, 255, 255), max(2, w // 100), cv2.LINE_AA,
        )  # fmt: skip
    return out


def pasted(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    background = scene(int(rng.integers(0, 1_000_000)))
    return paste(background, rgb, float(rng.uniform(0.10, 0.20)), int(rng.integers(0, 1 << 30)))


def covered(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = rgb.copy()
    h, w = out.shape[:2]
    side = np.sqrt(0.3)  # a block over 30% of the area
    bh, bw = int(h * side), int(w * side)
    y, x = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    out[y : y + bh, x : x + bw] = rng.integers(0, 256, 3)
    return out


def hflip(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, ::-1])


TRANSFORMS: dict[str, Transform] = {
    "crop 50-90%": crop,
    "scale 0.3-2x": scale,
    "rotate ±30°": rotate,
    "JPEG q30": jpeg30,
    "colour shift": colour_shift,
    "text overlay": text_overlay,
    "pasted 10-20% into a scene": pasted,
    "30% covered": covered,
    "horizontal flip": hflip,
}


def negatives(n_scenes: int, n_logos: int) -> list[tuple[str, np.ndarray]]:
    out: list[tuple[str, np.ndarray]] = [("scene", scene(s)) for s in range(n_scenes)]
    out += [("unindexed logo", paste(scene(50_000 + s), logo(90_000 + s), 0.15, s)) for s in range(n_logos)]
    video = SHARED / "video" / "short_hamilton_clip.mp4"
    if video.exists():
        out += [("video frame", rgb) for _, rgb in iter_frames(video)]
    for path in sorted((SHARED / "faces").rglob("*")):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png") and path.name != "aligned.png":
            out.append(("face photo", np.asarray(Image.open(path).convert("RGB"))))
    return out


def build_index(n_refs: int) -> tuple[SafetyIndexes, list[uuid.UUID]]:
    holder = SafetyIndexes(text_model_id="none", text_dim=8, embed_texts=None)
    ids = []
    for s in range(n_refs):
        rgb = logo(s)
        local = holder.extractor.extract(rgb, reference=True)
        pdq, quality = holder.hasher.dihedral(rgb)
        oid = uuid.uuid4()
        holder.add_reference(
            RefFeatures(
                uuid.uuid4(),
                oid,
                rgb.shape[1],
                rgb.shape[0],
                pdq,
                quality,
                local.keypoints,
                local.descriptors,
            )
        )
        holder.live_optouts[oid] = LiveOptOut(oid, f"logo {s}", "block", oid)
        ids.append(oid)
    return holder, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--refs", type=int, default=40)
    parser.add_argument("--scenes", type=int, default=800)
    parser.add_argument("--hard", type=int, default=200, help="unindexed logos pasted into scenes")
    args = parser.parse_args()
    policy: Safety = load_file(PROJECT_ROOT / "policies" / "default.yaml").policy.safety
    started = time.perf_counter()
    holder, ids = build_index(args.refs)
    print(f"index: {holder.stats()}")
    rng = np.random.default_rng(2026)
    hits: dict[str, int] = defaultdict(int)
    by_signal: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    wrong = 0
    times = []
    for name, fn in TRANSFORMS.items():
        for s, oid in enumerate(ids):
            img = fn(logo(s), rng)
            t0 = time.perf_counter()
            matches = holder.match_frame(frame_features(holder, None, 0.0, img), policy=policy)
            times.append(time.perf_counter() - t0)
            right = [m for m in matches if m.optout_id == oid]
            wrong += any(m.optout_id != oid for m in matches)
            if right:
                hits[name] += 1
                for sig in {m.signal for m in right}:
                    by_signal[name][sig] += 1
    negs = negatives(args.scenes, args.hard)
    false_pos: dict[str, int] = defaultdict(int)
    neg_count: dict[str, int] = defaultdict(int)
    for kind, img in negs:
        t0 = time.perf_counter()
        matches = holder.match_frame(frame_features(holder, None, 0.0, img), policy=policy)
        times.append(time.perf_counter() - t0)
        neg_count[kind] += 1
        false_pos[kind] += bool(matches)
    n = len(ids)
    print(f"\n{'transform':32} recall   (sift / pdq)")
    total = 0
    for name in TRANSFORMS:
        total += hits[name]
        sift, pdq = by_signal[name]["sift"], by_signal[name]["pdq"]
        print(f"{name:32} {hits[name] / n:6.1%}   ({sift} / {pdq} of {n})")
    positives = n * len(TRANSFORMS)
    print(f"{'overall':32} {total / positives:6.1%}   ({total}/{positives}); wrong opt-out matched: {wrong}")
    fp = sum(false_pos.values())
    neg_total = sum(neg_count.values())
    print(f"\nfalse positives: {fp}/{neg_total} negative frames = {fp / neg_total:.3%}")
    for kind in neg_count:
        print(f"  {kind:20} {false_pos[kind]}/{neg_count[kind]}")
    per = np.array(times) * 1000
    print(f"\nper-frame match time: median {np.median(per):.0f} ms, p95 {np.percentile(per, 95):.0f} ms")
    print(f"total {time.perf_counter() - started:.0f} s (shared 2-core machine)")


if __name__ == "__main__":
    main()
