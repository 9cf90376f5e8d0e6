"""Prompt scans with the real MiniLM model: paraphrased descriptions match, unrelated prompts
(even ones sharing words) do not, at the policy's threshold."""

from __future__ import annotations

from perception.registry import Models
from policies.schema import Safety
from safety.indexes import SafetyIndexes
from safety.normalize import normalize
from safety.store import OptOut

DESCRIPTIONS = [
    "a yellow sea sponge who wears square brown pants and lives in a pineapple under the sea",
    "a plumber in red overalls and a red cap with a moustache who jumps on mushrooms",
    "a black mouse with big round ears, red shorts and white gloves",
]
PARAPHRASES = [
    ("a yellow sea sponge in square pants", 0),
    ("a sponge wearing square pants under the ocean", 0),
    ("an italian plumber with a red cap and moustache", 1),
    ("a cartoon mouse with round black ears and red shorts", 2),
]
UNRELATED = [
    "a cat sleeping on a sofa",
    "a red sports car driving on a mountain road",
    "a bowl of yellow soup",
    "a sponge cake with yellow icing",
    "an underwater coral reef with fish",
    "a person wearing square glasses and brown trousers",
]


def _optout(i: int, description: str) -> OptOut:
    from datetime import UTC, datetime
    from uuid import UUID

    now = datetime.now(UTC)
    oid = UUID(int=i + 1)
    return OptOut(oid, oid, f"t{i}", [], [], description, "block", [], "", "active", None, now, now)


def test_minilm_descriptions_separate_paraphrases_from_unrelated_prompts(real_models: Models) -> None:
    text = real_models.text
    holder = SafetyIndexes(text_model_id=text.model_id, text_dim=text.dim, embed_texts=text.embed)
    optouts = [_optout(i, d) for i, d in enumerate(DESCRIPTIONS)]
    for o in optouts:
        holder.apply(o, [])
    policy = Safety()
    for prompt, which in PARAPHRASES:
        hits = holder.match_prompt(normalize(prompt), text.embed([prompt])[0], None, policy=policy)
        assert [m.optout_id for m in hits] == [optouts[which].id], prompt
    for prompt in UNRELATED:
        hits = holder.match_prompt(normalize(prompt), text.embed([prompt])[0], None, policy=policy)
        assert hits == [], (prompt, [round(m.score, 3) for m in hits])
