"""Blocked content categories: terms through the shared normaliser, descriptions by meaning
(MiniLM in the integration test, at the threshold measured in docs/POLICIES.md)."""

from __future__ import annotations

import pytest

from gate.db import Conn
from perception.fakes import FakeText
from perception.registry import Models
from policies import rules
from tests.policies.conftest import PolicyMaker


def _fired(conn: Conn, policy, model, prompt: str) -> dict[str, dict]:
    result = rules.evaluate_prompt(conn, policy=policy, text_model=model, prompt=prompt)
    return {r.rule: r.details for r in result.fired}


def test_blocked_terms_match_through_the_normaliser(conn: Conn, make_policy: PolicyMaker) -> None:
    policy = make_policy()
    for prompt in [
        "an NSFW clip",
        "a S3X-SC3NE",
        "a p0rn0graphic scene",
        "a BEHEADING in the square",
        "nüde beach",
    ]:
        fired = _fired(conn, policy, FakeText(), prompt)
        assert any(d.get("by") == "term" for d in fired.values()), prompt
    assert _fired(conn, policy, FakeText(), "a porcupine in the snow") == {}


def test_a_category_can_flag_instead_of_block_and_terms_are_configurable(
    conn: Conn, make_policy: PolicyMaker
) -> None:
    policy = make_policy(
        content={"categories": [{"name": "fireworks", "action": "flag", "terms": ["firework"]}]}
    )
    result = rules.evaluate_prompt(conn, policy=policy, text_model=FakeText(), prompt="big fireworks show")
    assert result.decision == "flag"
    assert [r.rule for r in result.fired] == ["content.fireworks"]


def test_category_names_are_checked_by_the_schema(make_policy: PolicyMaker) -> None:
    from policies.service import PolicyInvalid

    with pytest.raises(PolicyInvalid):
        make_policy(content={"categories": [{"name": "Has Spaces", "terms": ["x"]}]})
    with pytest.raises(PolicyInvalid) as err:
        make_policy(content={"categories": [{"name": "a", "terms": ["x"]}, {"name": "a", "terms": ["y"]}]})
    assert "unique" in err.value.errors[0]["reason"]


@pytest.mark.slow
def test_prompts_describing_a_blocked_category_are_caught_by_meaning(
    conn: Conn, make_policy: PolicyMaker, real_models: Models
) -> None:
    policy = make_policy()
    text = real_models.text
    fired = _fired(conn, policy, text, "a man is stabbed over and over and blood sprays across the wall")
    assert fired["content.graphic_violence"]["by"] == "meaning"
    assert fired["content.graphic_violence"]["score"] >= rules.semantic_threshold(policy, text.model_id)
    # Buried in a longer, harmless prompt it is still found (the sentence is embedded on its own).
    long = "A sunny park with kids playing football. A woman takes an overdose of pills to kill herself."
    assert "content.self_harm" in _fired(conn, policy, text, long)
    for benign in [
        "a cat chasing a laser pointer",
        "a doctor explaining how to treat a small cut on a finger",
    ]:
        assert _fired(conn, policy, text, benign) == {}, benign
