"""Operational and shared routes: health, readiness, keys, subjects, the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from gate import audit, auth, subjects
from gate.auth import Allow, Principal
from gate.schemas import (
    AuditEntry,
    AuditPage,
    ChainStatus,
    Health,
    KeyCreate,
    KeyCreated,
    KeyOut,
    Readiness,
    SubjectCreate,
    SubjectOut,
)
from gate.web import Ctx, CurrentPolicy, DbConn

router = APIRouter()

Admin = Annotated[Principal, Depends(Allow("admin"))]
Auditor = Annotated[Principal, Depends(Allow("auditor", "admin"))]
SubjectManager = Annotated[Principal, Depends(Allow("platform", "admin"))]


@router.get("/healthz", tags=["operations"])
def healthz() -> Health:
    """The process is up (no dependencies checked)."""
    return Health(status="ok")


@router.get("/readyz", tags=["operations"], responses={503: {"model": Readiness}})
def readyz(ctx: Ctx) -> Readiness:
    """Database reachable, migrations current, models and indexes loaded."""
    from fastapi.responses import JSONResponse

    from gate.migrate import is_current

    checks: dict[str, str] = {}
    try:
        with ctx.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
            checks["database"] = "ok"
            checks["migrations"] = "ok" if is_current(conn) else "pending or edited migrations"
    except Exception:
        checks["database"] = "unreachable"
    for name, check in ctx.readiness.items():
        checks[name] = check() or "ok"
    ready = all(v == "ok" for v in checks.values())
    body = Readiness(
        status="ready" if ready else "not_ready", checks=checks, policy_version=ctx.policies.current.version
    )
    if not ready:
        return JSONResponse(body.model_dump(), status_code=503)  # type: ignore[return-value]
    return body


@router.post("/v1/keys", status_code=201, tags=["keys"])
def create_key(body: KeyCreate, conn: DbConn, principal: Admin, policy: CurrentPolicy) -> KeyCreated:
    """Create an API key. The response is the only place the full key ever appears."""
    org = auth.ensure_organisation(conn, body.organisation) if body.organisation else None
    if body.subject_id:
        subjects.get(conn, body.subject_id)
    full, rec = auth.create_key(
        conn, role=body.role, subject_id=body.subject_id, organisation_id=org, label=body.label
    )
    audit.record(
        conn,
        actor=principal,
        action="keys.create",
        policy_version=policy.version,
        subject_id=rec.subject_id,
        target_kind="api_key",
        target_id=rec.id,
        details={"role": rec.role},
    )
    return KeyCreated(key=full, **vars(rec))


@router.get("/v1/keys", tags=["keys"])
def list_keys(conn: DbConn, principal: Admin) -> list[KeyOut]:
    return [KeyOut(**vars(k)) for k in auth.list_keys(conn)]


@router.delete("/v1/keys/{key_id}", status_code=204, tags=["keys"])
def revoke_key(key_id: str, conn: DbConn, ctx: Ctx, principal: Admin, policy: CurrentPolicy) -> None:
    """Refused at once by this process; by other processes within auth.KEY_CACHE_TTL_SECONDS."""
    auth.revoke_key(conn, key_id, cache=ctx.key_cache)
    audit.record(
        conn,
        actor=principal,
        action="keys.revoke",
        policy_version=policy.version,
        target_kind="api_key",
        target_id=key_id,
    )


@router.post("/v1/subjects", status_code=201, tags=["subjects"])
def create_subject(
    body: SubjectCreate, conn: DbConn, principal: SubjectManager, policy: CurrentPolicy
) -> SubjectOut:
    """Register a person (a platform's user) by an opaque external reference."""
    row = subjects.create(conn, external_ref=body.external_ref, age_band=body.age_band)
    audit.record(
        conn,
        actor=principal,
        action="subjects.create",
        policy_version=policy.version,
        subject_id=row.id,
        target_kind="subject",
        target_id=row.id,
        details={"age_band": row.age_band},
    )
    return SubjectOut(**vars(row))


@router.get("/v1/audit", tags=["audit"])
def read_audit(
    conn: DbConn,
    principal: Auditor,
    subject_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Entries in chain order, filtered; page with `after_id=next_after_id`."""
    rows = audit.page(
        conn, subject_id=subject_id, action=action, since=since, until=until, after_id=after_id, limit=limit
    )
    entries = [AuditEntry(**r) for r in rows]
    return AuditPage(entries=entries, next_after_id=entries[-1].id if len(entries) == limit else None)


@router.get("/v1/audit/verify", tags=["audit"])
def verify_audit(conn: DbConn, principal: Auditor) -> ChainStatus:
    """Recompute the whole hash chain and name the first broken link."""
    return ChainStatus(**vars(audit.verify_chain(conn)))
