"""HTTP routes of generation: submit, follow, cancel jobs; fetch published clips."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError

from gate.auth import Allow, Principal
from gate.errors import UnsupportedMedia, ValidationFailed
from gate.media import read_upload
from gate.web import Ctx, CurrentPolicy, DbConn
from generation import service
from generation.schemas import Accepted, ClipView, GenerationRequest, JobView

router = APIRouter(tags=["generation"])

Platform = Annotated[Principal, Depends(Allow("platform", "admin"))]
ClipReader = Annotated[Principal, Depends(Allow("platform", "user", "auditor", "admin"))]


async def _parse_submission(
    request: Request, policy: CurrentPolicy
) -> tuple[GenerationRequest, bytes | None]:
    """JSON body, or multipart with a JSON `request` part and an optional `input` file part."""
    ctype = request.headers.get("content-type", "")
    try:
        if ctype.startswith("application/json"):
            return GenerationRequest.model_validate_json(await request.body()), None
        if ctype.startswith("multipart/form-data"):
            limit = policy.policy.uploads.max_video_bytes
            async with request.form(max_files=1, max_fields=2) as form:
                raw = form.get("request")
                if not isinstance(raw, str):
                    raise ValidationFailed(
                        "multipart needs a JSON `request` field", code="request_part_missing"
                    )
                body = GenerationRequest.model_validate_json(raw)
                upload = form.get("input")
                data = None if upload is None or isinstance(upload, str) else read_upload(upload, limit)
                return body, data
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        raise ValidationFailed("the generation request is not valid", errors=errors) from exc
    except json.JSONDecodeError as exc:
        raise ValidationFailed("the `request` part is not JSON", code="validation_failed") from exc
    raise UnsupportedMedia("send application/json or multipart/form-data", code="unsupported_content_type")


Submission = Annotated[tuple[GenerationRequest, bytes | None], Depends(_parse_submission)]


@router.post("/v1/generations", status_code=202)
def submit_generation(
    principal: Platform, submission: Submission, conn: DbConn, policy: CurrentPolicy, ctx: Ctx
) -> Accepted:
    """Queue a generation. Everything checkable (cameos, consent token, input media, limits,
    quotas) is checked first: a refused request queues nothing. The key is checked before the
    body is read (`principal` comes first)."""
    body, data = submission
    media = service.check_input(data, policy) if data is not None else None
    job = service.submit(
        conn,
        settings=ctx.settings,
        policy=policy,
        media_store=ctx.store,
        principal=principal,
        request=body,
        input_media=media,
    )
    return Accepted(job_id=job.id, clip_id=job.clip_id, state=job.state)


@router.get("/v1/generations/{job_id}")
def get_generation(job_id: uuid.UUID, conn: DbConn, principal: Platform) -> JobView:
    """Stage, progress and every stage's decision with its scores and policy version."""
    return service.view(conn, principal=principal, job_id=job_id)


@router.delete("/v1/generations/{job_id}", status_code=204)
def cancel_generation(job_id: uuid.UUID, conn: DbConn, principal: Platform, policy: CurrentPolicy) -> None:
    service.cancel(conn, principal=principal, policy=policy, job_id=job_id)


@router.get("/v1/clips/{clip_id}")
def get_clip(clip_id: uuid.UUID, conn: DbConn, principal: ClipReader) -> ClipView:
    return service.clip_view(conn, clip_id)


@router.get("/v1/clips/{clip_id}/media", response_class=Response)
def get_clip_media(clip_id: uuid.UUID, conn: DbConn, principal: ClipReader, ctx: Ctx) -> Response:
    """The signed, watermarked MP4 of a published clip (410 once a co-owner removed it)."""
    data = service.clip_media(conn, media_store=ctx.store, clip_id=clip_id)
    return Response(data, media_type="video/mp4")
