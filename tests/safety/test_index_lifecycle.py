"""Index lifecycle: a second, independent index holder follows the database; snapshots restore;
`cameogate index check` compares index and database."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from eval.art import logo
from gate.cli import main
from gate.db import Conn
from gate.settings import Settings
from perception.registry import Models
from policies.schema import Safety
from safety import lifecycle
from safety.indexes import Follower, SafetyIndexes, compare
from safety.service import frame_features
from tests.conftest import KeyMaker
from tests.safety.conftest import FileOptOut, png


def _wait(predicate: Callable[[], bool], seconds: float = 5.0) -> float:
    started = time.perf_counter()
    while not predicate():
        assert time.perf_counter() - started < seconds, "not seen within 5 s"
        time.sleep(0.02)
    return time.perf_counter() - started


def _matches(holder: SafetyIndexes, rgb: object, optout_id: str) -> bool:
    frame = frame_features(holder, None, 0.0, rgb)  # type: ignore[arg-type]
    return any(str(m.optout_id) == optout_id for m in holder.match_frame(frame, policy=Safety()))


def test_a_second_index_holder_sees_a_new_opt_out_within_5_s_and_drops_a_withdrawn_one(
    sclient: TestClient,
    make_key: KeyMaker,
    file_optout: FileOptOut,
    settings: Settings,
    safety_models: Models,
) -> None:
    other_settings = settings.model_copy(update={"var_dir": settings.var_dir / "other"})
    other = lifecycle.open_indexes(other_settings, safety_models, url=settings.database_url)
    follower = Follower(str(settings.database_url), other)
    follower.start()
    try:
        rh = make_key("rights_holder")
        ref = logo(51)
        oid = file_optout(rh, [png(ref)], names=["Gamma Girl"]).json()["id"]
        waited = _wait(lambda: other.live(uuid.UUID(oid)))
        assert waited < 5.0
        assert _matches(other, ref, oid)
        sclient.post(f"/v1/optouts/{oid}/withdraw", headers=rh)
        _wait(lambda: not other.live(uuid.UUID(oid)))
        assert not _matches(other, ref, oid)
    finally:
        follower.stop()


def test_a_snapshot_restores_the_indexes_and_catches_up_with_later_changes(
    sclient: TestClient,
    make_key: KeyMaker,
    file_optout: FileOptOut,
    settings: Settings,
    safety_models: Models,
    conn: Conn,
) -> None:
    rh = make_key("rights_holder")
    first = file_optout(rh, [png(logo(61))]).json()["id"]
    holder = lifecycle.open_indexes(settings, safety_models, url=settings.database_url)
    path = settings.var_dir / "snap.npz"
    holder.save(path)
    second = file_optout(rh, [png(logo(62))], description="a teal dragon").json()["id"]
    restored = lifecycle.new_indexes(safety_models)
    assert restored.load(path)
    assert restored.live(uuid.UUID(first)) and not restored.live(uuid.UUID(second))
    assert _matches(restored, logo(61), first)
    restored.refresh(conn)
    assert restored.live(uuid.UUID(second)) and _matches(restored, logo(62), second)
    assert compare(conn, restored).ok
    empty = lifecycle.new_indexes(safety_models)
    check = compare(conn, empty)
    assert not check.ok and {str(x) for x in check.live_missing} == {first, second}


def test_index_check_command_agrees_after_a_rebuild_and_after_later_changes(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut, settings: Settings, monkeypatch, capsys
) -> None:
    for key, value in {
        "CAMEOGATE_DATABASE_URL": settings.database_url,
        "CAMEOGATE_VAR_DIR": str(settings.var_dir),
    }.items():
        monkeypatch.setenv(key, str(value))
    file_optout(make_key("rights_holder"), [png(logo(71))], names=["Delta Dog"])
    monkeypatch.setattr("perception.registry.Models._load_text", lambda self: safety_models_text())
    assert main(["index", "check", "--rebuild"]) == 0
    assert '"ok": true' in capsys.readouterr().out
    file_optout(make_key("rights_holder"), [png(logo(72))], names=["Echo Cat"])
    # The snapshot predates Echo Cat; the check loads it, follows the change feed and agrees.
    assert main(["index", "check"]) == 0
    out = capsys.readouterr().out
    assert '"ok": true' in out and '"live_optouts": 2' in out


def safety_models_text() -> object:
    from perception.fakes import FakeText

    return FakeText()


def test_a_change_that_commits_after_a_later_one_is_not_skipped(
    settings: Settings, safety_models: Models, conn: Conn
) -> None:
    from gate.auth import ensure_organisation
    from gate.db import connect
    from safety import store

    org = ensure_organisation(conn, "Slow Studio")
    conn.commit()
    holder = lifecycle.open_indexes(settings, safety_models, url=settings.database_url)

    def insert(c: Conn, title: str) -> uuid.UUID:
        return store.insert_optout(
            c, id=uuid.uuid4(), organisation_id=org, title=title, names=[title], keywords=[],
            description="", action="block", territories=[], notes="",
        ).id  # fmt: skip

    with connect(str(settings.database_url)) as slow:
        early = insert(slow, "Early Bird")  # takes the lower seq, commits last
        late = insert(conn, "Late Owl")
        conn.commit()
        holder.refresh(conn)
        assert holder.live(late) and not holder.live(early)
        slow.commit()
    holder.refresh(conn)
    assert holder.live(early)


def test_a_large_build_uses_an_ivf_index_that_still_matches(
    sclient: TestClient,
    make_key: KeyMaker,
    file_optout: FileOptOut,
    settings: Settings,
    safety_models: Models,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rh = make_key("rights_holder")
    ids = [file_optout(rh, [png(logo(80 + i))]).json()["id"] for i in range(3)]
    monkeypatch.setattr("safety.indexes.LARGE_FROM", 100)
    holder = lifecycle.open_indexes(settings, safety_models, url=settings.database_url)
    assert holder.sift.index.kind == "ivf"
    assert all(_matches(holder, logo(80 + i), oid) for i, oid in enumerate(ids))


def test_the_sift_index_switches_to_ivf_as_references_accumulate_and_keeps_matching(
    safety_models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eval.ip_matching import build_index

    monkeypatch.setattr("safety.signals.IVF_FROM", 1500)
    holder, ids = build_index(6)
    assert holder.sift.index.kind == "ivf"
    assert holder.sift.index.ntotal == sum(len(r.descriptors) for r in holder.sift.refs)
    assert all(_matches(holder, logo(i), str(oid)) for i, oid in enumerate(ids))
