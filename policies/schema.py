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
    """IP matching and likeness thresholds; docs/SAFETY.md holds the measurements behind them."""

    # Registry limits.
    max_references_per_request: int = Field(20, ge=1)
    max_names: int = Field(50, ge=1)
    reference_video_fps: float = Field(1.0, gt=0)  # frames sampled from a reference video
    max_reference_frames: int = Field(30, ge=1)
    # Local features (SIFT + RANSAC homography).
    sift_ratio: float = Field(0.8, gt=0, le=1)  # Lowe's ratio test
    sift_max_distance: float = Field(300.0, gt=0)  # L2 between SIFT descriptors (norm ≈ 512)
    sift_min_votes: int = Field(8, ge=4)  # matches to a reference before RANSAC is tried
    sift_min_inliers: int = Field(12, ge=4)  # homography inliers that make a match
    sift_reproj_px: float = Field(6.0, gt=0)
    # PDQ (256-bit): Meta's recommended match distance is 31; quality below 50 is unreliable.
    pdq_max_distance: int = Field(31, ge=0, le=256)
    pdq_min_quality: int = Field(50, ge=0, le=100)
    # CLIP (only when a checkpoint is configured). Not measured here (no real weights offline).
    clip_image_threshold: float = Field(0.85, ge=-1, le=1)
    clip_text_threshold: float = Field(0.30, ge=-1, le=1)
    # Prompt text: names/aliases always act with the opt-out's own policy; keywords are broad.
    keyword_decision: Literal["optout", "flag"] = "flag"
    description_threshold: float = Field(0.60, ge=-1, le=1)  # MiniLM cosine, prompt vs description
    # Media scans.
    video_sample_fps: float = Field(1.0, ge=1.0)  # the floor: at least one frame a second
    scene_change_threshold: float = Field(0.25, gt=0)  # mean abs difference of 32×18 thumbnails (0-1)
    max_scan_frames: int = Field(60, ge=1)
    likeness_max_frames: int = Field(8, ge=1)  # frames of a video checked for faces
    face_match_threshold: float = Field(0.92, ge=-1, le=1)  # dlib cosine, measured in docs/SAFETY.md
    voice_match_threshold: float = Field(0.77, ge=-1, le=1)  # Resemblyzer cosine, measured
    uncovered_likeness: Literal["block", "flag"] = "block"


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
