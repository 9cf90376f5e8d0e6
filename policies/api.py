"""HTTP routes of the policies domain: parse, call one service function, return a response model."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from gate.auth import ROLES, Allow, Principal
from gate.errors import Forbidden, UnsupportedMedia, ValidationFailed
from gate.media import read_upload
from gate.web import Ctx, CurrentPolicy, DbConn, read_body
from perception.lifecycle import models as models_of
from policies import protected, quotas, rules, versions
from policies.schema import QuotaKind
from policies.schemas import (
    ActivationOut,
    ExplainOut,
    ExplainRequest,
    PhotoAddedOut,
    PolicyApplied,
    PolicyOut,
    ProtectedPersonCreate,
    ProtectedPersonOut,
    ProtectedPersonUpdate,
    QuotaOut,
    QuotasOut,
    StoredPolicyOut,
)
from policies.service import ActivePolicy

router = APIRouter(tags=["policies"])

Admin = Annotated[Principal, Depends(Allow("admin"))]
AdminOrAuditor = Annotated[Principal, Depends(Allow("admin", "auditor"))]
# Everyone may read the policy that governs them: limits, age-band rules and thresholds are what
# a platform, a person or a rights holder needs to understand a refusal. Only the blocked-content
# term lists are withheld from them (publishing them makes evasion trivial).
AnyRole = Annotated[Principal, Depends(Allow(*ROLES))]
PlatformOrAdmin = Annotated[Principal, Depends(Allow("platform", "admin"))]
QuotaReader = Annotated[Principal, Depends(Allow("platform", "user", "admin"))]

MAX_POLICY_BYTES = 1_000_000
YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"}


async def _policy_text(request: Request) -> str:
    """The request body as YAML text: a YAML (or plain text) content type, UTF-8, at most 1 MB."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in YAML_TYPES:
        raise UnsupportedMedia(
            "send the policy as YAML (Content-Type: application/yaml)", code="policy_not_yaml"
        )
    body = await read_body(request, max_bytes=MAX_POLICY_BYTES)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("the policy is not UTF-8 text", code="policy_not_utf8") from exc
    if not text.strip():
        raise ValidationFailed("the policy is empty", code="policy_empty")
    return text


PolicyText = Annotated[str, Depends(_policy_text)]


def _redacted(active: ActivePolicy, principal: Principal) -> PolicyOut:
    document: dict[str, Any] = active.policy.model_dump(mode="json")
    if principal.role in ("admin", "auditor"):
        return PolicyOut(
            version=active.version, sha256=active.sha256, document=document, source=active.source
        )
    for category in document["content"]["categories"]:
        category["terms"] = []
        category["descriptions"] = []
    return PolicyOut(version=active.version, sha256=active.sha256, document=document, source=None)


@router.get("/v1/policy")
def get_policy(principal: AnyRole, policy: CurrentPolicy) -> PolicyOut:
    """The policy this process is enforcing now."""
    return _redacted(policy, principal)


@router.put(
    "/v1/policy",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/yaml": {"schema": {"type": "string"}}}}
    },
)
def put_policy(
    principal: Admin, text: PolicyText, conn: DbConn, ctx: Ctx, policy: CurrentPolicy
) -> PolicyApplied:
    """Validate, store and activate a policy document (the YAML text is the body). A refused
    document answers 422 with each error's field, line and reason; the active policy stays."""
    applied = versions.apply(conn, text=text, actor=principal, current_version=policy.version)
    # Commit before switching this process, so it never enforces a policy the database does not
    # hold; the other processes switch on the commit's NOTIFY.
    conn.commit()
    if applied.changed:
        ctx.policies.replace(applied.active)
    return PolicyApplied(
        version=applied.active.version,
        sha256=applied.active.sha256,
        changed=applied.changed,
        previous_version=applied.previous_version,
    )


@router.get("/v1/policy/history")
def policy_history(
    principal: AdminOrAuditor, conn: DbConn, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[ActivationOut]:
    """Activations, newest first."""
    return [ActivationOut(**vars(a)) for a in versions.history(conn, limit=limit)]


@router.get("/v1/policy/versions/{version}")
def policy_version(version: str, principal: AdminOrAuditor, conn: DbConn) -> StoredPolicyOut:
    return StoredPolicyOut(**vars(versions.get_version(conn, version)))


@router.post("/v1/policy/explain")
def explain(
    body: ExplainRequest, principal: PlatformOrAdmin, conn: DbConn, ctx: Ctx, policy: CurrentPolicy
) -> ExplainOut:
    """Every policy rule the generation request would meet, fired or not, and why. Counts no
    quota and writes nothing."""
    platform_key_id = body.platform_key_id
    if principal.role == "platform":
        if platform_key_id not in (None, principal.key_id):
            raise Forbidden("a platform key explains its own requests only", code="other_platform_key")
        platform_key_id = principal.key_id
    result = rules.explain(
        conn,
        policy=policy,
        text_model=models_of(ctx).text,
        requester_id=body.requester_id,
        platform_key_id=platform_key_id,
        prompt=body.prompt,
        cameo_ids=body.cameo_ids,
        duration_seconds=body.duration_seconds,
    )
    return ExplainOut(**result.to_dict())


@router.get("/v1/policy/quotas")
def read_quotas(
    principal: QuotaReader,
    conn: DbConn,
    policy: CurrentPolicy,
    kind: Annotated[QuotaKind, Query()] = "generation",
    subject_id: uuid.UUID | None = None,
) -> QuotasOut:
    """How much of each applicable window is used (a user sees their own; a platform key sees
    its own windows and any subject's). Counts nothing."""
    platform_key_id = principal.key_id if principal.role == "platform" else None
    if principal.role == "user":
        if subject_id not in (None, principal.subject_id):
            raise Forbidden("a user key reads its own quotas only", code="other_subject")
        subject_id = principal.subject_id
    states = quotas.peek(
        conn, policy=policy, subject_id=subject_id, platform_key_id=platform_key_id, kind=kind
    )
    return QuotasOut(
        policy_version=policy.version, quotas=[QuotaOut.model_validate(s.to_dict()) for s in states]
    )


# --- protected people ---------------------------------------------------------------------------


@router.post("/v1/policy/protected-people", status_code=201)
def create_protected_person(
    body: ProtectedPersonCreate, principal: Admin, conn: DbConn, policy: CurrentPolicy
) -> ProtectedPersonOut:
    person = protected.create(
        conn, policy=policy, actor=principal, name=body.name, aliases=body.aliases, subject_id=body.subject_id
    )
    return ProtectedPersonOut(**vars(person))


@router.get("/v1/policy/protected-people")
def list_protected_people(principal: AdminOrAuditor, conn: DbConn) -> list[ProtectedPersonOut]:
    from policies import store

    return [ProtectedPersonOut(**vars(p)) for p in store.list_people(conn)]


@router.get("/v1/policy/protected-people/{person_id}")
def get_protected_person(person_id: uuid.UUID, principal: AdminOrAuditor, conn: DbConn) -> ProtectedPersonOut:
    return ProtectedPersonOut(**vars(protected.get(conn, person_id)))


@router.patch("/v1/policy/protected-people/{person_id}")
def update_protected_person(
    person_id: uuid.UUID, body: ProtectedPersonUpdate, principal: Admin, conn: DbConn, policy: CurrentPolicy
) -> ProtectedPersonOut:
    person = protected.update(
        conn, policy=policy, actor=principal, person_id=person_id, name=body.name, aliases=body.aliases,
        subject_id=body.subject_id, unlink_subject=body.unlink_subject,
    )  # fmt: skip
    return ProtectedPersonOut(**vars(person))


@router.delete("/v1/policy/protected-people/{person_id}", status_code=204)
def delete_protected_person(
    person_id: uuid.UUID, principal: Admin, conn: DbConn, policy: CurrentPolicy
) -> None:
    protected.delete(conn, policy=policy, actor=principal, person_id=person_id)


@router.post("/v1/policy/protected-people/{person_id}/photos", status_code=201)
def add_protected_photo(
    person_id: uuid.UUID,
    principal: Admin,
    conn: DbConn,
    ctx: Ctx,
    policy: CurrentPolicy,
    file: Annotated[UploadFile, File(description="A photo showing the person's face, alone.")],
) -> PhotoAddedOut:
    """Add a reference face: the one face in the photo is embedded and stored encrypted."""
    data = read_upload(file, policy.policy.protected_people.max_photo_bytes)
    models = models_of(ctx)
    added = protected.add_photo(
        conn, policy=policy, actor=principal, detector=models.face_detector, embedder=models.face_embedder,
        keyring=ctx.settings.keyring(), person_id=person_id, data=data,
    )  # fmt: skip
    return PhotoAddedOut(**vars(added))
