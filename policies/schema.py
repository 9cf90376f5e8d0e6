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
    max_input_seconds: float = Field(30.0, gt=0)  # an input video longer than this is refused
    max_attempts: int = Field(3, ge=1, le=10)  # a job failing this often goes to the dead letters
    lease_seconds: float = Field(30.0, gt=1)  # a worker silent this long loses its job
    heartbeat_seconds: float = Field(5.0, gt=0)
    frame_scan_fps: float = Field(1.0, gt=0)  # output frames scanned per second of video
    # Cosine similarity (dlib 128-d) above which a face in an input is taken to be a consented
    # cameo; same-person pairs in shared/data score ~0.95, different people ~0.80.
    input_face_threshold: float = Field(0.92, gt=0, le=1)


class Policy(Section):
    version: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._+-]+$")
    description: str = ""
    uploads: UploadLimits = UploadLimits()
    enrollment: Enrollment = Enrollment()
    consent: Consent = Consent()
    safety: Safety = Safety()
    provenance: Provenance = Provenance()
    generation: Generation = Generation()
