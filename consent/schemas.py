"""Request and response models of the consent routes (checks, permissions, approvals,
restrictions, follows, appearances, webhooks, notifications)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, Field

from gate.schemas import Strict

Level = Literal["only_me", "approved", "mutuals", "everyone"]

# Hard caps that bound parsing work before the policy's own (smaller) limits are applied.
PROMPT_HARD_CAP = 100_000


class ConsentCheckIn(Strict):
    requester: uuid.UUID = Field(description="The subject who wants to use the cameos.")
    cameo_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)
    prompt: str = Field(max_length=PROMPT_HARD_CAP)


class RestrictionMatchOut(BaseModel):
    restriction_id: uuid.UUID
    text: str
    rule: Literal["keyword", "semantic"]
    term: str | None
    score: float
    model_id: str | None


class DecisionOut(BaseModel):
    cameo_id: uuid.UUID
    decision: Literal["allow", "deny"]
    reason: str
    policy_version: str
    restriction: RestrictionMatchOut | None = None


class ConsentCheckOut(BaseModel):
    requester: uuid.UUID
    allowed: bool
    decisions: list[DecisionOut]
    policy_version: str
    prompt_sha256: str
    token: str | None = Field(description="Present when every cameo is allowed; generation must present it.")
    expires_at: datetime | None


class TokenCheckIn(Strict):
    token: str = Field(max_length=8192)
    requester: uuid.UUID
    cameo_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)
    prompt: str = Field(max_length=PROMPT_HARD_CAP)


class TokenValid(BaseModel):
    valid: Literal[True]


class PermissionIn(Strict):
    permission: Level


class CameoConsentOut(BaseModel):
    cameo_id: uuid.UUID
    permission: Level
    consent_epoch: int
    cancelled_jobs: int


class ApprovalIn(Strict):
    subject_id: uuid.UUID


class ApprovalRequestIn(Strict):
    requester: uuid.UUID | None = Field(default=None, description="Platforms name their user; users omit it.")


class ApprovalOut(BaseModel):
    cameo_id: uuid.UUID
    subject_id: uuid.UUID
    status: Literal["requested", "approved", "denied"]
    requested_at: datetime | None
    decided_at: datetime | None


class RevocationOut(BaseModel):
    revoked_cameo_ids: list[uuid.UUID]
    cancelled_jobs: int


class RestrictionIn(Strict):
    text: str = Field(min_length=1, max_length=2000)


class RestrictionOut(BaseModel):
    id: uuid.UUID
    cameo_id: uuid.UUID
    text: str
    terms: list[str]
    created_at: datetime


class FollowIn(Strict):
    follower: uuid.UUID | None = Field(default=None, description="Platforms name their user; users omit it.")


class FollowOut(BaseModel):
    follower: uuid.UUID
    followee: uuid.UUID
    created: bool


class AppearanceOut(BaseModel):
    clip_id: uuid.UUID
    status: str
    requester_id: uuid.UUID | None
    created_at: datetime
    published_at: datetime | None
    removed_at: datetime | None
    removed_by: uuid.UUID | None
    removal_reason: str | None


class TakedownIn(Strict):
    note: str = Field(default="", max_length=500)


class WebhookIn(Strict):
    url: AnyHttpUrl


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Hex HMAC key for Cameogate-Signature. Shown once.")


class NotificationOut(BaseModel):
    id: int
    event: str
    idempotency_key: uuid.UUID
    payload: dict[str, Any]
    created_at: datetime
    deliveries: int
    delivered: int
