"""Request and response models of the policies routes (the policy document's own schema is
policies/schema.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from gate.schemas import Strict


class PolicyOut(BaseModel):
    version: str
    sha256: str
    document: dict[str, Any] = Field(
        description="The validated document with defaults filled in. Blocked-content terms and"
        " descriptions are shown to admin and auditor keys only."
    )
    source: str | None = Field(None, description="The YAML as applied (admin and auditor keys only).")


class PolicyApplied(BaseModel):
    version: str
    sha256: str
    changed: bool = Field(description="False when this version was already the active one.")
    previous_version: str | None


class ActivationOut(BaseModel):
    id: int
    version: str
    sha256: str
    activated_at: datetime
    activated_by: str


class StoredPolicyOut(BaseModel):
    version: str
    sha256: str
    source: str
    created_at: datetime
    created_by: str


class ExplainRequest(Strict):
    """A generation request as generation/ would receive it."""

    requester_id: uuid.UUID
    prompt: str = Field(min_length=1, max_length=20_000)
    cameo_ids: list[uuid.UUID] = Field(default_factory=list, max_length=16)
    duration_seconds: float | None = Field(default=None, gt=0, le=3600)
    platform_key_id: str | None = Field(
        default=None, max_length=64, description="Admin only: explain as if sent by this platform key."
    )


class RuleOut(BaseModel):
    rule: str
    fired: bool
    effect: Literal["none", "flag", "require_approval", "block"]
    reason: str
    policy_version: str
    details: dict[str, Any]


class ExplainOut(BaseModel):
    decision: Literal["allow", "flag", "require_approval", "block"]
    policy_version: str
    rules: list[RuleOut]


Alias = Annotated[str, Field(min_length=1, max_length=200)]


class ProtectedPersonCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    aliases: list[Alias] = Field(default_factory=list, max_length=50)
    subject_id: uuid.UUID | None = Field(
        default=None, description="The person's own subject: their consented cameos may show them."
    )


class ProtectedPersonUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    aliases: list[Alias] | None = Field(default=None, max_length=50)
    subject_id: uuid.UUID | None = None
    unlink_subject: bool = False


class ProtectedPersonOut(BaseModel):
    id: uuid.UUID
    name: str
    aliases: list[str]
    subject_id: uuid.UUID | None
    photos: int
    created_at: datetime
    updated_at: datetime


class PhotoAddedOut(BaseModel):
    person_id: uuid.UUID
    template_id: uuid.UUID
    model_id: str


class QuotaOut(BaseModel):
    scope: Literal["subject", "platform_key"]
    kind: str
    limit: int
    window_seconds: int
    used: int
    remaining: int
    resets_at: datetime
    retry_after: int
    source: str


class QuotasOut(BaseModel):
    policy_version: str
    quotas: list[QuotaOut]
