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
    """Signing, watermarking and recovery. Figures measured in docs/PROVENANCE.md."""

    generator_name: str = "cameogate"
    # Visible mark: the creator's handle is shown next to the logo and service name.
    visible_handle: bool = True
    # Invisible mark: pattern grid (cells per side), amplitude in luma levels, encoder quality.
    watermark_grid: int = Field(48, ge=16, le=128)
    watermark_strength: float = Field(3.0, gt=0, le=12)
    encode_crf: int = Field(20, ge=0, le=51)
    encode_preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = "veryfast"
    # Decoding: frames sampled, the sync z-score that counts as "a mark is present", and how many
    # payload bits may be wrong when looking a payload up among issued ones.
    decode_every_seconds: float = Field(0.1, gt=0)
    decode_max_frames: int = Field(48, ge=1, le=600)
    verify_trusted_frames: int = Field(6, ge=1, le=600)  # consecutive frames checked on a Trusted clip
    min_sync_z: float = Field(7.0, gt=0)
    min_sync_z_known: float = Field(4.5, gt=0)
    max_payload_bit_errors: int = Field(3, ge=0, le=6)
    # Fingerprint (PDQ of sampled frames): a query matches a clip when the median over query frames
    # of the best PDQ distance is at most max_distance (of 256 bits) and the runner-up is farther.
    # The stored side is dense (every 1/reference_fps s) so any query frame has a near neighbour.
    fingerprint_reference_fps: float = Field(12.0, gt=0, le=60)
    fingerprint_max_reference_frames: int = Field(720, ge=1, le=5000)
    fingerprint_every_seconds: float = Field(0.5, gt=0)
    fingerprint_max_frames: int = Field(60, ge=1, le=600)
    fingerprint_max_distance: int = Field(48, ge=0, le=256)
    fingerprint_min_quality: int = Field(30, ge=0, le=100)
    # Verify uploads.
    verify_max_bytes: int = Field(200_000_000, gt=0)


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
