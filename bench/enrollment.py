"""Capture verification time for a 5 s 720p capture (the issue's budget: 10 s on 2 cores).

    .venv/bin/python -m bench.enrollment [--repeat 2]

Builds the capture from the real video's one-person stretch, upscaled to 1280x720, with a real
speaker's digits; times decoding + every model-based check with warm models (as a running process
has them), and as a baseline the same with MTCNN on full-resolution frames (no downscaling).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from consent.enrollment import service
from consent.enrollment.checks import ChallengeRow
from gate.settings import Settings
from perception.registry import Models
from policies.service import ActivePolicy, load_file
from tests.enrollment import media as M


def build(dest: Path) -> Path:
    speech = M.digit_track("305172", M.GENUINE_SPEAKER, take=2)
    wav = dest.with_suffix(".wav")
    M._write_wav(wav, speech)
    M._ffmpeg(
        ["-ss", "3.0", "-t", "5.0", "-i", str(M.VIDEO), "-i", str(wav), "-map", "0:v", "-map", "1:a",
         "-vf", "scale=1280:720", "-af", "apad", "-shortest"],
        dest,
    )  # fmt: skip
    return dest


def verify_once(data: bytes, models: Models, policy: ActivePolicy, challenge: ChallengeRow) -> float:
    started, cpu = time.perf_counter(), time.process_time()
    frames, audio = service.decode_capture(data, policy)
    obs, _ = service.observe(models, frames, audio, policy.policy.enrollment)
    service.run_checks(obs, challenge, policy.policy.enrollment)
    wall = time.perf_counter() - started
    # On a shared machine wall time includes waiting for a core; CPU seconds do not.
    print(f"  wall {wall:.2f} s, CPU {time.process_time() - cpu:.2f} s, {len(frames)} frames sampled")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    settings = Settings()
    policy = load_file(settings.policy_file)
    models = Models(settings)
    started = time.perf_counter()
    for name in ("face_detector", "face_embedder", "voice_embedder", "speech"):
        getattr(models, name)
    print(f"model load (once per process): {time.perf_counter() - started:.1f} s")
    challenge = ChallengeRow(None, None, M.GENUINE_MOVES, "305172", None, None)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        data = build(Path(tmp) / "capture720.mp4").read_bytes()
    verify_once(data, models, policy, challenge)  # warm-up (first MTCNN call allocates)
    ours = [verify_once(data, models, policy, challenge) for _ in range(args.repeat)]
    full_res = policy.policy.model_copy(
        update={"enrollment": policy.policy.enrollment.model_copy(update={"detect_short_side": 720})}
    )
    baseline_policy = type(policy)(full_res, policy.sha256, policy.source)
    base = [verify_once(data, models, baseline_policy, challenge) for _ in range(args.repeat)]
    o, b = statistics.median(ours), statistics.median(base)
    print(f"capture: 5.0 s, 1280x720, {len(data)} bytes; pose at {policy.policy.enrollment.pose_fps:g} fps")
    print(
        f"verify (MTCNN at {policy.policy.enrollment.detect_short_side} px short side):"
        f" median {o:.2f} s {ours}"
    )
    print(f"baseline (MTCNN at full 720p): median {b:.2f} s {base}")
    print(f"ratio ours/baseline {o / b:.2f}; budget 10 s -> {o / 10:.2f} of budget")


if __name__ == "__main__":
    main()
