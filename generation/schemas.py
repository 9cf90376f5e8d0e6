"""Request and response models of generation jobs and published clips."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from gate.schemas import Strict, Territory


class GenerationRequest(Strict):
    requester: uuid.UUID = Field(description="The subject on whose behalf the platform generates.")
    prompt: str = Field(min_length=1, description='One shot, or several: "Shot 1: … Shot 2: …".')
    cameo_ids: list[uuid.UUID] = Field(default_factory=list, max_length=8)
    consent_token: str | None = Field(default=None, max_length=4096)
    remix_of: uuid.UUID | None = None
    duration: float | None = Field(
        default=None, gt=0, description="Seconds; the policy sets the default and maximum."
    )
    width: int = Field(default=1280, ge=64, le=1920, multiple_of=2)
    height: int = Field(default=720, ge=64, le=1080, multiple_of=2)
    fps: int = Field(default=24, ge=1, le=30)
    seed: int = Field(default=0, ge=0, le=2**62)
    territory: Territory | None = Field(
        default=None, description="where the clip will be shown; without it, every opt-out applies"
    )


class Accepted(BaseModel):
    job_id: uuid.UUID
    clip_id: uuid.UUID
    state: str


class StageRecord(BaseModel):
    attempt: int
    stage: str
    decision: str
    ms: float
    policy_version: str
    details: dict[str, Any]
    at: datetime


class JobView(BaseModel):
    job_id: uuid.UUID
    clip_id: uuid.UUID
    state: str
    stage: str
    progress: float
    attempts: int
    error_code: str | None
    error_detail: str | None
    policy_version: str
    territory: str | None  # where the clip will be shown, as submitted (upper case)
    created_at: datetime
    finished_at: datetime | None
    stages: list[StageRecord]


class ClipView(BaseModel):
    clip_id: uuid.UUID
    status: str
    media_sha256: str | None
    created_at: datetime
    published_at: datetime | None
    removed_at: datetime | None
    removal_reason: str | None
