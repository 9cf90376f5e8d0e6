"""Stored policy versions: apply (validate, store once per version, activate), load, history.

Kept apart from policies/service.py because gate/web.py imports that module, and this one needs
gate's audit and auth.
"""

from __future__ import annotations

from dataclasses import dataclass

from gate import audit
from gate.auth import Principal
from gate.db import Conn
from gate.errors import Conflict, NotFound, ValidationFailed
from policies import store
from policies.service import ActivePolicy, PolicyInvalid, parse


@dataclass(frozen=True)
class Applied:
    active: ActivePolicy
    changed: bool  # False when this version was already the active one
    previous_version: str | None


def _stored_sha(stored: store.StoredPolicy) -> str:
    """The stored document's hash under the current schema (defaults included), so a re-applied
    file compares equal to its stored copy even after the code added fields with defaults."""
    try:
        return parse(stored.source).sha256
    except PolicyInvalid:
        return stored.sha256


def apply(conn: Conn, *, text: str, actor: Principal | str, current_version: str) -> Applied:
    """Validate `text`, store it as its version (once per version) and make it the active policy.

    Refused documents raise ValidationFailed (code policy_invalid) with each error's field, line
    and reason, and change nothing. A version already stored with other content is a 409.
    Every process switches when this transaction commits (NOTIFY, see policies/lifecycle.py).
    """
    try:
        candidate = parse(text)
    except PolicyInvalid as exc:
        raise ValidationFailed(str(exc), code="policy_invalid", errors=exc.errors) from exc
    by = actor.actor if isinstance(actor, Principal) else actor
    store.lock_versions(conn)
    existing = store.get_version(conn, candidate.version)
    if existing is None:
        store.insert_version(
            conn, version=candidate.version, sha256=candidate.sha256, source=text, created_by=by
        )
    elif _stored_sha(existing) != candidate.sha256:
        raise Conflict(
            f"policy version {candidate.version!r} already exists with different content;"
            " give the new document a new version",
            code="policy_version_conflict",
        )
    else:
        candidate = ActivePolicy(candidate.policy, candidate.sha256, existing.source)
    current = store.active(conn)
    previous = current.version if current else None
    if previous == candidate.version:
        return Applied(candidate, changed=False, previous_version=previous)
    store.insert_activation(conn, version=candidate.version, activated_by=by)
    audit.record(
        conn, actor=actor, action="policy.apply", policy_version=current_version,
        target_kind="policy", target_id=candidate.version,
        details={"version": candidate.version, "sha256": candidate.sha256, "previous_version": previous},
    )  # fmt: skip
    return Applied(candidate, changed=True, previous_version=previous)


def load_active(conn: Conn) -> ActivePolicy | None:
    """The active stored policy, or None when none was ever applied."""
    stored = store.active(conn)
    return parse(stored.source) if stored else None


def ensure_active(conn: Conn, *, default: ActivePolicy) -> ActivePolicy:
    """The active stored policy; when the table is empty, `default` (the policy file) is stored and
    activated first. Two processes starting at once both end on the same version (apply locks)."""
    found = load_active(conn)
    if found is not None:
        return found
    return apply(conn, text=default.source, actor="system", current_version=default.version).active


def history(conn: Conn, *, limit: int = 100) -> list[store.Activation]:
    return store.activations(conn, limit=limit)


def get_version(conn: Conn, version: str) -> store.StoredPolicy:
    found = store.get_version(conn, version)
    if found is None:
        raise NotFound(f"no policy version {version!r}", code="policy_version_not_found")
    return found
