"""Request and response models of enrollment. Responses carry outcomes and scores, never biometrics."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from consent.enrollment.checks import ChallengeRow
from consent.enrollment.service import CameoStatus, ReviewDecision, Verification
from consent.enrollment.store import CameoRow, CaptureRow
from gate.schemas import Strict


class ChallengeOut(BaseModel):
    id: uuid.UUID
    moves: list[Literal["left", "right", "up", "down"]]
    digits: str
    expires_at: datetime

    @classmethod
    def of(cls, c: ChallengeRow) -> ChallengeOut:
        return cls(id=c.id, moves=c.moves, digits=c.digits, expires_at=c.expires_at)


class CheckOut(BaseModel):
    name: str
    passed: bool | None
    score: float | None
    threshold: float | None
    code: str | None
    detail: str


class VerificationOut(BaseModel):
    capture_id: uuid.UUID
    outcome: Literal["verified", "rejected", "review"]
    reason: str | None
    checks: list[CheckOut]
    policy_version: str
    model_ids: dict[str, str]
    elapsed_ms: int

    @classmethod
    def of(cls, v: Verification) -> VerificationOut:
        return cls(
            capture_id=v.capture_id, outcome=v.outcome, reason=v.reason,
            checks=[CheckOut(**r.to_dict()) for r in v.checks], policy_version=v.policy_version,
            model_ids=v.model_ids, elapsed_ms=v.elapsed_ms,
        )  # fmt: skip

    @classmethod
    def of_row(cls, row: CaptureRow) -> VerificationOut:
        checks: list[dict[str, Any]] = row.checks
        return cls(
            capture_id=row.id, outcome=row.outcome, reason=row.reason,
            checks=[CheckOut(**c) for c in checks], policy_version=row.policy_version,
            model_ids=row.model_ids, elapsed_ms=row.elapsed_ms,
        )  # fmt: skip


class CameoOut(BaseModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    status: Literal["pending", "verified", "rejected", "review", "deleted"]
    permission: str
    created_at: datetime
    verified_at: datetime | None
    challenge: ChallengeOut | None = None
    verification: VerificationOut | None = None
    in_review: bool = False

    @classmethod
    def of(cls, cameo: CameoRow, **extra: Any) -> CameoOut:
        return cls(
            id=cameo.id, owner_id=cameo.owner_id, status=cameo.status,
            permission=cameo.permission, created_at=cameo.created_at, verified_at=cameo.verified_at, **extra,
        )  # fmt: skip

    @classmethod
    def of_status(cls, s: CameoStatus) -> CameoOut:
        return cls.of(
            s.cameo,
            challenge=ChallengeOut.of(s.challenge) if s.challenge else None,
            verification=VerificationOut.of_row(s.verification) if s.verification else None,
            in_review=s.in_review,
        )


class CaptureOut(BaseModel):
    cameo_id: uuid.UUID
    status: Literal["verified", "rejected", "review"]
    verification: VerificationOut


class Purged(BaseModel):
    cameo_id: uuid.UUID
    templates: int
    captures: int
    fingerprints: int


class ReviewOut(BaseModel):
    """A capture held for review: what it looked like, and how closely. No biometric data."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    cameo_id: uuid.UUID
    capture_id: uuid.UUID
    reason: Literal["protected_person", "face_already_enrolled"]
    match_kind: Literal["protected_person", "cameo"]
    match_ref: uuid.UUID
    score: float
    created_at: datetime


class ReviewDecisionIn(Strict):
    decision: Literal["approve", "reject"]
    note: str = Field(min_length=1, max_length=2000, description="why: kept in the audit log")


class ReviewDecisionOut(BaseModel):
    cameo_id: uuid.UUID
    status: Literal["verified", "rejected"]
    decision: Literal["approve", "reject"]
    review_ids: list[uuid.UUID]

    @classmethod
    def of(cls, d: ReviewDecision) -> ReviewDecisionOut:
        return cls(cameo_id=d.cameo_id, status=d.status, decision=d.decision, review_ids=d.review_ids)
