"""Age bands: minors' cameos cannot be shared with everyone, adults need explicit approval to use
a minor's cameo; both configurable."""

from __future__ import annotations

import pytest

from gate.errors import PolicyViolation
from policies import rules
from tests.policies.conftest import PolicyMaker


def test_a_minors_cameo_cannot_be_set_to_everyone_but_an_adults_can(make_policy: PolicyMaker) -> None:
    policy = make_policy()
    assert not rules.permission_allowed_for(policy, age_band="minor", permission="everyone")
    assert rules.permission_allowed_for(policy, age_band="minor", permission="approved")
    assert rules.permission_allowed_for(policy, age_band="adult", permission="everyone")
    result = rules.cameo_permission_rule(policy, age_band="minor", permission="everyone")
    assert result.fired and result.effect == "block" and result.policy_version == policy.version
    with pytest.raises(PolicyViolation) as err:
        rules.require_permission_allowed(policy, age_band="minor", permission="everyone")
    assert err.value.status == 403 and err.value.code == "minor_permission_forbidden"
    assert err.value.extra["policy_version"] == policy.version
    rules.require_permission_allowed(policy, age_band="adult", permission="everyone")


def test_forbidden_permissions_for_minors_are_configurable(make_policy: PolicyMaker) -> None:
    strict = make_policy(age_bands={"minor": {"forbidden_cameo_permissions": ["everyone", "mutuals"]}})
    assert not rules.permission_allowed_for(strict, age_band="minor", permission="mutuals")
    lax = make_policy(age_bands={"minor": {"forbidden_cameo_permissions": []}})
    assert rules.permission_allowed_for(lax, age_band="minor", permission="everyone")


def test_an_adult_needs_explicit_approval_to_use_a_minors_cameo(make_policy: PolicyMaker) -> None:
    policy = make_policy()

    def needs(requester: str, owner: str, *, own: bool = False) -> bool:
        return rules.minor_cameo_requires_explicit_approval(
            policy, requester_age_band=requester, owner_age_band=owner, requester_is_owner=own
        )

    assert needs("adult", "minor")
    assert not needs("minor", "minor")
    assert not needs("adult", "adult")
    assert not needs("minor", "adult")
    assert not needs("minor", "minor", own=True)
    off = make_policy(age_bands={"minor": {"adults_need_explicit_approval": False}})
    assert not rules.minor_cameo_requires_explicit_approval(
        off, requester_age_band="adult", owner_age_band="minor", requester_is_owner=False
    )


def test_a_decision_is_the_strictest_effect_that_fired(make_policy: PolicyMaker) -> None:
    policy = make_policy()
    allow = rules.cameo_permission_rule(policy, age_band="adult", permission="everyone")
    block = rules.cameo_permission_rule(policy, age_band="minor", permission="everyone")
    assert rules.decide([allow]) == "allow"
    assert rules.decide([allow, block]) == "block"
