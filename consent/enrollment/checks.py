"""The liveness and eligibility checks of one enrollment capture, each a plain function with its own
name and reason code, run over what the models observed (no model is called here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from perception.pose import head_pose, interocular, nose_parallax
from perception.protocols import Face
from policies.schema import Enrollment

MOVES = ("left", "right", "up", "down")


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool | None  # None: not run (an earlier failure made it meaningless)
    score: float | None
    threshold: float | None
    code: str | None  # the reason code when failed
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "score": None if self.score is None else round(float(self.score), 4),
            "threshold": self.threshold,
            "code": self.code,
            "detail": self.detail,
        }


def _result(
    name: str, ok: bool, score: float | None, threshold: float | None, code: str, detail: str = ""
) -> CheckResult:
    return CheckResult(name, ok, score, threshold, None if ok else code, detail)


def not_run(name: str, why: str) -> CheckResult:
    return CheckResult(name, None, None, None, None, f"not run: {why}")


@dataclass(frozen=True)
class FrameObs:
    t: float
    faces: list[Face]  # confident faces in full-frame coordinates, largest first
    short_side: int
    sharpness: float | None = None  # variance of the Laplacian over the main face


@dataclass
class Observation:
    frames: list[FrameObs]
    embeddings: np.ndarray  # (k, dim): the single face of k frames spread over the capture
    heard: str  # digits recognised in the audio
    voice_halves: tuple[np.ndarray, np.ndarray] | None  # first / second half of the speech
    speech_seconds: float
    model_ids: dict[str, str] = field(default_factory=dict)

    def single_face_frames(self) -> list[FrameObs]:
        return [f for f in self.frames if len(f.faces) == 1]


@dataclass(frozen=True)
class ChallengeRow:
    id: uuid.UUID
    cameo_id: uuid.UUID
    moves: list[str]
    digits: str
    expires_at: datetime
    used_at: datetime | None


# --- challenge and replay -----------------------------------------------------------------------


def check_challenge(challenge: ChallengeRow | None, *, cameo_id: uuid.UUID, now: datetime) -> CheckResult:
    """Fresh, unused, and issued for this cameo."""
    name = "challenge"
    if challenge is None:
        return _result(name, False, None, None, "challenge_unknown", "no such challenge")
    if challenge.cameo_id != cameo_id:
        return _result(name, False, None, None, "challenge_not_owned", "issued for another cameo")
    if challenge.used_at is not None:
        return _result(name, False, None, None, "challenge_used", "challenges are single use")
    if now >= challenge.expires_at:
        return _result(name, False, None, None, "challenge_expired", "the challenge has expired")
    return _result(name, True, None, None, "")


def check_replay_bytes(seen_before: bool) -> CheckResult:
    """The exact capture bytes were never submitted before."""
    return _result("replay_bytes", not seen_before, float(seen_before), 0.0, "capture_replayed")


def check_replay_near_duplicate(matched_ratio: float, policy: Enrollment) -> CheckResult:
    """No earlier capture shares most of its sampled frames (PDQ within the Hamming radius):
    catches a replay that was re-encoded, trimmed or resized."""
    threshold = policy.replay_min_frame_ratio
    return _result(
        "replay_near_duplicate", matched_ratio < threshold, matched_ratio, threshold, "capture_near_duplicate"
    )


# --- faces ----------------------------------------------------------------------------------------


def check_face_present(obs: Observation, policy: Enrollment) -> CheckResult:
    """Most sampled frames show a face (turning the head may lose it for a moment)."""
    n = max(len(obs.frames), 1)
    ratio = sum(1 for f in obs.frames if f.faces) / n
    return _result(
        "face_present", ratio >= policy.one_face_min_ratio, ratio, policy.one_face_min_ratio, "no_face"
    )


def check_single_face(obs: Observation, policy: Enrollment) -> CheckResult:
    """Exactly one face: frames with two or more confident faces stay under a small share."""
    n = max(len(obs.frames), 1)
    ratio = sum(1 for f in obs.frames if len(f.faces) > 1) / n
    threshold = policy.multiple_faces_max_ratio
    return _result("single_face", ratio <= threshold, ratio, threshold, "multiple_faces")


def check_face_size(obs: Observation, policy: Enrollment) -> CheckResult:
    """The face's width, as a share of the frame's shorter side (median over frames)."""
    sizes = [f.faces[0].width / f.short_side for f in obs.single_face_frames()]
    if not sizes:
        return not_run("face_size", "no frame with one face")
    score = float(np.median(sizes))
    return _result(
        "face_size", score >= policy.face_min_fraction, score, policy.face_min_fraction, "face_too_small"
    )


def check_face_sharpness(obs: Observation, policy: Enrollment) -> CheckResult:
    """Median variance of the Laplacian over the face, at a fixed crop size."""
    values = [f.sharpness for f in obs.single_face_frames() if f.sharpness is not None]
    if not values:
        return not_run("face_sharpness", "no frame with one face")
    score = float(np.median(values))
    threshold = policy.face_min_sharpness
    return _result("face_sharpness", score >= threshold, score, threshold, "face_not_sharp")


def check_identity(obs: Observation, policy: Enrollment) -> CheckResult:
    """One identity throughout: every sampled embedding is close to the mean of the others."""
    emb = obs.embeddings
    if len(emb) < 2:
        return not_run("identity", "fewer than two frames with one face")
    sims = []
    for i in range(len(emb)):
        others = np.delete(emb, i, axis=0).mean(axis=0)
        sims.append(float(emb[i] @ others) / max(float(np.linalg.norm(others)), 1e-9))
    score = min(sims)
    threshold = policy.identity_min_similarity
    return _result("identity", score >= threshold, score, threshold, "identity_changed")


# --- liveness -----------------------------------------------------------------------------------


def check_motion(obs: Observation, policy: Enrollment) -> CheckResult:
    """Something moves: the landmarks' displacement from the first frame, in inter-ocular
    distances (90th percentile over frames). A still photo turned into a video stays near zero."""
    frames = obs.single_face_frames()
    if len(frames) < 2:
        return not_run("motion", "fewer than two frames with one face")
    first = frames[0].faces[0]
    moves = [
        float(np.linalg.norm(f.faces[0].landmarks - first.landmarks, axis=1).mean()) / interocular(first)
        for f in frames[1:]
    ]
    score = float(np.percentile(moves, 90))
    return _result("motion", score >= policy.still_min_motion, score, policy.still_min_motion, "still_image")


def check_non_planar(obs: Observation, policy: Enrollment) -> CheckResult:
    """The motion is a head's, not a flat picture's: the nose leaves the plane fixed by the eyes and
    mouth corners (homography from the most frontal frame; 90th percentile over frames)."""
    frames = obs.single_face_frames()
    if len(frames) < 2:
        return not_run("non_planar", "fewer than two frames with one face")
    ref = min(frames, key=lambda f: abs(head_pose(f.faces[0])[0])).faces[0]
    parallax = [nose_parallax(ref, f.faces[0]) for f in frames if f.faces[0] is not ref]
    score = float(np.percentile(parallax, 90))
    threshold = policy.planar_min_parallax
    return _result("non_planar", score >= threshold, score, threshold, "planar_motion")


def _turns(
    times: list[float], values: list[float], step: float, down: str, up: str
) -> list[tuple[float, str]]:
    """Moves in one pose series: reversals of at least `step` (a zigzag filter, relative to the last
    extreme) whose leg reaches at least step/2 beyond the capture's median pose. The second rule
    drops the way back to the camera after a turn, so "left, back, right" reads left, right."""
    neutral = float(np.median(values))
    legs: list[tuple[float, str, float]] = []  # (time, move, extreme reached on this leg)
    lo = hi = values[0]
    direction = ""
    for t, v in zip(times, values, strict=True):
        lo, hi = min(lo, v), max(hi, v)
        if direction != up and v - lo >= step:
            legs.append((t, up, v))
            direction, hi = up, v
        elif direction != down and hi - v >= step:
            legs.append((t, down, v))
            direction, lo = down, v
        if direction == up:
            lo = hi  # after a rise only a fall from its top counts
            legs[-1] = (legs[-1][0], up, max(legs[-1][2], v))
        elif direction == down:
            hi = lo
            legs[-1] = (legs[-1][0], down, min(legs[-1][2], v))
    return [(t, move) for t, move, extreme in legs if abs(extreme - neutral) >= step / 2]


def _median3(values: list[float]) -> list[float]:
    """Median over each sample and its neighbours: one noisy landmark frame is not a move."""
    if len(values) < 3:
        return values
    padded = [values[0], *values, values[-1]]
    return [float(np.median(padded[i : i + 3])) for i in range(len(values))]


def head_moves(obs: Observation, policy: Enrollment) -> list[str]:
    """The head moves seen, in time order: left/right from yaw, up/down from pitch reversals."""
    frames = obs.single_face_frames()
    if len(frames) < 2:
        return []
    times = [f.t for f in frames]
    poses = [head_pose(f.faces[0]) for f in frames]
    yaw = _median3([p[0] for p in poses])
    pitch = _median3([p[1] for p in poses])
    # Pitch grows when the head tilts down (the nose drops towards the mouth line).
    events = _turns(times, yaw, policy.yaw_turn, "left", "right") + _turns(
        times, pitch, policy.pitch_turn, "up", "down"
    )
    return [move for _, move in sorted(events)]


def _is_subsequence(needle: list[str], hay: list[str]) -> bool:
    it = iter(hay)
    return all(any(x == y for y in it) for x in needle)


def check_head_moves(obs: Observation, challenge: ChallengeRow, policy: Enrollment) -> CheckResult:
    """The challenge's head moves happen in its order (extra moves tolerated up to a limit)."""
    seen = head_moves(obs, policy)
    matched = 0
    it = iter(seen)
    for move in challenge.moves:
        if any(move == s for s in it):
            matched += 1
        else:
            break
    score = matched / max(len(challenge.moves), 1)
    ok = _is_subsequence(challenge.moves, seen) and len(seen) - len(challenge.moves) <= policy.max_extra_moves
    return _result("head_moves", ok, score, 1.0, "head_moves_mismatch", f"seen {'-'.join(seen) or 'none'}")


# --- speech and voice -------------------------------------------------------------------------------


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def check_digits(obs: Observation, challenge: ChallengeRow, policy: Enrollment) -> CheckResult:
    """The spoken digits match the challenge within the policy's edit distance."""
    distance = edit_distance(challenge.digits, obs.heard)
    threshold = policy.digits_max_edit_distance
    return _result(
        "digits", distance <= threshold, float(distance), float(threshold), "digits_mismatch",
        f"heard {len(obs.heard)} digits",
    )  # fmt: skip


def check_voice(obs: Observation, policy: Enrollment) -> CheckResult:
    """One voice: the first and second half of the speech embed close together."""
    if obs.voice_halves is None:
        return _result("voice", False, None, policy.voice_min_similarity, "no_speech", "too little speech")
    a, b = obs.voice_halves
    score = float(a @ b)
    return _result(
        "voice", score >= policy.voice_min_similarity, score, policy.voice_min_similarity, "voice_changed"
    )


# --- likeness already known -----------------------------------------------------------------------


@dataclass(frozen=True)
class LikenessMatch:
    owner_kind: str
    owner_ref: uuid.UUID
    score: float


def _known_likeness(name: str, code: str, best: LikenessMatch | None, policy: Enrollment) -> CheckResult:
    threshold = policy.duplicate_min_similarity
    ok = best is None or best.score < threshold
    return _result(name, ok, best.score if best else None, threshold, code)


def check_protected(best: LikenessMatch | None, policy: Enrollment) -> CheckResult:
    """The face is not one of the policy's protected people (public figures)."""
    return _known_likeness("protected_person", "protected_person", best, policy)


def check_duplicate(best: LikenessMatch | None, policy: Enrollment) -> CheckResult:
    """The face is not another subject's verified cameo."""
    return _known_likeness("duplicate", "face_already_enrolled", best, policy)


# Review outcomes: everything else passed, but a human must look before the cameo is usable.
REVIEW_CODES = ("protected_person", "face_already_enrolled")


def outcome(results: list[CheckResult]) -> tuple[str, str | None]:
    """('verified'|'rejected'|'review', the first failed check's code in report order)."""
    failed = [r for r in results if r.passed is False]
    if not failed:
        return "verified", None
    first = failed[0].code
    if all(r.code in REVIEW_CODES for r in failed):
        return "review", first
    return "rejected", first
