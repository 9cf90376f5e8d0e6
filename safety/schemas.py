"""Request and response models of the safety routes (opt-outs, scans, disputes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from gate.schemas import Strict, Territory

# A name, alias or keyword: bounded, as each is matched against every prompt.
Name = Annotated[str, Field(max_length=200)]


class OptOutCreate(Strict):
    """The `metadata` part of POST /v1/optouts (reference media come as `files` parts)."""

    title: str = Field(min_length=1, max_length=200)
    names: list[Name] = Field(default_factory=list, max_length=200)
    keywords: list[Name] = Field(default_factory=list, max_length=200)
    description: str = Field("", max_length=2000)
    action: Literal["block", "flag"] = "block"
    territories: list[Territory] = Field(
        default_factory=list, max_length=300, description="where it applies; none: everywhere"
    )
    notes: str = Field("", max_length=4000)


class OptOutUpdate(Strict):
    title: str | None = Field(None, min_length=1, max_length=200)
    names: list[Name] | None = Field(None, max_length=200)
    keywords: list[Name] | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=2000)
    action: Literal["block", "flag"] | None = None
    territories: list[Territory] | None = Field(None, max_length=300)
    notes: str | None = Field(None, max_length=4000)


class Suspend(Strict):
    suspended: bool = True
    reason: str = Field(min_length=1, max_length=500)


class OptOutOut(BaseModel):
    id: uuid.UUID
    organisation_id: uuid.UUID
    title: str
    names: list[str]
    keywords: list[str]
    description: str
    action: str
    territories: list[str]
    notes: str
    status: str
    status_reason: str | None
    created_at: datetime
    updated_at: datetime
    references: int
    matches: dict[str, int]


class PromptScanIn(Strict):
    prompt: str = Field(min_length=1, max_length=4000)
    territory: Territory | None = Field(
        None, description="where the result will be shown; without it, every opt-out applies"
    )


class ScanOut(BaseModel):
    """A prompt or media scan: decision, policy version, matches (and, for media, likeness)."""

    scan_id: uuid.UUID
    decision: Literal["allow", "flag", "block"]
    policy_version: str
    territory: str | None = None  # the opt-outs applied were this territory's (none: every one)
    matches: list[dict[str, Any]]
    likeness: list[dict[str, Any]] | None = None
    frames_scanned: int | None = None
    notes: list[str] = Field(default_factory=list)


class DisputeCreate(Strict):
    optout_id: uuid.UUID
    scan_id: uuid.UUID | None = None
    reason: str = Field(min_length=1, max_length=4000)


class DisputeAnswer(Strict):
    answer: str = Field(min_length=1, max_length=4000)


class DisputeDecision(Strict):
    decision: Literal["upheld", "rejected", "optout_suspended"]
    note: str = Field("", max_length=4000)


class DisputeOut(BaseModel):
    id: uuid.UUID
    optout_id: uuid.UUID
    scan_id: uuid.UUID | None
    filed_role: str
    reason: str
    status: str
    answer: str | None
    answered_at: datetime | None
    decision: str | None
    decision_note: str | None
    decided_at: datetime | None
    created_at: datetime


class IndexStatus(BaseModel):
    live_optouts: int
    references: int
    sift_descriptors: int
    pdq_hashes: int
    clip_vectors: int
    descriptions: int
    cursor: int
