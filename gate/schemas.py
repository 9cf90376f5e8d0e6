"""Request and response models of the shared routes (operations, keys, subjects, audit)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from gate import territories


class Strict(BaseModel):
    """Base for request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


# A territory: an assigned ISO 3166-1 alpha-2 code, any case in, upper case out ("fr" -> "FR").
Territory = Annotated[
    str, Field(pattern=r"^[A-Za-z]{2}$", examples=["US"]), AfterValidator(territories.territory)
]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]
    policy_version: str


class KeyCreate(Strict):
    role: Literal["platform", "user", "rights_holder", "auditor", "admin"]
    subject_id: uuid.UUID | None = None
    organisation: str | None = Field(default=None, min_length=1, max_length=200)
    label: str = Field(default="", max_length=200)


class KeyOut(BaseModel):
    id: str
    role: str
    subject_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    label: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The full key. Shown once; only its hash is stored.")


class SubjectCreate(Strict):
    external_ref: str | None = Field(default=None, min_length=1, max_length=200)
    age_band: Literal["minor", "adult"] = "adult"


class SubjectOut(BaseModel):
    id: uuid.UUID
    external_ref: str | None
    age_band: str
    created_at: datetime


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    subject_id: uuid.UUID | None
    target_kind: str | None
    target_id: str | None
    policy_version: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_after_id: int | None


class ChainStatus(BaseModel):
    ok: bool
    checked: int
    first_broken_id: int | None
    reason: str | None
