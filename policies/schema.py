"""The policy document's schema. Every threshold, limit and default lives here, not in code.

Unknown fields are refused (extra="forbid") so a typo in a policy file cannot silently leave a
default in force.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    max_cameos_per_check: int = Field(8, ge=1, le=100)
    # Restrictions: MiniLM cosine between the prompt and a rule's topic at or above this denies
    # (docs/CONSENT.md, "Choosing the restriction threshold"); keywords shorter than
    # restriction_keyword_min_length letters are left to the semantic match.
    restriction_similarity: float = Field(0.30, gt=0, le=1)
    restriction_keyword_min_length: int = Field(4, ge=1)
    max_restrictions_per_cameo: int = Field(20, ge=1)
    max_restriction_chars: int = Field(500, ge=1, le=500)
    # Listing pages.
    max_page: int = Field(200, ge=1)
    # Webhook delivery: attempt n (1-based) failing waits base * 2**(n-1) seconds, at most max.
    webhook_timeout_seconds: float = Field(5.0, gt=0)
    webhook_max_attempts: int = Field(8, ge=1)
    webhook_backoff_base_seconds: float = Field(2.0, gt=0)
    webhook_backoff_max_seconds: float = Field(3600.0, gt=0)


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
    scene_change_threshold: float = Field(0.08, gt=0)  # mean abs difference of 32×18 thumbnails (0-1)
    max_scan_frames: int = Field(60, ge=1)
    likeness_max_frames: int = Field(8, ge=1)  # frames of a video checked for faces
    # Frames are shrunk to this short side before face detection (MTCNN's cost grows with the
    # pixels; embeddings still use the full frame). 480 keeps faces of >= 60 px at 720p.
    likeness_detect_short_side: int = Field(480, ge=120)
    face_match_threshold: float = Field(0.93, ge=-1, le=1)  # dlib cosine, eval/enrollment.py
    voice_match_threshold: float = Field(0.77, ge=-1, le=1)  # Resemblyzer cosine, measured
    uncovered_likeness: Literal["block", "flag"] = "block"


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
    max_input_seconds: float = Field(30.0, gt=0)  # an input video longer than this is refused
    max_attempts: int = Field(3, ge=1, le=10)  # a job failing this often goes to the dead letters
    lease_seconds: float = Field(30.0, gt=1)  # a worker silent this long loses its job
    heartbeat_seconds: float = Field(5.0, gt=0)


# --- policies/ (issue 8): quotas, age bands, protected people, blocked content categories ---------

QuotaKind = Literal["generation", "consent_check", "prompt_scan", "media_scan", "enrollment"]
Permission = Literal["only_me", "approved", "mutuals", "everyone"]


class Window(Section):
    """At most `limit` uses per fixed window of `seconds` (windows start at multiples of `seconds`
    since the Unix epoch, so a 86400 s window is one UTC day)."""

    limit: int = Field(ge=0)
    seconds: int = Field(gt=0, le=31 * 86400)


class Quotas(Section):
    """Rate limits and quotas per kind of use, counted in PostgreSQL (shared by every process)."""

    per_subject: dict[QuotaKind, list[Window]] = {}
    per_platform_key: dict[QuotaKind, list[Window]] = {}


class MinorRules(Section):
    """What changes when a subject's age band is 'minor'."""

    # Extra daily cap on generations requested by a minor (on top of per_subject windows).
    daily_generation_limit: int | None = Field(10, ge=0)
    # Sharing levels a minor's cameo may not be set to.
    forbidden_cameo_permissions: list[Permission] = ["everyone"]
    # An adult may use a minor's cameo only with an explicit, per-person approval from its owner
    # (mutuals or a broad permission level are not enough).
    adults_need_explicit_approval: bool = True


class AgeBands(Section):
    minor: MinorRules = MinorRules()


class ProtectedPeople(Section):
    """Public figures (the list itself is admin-managed in the database, not in this document)."""

    block_names_in_prompts: bool = True
    block_faces_in_outputs: bool = True
    # Cosine similarity of L2-normalised face embeddings at or above which a face is the
    # protected person; per embedder model id (only same-model embeddings are comparable).
    face_thresholds: dict[str, float] = {}
    default_face_threshold: float = Field(0.93, gt=0, le=1)
    max_photo_bytes: int = Field(10_000_000, gt=0)


class BlockedCategory(Section):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    action: Literal["block", "flag"] = "block"
    # Words and phrases, matched with safety.normalize (case, accents, leetspeak, spacing, typos).
    terms: list[str] = []
    # Sentences describing the category, compared with the prompt by text embedding.
    descriptions: list[str] = []


class Content(Section):
    """Blocked content categories for prompts."""

    # Cosine similarity (text embedder, see docs/POLICIES.md) at or above which a prompt is
    # taken to describe a category; per text model id, with a default.
    semantic_thresholds: dict[str, float] = {}
    default_semantic_threshold: float = Field(0.5, gt=0, le=1)
    categories: list[BlockedCategory] = []

    @model_validator(mode="after")
    def _names_are_unique(self) -> Content:
        names = [c.name for c in self.categories]
        if len(set(names)) != len(names):
            raise ValueError("category names must be unique (each is the rule id content.<name>)")
        return self


class Policy(Section):
    version: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._+-]+$")
    description: str = ""
    uploads: UploadLimits = UploadLimits()
    enrollment: Enrollment = Enrollment()
    consent: Consent = Consent()
    safety: Safety = Safety()
    provenance: Provenance = Provenance()
    generation: Generation = Generation()
    quotas: Quotas = Quotas()
    age_bands: AgeBands = AgeBands()
    protected_people: ProtectedPeople = ProtectedPeople()
    content: Content = Content()
