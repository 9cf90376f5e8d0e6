"""Policy rules as functions: age bands, protected people, blocked content categories, duration,
quotas; `evaluate_prompt` for prompt-time rules and `explain` for a whole generation request.

Each rule gives a RuleResult naming the rule, whether it fired, its effect and why, under the
policy version that decided it. The pure functions take only the policy and facts, so other
domains (consent's permission checks, safety's scans, generation) can call them in one line.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from gate.crypto import Keyring
from gate.db import Conn
from gate.errors import NotFound, PolicyViolation
from perception.protocols import TextEmbedder
from policies import protected, quotas, store
from policies.service import ActivePolicy
from safety.normalize import find_phrase, normalize

Effect = Literal["none", "flag", "require_approval", "block"]
Decision = Literal["allow", "flag", "require_approval", "block"]
_SEVERITY: dict[str, int] = {"none": 0, "flag": 1, "require_approval": 2, "block": 3}


@dataclass(frozen=True)
class RuleResult:
    rule: str  # stable id, e.g. "age_band.minor_cameo_explicit_approval"
    fired: bool
    effect: Effect  # what firing means for the request ("none" when it did not fire)
    reason: str
    policy_version: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "fired": self.fired,
            "effect": self.effect,
            "reason": self.reason,
            "policy_version": self.policy_version,
            "details": self.details,
        }


def decide(results: Iterable[RuleResult]) -> Decision:
    """The strictest effect among the rules that fired."""
    worst = max((_SEVERITY[r.effect] for r in results if r.fired), default=0)
    return {0: "allow", 1: "flag", 2: "require_approval", 3: "block"}[worst]  # type: ignore[return-value]


def _passed(policy: ActivePolicy, rule: str, reason: str, **details: Any) -> RuleResult:
    return RuleResult(rule, False, "none", reason, policy.version, details)


# --- age bands ----------------------------------------------------------------------------------


def permission_allowed_for(policy: ActivePolicy, *, age_band: str, permission: str) -> bool:
    """May a cameo owned by someone of `age_band` be set to `permission` (only_me … everyone)?"""
    if age_band == "minor":
        return permission not in policy.policy.age_bands.minor.forbidden_cameo_permissions
    return True


def require_permission_allowed(policy: ActivePolicy, *, age_band: str, permission: str) -> None:
    """Raise PolicyViolation (403, code minor_permission_forbidden) when a cameo owned by someone of
    `age_band` may not be set to `permission`; for consent's permission-setting path."""
    if not permission_allowed_for(policy, age_band=age_band, permission=permission):
        raise PolicyViolation(
            f"a minor's cameo cannot be shared with {permission!r}",
            code="minor_permission_forbidden",
            permission=permission,
            policy_version=policy.version,
        )


def cameo_permission_rule(policy: ActivePolicy, *, age_band: str, permission: str) -> RuleResult:
    """The same check as a RuleResult (for explain, and for consent's refusal message)."""
    if permission_allowed_for(policy, age_band=age_band, permission=permission):
        return _passed(policy, "age_band.cameo_permission", f"{permission!r} is allowed for {age_band}s")
    return RuleResult(
        "age_band.cameo_permission", True, "block",
        f"a minor's cameo cannot be shared with {permission!r}",
        policy.version, {"age_band": age_band, "permission": permission},
    )  # fmt: skip


def minor_cameo_requires_explicit_approval(
    policy: ActivePolicy, *, requester_age_band: str, owner_age_band: str, requester_is_owner: bool
) -> bool:
    """True when the requester may use this cameo only with an explicit, per-person approval from
    its owner: an adult using a minor's cameo (mutuals or a broad permission are not enough)."""
    return (
        not requester_is_owner
        and owner_age_band == "minor"
        and requester_age_band == "adult"
        and policy.policy.age_bands.minor.adults_need_explicit_approval
    )


# --- protected people ---------------------------------------------------------------------------


def protected_people_rule(
    policy: ActivePolicy,
    *,
    names: list[protected.NameMatch] | None = None,
    faces: list[protected.FaceMatch] | None = None,
    consented_subject_ids: frozenset[uuid.UUID] | set[uuid.UUID] = frozenset(),
) -> list[RuleResult]:
    """Protected people named in a prompt or seen in an output block it, unless they appear through
    their own consented cameo: their linked subject is among `consented_subject_ids` (the owners of
    the cameos whose consent was granted for this request)."""
    section = policy.policy.protected_people
    out: list[RuleResult] = []
    checks: list[tuple[str, bool, list[Any]]] = [
        ("protected_person.name", section.block_names_in_prompts, names or []),
        ("protected_person.face", section.block_faces_in_outputs, faces or []),
    ]
    for rule, enabled, matches in checks:
        if not enabled:
            out.append(_passed(policy, rule, "disabled by the policy"))
            continue
        blocking = [m for m in matches if m.subject_id is None or m.subject_id not in consented_subject_ids]
        covered = [m for m in matches if m not in blocking]
        if blocking:
            who = ", ".join(sorted({m.name for m in blocking}))
            out.append(
                RuleResult(
                    rule,
                    True,
                    "block",
                    f"protected person(s) {who} may appear only through their own consented cameo",
                    policy.version,
                    {"matches": [m.to_dict() for m in blocking], "covered": [m.to_dict() for m in covered]},
                )
            )
        else:
            reason = "appear through their own consented cameo" if covered else "no protected person"
            out.append(_passed(policy, rule, reason, covered=[m.to_dict() for m in covered]))
    return out


# --- blocked content categories -----------------------------------------------------------------


class _DescriptionCache:
    """Embeddings of category descriptions, per text model and description list: policies change
    rarely, prompts arrive constantly. Bounded: cleared when it passes MAX entries."""

    MAX = 256

    def __init__(self) -> None:
        self._cache: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
        self._lock = threading.Lock()

    def get(self, model: TextEmbedder, descriptions: tuple[str, ...]) -> np.ndarray:
        key = (model.model_id, descriptions)
        with self._lock:
            found = self._cache.get(key)
        if found is None:
            found = model.embed(list(descriptions))
            with self._lock:
                if len(self._cache) >= self.MAX:
                    self._cache.clear()
                self._cache[key] = found
        return found


DESCRIPTIONS = _DescriptionCache()
_CLAUSES = re.compile(r"[.!?;\n]+")
MAX_CLAUSES = 16


def prompt_pieces(prompt: str) -> list[str]:
    """The whole prompt and its sentences: a harmful sentence inside a long prompt would otherwise
    be diluted in one embedding of the whole text."""
    parts = [p.strip() for p in _CLAUSES.split(prompt) if len(p.strip()) > 3]
    return [prompt.strip(), *parts[:MAX_CLAUSES]] if len(parts) > 1 else [prompt.strip()]


def semantic_threshold(policy: ActivePolicy, model_id: str) -> float:
    section = policy.policy.content
    return section.semantic_thresholds.get(model_id, section.default_semantic_threshold)


def blocked_category_rules(
    policy: ActivePolicy, *, text_model: TextEmbedder, prompt: str
) -> list[RuleResult]:
    """One result per configured category: terms through the shared normaliser, descriptions by
    text-embedding similarity against the prompt and each of its sentences."""
    categories = policy.policy.content.categories
    if not categories:
        return []
    norm = normalize(prompt)
    threshold = semantic_threshold(policy, text_model.model_id)
    pieces: np.ndarray | None = None
    out = []
    for cat in categories:
        rule = f"content.{cat.name}"
        terms = [hit for t in cat.terms if (hit := find_phrase(norm, t)) is not None]
        if terms:
            out.append(
                RuleResult(
                    rule,
                    True,
                    cat.action,
                    f"the prompt names blocked content ({cat.name})",
                    policy.version,
                    {"by": "term", "terms": [{"term": h.phrase, "matched": h.matched} for h in terms]},
                )
            )
            continue
        if cat.descriptions:
            if pieces is None:
                pieces = text_model.embed(prompt_pieces(prompt))
            scores = pieces @ DESCRIPTIONS.get(text_model, tuple(cat.descriptions)).T
            score = float(scores.max())
            if score >= threshold:
                desc = cat.descriptions[int(np.unravel_index(scores.argmax(), scores.shape)[1])]
                out.append(
                    RuleResult(
                        rule,
                        True,
                        cat.action,
                        f"the prompt describes blocked content ({cat.name})",
                        policy.version,
                        {
                            "by": "meaning",
                            "score": round(score, 3),
                            "threshold": threshold,
                            "description": desc,
                            "model_id": text_model.model_id,
                        },
                    )
                )
                continue
            out.append(_passed(policy, rule, "no term or description matched", score=round(score, 3)))
        else:
            out.append(_passed(policy, rule, "no term matched"))
    return out


# --- prompt-time evaluation ---------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    policy_version: str
    rules: list[RuleResult]

    @property
    def fired(self) -> list[RuleResult]:
        return [r for r in self.rules if r.fired]

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "policy_version": self.policy_version,
            "rules": [r.to_dict() for r in self.rules],
        }


def evaluate_prompt(
    conn: Conn,
    *,
    policy: ActivePolicy,
    text_model: TextEmbedder,
    prompt: str,
    consented_subject_ids: frozenset[uuid.UUID] | set[uuid.UUID] = frozenset(),
) -> Evaluation:
    """Blocked content categories and protected names in a prompt. Reads only; writes nothing."""
    results = blocked_category_rules(policy, text_model=text_model, prompt=prompt)
    names = protected.match_prompt(conn, policy=policy, prompt=prompt)
    results += protected_people_rule(policy, names=names, consented_subject_ids=consented_subject_ids)[:1]
    return Evaluation(decide(results), policy.version, results)


def evaluate_faces(
    conn: Conn,
    *,
    policy: ActivePolicy,
    keyring: Keyring,
    embedder_model_id: str,
    embeddings: np.ndarray,
    consented_subject_ids: frozenset[uuid.UUID] | set[uuid.UUID] = frozenset(),
) -> RuleResult:
    """The protected-person face rule for faces seen in an output (rows of L2-normalised
    embeddings), at the policy's threshold for that embedder. Reads only."""
    matches = protected.match_faces(
        conn, keyring=keyring, embedder_model_id=embedder_model_id, embeddings=embeddings,
        threshold=protected.face_threshold(policy, embedder_model_id),
    )  # fmt: skip
    return protected_people_rule(policy, faces=matches, consented_subject_ids=consented_subject_ids)[1]


def duration_rule(policy: ActivePolicy, *, duration_seconds: float) -> RuleResult:
    limit = policy.policy.generation.max_duration_seconds
    if duration_seconds <= limit:
        return _passed(policy, "generation.duration", f"{duration_seconds:g}s is within {limit:g}s")
    return RuleResult(
        "generation.duration", True, "block",
        f"{duration_seconds:g}s is longer than the {limit:g}s allowed", policy.version,
        {"duration_seconds": duration_seconds, "max_duration_seconds": limit},
    )  # fmt: skip


def quota_rules(
    conn: Conn,
    *,
    policy: ActivePolicy,
    subject_id: uuid.UUID | None,
    platform_key_id: str | None,
    kind: str = "generation",
    clock: quotas.Clock = quotas.utcnow,
) -> list[RuleResult]:
    """One result per applicable window, peeked (nothing is counted)."""
    out = []
    for state in quotas.peek(
        conn, policy=policy, subject_id=subject_id, platform_key_id=platform_key_id, kind=kind, clock=clock
    ):
        rule = f"quota.{state.limit.scope}.{kind}.{state.limit.seconds}s"
        details = state.to_dict()
        if state.exhausted:
            reason = f"{state.used} of {state.limit.limit} used; resets in {state.retry_after()} s"
            out.append(RuleResult(rule, True, "block", reason, policy.version, details))
        else:
            out.append(_passed(policy, rule, f"{state.used} of {state.limit.limit} used", **details))
    return out


# --- explain ------------------------------------------------------------------------------------


def age_band_rules(
    policy: ActivePolicy, *, requester_id: uuid.UUID, requester_age_band: str, cameos: list[store.CameoFacts]
) -> list[RuleResult]:
    out = []
    for cameo in cameos:
        permission = cameo_permission_rule(policy, age_band=cameo.owner_age_band, permission=cameo.permission)
        out.append(_with_cameo(permission, cameo.id))
        rule = "age_band.minor_cameo_explicit_approval"
        if minor_cameo_requires_explicit_approval(
            policy,
            requester_age_band=requester_age_band,
            owner_age_band=cameo.owner_age_band,
            requester_is_owner=cameo.owner_id == requester_id,
        ):
            out.append(
                RuleResult(
                    rule,
                    True,
                    "require_approval",
                    "an adult may use a minor's cameo only with the owner's explicit approval",
                    policy.version,
                    {"cameo_id": str(cameo.id)},
                )
            )
        else:
            out.append(_passed(policy, rule, "not an adult using a minor's cameo", cameo_id=str(cameo.id)))
    return out


def _with_cameo(result: RuleResult, cameo_id: uuid.UUID) -> RuleResult:
    return RuleResult(
        result.rule, result.fired, result.effect, result.reason, result.policy_version,
        {**result.details, "cameo_id": str(cameo_id)},
    )  # fmt: skip


def explain(
    conn: Conn,
    *,
    policy: ActivePolicy,
    text_model: TextEmbedder,
    requester_id: uuid.UUID,
    platform_key_id: str | None,
    prompt: str,
    cameo_ids: list[uuid.UUID],
    duration_seconds: float | None = None,
    clock: quotas.Clock = quotas.utcnow,
) -> Evaluation:
    """Every policy rule a generation request meets, fired or not, and why; reads only.

    Consent and IP checks belong to other domains: the caller appends their RuleResults to
    `rules` (generation/ does, at merge). Here the owners of the requested cameos are taken as
    consented when judging protected names, since consent decides that separately.
    """
    requester_age_band = store.subject_age_band(conn, requester_id)
    if requester_age_band is None:
        raise NotFound(f"no subject {requester_id}", code="subject_not_found")
    if duration_seconds is None:
        duration_seconds = policy.policy.generation.default_duration_seconds
    results = [duration_rule(policy, duration_seconds=duration_seconds)]
    results += quota_rules(
        conn, policy=policy, subject_id=requester_id, platform_key_id=platform_key_id, clock=clock
    )
    facts = store.cameo_facts(conn, cameo_ids)
    known = {c.id for c in facts}
    for missing in [c for c in cameo_ids if c not in known]:
        results.append(
            RuleResult(
                "cameo.exists", True, "block", "no such cameo", policy.version, {"cameo_id": str(missing)}
            )
        )
    results += age_band_rules(
        policy, requester_id=requester_id, requester_age_band=requester_age_band, cameos=facts
    )
    owners = frozenset(c.owner_id for c in facts)
    results += evaluate_prompt(
        conn, policy=policy, text_model=text_model, prompt=prompt, consented_subject_ids=owners
    ).rules
    return Evaluation(decide(results), policy.version, results)
