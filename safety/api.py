"""HTTP routes of the safety domain: parse, call one service function, return a response model."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile
from pydantic import ValidationError

from consent import service as consent_service
from gate import territories
from gate.auth import Allow, Principal
from gate.errors import ValidationFailed
from gate.media import read_upload
from gate.web import Ctx, CurrentPolicy, DbConn
from perception.lifecycle import models as get_models
from policies.service import ActivePolicy
from safety import service
from safety.lifecycle import indexes
from safety.schemas import (
    DisputeAnswer,
    DisputeCreate,
    DisputeDecision,
    DisputeOut,
    IndexStatus,
    OptOutCreate,
    OptOutOut,
    OptOutUpdate,
    PromptScanIn,
    ScanOut,
    Suspend,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["safety"])

RightsHolder = Annotated[Principal, Depends(Allow("rights_holder"))]
RegistryReader = Annotated[Principal, Depends(Allow("rights_holder", "admin"))]
Admin = Annotated[Principal, Depends(Allow("admin"))]
Scanner = Annotated[Principal, Depends(Allow("platform", "admin"))]
Disputer = Annotated[Principal, Depends(Allow("platform", "user"))]
DisputeReader = Annotated[Principal, Depends(Allow("platform", "user", "rights_holder", "admin"))]
Answerer = Annotated[Principal, Depends(Allow("rights_holder"))]


def _out(view: service.OptOutView) -> OptOutOut:
    return OptOutOut(**vars(view.optout), references=view.references, matches=view.matches)


def _read_all(files: list[UploadFile], policy: ActivePolicy) -> list[bytes]:
    limit = max(policy.policy.uploads.max_image_bytes, policy.policy.uploads.max_video_bytes)
    return [read_upload(f, limit) for f in files]


@router.post("/v1/optouts", status_code=201)
def create_optout(
    conn: DbConn,
    ctx: Ctx,
    policy: CurrentPolicy,
    principal: RightsHolder,
    metadata: Annotated[str, Form(max_length=20_000)],
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> OptOutOut:
    """Multipart: a JSON `metadata` part (title, names, keywords, description, action,
    territories, notes) and any number of `files` parts (images or videos)."""
    try:
        meta = OptOutCreate.model_validate(json.loads(metadata))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValidationFailed("the metadata part is not a valid opt-out", code="invalid_metadata") from exc
    uploads = _read_all(files or [], policy)
    refs = service.decode_references(uploads, policy=policy)
    view = service.create_optout(
        conn, policy=policy, models=get_models(ctx), indexes=indexes(ctx), principal=principal,
        references=refs, **meta.model_dump(),
    )  # fmt: skip
    # Bytes are kept only once every file decoded and the opt-out row is written.
    for data in uploads:
        ctx.store.put(data)
    return _out(view)


@router.post("/v1/optouts/{optout_id}/references", status_code=201)
def add_references(
    optout_id: uuid.UUID,
    conn: DbConn,
    ctx: Ctx,
    policy: CurrentPolicy,
    principal: RightsHolder,
    files: Annotated[list[UploadFile], File()],
) -> OptOutOut:
    uploads = _read_all(files, policy)
    refs = service.decode_references(uploads, policy=policy)
    view = service.add_references(
        conn, policy=policy, models=get_models(ctx), indexes=indexes(ctx), principal=principal,
        optout_id=optout_id, references=refs,
    )  # fmt: skip
    for data in uploads:
        ctx.store.put(data)
    return _out(view)


@router.get("/v1/optouts")
def list_optouts(conn: DbConn, principal: RegistryReader, status: str | None = None) -> list[OptOutOut]:
    return [_out(v) for v in service.list_optouts(conn, principal=principal, status=status)]


@router.get("/v1/optouts/{optout_id}")
def get_optout(optout_id: uuid.UUID, conn: DbConn, principal: RegistryReader) -> OptOutOut:
    """One opt-out with its reference count and match counts per signal."""
    return _out(service.detail(conn, principal=principal, optout_id=optout_id))


@router.patch("/v1/optouts/{optout_id}")
def update_optout(
    optout_id: uuid.UUID, body: OptOutUpdate, conn: DbConn, principal: RightsHolder, policy: CurrentPolicy
) -> OptOutOut:
    view = service.update_optout(
        conn,
        policy=policy,
        principal=principal,
        optout_id=optout_id,
        changes=body.model_dump(exclude_unset=True),
    )
    return _out(view)


@router.post("/v1/optouts/{optout_id}/withdraw")
def withdraw_optout(
    optout_id: uuid.UUID, conn: DbConn, principal: RightsHolder, policy: CurrentPolicy
) -> OptOutOut:
    """Stops matching within seconds in every process (the change feed carries it)."""
    return _out(service.withdraw_optout(conn, policy=policy, principal=principal, optout_id=optout_id))


@router.post("/v1/optouts/{optout_id}/suspend")
def suspend_optout(
    optout_id: uuid.UUID, body: Suspend, conn: DbConn, principal: Admin, policy: CurrentPolicy
) -> OptOutOut:
    """Admin: suspend an invalid opt-out (or reinstate it with `suspended: false`)."""
    view = service.set_suspended(
        conn,
        policy=policy,
        principal=principal,
        optout_id=optout_id,
        suspended=body.suspended,
        reason=body.reason,
    )
    return _out(view)


@router.get("/v1/safety/index")
def index_status(ctx: Ctx, principal: Admin) -> IndexStatus:
    """What this process's indexes hold (compare with `cameogate index check`)."""
    return IndexStatus(**indexes(ctx).stats())


@router.post("/v1/scan/prompt")
def scan_prompt(
    body: PromptScanIn, conn: DbConn, ctx: Ctx, policy: CurrentPolicy, principal: Scanner
) -> ScanOut:
    scan = service.scan_prompt(
        conn, policy=policy, models=get_models(ctx), indexes=indexes(ctx), prompt=body.prompt,
        territory=body.territory,
    )  # fmt: skip
    return ScanOut(**scan.to_dict())


def consented_cameos(
    conn: DbConn, ctx: Ctx, token: str | None, requester: uuid.UUID | None
) -> set[uuid.UUID]:
    """The cameos the caller's consent token still covers (none without a valid token)."""
    if not token:
        return set()
    if requester is None:
        raise ValidationFailed(
            "a consent_token needs the requester it was issued to", code="requester_required"
        )
    return set(
        consent_service.token_cameo_ids(conn, settings=ctx.settings, token=token, requester_id=requester)
    )


@router.post("/v1/scan/media")
def scan_media(
    conn: DbConn,
    ctx: Ctx,
    policy: CurrentPolicy,
    principal: Scanner,
    file: Annotated[UploadFile, File()],
    consent_token: Annotated[str | None, Form(max_length=4000)] = None,
    requester: Annotated[uuid.UUID | None, Form()] = None,
    territory: Annotated[
        str | None, Form(max_length=2, description="where the media will be shown (ISO 3166-1 alpha-2)")
    ] = None,
) -> ScanOut:
    """An image or a video: IP matches per frame, and faces/voices of verified cameos or protected
    people with whether the consent token covers them."""
    try:  # the form field cannot carry gate.schemas.Territory's check: the same function, here
        shown_in = territories.territory(territory) if territory else None
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="validation_failed") from exc
    data = read_upload(
        file, max(policy.policy.uploads.max_image_bytes, policy.policy.uploads.max_video_bytes)
    )
    frames, audio = service.decode_scan_media(data, policy=policy)
    covered = consented_cameos(conn, ctx, consent_token, requester)
    scan = service.scan_media(
        conn, policy=policy, models=get_models(ctx), indexes=indexes(ctx), keyring=ctx.settings.keyring(),
        frames=frames, audio=audio, consented_cameo_ids=covered,
        territory=shown_in,
    )  # fmt: skip
    return ScanOut(**scan.to_dict())


@router.post("/v1/disputes", status_code=201)
def file_dispute(body: DisputeCreate, conn: DbConn, principal: Disputer, policy: CurrentPolicy) -> DisputeOut:
    dispute = service.file_dispute(
        conn,
        policy=policy,
        principal=principal,
        optout_id=body.optout_id,
        scan_id=body.scan_id,
        reason=body.reason,
    )
    return DisputeOut(**vars(dispute))


@router.get("/v1/disputes")
def list_disputes(conn: DbConn, principal: DisputeReader, status: str | None = None) -> list[DisputeOut]:
    return [DisputeOut(**vars(d)) for d in service.list_disputes(conn, principal=principal, status=status)]


@router.get("/v1/disputes/{dispute_id}")
def get_dispute(dispute_id: uuid.UUID, conn: DbConn, principal: DisputeReader) -> DisputeOut:
    return DisputeOut(**vars(service.get_dispute(conn, principal=principal, dispute_id=dispute_id)))


@router.post("/v1/disputes/{dispute_id}/answer")
def answer_dispute(
    dispute_id: uuid.UUID, body: DisputeAnswer, conn: DbConn, principal: Answerer, policy: CurrentPolicy
) -> DisputeOut:
    dispute = service.answer_dispute(
        conn, policy=policy, principal=principal, dispute_id=dispute_id, answer=body.answer
    )
    return DisputeOut(**vars(dispute))


@router.post("/v1/disputes/{dispute_id}/decide")
def decide_dispute(
    dispute_id: uuid.UUID, body: DisputeDecision, conn: DbConn, principal: Admin, policy: CurrentPolicy
) -> DisputeOut:
    dispute = service.decide_dispute(
        conn,
        policy=policy,
        principal=principal,
        dispute_id=dispute_id,
        decision=body.decision,
        note=body.note,
    )
    return DisputeOut(**vars(dispute))
