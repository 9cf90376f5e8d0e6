"""Quotas and rate limits per subject and per platform key, counted in PostgreSQL.

Fixed windows (a window of `seconds` starts at every multiple of `seconds` since the epoch, so a
day is a UTC day). A use is counted with one atomic UPSERT per window that refuses to pass the
limit, inside a savepoint, so concurrent processes never overshoot and a refused use counts in no
window. Fixed windows allow a burst of up to twice a limit across a window boundary; that is the
accepted price of one row per window instead of a row per use.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import get_args

from gate.db import Conn
from gate.errors import RateLimited
from policies import store
from policies.schema import QuotaKind, Window
from policies.service import ActivePolicy

KINDS: tuple[str, ...] = get_args(QuotaKind)
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Limit:
    scope: str  # 'subject' or 'platform_key'
    scope_id: str
    kind: str
    limit: int
    seconds: int
    source: str  # the policy field it comes from


@dataclass(frozen=True)
class QuotaState:
    limit: Limit
    used: int
    window_start: datetime
    at: datetime  # the clock reading the state was taken at

    @property
    def resets_at(self) -> datetime:
        return self.window_start + timedelta(seconds=self.limit.seconds)

    @property
    def exhausted(self) -> bool:
        return self.used >= self.limit.limit

    def retry_after(self) -> int:
        """Whole seconds until the window resets (at least 1), for the Retry-After header."""
        return max(1, math.ceil((self.resets_at - self.at).total_seconds()))

    def to_dict(self) -> dict[str, object]:
        return {
            "scope": self.limit.scope,
            "kind": self.limit.kind,
            "limit": self.limit.limit,
            "window_seconds": self.limit.seconds,
            "used": self.used,
            "remaining": max(0, self.limit.limit - self.used),
            "resets_at": self.resets_at.isoformat(),
            "retry_after": self.retry_after() if self.exhausted else 0,
            "source": self.limit.source,
        }


def window_start(now: datetime, seconds: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def _windows(windows: list[Window], *, scope: str, scope_id: str, kind: str, source: str) -> list[Limit]:
    return [Limit(scope, scope_id, kind, w.limit, w.seconds, source) for w in windows]


def limits_for(
    policy: ActivePolicy,
    *,
    subject_id: uuid.UUID | None,
    platform_key_id: str | None,
    kind: str,
    age_band: str | None,
) -> list[Limit]:
    """Every window that applies to one use. Two windows of the same scope and length are merged
    (the smaller limit wins) because they would count in the same row."""
    if kind not in KINDS:
        raise ValueError(f"unknown quota kind {kind!r}; one of {', '.join(KINDS)}")
    doc = policy.policy
    found: list[Limit] = []
    if subject_id is not None:
        sid = str(subject_id)
        found += _windows(
            doc.quotas.per_subject.get(kind, []),  # type: ignore[call-overload]
            scope="subject", scope_id=sid, kind=kind, source=f"quotas.per_subject.{kind}",
        )  # fmt: skip
        minor_daily = doc.age_bands.minor.daily_generation_limit
        if kind == "generation" and age_band == "minor" and minor_daily is not None:
            found.append(
                Limit("subject", sid, kind, minor_daily, 86400, "age_bands.minor.daily_generation_limit")
            )
    if platform_key_id is not None:
        found += _windows(
            doc.quotas.per_platform_key.get(kind, []),  # type: ignore[call-overload]
            scope="platform_key", scope_id=platform_key_id, kind=kind,
            source=f"quotas.per_platform_key.{kind}",
        )  # fmt: skip
    merged: dict[tuple[str, int], Limit] = {}
    for lim in found:
        key = (lim.scope, lim.seconds)
        if key not in merged or lim.limit < merged[key].limit:
            merged[key] = lim
    return list(merged.values())


def _limits(
    conn: Conn, policy: ActivePolicy, subject_id: uuid.UUID | None, platform_key_id: str | None, kind: str
) -> list[Limit]:
    age_band = store.subject_age_band(conn, subject_id) if subject_id is not None else None
    return limits_for(
        policy, subject_id=subject_id, platform_key_id=platform_key_id, kind=kind, age_band=age_band
    )


def _state(conn: Conn, lim: Limit, now: datetime) -> QuotaState:
    start = window_start(now, lim.seconds)
    used = store.used(
        conn,
        scope=lim.scope,
        scope_id=lim.scope_id,
        kind=lim.kind,
        window_secs=lim.seconds,
        window_start=start,
    )
    return QuotaState(lim, used, start, now)


def peek(
    conn: Conn,
    *,
    policy: ActivePolicy,
    subject_id: uuid.UUID | None,
    platform_key_id: str | None,
    kind: str,
    clock: Clock = utcnow,
) -> list[QuotaState]:
    """The state of every applicable window, changing nothing (for explain and for clients)."""
    now = clock()
    return [_state(conn, lim, now) for lim in _limits(conn, policy, subject_id, platform_key_id, kind)]


def consume(
    conn: Conn,
    *,
    policy: ActivePolicy,
    subject_id: uuid.UUID | None,
    platform_key_id: str | None,
    kind: str,
    clock: Clock = utcnow,
) -> None:
    """Count one use in every applicable window, or none: raises RateLimited (429, Retry-After =
    seconds until every full window has reset) when any window is full."""
    now = clock()
    limits = _limits(conn, policy, subject_id, platform_key_id, kind)
    full: list[Limit] = []
    with conn.transaction():  # a savepoint: a refused use leaves no count behind
        for lim in limits:
            counted = store.increment_below(
                conn, scope=lim.scope, scope_id=lim.scope_id, kind=lim.kind, window_secs=lim.seconds,
                window_start=window_start(now, lim.seconds), limit=lim.limit,
            )  # fmt: skip
            if counted is None:
                full.append(lim)
        if full:
            # Undo this use's counts in the windows that had room; rolling back the savepoint.
            states = [_state(conn, lim, now) for lim in full]
            raise _refusal(policy, states)


def _refusal(policy: ActivePolicy, full: list[QuotaState]) -> RateLimited:
    worst = max(full, key=lambda s: s.resets_at)
    lim = worst.limit
    per = f"{lim.seconds // 86400} day(s)" if lim.seconds % 86400 == 0 else f"{lim.seconds} s"
    return RateLimited(
        f"{lim.kind} limit of {lim.limit} per {per} for this {lim.scope.replace('_', ' ')} reached",
        code="quota_exceeded",
        retry_after=worst.retry_after(),
        scope=lim.scope,
        kind=lim.kind,
        limit=lim.limit,
        window_seconds=lim.seconds,
        source=lim.source,
        policy_version=policy.version,
    )


def prune(conn: Conn, *, policy: ActivePolicy, clock: Clock = utcnow) -> int:
    """Delete counters of windows that have ended (they can no longer refuse anything)."""
    doc = policy.policy
    lengths = [w.seconds for ws in doc.quotas.per_subject.values() for w in ws]
    lengths += [w.seconds for ws in doc.quotas.per_platform_key.values() for w in ws]
    longest = max([86400, *lengths])
    return store.delete_counters_before(conn, before=clock() - timedelta(seconds=longest))
