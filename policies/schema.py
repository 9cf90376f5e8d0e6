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
