"""The policy document's schema. Every threshold, limit and default lives here, not in code.

Unknown fields are refused (extra="forbid") so a typo in a policy file cannot silently leave a
default in force.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UploadLimits(Section):
    """Limits applied to every upload before any decoding work is done."""

    max_image_bytes: int = Field(20_000_000, gt=0)
    max_video_bytes: int = Field(200_000_000, gt=0)
    max_pixels: int = Field(40_000_000, gt=0)  # per image or frame; larger is a decompression bomb
    max_width: int = Field(7680, gt=0)
    max_height: int = Field(4320, gt=0)
    max_video_seconds: float = Field(120.0, gt=0)


class Enrollment(Section):
    challenge_ttl_seconds: int = Field(120, gt=0)
    head_moves: int = Field(3, ge=1, le=6)
    digits: int = Field(6, ge=4, le=12)
    capture_max_bytes: int = Field(60_000_000, gt=0)
    capture_max_seconds: float = Field(30.0, gt=0)
    capture_min_seconds: float = Field(2.0, gt=0)
    capture_max_width: int = Field(1920, gt=0)
    capture_max_height: int = Field(1920, gt=0)
    keep_capture: Literal["never", "until_verified", "always"] = "until_verified"
    # Sampling (docs/ENROLLMENT.md, bench/enrollment.py: a 5 s 720p capture within 10 s on 2 cores).
    pose_fps: float = Field(4.0, gt=0, le=30)
    embed_frames: int = Field(5, ge=2, le=30)
    detect_short_side: int = Field(270, ge=120, le=2160)
    # Face presence and quality.
    face_min_score: float = Field(0.95, ge=0, le=1)
    face_min_fraction: float = Field(0.12, gt=0, le=1)
    face_min_sharpness: float = Field(20.0, ge=0)
    one_face_min_ratio: float = Field(0.8, gt=0, le=1)
    multiple_faces_max_ratio: float = Field(0.1, ge=0, le=1)
    # Identity and liveness.
    identity_min_similarity: float = Field(0.93, ge=-1, le=1)
    still_min_motion: float = Field(0.1, ge=0)
    planar_min_parallax: float = Field(0.08, ge=0)
    yaw_turn: float = Field(0.25, gt=0)
    pitch_turn: float = Field(0.25, gt=0)
    max_extra_moves: int = Field(2, ge=0)
    # Speech and voice.
    digits_max_edit_distance: int = Field(2, ge=0)
    voice_min_similarity: float = Field(0.65, ge=-1, le=1)
    # Replay and duplicates.
    replay_max_hamming: int = Field(31, ge=0, le=256)
    replay_min_frame_ratio: float = Field(0.5, gt=0, le=1)
    duplicate_min_similarity: float = Field(0.93, ge=-1, le=1)


class Consent(Section):
    default_permission: Literal["only_me", "approved", "mutuals", "everyone"] = "only_me"
    token_ttl_seconds: int = Field(600, gt=0)
    max_prompt_chars: int = Field(4000, gt=0)


class Safety(Section):
    pass


class Provenance(Section):
    generator_name: str = "cameogate"


class Generation(Section):
    max_duration_seconds: float = Field(20.0, gt=0)
    default_duration_seconds: float = Field(10.0, gt=0)


class Policy(Section):
    version: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._+-]+$")
    description: str = ""
    uploads: UploadLimits = UploadLimits()
    enrollment: Enrollment = Enrollment()
    consent: Consent = Consent()
    safety: Safety = Safety()
    provenance: Provenance = Provenance()
    generation: Generation = Generation()
