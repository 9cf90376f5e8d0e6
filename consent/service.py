"""Consent logic: who may use a cameo, the consent check and its tokens, revocation, co-ownership.

Plain functions with explicit dependencies. The hot path (check_consent) reads PostgreSQL directly
on every call — one indexed statement for permissions, approvals and follows — and keeps no cache,
so a revocation is visible to the very next check (see docs/CONSENT.md).

Every change that takes consent away bumps the cameo's `consent_epoch` in the same transaction
and calls the revocation hooks (generation cancels in-flight jobs through one): tokens embed the
epochs they were issued at, so they stop validating the moment the revocation commits.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from psycopg.pq import TransactionStatus

from consent import restrictions, store, tokens
from gate import audit, outbox
from gate.auth import Principal
from gate.db import Conn
from gate.errors import Conflict, ConsentRequired, Forbidden, NotFound, ValidationFailed
from gate.media import ContentStore
from gate.settings import Settings
from perception.registry import Models
from policies import rules as age_rules
from policies.service import ActivePolicy

log = logging.getLogger(__name__)

RevocationHook = Callable[[Conn, list[uuid.UUID]], int]
Clock = Callable[[], float]
LEVELS = ("only_me", "approved", "mutuals", "everyone")
REMOVED_BY_COOWNER = "removed by co-owner"


# --- decisions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestrictionMatch:
    restriction_id: uuid.UUID
    text: str
    rule: str  # "keyword" or "semantic"
    term: str | None  # the keyword that matched (keyword rule)
    score: float  # 1.0 for a keyword; the cosine similarity for a semantic match
    model_id: str | None = None


@dataclass(frozen=True)
class Decision:
    cameo_id: uuid.UUID
    decision: str  # "allow" or "deny"
    reason: str  # stable code, e.g. allowed_everyone, not_approved, restriction_matched
    policy_version: str
    restriction: RestrictionMatch | None = None

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    def to_dict(self) -> dict[str, Any]:
        # Field by field rather than dataclasses.asdict (which deep-copies every value): this runs
        # twice per cameo on the hot path (the audit entry, the response).
        r = self.restriction
        restriction = r and {
            "restriction_id": str(r.restriction_id), "text": r.text, "rule": r.rule, "term": r.term,
            "score": r.score, "model_id": r.model_id,
        }  # fmt: skip
        return {
            "cameo_id": str(self.cameo_id),
            "decision": self.decision,
            "reason": self.reason,
            "policy_version": self.policy_version,
            "restriction": restriction,
        }


@dataclass(frozen=True)
class ConsentCheck:
    requester_id: uuid.UUID
    decisions: list[Decision]
    policy_version: str
    prompt_sha256: str
    token: str | None = None
    expires_at: datetime | None = None
    token_id: str | None = None

    @property
    def allowed(self) -> bool:
        return all(d.allowed for d in self.decisions)


def _base_decision(f: store.Facts, requester_id: uuid.UUID, policy: ActivePolicy) -> Decision:
    def d(decision: str, reason: str) -> Decision:
        return Decision(f.id, decision, reason, policy.version)

    if f.status != "verified":
        return d("deny", "cameo_not_verified")
    if f.owner_id == requester_id:
        return d("allow", "allowed_owner")
    # Age bands (policies/rules.py): an adult may use a minor's cameo only when explicitly
    # approved, whatever the level says.
    if age_rules.minor_cameo_requires_explicit_approval(
        policy,
        requester_age_band=f.requester_age_band or "adult",
        owner_age_band=f.owner_age_band,
        requester_is_owner=False,
    ):
        return d("allow", "allowed_approved") if f.approved else d("deny", "minor_needs_explicit_approval")
    if f.permission == "everyone":
        return d("allow", "allowed_everyone")
    if f.permission == "approved":
        return d("allow", "allowed_approved") if f.approved else d("deny", "not_approved")
    if f.permission == "mutuals":
        return d("allow", "allowed_mutuals") if f.mutual else d("deny", "not_mutuals")
    return d("deny", "only_me")


def _unique(ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    return list(dict.fromkeys(ids))


def _validate_request(policy: ActivePolicy, cameo_ids: Sequence[uuid.UUID], prompt: str) -> list[uuid.UUID]:
    rules = policy.policy.consent
    ids = _unique(cameo_ids)
    if not ids:
        raise ValidationFailed("name at least one cameo", code="no_cameos")
    if len(ids) > rules.max_cameos_per_check:
        raise ValidationFailed(
            f"at most {rules.max_cameos_per_check} cameos per check", code="too_many_cameos"
        )
    if len(prompt) > rules.max_prompt_chars:
        raise ValidationFailed(
            f"the prompt is over {rules.max_prompt_chars} characters", code="prompt_too_long"
        )
    return ids


def topics_need_model(models: Models, rows: list[store.Restriction]) -> bool:
    """Whether some rule's topic vector is missing or from another model (topic_vectors embeds it)."""
    return any(r.model_id != models.text.model_id or r.embedding is None for r in rows)


def topic_vectors(models: Models, rows: list[store.Restriction]) -> np.ndarray:
    """Stored topic embeddings where the model matches; recomputed (not stored) where it does not."""
    text_model = models.text
    out = np.zeros((len(rows), text_model.dim), np.float32)
    stale = [i for i, r in enumerate(rows) if r.model_id != text_model.model_id or r.embedding is None]
    for i, r in enumerate(rows):
        if i not in stale and r.embedding is not None:
            out[i] = np.frombuffer(r.embedding, dtype=np.float32)
    if stale:
        out[stale] = text_model.embed([rows[i].topic for i in stale])
    return out


def keyword_matches(
    policy: ActivePolicy, rows: list[store.Restriction], prompt: str
) -> tuple[dict[uuid.UUID, RestrictionMatch], list[store.Restriction]]:
    """The first rule of each cameo whose keywords the prompt names, and the rules of the other
    cameos, which the semantic pass (semantic_matches) compares with the prompt."""
    rules = policy.policy.consent
    prompt_norm = restrictions.normalize(prompt)
    found: dict[uuid.UUID, RestrictionMatch] = {}
    for r in rows:
        term = restrictions.keyword_hit(prompt_norm, r.terms, rules.restriction_keyword_min_length)
        if term and r.cameo_id not in found:
            found[r.cameo_id] = RestrictionMatch(r.id, r.text, "keyword", term, 1.0)
    return found, [r for r in rows if r.cameo_id not in found]


def semantic_matches(
    policy: ActivePolicy,
    model_id: str,
    pending: list[store.Restriction],
    topics: np.ndarray,
    prompt_vec: np.ndarray,
    found: dict[uuid.UUID, RestrictionMatch],
) -> None:
    """Adds to `found` each cameo's closest rule at or over the policy's similarity threshold
    (`topics`: topic_vectors(pending); `prompt_vec`: the prompt's unit vector)."""
    threshold = policy.policy.consent.restriction_similarity
    for r, score in zip(pending, topics @ prompt_vec, strict=True):
        best = found.get(r.cameo_id)
        if score >= threshold and (best is None or score > best.score):
            found[r.cameo_id] = RestrictionMatch(
                r.id, r.text, "semantic", None, round(float(score), 4), model_id
            )


def restriction_matches(
    conn: Conn, *, policy: ActivePolicy, models: Models, cameo_ids: list[uuid.UUID], prompt: str
) -> dict[uuid.UUID, RestrictionMatch]:
    """The first rule each cameo's prompt breaks: keywords first, then semantic similarity.
    (The check route runs the same two passes in the event loop: consent.hotpath.)"""
    found, pending = keyword_matches(policy, store.restrictions_of(conn, cameo_ids), prompt)
    if pending:
        prompt_vec = models.text.embed([prompt])[0]
        semantic_matches(
            policy, models.text.model_id, pending, topic_vectors(models, pending), prompt_vec, found
        )
    return found


def _decide(
    known: bool,
    facts: list[store.Facts],
    *,
    policy: ActivePolicy,
    requester_id: uuid.UUID,
    cameo_ids: list[uuid.UUID],
) -> tuple[dict[uuid.UUID, Decision], list[uuid.UUID], dict[uuid.UUID, int]]:
    """The decisions the facts read give (before restrictions), the cameos whose restrictions
    must still be screened, and the epochs read."""
    by_id = {f.id: f for f in facts}
    missing = [str(i) for i in cameo_ids if i not in by_id]
    if missing:
        raise NotFound(f"no cameo {', '.join(missing)}", code="cameo_not_found", cameo_ids=missing)
    if not known:
        raise NotFound(f"no subject {requester_id}", code="subject_not_found")
    decisions = {i: _base_decision(by_id[i], requester_id, policy) for i in cameo_ids}
    # Restrictions bind everyone but the owner (they are the owner's rules for others' use).
    to_screen = [
        i
        for i in cameo_ids
        if decisions[i].allowed and by_id[i].has_restrictions and by_id[i].owner_id != requester_id
    ]
    return decisions, to_screen, {f.id: f.consent_epoch for f in facts}


def _apply_restrictions(
    policy: ActivePolicy, decisions: dict[uuid.UUID, Decision], matches: dict[uuid.UUID, RestrictionMatch]
) -> None:
    for cameo_id, match in matches.items():
        decisions[cameo_id] = Decision(cameo_id, "deny", "restriction_matched", policy.version, match)


def _evaluate(
    conn: Conn,
    *,
    policy: ActivePolicy,
    models: Models,
    requester_id: uuid.UUID,
    cameo_ids: list[uuid.UUID],
    prompt: str,
) -> tuple[list[Decision], dict[uuid.UUID, int]]:
    known, facts = store.consent_facts(conn, requester_id=requester_id, cameo_ids=cameo_ids)
    decisions, to_screen, epochs = _decide(
        known, facts, policy=policy, requester_id=requester_id, cameo_ids=cameo_ids
    )
    if to_screen:
        matches = restriction_matches(conn, policy=policy, models=models, cameo_ids=to_screen, prompt=prompt)
        _apply_restrictions(policy, decisions, matches)
    return [decisions[i] for i in cameo_ids], epochs


def check_consent(
    conn: Conn,
    *,
    policy: ActivePolicy,
    models: Models,
    settings: Settings,
    requester_id: uuid.UUID,
    cameo_ids: Sequence[uuid.UUID],
    prompt: str,
    platform_key_id: str | None,
    actor: Principal | str | None = None,
    clock: Clock = time.time,
    durable: bool = True,
) -> ConsentCheck:
    """A decision per cameo and, when every one allows, a token bound to requester, cameos and
    prompt. Written to the audit log (in the caller's transaction) whatever the outcome.

    `durable=False` (the check route) needs a connection outside any transaction and commits by
    itself, asynchronously (_check_and_commit). The audit chain's lock (one global lock every
    check takes) is then held neither across a WAL flush nor across any client round trip, which
    is what otherwise bounds check throughput. The risk is confined: after a PostgreSQL crash the
    last fraction of a second of checks may be lost, but their tokens are recorded in the same
    transaction and validate_token requires that record, so no generation can rest on a check
    that left no audit entry; and any later synchronous commit (a generation job) flushes the WAL
    up to and including the check before it."""
    ids = _validate_request(policy, cameo_ids, prompt)
    if not durable:
        return _check_and_commit(
            conn, policy=policy, models=models, settings=settings, requester_id=requester_id, ids=ids,
            prompt=prompt, platform_key_id=platform_key_id, actor=actor, clock=clock,
        )  # fmt: skip
    # Pipeline mode sends statements without waiting for each answer until a result is needed:
    # two round trips in all (decide; then record and audit), in the caller's transaction.
    with conn.pipeline():
        decisions, epochs = _evaluate(
            conn, policy=policy, models=models, requester_id=requester_id, cameo_ids=ids, prompt=prompt
        )
    result = _result(settings, policy, requester_id, ids, prompt, decisions, epochs, clock)
    with conn.pipeline():
        if result.token_id is not None and result.expires_at is not None:
            store.insert_grant(
                conn, token_id=result.token_id, requester_id=requester_id, cameo_ids=ids,
                expires_at=result.expires_at,
            )  # fmt: skip
        audit.record(conn, **_audit_entry(result, platform_key_id, actor))
    return result


def _check_and_commit(
    conn: Conn,
    *,
    policy: ActivePolicy,
    models: Models,
    settings: Settings,
    requester_id: uuid.UUID,
    ids: list[uuid.UUID],
    prompt: str,
    platform_key_id: str | None,
    actor: Principal | str | None,
    clock: Clock,
) -> ConsentCheck:
    """check_consent(durable=False): two statements, each its own transaction (autocommit) — the
    read, then grant and audit entry in one call committed asynchronously (store.record_check).
    No BEGIN, COMMIT or SET messages and no pipeline: measured under load, psycopg's pipeline
    mode cost the server more CPU than the round trips it saved (docs/CONSENT.md). The read and
    the write were never more consistent in one transaction: under READ COMMITTED each statement
    reads its own snapshot, and the token carries the epochs read, which validate_token checks."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise RuntimeError("check_consent(durable=False) commits by itself: call it outside a transaction")
    was_autocommit, conn.autocommit = conn.autocommit, True
    try:
        decisions, epochs = _evaluate(
            conn, policy=policy, models=models, requester_id=requester_id, cameo_ids=ids, prompt=prompt
        )
        result = _result(settings, policy, requester_id, ids, prompt, decisions, epochs, clock)
        store.record_check(conn, _check_record(result, ids, platform_key_id, actor))
    finally:
        conn.autocommit = was_autocommit
    return result


# Where the check route gets what it needs (consent.hotpath): the facts (store.consent_facts'
# answer, read with other checks'), a screening of restrictions (MiniLM on its own thread), and
# the write, which returns once the check's grant and audit entry are committed.
Read = Callable[[uuid.UUID, list[uuid.UUID]], Awaitable[tuple[bool, list[store.Facts]]]]
Screen = Callable[[list[uuid.UUID]], Awaitable[dict[uuid.UUID, RestrictionMatch]]]
Record = Callable[[store.CheckRecord], Awaitable[None]]


async def check_consent_in_loop(
    read: Read,
    *,
    policy: ActivePolicy,
    settings: Settings,
    requester_id: uuid.UUID,
    cameo_ids: Sequence[uuid.UUID],
    prompt: str,
    platform_key_id: str | None,
    actor: Principal | str | None,
    screen: Screen,
    record: Record,
    clock: Clock = time.time,
) -> ConsentCheck:
    """check_consent(durable=False) in the event loop, for the check route: the facts from
    `read` (an asyncio connection in autocommit mode, no worker thread), restrictions screened by `screen`
    (only when a non-owner's allowed cameo has some), and the write handed to `record`, which
    returns once it has committed — with the same guarantees as _check_and_commit: the token
    carries the epochs read, and it is returned only after its grant row exists."""
    ids = _validate_request(policy, cameo_ids, prompt)
    known, facts = await read(requester_id, ids)
    decisions, to_screen, epochs = _decide(
        known, facts, policy=policy, requester_id=requester_id, cameo_ids=ids
    )
    if to_screen:
        _apply_restrictions(policy, decisions, await screen(to_screen))
    result = _result(settings, policy, requester_id, ids, prompt, [decisions[i] for i in ids], epochs, clock)
    await record(_check_record(result, ids, platform_key_id, actor))
    return result


def _check_record(
    result: ConsentCheck, ids: list[uuid.UUID], platform_key_id: str | None, actor: Principal | str | None
) -> store.CheckRecord:
    grant = (result.token_id, ids, result.expires_at) if result.token_id and result.expires_at else None
    return store.check_record(grant=grant, **_audit_entry(result, platform_key_id, actor))


def _result(
    settings: Settings,
    policy: ActivePolicy,
    requester_id: uuid.UUID,
    ids: list[uuid.UUID],
    prompt: str,
    decisions: list[Decision],
    epochs: dict[uuid.UUID, int],
    clock: Clock,
) -> ConsentCheck:
    """The check's outcome; when every cameo allows, with a token embedding the epochs read."""
    digest = tokens.prompt_digest(prompt)
    if not all(d.allowed for d in decisions):
        return ConsentCheck(requester_id, decisions, policy.version, digest)
    now = int(clock())
    claims = tokens.Claims(
        token_id=uuid.uuid4().hex,
        requester_id=requester_id,
        epochs={i: epochs[i] for i in ids},
        prompt_sha256=digest,
        issued_at=now,
        expires_at=now + policy.policy.consent.token_ttl_seconds,
        policy_version=policy.version,
    )
    return ConsentCheck(
        requester_id, decisions, policy.version, digest,
        token=tokens.sign(settings.secret("token_secret"), claims),
        expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
        token_id=claims.token_id,
    )  # fmt: skip


def _audit_entry(
    result: ConsentCheck, platform_key_id: str | None, actor: Principal | str | None
) -> dict[str, Any]:
    return {
        "actor": actor or (f"key:{platform_key_id}" if platform_key_id else "system"),
        "action": "consent.check",
        "policy_version": result.policy_version,
        "subject_id": result.requester_id,
        "target_kind": "consent_check",
        "target_id": result.token_id,
        "details": {
            "allowed": result.allowed,
            "prompt_sha256": result.prompt_sha256,
            "platform_key_id": platform_key_id,
            "decisions": [d.to_dict() for d in result.decisions],
        },
    }


def validate_token(
    conn: Conn,
    *,
    settings: Settings,
    token: str,
    requester_id: uuid.UUID,
    cameo_ids: Sequence[uuid.UUID],
    prompt: str,
    clock: Clock = time.time,
) -> None:
    """Raise ConsentRequired (with a specific code) unless the token was issued by a check that
    allowed exactly these cameos, for this requester and prompt, has not expired, and no
    revocation has touched any of its cameos since."""
    try:
        claims = tokens.verify(settings.secret("token_secret"), token)
    except tokens.TokenMalformed as exc:
        raise ConsentRequired(f"the consent token is not valid: {exc}", code="token_invalid") from exc
    if clock() >= claims.expires_at:
        raise ConsentRequired("the consent token has expired", code="token_expired")
    if claims.requester_id != requester_id:
        raise ConsentRequired(
            "the consent token was issued to another requester", code="token_wrong_requester"
        )
    if set(claims.epochs) != set(cameo_ids):
        raise ConsentRequired("the consent token covers other cameos", code="token_wrong_cameos")
    if claims.prompt_sha256 != tokens.prompt_digest(prompt):
        raise ConsentRequired("the consent token was issued for another prompt", code="token_wrong_prompt")
    if not store.grant_exists(conn, claims.token_id):
        raise ConsentRequired("no consent check issued this token", code="token_unknown")
    current = store.current_epochs(conn, list(claims.epochs))
    stale = [
        str(i)
        for i, epoch in claims.epochs.items()
        if i not in current or current[i][0] != epoch or current[i][1] != "verified"
    ]
    if stale:
        raise ConsentRequired(
            "consent was revoked or changed since the token was issued",
            code="consent_revoked",
            cameo_ids=stale,
        )


def token_cameo_ids(
    conn: Conn, *, settings: Settings, token: str, requester_id: uuid.UUID, clock: Clock = time.time
) -> list[uuid.UUID]:
    """The cameos a consent token still covers, for safety's likeness scans: a token that is
    forged, expired or issued to someone else covers none, and a cameo revoked (or no longer
    verified) since the token was issued drops out."""
    try:
        claims = tokens.verify(settings.secret("token_secret"), token)
    except tokens.TokenMalformed:
        return []
    if claims.requester_id != requester_id or clock() >= claims.expires_at:
        return []
    current = store.current_epochs(conn, list(claims.epochs))
    return sorted(
        i for i, epoch in claims.epochs.items() if i in current and current[i] == (epoch, "verified")
    )


def recheck_for_publish(
    conn: Conn,
    *,
    policy: ActivePolicy,
    models: Models,
    requester_id: uuid.UUID,
    cameo_ids: Sequence[uuid.UUID],
    prompt: str,
) -> None:
    """Inside the publishing transaction: share-lock the cameos, then decide again.

    The lock is taken in its own statement *before* the decision is read, so under READ COMMITTED
    the decision's snapshot includes any revocation that committed while we waited for the lock;
    a revocation that comes later waits for our commit. Either way no publish lands after a
    revocation has committed.
    """
    ids = _unique(cameo_ids)
    locked = store.lock_cameos_shared(conn, ids)
    if len(locked) != len(ids):
        raise ConsentRequired("a cameo of this clip no longer exists", code="cameo_not_found")
    try:
        decisions, _ = _evaluate(
            conn, policy=policy, models=models, requester_id=requester_id, cameo_ids=ids, prompt=prompt
        )
    except NotFound as exc:
        raise ConsentRequired(exc.detail, code="consent_revoked") from exc
    denied = [d.to_dict() for d in decisions if not d.allowed]
    if denied:
        raise ConsentRequired(
            "consent for a cameo in this clip was revoked or denied", code="consent_revoked", decisions=denied
        )


def record_appearances(conn: Conn, *, clip_id: uuid.UUID, cameo_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """List every featured cameo's owner as co-owner of the clip and tell them their cameo was used.
    Returns the owners newly listed (a repeated call lists and notifies nobody twice)."""
    added = store.insert_coowners(conn, clip_id, _unique(cameo_ids))
    for cameo_id, owner_id in added:
        outbox.enqueue(
            conn,
            event="cameo.used",
            payload={"clip_id": str(clip_id), "cameo_id": str(cameo_id)},
            subject_id=owner_id,
        )
    return [owner for _, owner in added]


# --- the owner's controls ---------------------------------------------------------------------


@dataclass(frozen=True)
class CameoConsent:
    cameo_id: uuid.UUID
    permission: str
    consent_epoch: int
    cancelled_jobs: int = 0


@dataclass
class Revocation:
    cameo_ids: list[uuid.UUID] = field(default_factory=list)
    cancelled_jobs: int = 0


def revoke(conn: Conn, *, cameo_ids: list[uuid.UUID], hooks: Sequence[RevocationHook]) -> Revocation:
    """Take consent away from these cameos, in the caller's transaction: bump their epochs (tokens
    die) and call every revocation hook (in-flight jobs are cancelled). Returns what was done."""
    if not cameo_ids:
        return Revocation()
    store.bump_epochs(conn, cameo_ids)
    cancelled = sum(int(hook(conn, cameo_ids)) for hook in hooks)
    return Revocation(cameo_ids, cancelled)


def owned_cameo(conn: Conn, *, principal: Principal, cameo_id: uuid.UUID, lock: bool = False) -> store.Cameo:
    """The caller's own cameo (row-locked when `lock`); 404 when missing, 403 when someone else's."""
    cameo = store.get_cameo(conn, cameo_id, lock=lock)
    if cameo is None or cameo.status == "deleted":
        raise NotFound(f"no cameo {cameo_id}", code="cameo_not_found")
    if principal.role != "admin" and cameo.owner_id != principal.subject_id:
        raise Forbidden("only the cameo's owner may do this", code="not_cameo_owner")
    return cameo


def _audit(
    conn: Conn, principal: Principal, policy: ActivePolicy, action: str, cameo: store.Cameo, **details: Any
) -> None:
    audit.record(
        conn, actor=principal, action=action, policy_version=policy.version,
        subject_id=cameo.owner_id, target_kind="cameo", target_id=cameo.id, details=details,
    )  # fmt: skip


def set_permission(
    conn: Conn,
    *,
    policy: ActivePolicy,
    principal: Principal,
    cameo_id: uuid.UUID,
    permission: str,
    hooks: Sequence[RevocationHook],
) -> CameoConsent:
    """Change the level. Anything but widening to `everyone` may take consent away from someone
    (approved → mutuals drops the approved people who are not mutuals), so it counts as revocation."""
    if permission not in LEVELS:
        raise ValidationFailed(f"permission is one of {', '.join(LEVELS)}", code="unknown_permission")
    cameo = owned_cameo(conn, principal=principal, cameo_id=cameo_id, lock=True)
    age_rules.require_permission_allowed(policy, age_band=cameo.owner_age_band, permission=permission)
    narrows = permission != cameo.permission and permission != "everyone"
    store.set_permission(conn, cameo_id, permission=permission, bump=False)
    done = revoke(conn, cameo_ids=[cameo_id], hooks=hooks) if narrows else Revocation()
    _audit(
        conn, principal, policy, "consent.permission", cameo,
        previous=cameo.permission, permission=permission, revoked=narrows, cancelled_jobs=done.cancelled_jobs,
    )  # fmt: skip
    return CameoConsent(
        cameo_id, permission, cameo.consent_epoch + (1 if narrows else 0), done.cancelled_jobs
    )


def revoke_all(
    conn: Conn,
    *,
    policy: ActivePolicy,
    principal: Principal,
    cameo_id: uuid.UUID,
    hooks: Sequence[RevocationHook],
) -> CameoConsent:
    """Back to only_me, every approval removed, every token dead, every in-flight job cancelled."""
    cameo = owned_cameo(conn, principal=principal, cameo_id=cameo_id, lock=True)
    store.set_permission(conn, cameo_id, permission="only_me", bump=False)
    removed = store.delete_all_approvals(conn, cameo_id)
    done = revoke(conn, cameo_ids=[cameo_id], hooks=hooks)
    _audit(
        conn, principal, policy, "consent.revoke_all", cameo,
        previous=cameo.permission, approvals_removed=removed, cancelled_jobs=done.cancelled_jobs,
    )  # fmt: skip
    return CameoConsent(cameo_id, "only_me", cameo.consent_epoch + 1, done.cancelled_jobs)


def _require_subject(conn: Conn, subject_id: uuid.UUID) -> None:
    if not store.subject_exists(conn, subject_id):
        raise NotFound(f"no subject {subject_id}", code="subject_not_found")


def approve(
    conn: Conn, *, policy: ActivePolicy, principal: Principal, cameo_id: uuid.UUID, subject_id: uuid.UUID
) -> store.Approval:
    """The owner approves a person directly, or grants their pending request."""
    cameo = owned_cameo(conn, principal=principal, cameo_id=cameo_id, lock=True)
    _require_subject(conn, subject_id)
    if subject_id == cameo.owner_id:
        raise Conflict("the owner needs no approval", code="owner_needs_no_approval")
    row = store.decide_approval(conn, cameo_id, subject_id, status="approved")
    _audit(conn, principal, policy, "consent.approve", cameo, approved=str(subject_id))
    return row


def deny(
    conn: Conn,
    *,
    policy: ActivePolicy,
    principal: Principal,
    cameo_id: uuid.UUID,
    subject_id: uuid.UUID,
    hooks: Sequence[RevocationHook],
) -> store.Approval:
    """The owner denies a request (or turns an approval into a denial, which is a revocation)."""
    cameo = owned_cameo(conn, principal=principal, cameo_id=cameo_id, lock=True)
    before = store.get_approval(conn, cameo_id, subject_id)
    if before is None:
        raise NotFound(f"{subject_id} has not asked to use this cameo", code="approval_not_found")
    row = store.decide_approval(conn, cameo_id, subject_id, status="denied")
    done = revoke(conn, cameo_ids=[cameo_id], hooks=hooks) if before.status == "approved" else Revocation()
    _audit(
        conn, principal, policy, "consent.deny", cameo, denied=str(subject_id), revoked=bool(done.cameo_ids)
    )
    return row


def remove_approval(
    conn: Conn,
    *,
    policy: ActivePolicy,
    principal: Principal,
    cameo_id: uuid.UUID,
    subject_id: uuid.UUID,
    hooks: Sequence[RevocationHook],
) -> Revocation:
    cameo = owned_cameo(conn, principal=principal, cameo_id=cameo_id, lock=True)
    before = store.get_approval(conn, cameo_id, subject_id)
    if before is None or not store.delete_approval(conn, cameo_id, subject_id):
        raise NotFound(f"{subject_id} has no approval for this cameo", code="approval_not_found")
    done = revoke(conn, cameo_ids=[cameo_id], hooks=hooks) if before.status == "approved" else Revocation()
    _audit(
        conn, principal, policy, "consent.remove_approval", cameo,
        removed=str(subject_id), cancelled_jobs=done.cancelled_jobs,
    )  # fmt: skip
    return done


def request_approval(
    conn: Conn, *, policy: ActivePolicy, principal: Principal, cameo_id: uuid.UUID, requester_id: uuid.UUID
) -> store.Approval:
    """Someone asks to use a cameo; the owner is notified and decides."""
    cameo = store.get_cameo(conn, cameo_id)
    if cameo is None or cameo.status == "deleted":
        raise NotFound(f"no cameo {cameo_id}", code="cameo_not_found")
    if cameo.status != "verified":
        raise Conflict("this cameo is not verified", code="cameo_not_verified")
    _require_subject(conn, requester_id)
    if requester_id == cameo.owner_id:
        raise Conflict("the owner needs no approval", code="owner_needs_no_approval")
    row = store.request_approval(conn, cameo_id, requester_id)
    if row.status == "requested":
        outbox.enqueue(
            conn,
            event="approval.requested",
            payload={"cameo_id": str(cameo_id), "requester_id": str(requester_id)},
            subject_id=cameo.owner_id,
        )
    audit.record(
        conn, actor=principal, action="consent.request", policy_version=policy.version,
        subject_id=requester_id, target_kind="cameo", target_id=cameo_id, details={"status": row.status},
    )  # fmt: skip
    return row


def list_approvals(conn: Conn, *, principal: Principal, cameo_id: uuid.UUID) -> list[store.Approval]:
    owned_cameo(conn, principal=principal, cameo_id=cameo_id)
    return store.list_approvals(conn, cameo_id)


# --- restrictions -----------------------------------------------------------------------------


def add_restriction(
    conn: Conn,
    *,
    policy: ActivePolicy,
    models: Models,
    principal: Principal,
    cameo_id: uuid.UUID,
    text: str,
    hooks: Sequence[RevocationHook],
) -> store.Restriction:
    """A new rule applies to the next check and to jobs already running (it is a revocation)."""
    rules = policy.policy.consent
    text = text.strip()
    if not text or len(text) > rules.max_restriction_chars:
        raise ValidationFailed(
            f"a restriction has 1 to {rules.max_restriction_chars} characters", code="restriction_length"
        )
    cameo = owned_cameo(conn, principal=principal, cameo_id=cameo_id, lock=True)
    if store.count_restrictions(conn, cameo_id) >= rules.max_restrictions_per_cameo:
        raise Conflict(
            f"at most {rules.max_restrictions_per_cameo} restrictions", code="too_many_restrictions"
        )
    parsed = restrictions.parse(text)
    if not parsed.topic:
        raise ValidationFailed("the restriction names nothing to match", code="restriction_empty")
    vec = models.text.embed([parsed.topic])[0].astype(np.float32)
    row = store.insert_restriction(
        conn, cameo_id=cameo_id, text=text, terms=parsed.terms, topic=parsed.topic,
        embedding=vec.tobytes(), model_id=models.text.model_id,
    )  # fmt: skip
    done = revoke(conn, cameo_ids=[cameo_id], hooks=hooks)
    _audit(
        conn, principal, policy, "consent.restrict", cameo,
        restriction_id=str(row.id), cancelled_jobs=done.cancelled_jobs,
    )  # fmt: skip
    return row


def list_restrictions(conn: Conn, *, principal: Principal, cameo_id: uuid.UUID) -> list[store.Restriction]:
    owned_cameo(conn, principal=principal, cameo_id=cameo_id)
    return store.restrictions_of(conn, [cameo_id])


def remove_restriction(
    conn: Conn, *, policy: ActivePolicy, principal: Principal, cameo_id: uuid.UUID, restriction_id: uuid.UUID
) -> None:
    cameo = owned_cameo(conn, principal=principal, cameo_id=cameo_id, lock=True)
    if not store.delete_restriction(conn, cameo_id, restriction_id):
        raise NotFound(f"no restriction {restriction_id} on this cameo", code="restriction_not_found")
    _audit(conn, principal, policy, "consent.unrestrict", cameo, restriction_id=str(restriction_id))


# --- the follow graph -------------------------------------------------------------------------


def acting_subject(principal: Principal, claimed: uuid.UUID | None) -> uuid.UUID:
    """Who a request acts for: a user key only ever for its own subject; a platform for the
    subject it names (it acts for its users)."""
    if principal.role == "user":
        if claimed is not None and claimed != principal.subject_id:
            raise Forbidden("a user key may act only for its own subject", code="acting_for_another_subject")
        assert principal.subject_id is not None
        return principal.subject_id
    if claimed is None:
        raise ValidationFailed("name the subject this request acts for", code="subject_required")
    return claimed


def follow(
    conn: Conn, *, policy: ActivePolicy, principal: Principal, follower_id: uuid.UUID, followee_id: uuid.UUID
) -> bool:
    if follower_id == followee_id:
        raise Conflict("a subject cannot follow itself", code="self_follow")
    _require_subject(conn, follower_id)
    _require_subject(conn, followee_id)
    created = store.insert_follow(conn, follower_id, followee_id)
    audit.record(
        conn, actor=principal, action="consent.follow", policy_version=policy.version,
        subject_id=follower_id, target_kind="subject", target_id=followee_id, details={"created": created},
    )  # fmt: skip
    return created


def unfollow(
    conn: Conn,
    *,
    policy: ActivePolicy,
    principal: Principal,
    follower_id: uuid.UUID,
    followee_id: uuid.UUID,
    hooks: Sequence[RevocationHook],
) -> Revocation:
    """Ending a follow ends the mutual relation: both sides' `mutuals` cameos are revoked (their
    epochs move, so tokens issued to either for the other's cameo die)."""
    if not store.delete_follow(conn, follower_id, followee_id):
        raise NotFound("no such follow", code="follow_not_found")
    done = revoke(conn, cameo_ids=store.mutuals_cameos_of(conn, [follower_id, followee_id]), hooks=hooks)
    audit.record(
        conn, actor=principal, action="consent.unfollow", policy_version=policy.version,
        subject_id=follower_id, target_kind="subject", target_id=followee_id,
        details={"revoked_cameos": [str(i) for i in done.cameo_ids], "cancelled_jobs": done.cancelled_jobs},
    )  # fmt: skip
    return done


# --- co-ownership -----------------------------------------------------------------------------


def appearances(
    conn: Conn, *, policy: ActivePolicy, principal: Principal, cameo_id: uuid.UUID
) -> list[store.Appearance]:
    """Every clip featuring the cameo, drafts and removed ones included, newest first."""
    owned_cameo(conn, principal=principal, cameo_id=cameo_id)
    return store.appearances(conn, cameo_id, limit=policy.policy.consent.max_page)


def take_down(
    conn: Conn,
    *,
    policy: ActivePolicy,
    media: ContentStore,
    principal: Principal,
    cameo_id: uuid.UUID,
    clip_id: uuid.UUID,
    note: str = "",
) -> store.Appearance:
    """A co-owner removes a clip: marked removed (the row stays as the tombstone provenance reads),
    platform and co-owners notified, media bytes deleted. Taking down a removed clip is a no-op."""
    cameo = owned_cameo(conn, principal=principal, cameo_id=cameo_id)
    clip = store.appearance_for_update(conn, cameo_id, clip_id)
    if clip is None:
        raise NotFound(f"no clip {clip_id} featuring this cameo", code="clip_not_found")
    if clip.status == "removed":
        return clip
    store.mark_removed(conn, clip_id, removed_by=cameo.owner_id, reason=REMOVED_BY_COOWNER)
    payload = {"clip_id": str(clip_id), "reason": REMOVED_BY_COOWNER, "cameo_id": str(cameo_id)}
    if clip.platform_key_id:
        outbox.enqueue(conn, event="clip.removed", payload=payload, platform_key_id=clip.platform_key_id)
    for owner in store.coowners_of(conn, clip_id):
        outbox.enqueue(conn, event="clip.removed", payload=payload, subject_id=owner)
    _audit(
        conn,
        principal,
        policy,
        "consent.take_down",
        cameo,
        clip_id=str(clip_id),
        previous=clip.status,
        note=note,
    )
    # Bytes go last: if anything above failed the clip would still be served. Should the commit
    # itself fail after this, the clip is left unplayable but not removed, which errs the owner's way.
    if clip.media_sha256 and media.delete(clip.media_sha256):
        log.info("deleted media of clip %s", clip_id)
    removed = store.appearance_for_update(conn, cameo_id, clip_id)
    assert removed is not None
    return removed
