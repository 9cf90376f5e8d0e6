"""Consent tokens: bound to requester, cameos and prompt; short-lived; dead after any revocation."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from consent import service
from gate.auth import Principal
from gate.db import Conn
from gate.errors import ConsentRequired
from gate.settings import Settings
from perception.fakes import FakeText
from perception.registry import Models
from policies.service import ActivePolicy, load_file
from tests.consent.conftest import insert_cameo
from tests.pg import one_row

PROMPT = "me and a friend juggling on a unicycle"


@pytest.fixture
def policy(settings: Settings) -> ActivePolicy:
    return load_file(settings.policy_file)


@pytest.fixture
def world(conn: Conn, settings: Settings, policy: ActivePolicy) -> dict:
    """Two everyone-cameos, a requester, and a check that allowed both."""
    a, b = insert_cameo(conn, permission="everyone"), insert_cameo(conn, permission="everyone")
    requester = uuid.uuid4()
    conn.execute("INSERT INTO subjects (id) VALUES (%s)", (requester,))
    result = service.check_consent(
        conn, policy=policy, models=Models(settings, text=FakeText()), settings=settings,
        requester_id=requester, cameo_ids=[a, b], prompt=PROMPT, platform_key_id=None,
        clock=lambda: 1_000_000.0,
    )  # fmt: skip
    assert result.allowed and result.token
    return {"a": a, "b": b, "requester": requester, "token": result.token}


def validator(conn: Conn, settings: Settings, world: dict) -> Callable[..., None]:
    def _validate(**changes: object) -> None:
        args: dict = {
            "token": world["token"], "requester_id": world["requester"],
            "cameo_ids": [world["a"], world["b"]], "prompt": PROMPT, "clock": lambda: 1_000_010.0,
        } | changes  # fmt: skip
        service.validate_token(conn, settings=settings, **args)

    return _validate


def code_of(call: Callable[[], None]) -> str:
    with pytest.raises(ConsentRequired) as exc:
        call()
    return exc.value.code


def test_a_fresh_token_validates_for_exactly_what_it_was_issued_for(
    conn: Conn, settings: Settings, world: dict
) -> None:
    validate = validator(conn, settings, world)
    validate()
    validate(cameo_ids=[world["b"], world["a"]])  # order does not matter


def test_a_token_for_prompt_a_does_not_validate_prompt_b(conn: Conn, settings: Settings, world: dict) -> None:
    validate = validator(conn, settings, world)
    assert code_of(lambda: validate(prompt=PROMPT + " in a political rally")) == "token_wrong_prompt"
    assert code_of(lambda: validate(prompt=PROMPT.upper())) == "token_wrong_prompt"


def test_a_token_is_bound_to_requester_and_cameos(conn: Conn, settings: Settings, world: dict) -> None:
    validate = validator(conn, settings, world)
    assert code_of(lambda: validate(requester_id=uuid.uuid4())) == "token_wrong_requester"
    assert code_of(lambda: validate(cameo_ids=[world["a"]])) == "token_wrong_cameos"
    assert code_of(lambda: validate(cameo_ids=[world["a"], world["b"], uuid.uuid4()])) == "token_wrong_cameos"


def test_a_token_expires_after_the_policy_ttl(
    conn: Conn, settings: Settings, world: dict, policy: ActivePolicy
) -> None:
    validate = validator(conn, settings, world)
    ttl = policy.policy.consent.token_ttl_seconds
    validate(clock=lambda: 1_000_000.0 + ttl - 1)
    assert code_of(lambda: validate(clock=lambda: 1_000_000.0 + ttl)) == "token_expired"


def test_a_tampered_or_foreign_token_is_refused(conn: Conn, settings: Settings, world: dict) -> None:
    validate = validator(conn, settings, world)
    head, claims, mac = world["token"].split(".")
    flipped = claims[:-2] + ("A" if claims[-2] != "A" else "B") + claims[-1]
    assert code_of(lambda: validate(token=f"{head}.{flipped}.{mac}")) == "token_invalid"
    assert code_of(lambda: validate(token="not-a-token")) == "token_invalid"
    other = Settings(database_url=settings.database_url, var_dir=settings.var_dir.parent / "elsewhere")
    assert code_of(lambda: service.validate_token(
        conn, settings=other, token=world["token"], requester_id=world["requester"],
        cameo_ids=[world["a"], world["b"]], prompt=PROMPT, clock=lambda: 1_000_010.0,
    )) == "token_invalid"  # fmt: skip


@pytest.mark.parametrize("change", ["lower_level", "revoke_all", "restriction", "deleted"])
def test_any_revocation_of_one_cameo_kills_the_token(
    conn: Conn, settings: Settings, world: dict, policy: ActivePolicy, change: str
) -> None:
    owner = one_row(conn.execute("SELECT owner_id FROM cameos WHERE id = %s", (world["b"],)))["owner_id"]
    me = Principal("k", "user", owner)
    calls: list[list[uuid.UUID]] = []

    def hook(c: Conn, cameo_ids: list[uuid.UUID]) -> int:
        calls.append(cameo_ids)
        return 2

    if change == "lower_level":
        out = service.set_permission(
            conn, policy=policy, principal=me, cameo_id=world["b"], permission="approved", hooks=[hook]
        )
        assert out.cancelled_jobs == 2
    elif change == "revoke_all":
        service.revoke_all(conn, policy=policy, principal=me, cameo_id=world["b"], hooks=[hook])
    elif change == "restriction":
        service.add_restriction(
            conn, policy=policy, models=Models(settings, text=FakeText()), principal=me,
            cameo_id=world["b"], text="no unicycles", hooks=[hook],
        )  # fmt: skip
    else:  # enrollment's deletion: the status leaves 'verified'
        conn.execute("UPDATE cameos SET status = 'deleted' WHERE id = %s", (world["b"],))
        calls.append([world["b"]])
    assert calls == [[world["b"]]]
    assert code_of(validator(conn, settings, world)) == "consent_revoked"


def test_widening_to_everyone_keeps_tokens_valid(
    conn: Conn, settings: Settings, world: dict, policy: ActivePolicy
) -> None:
    owner = one_row(conn.execute("SELECT owner_id FROM cameos WHERE id = %s", (world["a"],)))["owner_id"]
    me = Principal("k", "user", owner)
    service.set_permission(
        conn, policy=policy, principal=me, cameo_id=world["a"], permission="mutuals", hooks=[]
    )
    assert code_of(validator(conn, settings, world)) == "consent_revoked"
    # A token issued after the change is good, and widening again does not kill it.
    fresh = service.check_consent(
        conn, policy=policy, models=Models(settings, text=FakeText()), settings=settings,
        requester_id=owner, cameo_ids=[world["a"]], prompt=PROMPT, platform_key_id=None,
    )  # fmt: skip
    service.set_permission(
        conn, policy=policy, principal=me, cameo_id=world["a"], permission="everyone", hooks=[]
    )
    service.validate_token(
        conn,
        settings=settings,
        token=fresh.token or "",
        requester_id=owner,
        cameo_ids=[world["a"]],
        prompt=PROMPT,
    )


def test_a_token_whose_check_left_no_record_is_refused(conn: Conn, settings: Settings, world: dict) -> None:
    # What a crash losing an asynchronously committed check looks like: the token's record is gone.
    conn.execute("DELETE FROM consent_grants")
    assert code_of(validator(conn, settings, world)) == "token_unknown"


def test_token_cameo_ids_reads_only_good_tokens_for_their_requester(
    conn: Conn, settings: Settings, world: dict
) -> None:
    now = lambda: 1_000_010.0  # noqa: E731

    def ids(token: str, requester: uuid.UUID, clock=now) -> list[uuid.UUID]:
        return service.token_cameo_ids(
            conn, settings=settings, token=token, requester_id=requester, clock=clock
        )

    assert ids(world["token"], world["requester"]) == sorted([world["a"], world["b"]])
    assert ids(world["token"], uuid.uuid4()) == []
    assert ids(world["token"] + "x", world["requester"]) == []
    assert ids(world["token"], world["requester"], clock=lambda: 2_000_000.0) == []
    # A cameo revoked since the token was issued is no longer covered; the other still is.
    conn.execute("UPDATE cameos SET consent_epoch = consent_epoch + 1 WHERE id = %s", (world["a"],))
    assert ids(world["token"], world["requester"]) == [world["b"]]
