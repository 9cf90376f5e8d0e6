"""HTTP routes of cameo enrollment: parse, call one service function, return a response model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile

from consent.enrollment import service
from consent.enrollment.schemas import CameoOut, CaptureOut, ChallengeOut, Purged, VerificationOut
from consent.lifecycle import revocation_hooks
from gate.auth import Allow, Principal
from gate.media import read_upload
from gate.web import Ctx, CurrentPolicy, DbConn
from perception.lifecycle import models as models_of

router = APIRouter(tags=["cameos"])

User = Annotated[Principal, Depends(Allow("user"))]
# Owners read and delete their cameo; admins too (support, the review queue, erasure requests).
# Platforms do not: whether a cameo may be used is the consent check's answer, and which
# liveness checks a person failed is theirs to know.
OwnerOrAdmin = Annotated[Principal, Depends(Allow("user", "admin"))]


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
