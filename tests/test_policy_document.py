"""The policy document: validated, versioned, hashed; a bad one is refused with field and line."""

from __future__ import annotations

import pytest

from gate.settings import Settings
from policies.service import PolicyHolder, PolicyInvalid, load_file, parse


def test_the_default_policy_loads_with_version_and_hash() -> None:
    active = load_file(Settings().policy_file)
    assert active.version and len(active.sha256) == 64
    assert parse(active.source).sha256 == active.sha256


def test_a_wrong_type_is_refused_with_its_field_and_line() -> None:
    text = 'version: "t1"\nconsent:\n  default_permission: only_me\n  token_ttl_seconds: soon\n'
    with pytest.raises(PolicyInvalid) as err:
        parse(text)
    first = err.value.errors[0]
    assert first["field"] == "consent.token_ttl_seconds" and first["line"] == 4
    assert "integer" in first["reason"]


def test_an_unknown_field_is_refused_not_ignored() -> None:
    with pytest.raises(PolicyInvalid) as err:
        parse('version: "t1"\nconsent:\n  token_tll_seconds: 5\n')
    assert err.value.errors[0]["field"] == "consent.token_tll_seconds"
    assert err.value.errors[0]["line"] == 3


def test_broken_yaml_and_non_mappings_are_refused() -> None:
    with pytest.raises(PolicyInvalid):
        parse("version: [unclosed\n")
    with pytest.raises(PolicyInvalid):
        parse("- just a list\n")


def test_a_refused_policy_leaves_the_last_good_one_active() -> None:
    holder = PolicyHolder(parse('version: "good-1"\n'))
    with pytest.raises(PolicyInvalid):
        holder.replace(parse('version: ""\n'))
    assert holder.current.version == "good-1"
