"""The check functions on hand-made observations (no model), and the speech contract."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from consent.enrollment import checks
from consent.enrollment.checks import ChallengeRow, FrameObs, Observation
from consent.enrollment.service import random_moves
from perception.fakes import FakeSpeech
from perception.protocols import Face, SpeechRecognizer
from perception.registry import Models
from policies.schema import Enrollment
from tests.enrollment import media as M

POLICY = Enrollment()
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _face(yaw: float = 0.0, pitch: float = 0.5, dx: float = 0.0, nose_depth: float = 1.0) -> Face:
    """A 100 px face whose nose sits `yaw` inter-ocular distances sideways and `pitch` of the way
    from the eye line to the mouth line."""
    eyes_y, mouth_y = 40.0, 80.0
    marks = np.array(
        [[30 + dx, eyes_y], [70 + dx, eyes_y],
         [50 + dx + 40 * yaw * nose_depth, eyes_y + pitch * (mouth_y - eyes_y)],
         [35 + dx, mouth_y], [65 + dx, mouth_y]],
        np.float32,
    )  # fmt: skip
    return Face((dx, 0.0, 100 + dx, 100.0), 0.99, marks)


def _obs(faces: list[Face]) -> Observation:
    frames = [FrameObs(i * 0.25, [f], 360, 100.0) for i, f in enumerate(faces)]
    return Observation(frames, np.zeros((0, 128), np.float32), "", None, 0.0)


def _challenge(moves: list[str], **kw) -> ChallengeRow:
    base = {"id": uuid.uuid4(), "cameo_id": uuid.uuid4(), "moves": moves, "digits": "305172",
            "expires_at": NOW + timedelta(minutes=2), "used_at": None}  # fmt: skip
    return ChallengeRow(**{**base, **kw})


def test_head_moves_are_read_in_order_from_yaw_and_pitch_reversals() -> None:
    # Each pose held for a few samples, as at 4 fps (one-sample spikes are smoothed away).
    yaws = [0.0, 0.0, -0.4, -0.4, -0.4, 0.0, 0.3, 0.3, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    pitches = [0.5] * 10 + [0.2, 0.2, 0.2, 0.5, 0.5, 0.5]
    obs = _obs([_face(y, p) for y, p in zip(yaws, pitches, strict=True)])
    # The way back to the camera after each move is not a move of its own.
    assert checks.head_moves(obs, POLICY) == ["left", "right", "up"]
    assert checks.check_head_moves(obs, _challenge(["left", "right", "up"]), POLICY).passed
    for order in (["right", "left", "up"], ["left", "up", "right"], ["up", "left", "right"]):
        wrong = checks.check_head_moves(obs, _challenge(order), POLICY)
        assert (wrong.passed, wrong.code) == (False, "head_moves_mismatch"), order


def test_one_noisy_frame_is_not_a_head_move() -> None:
    obs = _obs([_face(y) for y in [0.0, 0.0, -0.5, 0.0, 0.0, 0.0]])
    assert checks.head_moves(obs, POLICY) == []


def test_a_still_face_fails_motion_and_a_flat_one_fails_the_plane_check() -> None:
    still = _obs([_face(0.0)] * 8)
    assert checks.check_motion(still, POLICY).code == "still_image"
    # Sliding sideways with the nose fixed relative to the eyes: motion, but no parallax.
    flat = _obs([_face(0.0, dx=10.0 * i) for i in range(8)])
    assert checks.check_motion(flat, POLICY).passed
    assert checks.check_non_planar(flat, POLICY).code == "planar_motion"
    turning = _obs([_face(y) for y in [0.0, -0.2, -0.4, -0.2, 0.0, 0.2, 0.4, 0.2]])
    assert checks.check_non_planar(turning, POLICY).passed


def test_challenge_checks_have_one_code_each() -> None:
    ch = _challenge(["left"])
    assert checks.check_challenge(ch, cameo_id=ch.cameo_id, now=NOW).passed
    assert checks.check_challenge(None, cameo_id=ch.cameo_id, now=NOW).code == "challenge_unknown"
    assert checks.check_challenge(ch, cameo_id=uuid.uuid4(), now=NOW).code == "challenge_not_owned"
    used = _challenge(["left"], used_at=NOW)
    assert checks.check_challenge(used, cameo_id=used.cameo_id, now=NOW).code == "challenge_used"
    assert (
        checks.check_challenge(ch, cameo_id=ch.cameo_id, now=NOW + timedelta(hours=1)).code
        == "challenge_expired"
    )


def test_the_outcome_is_review_only_when_a_known_likeness_is_the_sole_failure() -> None:
    ok = checks.CheckResult("a", True, 1.0, 0.5, None)
    protected = checks.CheckResult("protected_person", False, 0.99, 0.93, "protected_person")
    still = checks.CheckResult("motion", False, 0.0, 0.1, "still_image")
    assert checks.outcome([ok]) == ("verified", None)
    assert checks.outcome([ok, protected]) == ("review", "protected_person")
    assert checks.outcome([still, protected]) == ("rejected", "still_image")


def test_edit_distance_and_random_moves() -> None:
    assert checks.edit_distance("305172", "305172") == 0
    assert checks.edit_distance("305172", "32085172") == 2
    assert checks.edit_distance("305172", "") == 6
    for _ in range(50):
        moves = random_moves(4)
        assert len(moves) == 4 and all(a != b for a, b in itertools.pairwise(moves))


@pytest.fixture(params=["real", "fake"])
def speech_pair(request: pytest.FixtureRequest, real_models: Models) -> tuple[SpeechRecognizer, np.ndarray]:
    """Each recogniser with a track it should read as 305172."""
    if request.param == "real":
        return real_models.speech, M.digit_track("305172", "lucas", take=2)
    return FakeSpeech(), FakeSpeech.tones("305172")


def test_speech_recognisers_read_the_digits_and_nothing_from_silence(speech_pair) -> None:
    recogniser, track = speech_pair
    assert isinstance(recogniser, SpeechRecognizer) and recogniser.model_id
    assert recogniser.digits(track) == "305172"
    assert recogniser.digits(np.zeros(16_000, np.float32)) == ""
    assert recogniser.digits(np.zeros(0, np.float32)) == ""
