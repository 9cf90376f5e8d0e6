"""HTTP routes of cameo enrollment: parse, call one service function, return a response model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile

from consent.enrollment import service
from consent.enrollment.schemas import (
    CameoOut,
    CaptureOut,
    ChallengeOut,
    Purged,
    ReviewDecisionIn,
    ReviewDecisionOut,
    ReviewOut,
    VerificationOut,
)
from consent.lifecycle import revocation_hooks
from gate.auth import Allow, Principal
from gate.media import read_upload, video_type
from gate.web import Ctx, CurrentPolicy, DbConn
from perception.lifecycle import models as models_of

router = APIRouter(tags=["cameos"])

User = Annotated[Principal, Depends(Allow("user"))]
# Owners read and delete their cameo; admins too (support, the review queue, erasure requests).
# Platforms do not: whether a cameo may be used is the consent check's answer, and which
# liveness checks a person failed is theirs to know.
OwnerOrAdmin = Annotated[Principal, Depends(Allow("user", "admin"))]
Admin = Annotated[Principal, Depends(Allow("admin"))]


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("/v1/cameos", status_code=201)
def create_cameo(conn: DbConn, principal: User, policy: CurrentPolicy) -> CameoOut:
    """Start enrollment: a pending cameo and its challenge (head moves and digits to speak)."""
    cameo, challenge = service.create_cameo(conn, policy=policy, principal=principal, clock=_now)
    return CameoOut.of(cameo, challenge=ChallengeOut.of(challenge))


@router.post("/v1/cameos/{cameo_id}/challenge", status_code=201)
def new_challenge(cameo_id: uuid.UUID, conn: DbConn, principal: User, policy: CurrentPolicy) -> ChallengeOut:
    """A fresh challenge for a pending or rejected cameo."""
    return ChallengeOut.of(
        service.new_challenge(conn, policy=policy, principal=principal, cameo_id=cameo_id, clock=_now)
    )


@router.post("/v1/cameos/{cameo_id}/capture")
def capture(
    cameo_id: uuid.UUID,
    conn: DbConn,
    principal: User,
    policy: CurrentPolicy,
    ctx: Ctx,
    video: Annotated[UploadFile, File(description="MP4, MOV or WebM with audio")],
    challenge_id: Annotated[uuid.UUID, Form()],
) -> CaptureOut:
    """Verify a liveness capture; every check is reported with its score, threshold and code."""
    data = read_upload(video, policy.policy.enrollment.capture_max_bytes)
    result = service.capture(
        conn, policy=policy, models=models_of(ctx), keyring=ctx.settings.keyring(), media=ctx.store,
        principal=principal, cameo_id=cameo_id, challenge_id=challenge_id, data=data, clock=_now,
    )  # fmt: skip
    return CaptureOut(
        cameo_id=result.cameo_id, status=result.outcome, verification=VerificationOut.of(result)
    )


@router.get("/v1/cameos/{cameo_id}")
def get_cameo(cameo_id: uuid.UUID, conn: DbConn, principal: OwnerOrAdmin) -> CameoOut:
    """Status and the latest verification; never any biometric data."""
    return CameoOut.of_status(service.status(conn, principal=principal, cameo_id=cameo_id))


@router.delete("/v1/cameos/{cameo_id}")
def delete_cameo(
    cameo_id: uuid.UUID, conn: DbConn, principal: OwnerOrAdmin, policy: CurrentPolicy, ctx: Ctx
) -> Purged:
    """Purge the cameo's templates, kept captures and frame hashes now; the audit log records it."""
    purged = service.delete(
        conn,
        policy=policy,
        principal=principal,
        media=ctx.store,
        cameo_id=cameo_id,
        hooks=revocation_hooks(ctx),
    )
    return Purged(cameo_id=cameo_id, **purged)


@router.get("/v1/reviews", tags=["reviews"])
def review_queue(
    conn: DbConn, principal: Admin, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[ReviewOut]:
    """Captures held for a person to look at (a protected person's likeness, or someone else's
    verified cameo), oldest first."""
    return [ReviewOut.model_validate(r) for r in service.review_queue(conn, limit=limit)]


@router.get(
    "/v1/reviews/{review_id}/capture",
    tags=["reviews"],
    response_class=Response,
    responses={200: {"content": {"video/mp4": {}, "video/quicktime": {}, "video/webm": {}}}},
)
def review_capture(
    review_id: uuid.UUID, conn: DbConn, principal: Admin, policy: CurrentPolicy, ctx: Ctx
) -> Response:
    """The held capture itself, for the reviewer to watch (each viewing is audited)."""
    data = service.review_capture(
        conn, policy=policy, media=ctx.store, principal=principal, review_id=review_id
    )
    return Response(data, media_type=video_type(data), headers={"Cache-Control": "no-store"})


@router.post("/v1/reviews/{review_id}/decision", tags=["reviews"])
def decide_review(
    review_id: uuid.UUID,
    body: ReviewDecisionIn,
    conn: DbConn,
    principal: Admin,
    policy: CurrentPolicy,
    ctx: Ctx,
) -> ReviewDecisionOut:
    """Approve (the cameo is verified from the kept capture) or reject (its owner may try again)."""
    decided = service.resolve_review(
        conn, policy=policy, models=models_of(ctx), keyring=ctx.settings.keyring(), media=ctx.store,
        principal=principal, review_id=review_id, decision=body.decision, note=body.note,
    )  # fmt: skip
    return ReviewDecisionOut.of(decided)
