"""HTTP routes of the consent domain: parse, call one service function, return a response model."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from consent import notifications, service
from consent.enrollment.api import router as enrollment_router
from consent.hotpath import hot_path
from consent.lifecycle import revocation_hooks
from consent.schemas import (
    AppearanceOut,
    ApprovalIn,
    ApprovalOut,
    ApprovalRequestIn,
    CameoConsentOut,
    ConsentCheckIn,
    ConsentCheckOut,
    DecisionOut,
    FollowIn,
    FollowOut,
    NotificationOut,
    PermissionIn,
    RestrictionIn,
    RestrictionOut,
    RevocationOut,
    TakedownIn,
    TokenCheckIn,
    TokenValid,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
)
from gate.auth import Allow, AllowInLoop, Principal
from gate.web import (
    Ctx,
    CurrentPolicy,
    DbConn,
    context_of,
    get_policy,
    json_body,
    json_body_doc,
    json_response,
)
from perception.lifecycle import models as models_of

router = APIRouter(tags=["consent"])

Checker = Annotated[Principal, Depends(Allow("platform", "user"))]
Owner = Annotated[Principal, Depends(Allow("user", "admin"))]
OwnerOnly = Annotated[Principal, Depends(Allow("user"))]
Member = Annotated[Principal, Depends(Allow("platform", "user"))]


# The hot path (docs/CONSENT.md). It runs in the event loop: the key from the process's cache
# (else looked up on the hot path's asyncio pool), the read on an asyncio connection, the write
# group-committed with other checks' (consent.hotpath); only MiniLM's embedding of a prompt to
# screen against an owner's restrictions runs on a thread of its own.
HotChecker = Annotated[
    Principal, Depends(AllowInLoop("platform", "user", pool=lambda ctx: hot_path(ctx).pool))
]
# The largest body the schema admits: 100 ids, and a prompt of PROMPT_HARD_CAP characters each
# escaped as \uXXXX. Beyond it, 413 before the rest is read.
CHECK_BODY_LIMIT = 1024 * 1024


# The route reads its body and writes its answer itself (gate.web.json_body): FastAPI's handling
# of a declared body, dependencies and return value cost a check ~0.4 ms of the loop's ~1.5 ms
# (docs/CONSENT.md). Only the key stays a dependency, so the route declares its roles as every
# other does. The schemas and the problem codes are the same.
@router.post(
    "/v1/consent/check",
    response_model=ConsentCheckOut,
    openapi_extra=json_body_doc(ConsentCheckIn),
)
async def check(request: Request, principal: HotChecker) -> Response:
    """A decision per cameo for this requester and prompt; a consent token when all allow."""
    body = await json_body(request, ConsentCheckIn, max_bytes=CHECK_BODY_LIMIT)
    ctx = context_of(request)
    requester = service.acting_subject(principal, body.requester)
    result = await hot_path(ctx).check(
        ctx, policy=await get_policy(request), requester_id=requester, cameo_ids=body.cameo_ids,
        prompt=body.prompt, actor=principal,
        platform_key_id=principal.key_id if principal.role == "platform" else None,
    )  # fmt: skip
    return json_response(
        ConsentCheckOut(
            requester=requester,
            allowed=result.allowed,
            decisions=[DecisionOut.model_validate(d.to_dict()) for d in result.decisions],
            policy_version=result.policy_version,
            prompt_sha256=result.prompt_sha256,
            token=result.token,
            expires_at=result.expires_at,
        )
    )


@router.post("/v1/consent/tokens/verify")
def verify_token(body: TokenCheckIn, conn: DbConn, ctx: Ctx, principal: Checker) -> TokenValid:
    """For platforms with their own generator: is this token still good for exactly this use?"""
    requester = service.acting_subject(principal, body.requester)
    service.validate_token(
        conn, settings=ctx.settings, token=body.token, requester_id=requester,
        cameo_ids=body.cameo_ids, prompt=body.prompt,
    )  # fmt: skip
    return TokenValid(valid=True)


@router.put("/v1/cameos/{cameo_id}/permission")
def set_permission(
    cameo_id: uuid.UUID, body: PermissionIn, conn: DbConn, ctx: Ctx, policy: CurrentPolicy, principal: Owner
) -> CameoConsentOut:
    """only_me / approved / mutuals / everyone. Narrowing revokes at once (tokens, jobs)."""
    out = service.set_permission(
        conn, policy=policy, principal=principal, cameo_id=cameo_id, permission=body.permission,
        hooks=revocation_hooks(ctx),
    )  # fmt: skip
    return CameoConsentOut.model_validate(out, from_attributes=True)


@router.post("/v1/cameos/{cameo_id}/revoke")
def revoke_all(
    cameo_id: uuid.UUID, conn: DbConn, ctx: Ctx, policy: CurrentPolicy, principal: Owner
) -> CameoConsentOut:
    """Back to only_me, every approval removed, every outstanding token and in-flight job void."""
    out = service.revoke_all(
        conn, policy=policy, principal=principal, cameo_id=cameo_id, hooks=revocation_hooks(ctx)
    )
    return CameoConsentOut.model_validate(out, from_attributes=True)


@router.get("/v1/cameos/{cameo_id}/approvals")
def list_approvals(cameo_id: uuid.UUID, conn: DbConn, principal: Owner) -> list[ApprovalOut]:
    """Requests, approvals and denials, for the owner."""
    rows = service.list_approvals(conn, principal=principal, cameo_id=cameo_id)
    return [ApprovalOut.model_validate(r, from_attributes=True) for r in rows]


@router.post("/v1/cameos/{cameo_id}/approvals", status_code=201)
def approve(
    cameo_id: uuid.UUID, body: ApprovalIn, conn: DbConn, policy: CurrentPolicy, principal: OwnerOnly
) -> ApprovalOut:
    """The owner approves a person (directly, or granting their request)."""
    row = service.approve(
        conn, policy=policy, principal=principal, cameo_id=cameo_id, subject_id=body.subject_id
    )
    return ApprovalOut.model_validate(row, from_attributes=True)


@router.delete("/v1/cameos/{cameo_id}/approvals/{subject_id}")
def remove_approval(
    cameo_id: uuid.UUID,
    subject_id: uuid.UUID,
    conn: DbConn,
    ctx: Ctx,
    policy: CurrentPolicy,
    principal: OwnerOnly,
) -> RevocationOut:
    done = service.remove_approval(
        conn, policy=policy, principal=principal, cameo_id=cameo_id, subject_id=subject_id,
        hooks=revocation_hooks(ctx),
    )  # fmt: skip
    return RevocationOut(revoked_cameo_ids=done.cameo_ids, cancelled_jobs=done.cancelled_jobs)


@router.post("/v1/cameos/{cameo_id}/approval-requests", status_code=201)
def request_approval(
    cameo_id: uuid.UUID, body: ApprovalRequestIn, conn: DbConn, policy: CurrentPolicy, principal: Member
) -> ApprovalOut:
    """Ask the owner for permission to use the cameo; the owner is notified."""
    requester = service.acting_subject(principal, body.requester)
    row = service.request_approval(
        conn, policy=policy, principal=principal, cameo_id=cameo_id, requester_id=requester
    )
    return ApprovalOut.model_validate(row, from_attributes=True)


@router.post("/v1/cameos/{cameo_id}/approval-requests/{subject_id}/deny")
def deny_request(
    cameo_id: uuid.UUID,
    subject_id: uuid.UUID,
    conn: DbConn,
    ctx: Ctx,
    policy: CurrentPolicy,
    principal: OwnerOnly,
) -> ApprovalOut:
    row = service.deny(
        conn, policy=policy, principal=principal, cameo_id=cameo_id, subject_id=subject_id,
        hooks=revocation_hooks(ctx),
    )  # fmt: skip
    return ApprovalOut.model_validate(row, from_attributes=True)


@router.get("/v1/cameos/{cameo_id}/restrictions")
def list_restrictions(cameo_id: uuid.UUID, conn: DbConn, principal: Owner) -> list[RestrictionOut]:
    rows = service.list_restrictions(conn, principal=principal, cameo_id=cameo_id)
    return [RestrictionOut.model_validate(r, from_attributes=True) for r in rows]


@router.post("/v1/cameos/{cameo_id}/restrictions", status_code=201)
def add_restriction(
    cameo_id: uuid.UUID,
    body: RestrictionIn,
    conn: DbConn,
    ctx: Ctx,
    policy: CurrentPolicy,
    principal: OwnerOnly,
) -> RestrictionOut:
    """A free-text rule ("don't put me in political videos"), checked against every prompt."""
    row = service.add_restriction(
        conn, policy=policy, models=models_of(ctx), principal=principal, cameo_id=cameo_id, text=body.text,
        hooks=revocation_hooks(ctx),
    )  # fmt: skip
    return RestrictionOut.model_validate(row, from_attributes=True)


@router.delete("/v1/cameos/{cameo_id}/restrictions/{restriction_id}", status_code=204)
def remove_restriction(
    cameo_id: uuid.UUID, restriction_id: uuid.UUID, conn: DbConn, policy: CurrentPolicy, principal: OwnerOnly
) -> Response:
    service.remove_restriction(
        conn, policy=policy, principal=principal, cameo_id=cameo_id, restriction_id=restriction_id
    )
    return Response(status_code=204)


@router.post("/v1/subjects/{subject_id}/follows", status_code=201)
def follow(
    subject_id: uuid.UUID, body: FollowIn, conn: DbConn, policy: CurrentPolicy, principal: Member
) -> FollowOut:
    """The caller (or, for a platform, its named user) follows subject {subject_id}."""
    follower = service.acting_subject(principal, body.follower)
    created = service.follow(
        conn, policy=policy, principal=principal, follower_id=follower, followee_id=subject_id
    )
    return FollowOut(follower=follower, followee=subject_id, created=created)


@router.delete("/v1/subjects/{subject_id}/follows")
def unfollow(
    subject_id: uuid.UUID,
    conn: DbConn,
    ctx: Ctx,
    policy: CurrentPolicy,
    principal: Member,
    follower: uuid.UUID | None = None,
) -> RevocationOut:
    """Stop following {subject_id}; cameos shared with `mutuals` on either side are revoked."""
    who = service.acting_subject(principal, follower)
    done = service.unfollow(
        conn, policy=policy, principal=principal, follower_id=who, followee_id=subject_id,
        hooks=revocation_hooks(ctx),
    )  # fmt: skip
    return RevocationOut(revoked_cameo_ids=done.cameo_ids, cancelled_jobs=done.cancelled_jobs)


@router.get("/v1/cameos/{cameo_id}/appearances")
def appearances(
    cameo_id: uuid.UUID, conn: DbConn, policy: CurrentPolicy, principal: Owner
) -> list[AppearanceOut]:
    """Every clip and draft featuring the cameo, removed ones included."""
    rows = service.appearances(conn, policy=policy, principal=principal, cameo_id=cameo_id)
    return [AppearanceOut.model_validate(r, from_attributes=True) for r in rows]


@router.post("/v1/cameos/{cameo_id}/appearances/{clip_id}/takedown")
def take_down(
    cameo_id: uuid.UUID,
    clip_id: uuid.UUID,
    body: TakedownIn,
    conn: DbConn,
    ctx: Ctx,
    policy: CurrentPolicy,
    principal: OwnerOnly,
) -> AppearanceOut:
    """A co-owner takes a clip down: media deleted, clip marked removed (tombstone kept), platforms told."""
    row = service.take_down(
        conn, policy=policy, media=ctx.store, principal=principal, cameo_id=cameo_id, clip_id=clip_id,
        note=body.note,
    )  # fmt: skip
    return AppearanceOut.model_validate(row, from_attributes=True)


def _endpoint_owner(principal: Principal) -> tuple[uuid.UUID | None, str | None]:
    """A user's endpoints belong to its subject; a platform's to its key."""
    return (principal.subject_id, None) if principal.role == "user" else (None, principal.key_id)


@router.post("/v1/webhooks", status_code=201, tags=["notifications"])
def register_webhook(
    body: WebhookIn, conn: DbConn, ctx: Ctx, policy: CurrentPolicy, principal: Member
) -> WebhookCreated:
    """Register an endpoint for the caller's notifications; the signing secret is shown once.
    Only public http(s) addresses (422 webhook_url_not_allowed), unless webhook_allow_private."""
    subject_id, platform_key_id = _endpoint_owner(principal)
    endpoint, secret = notifications.register_endpoint(
        conn, policy=policy, principal=principal, url=str(body.url),
        subject_id=subject_id, platform_key_id=platform_key_id, settings=ctx.settings,
    )  # fmt: skip
    return WebhookCreated(
        id=endpoint.id, url=endpoint.url, created_at=endpoint.created_at, secret=secret.hex()
    )


@router.get("/v1/webhooks", tags=["notifications"])
def list_webhooks(conn: DbConn, principal: Member) -> list[WebhookOut]:
    subject_id, platform_key_id = _endpoint_owner(principal)
    rows = notifications.list_endpoints(conn, subject_id=subject_id, platform_key_id=platform_key_id)
    return [WebhookOut(id=r.id, url=r.url, created_at=r.created_at) for r in rows]


@router.delete("/v1/webhooks/{endpoint_id}", status_code=204, tags=["notifications"])
def delete_webhook(endpoint_id: uuid.UUID, conn: DbConn, principal: Member) -> Response:
    subject_id, platform_key_id = _endpoint_owner(principal)
    notifications.disable_endpoint(conn, endpoint_id, subject_id=subject_id, platform_key_id=platform_key_id)
    return Response(status_code=204)


@router.get("/v1/notifications", tags=["notifications"])
def recent_notifications(
    conn: DbConn, policy: CurrentPolicy, principal: OwnerOnly, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[NotificationOut]:
    """The owner's latest notifications (cameo used, clip taken down, approval asked), newest first."""
    assert principal.subject_id is not None
    rows = notifications.recent(conn, subject_id=principal.subject_id, limit=limit)
    return [NotificationOut.model_validate(r, from_attributes=True) for r in rows]


# Included last: routes are tried in order, and the consent check (the hot path) should not first
# be compared with every enrollment route.
router.include_router(enrollment_router)
