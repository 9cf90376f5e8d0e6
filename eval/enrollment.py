"""Enrollment model evaluation on ../shared/data (offline default models).

    .venv/bin/python -m eval.enrollment [--strings 15] [--seed 1]

Prints: face verification over every same/different pair in faces/ (TAR at FAR <= 1% and the
threshold), speaker EER on voices/librispeech, the spoken-digit check on voices/digits (correct and
wrong challenge pass rates per edit-distance tolerance), and the voice-consistency check (cosine of
the two halves of a 6-digit track: one speaker vs a speaker change half-way). The policy's
enrollment thresholds come from these figures (docs/ENROLLMENT.md).
"""

from __future__ import annotations

import argparse
import itertools
import random
import time

import numpy as np
import soundfile as sf
from PIL import Image

from consent.enrollment.checks import edit_distance
from consent.enrollment.service import speech_span
from gate.settings import PROJECT_ROOT, Settings
from perception.registry import Models

DATA = PROJECT_ROOT.parent / "shared" / "data"


def tar_at_far(same: np.ndarray, diff: np.ndarray, far: float = 0.01) -> tuple[float, float]:
    """(TAR, threshold): the lowest threshold whose false-accept rate is <= `far`."""
    for t in np.unique(np.concatenate([same, diff])):
        if (diff >= t).mean() <= far:
            return float((same >= t).mean()), float(t)
    return 0.0, float("inf")


def eer(same: np.ndarray, diff: np.ndarray) -> tuple[float, float]:
    """(equal error rate, threshold) over the observed scores."""
    best = (1.0, 0.0)
    for t in np.unique(np.concatenate([same, diff])):
        frr, far = float((same < t).mean()), float((diff >= t).mean())
        if abs(frr - far) < abs(best[0] - best[1]) or best == (1.0, 0.0):
            best = (frr, far)
            thr = float(t)
    return (best[0] + best[1]) / 2, thr


def faces(models: Models) -> None:
    det, emb = models.face_detector, models.face_embedder
    vectors: list[tuple[str, np.ndarray]] = []
    skipped = []
    for person in sorted(p for p in (DATA / "faces").iterdir() if p.is_dir() and p.name != "multi"):
        for path in sorted(person.iterdir()):
            rgb = np.asarray(Image.open(path).convert("RGB"))
            found = det.detect(rgb)
            if not found:
                skipped.append(path.relative_to(DATA).as_posix())
                continue
            vectors.append((person.name, emb.embed(rgb, found[:1])[0]))
    same, diff = [], []
    for (a, va), (b, vb) in itertools.combinations(vectors, 2):
        (same if a == b else diff).append(float(va @ vb))
    s, d = np.array(same), np.array(diff)
    tar, thr = tar_at_far(s, d)
    print(f"face ({emb.model_id}): {len(vectors)} photos, {len(s)} same pairs, {len(d)} different pairs")
    print(f"  no face found in: {skipped or 'none'}")
    print(
        f"  TAR {tar:.3f} at FAR <= 1% (threshold {thr:.3f});"
        f" same min {s.min():.3f}, different max {d.max():.3f}"
    )


def speakers(models: Models) -> None:
    voice = models.voice_embedder
    vecs = []
    for spk in sorted(p for p in (DATA / "voices" / "librispeech").iterdir() if p.is_dir()):
        for f in sorted(spk.glob("*.flac")):
            vecs.append((spk.name, voice.embed(sf.read(f, dtype="float32")[0])))
    same, diff = [], []
    for (a, va), (b, vb) in itertools.combinations(vecs, 2):
        (same if a == b else diff).append(float(va @ vb))
    rate, thr = eer(np.array(same), np.array(diff))
    print(f"speaker ({voice.model_id}): {len(vecs)} utterances, EER {rate:.3f} at threshold {thr:.3f}")


def _track(speakers: list[str], digits: str, rng: random.Random) -> np.ndarray:
    from scipy.signal import resample_poly

    parts = [np.zeros(4000, np.float32)]
    for spk, d in zip(speakers, digits, strict=True):
        pcm, _ = sf.read(DATA / "voices" / "digits" / spk / f"{d}_{rng.randrange(10)}.wav", dtype="float32")
        parts += [
            resample_poly(pcm, 2, 1).astype(np.float32),
            np.zeros(int(rng.uniform(0.1, 0.3) * 16_000), np.float32),
        ]
    return np.concatenate(parts)


def digits(models: Models, n: int, rng: random.Random) -> None:
    speech = models.speech
    spks = sorted(p.name for p in (DATA / "voices" / "digits").iterdir() if p.is_dir())
    right: dict[str, list[int]] = {}
    wrong: list[int] = []
    for spk in spks:
        for _ in range(n):
            said = "".join(rng.choice("0123456789") for _ in range(6))
            heard = speech.digits(_track([spk] * 6, said, rng))
            other = "".join(rng.choice("0123456789") for _ in range(6))
            right.setdefault(spk, []).append(edit_distance(said, heard))
            wrong.append(edit_distance(other, heard))
    print(f"digits ({speech.model_id}): {len(spks)} speakers x {n} random 6-digit strings")
    allright = np.concatenate([np.array(v) for v in right.values()])
    for k in range(4):
        per = ", ".join(f"{s} {np.mean(np.array(v) <= k):.2f}" for s, v in right.items())
        print(
            f"  tolerance {k}: correct passes {np.mean(allright <= k):.3f} ({per});"
            f" wrong passes {np.mean(np.array(wrong) <= k):.4f}"
        )


def voice_halves(models: Models, n: int, rng: random.Random) -> None:
    voice = models.voice_embedder
    spks = sorted(p.name for p in (DATA / "voices" / "digits").iterdir() if p.is_dir())
    same, diff = [], []
    for spk in spks:
        for _ in range(n):
            said = "".join(rng.choice("0123456789") for _ in range(6))
            other = rng.choice([s for s in spks if s != spk])
            for who, out in (([spk] * 6, same), ([spk] * 3 + [other] * 3, diff)):
                span = speech_span(_track(who, said, rng))
                mid = span.size // 2
                out.append(float(voice.embed(span[:mid]) @ voice.embed(span[mid:])))
    s, d = np.array(same), np.array(diff)
    rate, thr = eer(s, d)
    print(f"voice halves ({voice.model_id}): {len(s)} one-speaker, {len(d)} changed-speaker 6-digit tracks")
    print(f"  EER {rate:.3f} at {thr:.3f}; one-speaker 5th pct {np.percentile(s, 5):.3f}, min {s.min():.3f};"
          f" changed 95th pct {np.percentile(d, 95):.3f}, max {d.max():.3f}")  # fmt: skip
    for t in (0.5, 0.55, 0.6, 0.65, 0.7):
        print(
            f"  threshold {t:.2f}: one-speaker rejected {(s < t).mean():.3f},"
            f" changed accepted {(d >= t).mean():.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--strings", type=int, default=15, help="random strings per digit speaker")
    parser.add_argument("--seed", type=int, default=1)
    steps = ["faces", "speakers", "digits", "halves"]
    parser.add_argument("--only", choices=steps, action="append")
    args = parser.parse_args()
    models = Models(Settings())
    rng = random.Random(args.seed)
    steps = args.only or steps
    for step in steps:
        started = time.perf_counter()
        if step == "faces":
            faces(models)
        elif step == "speakers":
            speakers(models)
        elif step == "digits":
            digits(models, args.strings, rng)
        else:
            voice_halves(models, args.strings, rng)
        print(f"  ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
