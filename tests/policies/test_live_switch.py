"""Every process switches to a newly applied policy within seconds; start-up loads (or seeds) it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from gate.db import Conn, connect
from gate.settings import PROJECT_ROOT
from gate.web import AppContext
from policies import lifecycle, versions
from policies.lifecycle import PolicyListener
from policies.service import PolicyHolder, load_file, parse
from tests.policies.conftest import policy_text


def _wait_for(holders: list[PolicyHolder], version: str, limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if all(h.current.version == version for h in holders):
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not all holders reached {version}: {[h.current.version for h in holders]}")


def test_two_processes_switch_to_a_new_policy_within_seconds(db_url: str, conn: Conn) -> None:
    versions.apply(conn, text=policy_text("live-1"), actor="test", current_version="boot")
    conn.commit()
    # Two independent "processes": each its own holder, listener thread and connection. The poll
    # is set far away so only NOTIFY can deliver the switch in time.
    holders = [PolicyHolder(parse(policy_text("boot"))) for _ in range(2)]
    listeners = [PolicyListener(db_url, h, poll_seconds=600) for h in holders]
    for listener in listeners:
        listener.start()
    try:
        _wait_for(holders, "live-1", 5)  # caught up at connect
        with connect(db_url) as other:
            versions.apply(other, text=policy_text("live-2"), actor="test", current_version="live-1")
        took = _wait_for(holders, "live-2", 5)
        assert took < 3
        assert all(h.current.sha256 == parse(policy_text("live-2")).sha256 for h in holders)
    finally:
        for listener in listeners:
            listener.stop()
    assert not any(listener.alive for listener in listeners)


def test_two_os_processes_switch_within_seconds(db_url: str, conn: Conn) -> None:
    versions.apply(conn, text=policy_text("os-1"), actor="test", current_version="boot")
    conn.commit()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.policies.listener_probe", db_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=PROJECT_ROOT,
        )
        for _ in range(2)
    ]
    # A probe that never answers is killed, so a broken switch fails the test instead of hanging it.
    watchdogs = [threading.Timer(30, proc.kill) for proc in procs]
    for dog in watchdogs:
        dog.start()
    try:
        for proc in procs:
            assert proc.stdout is not None
            # Each catches up to the stored policy on connecting, then says it is listening.
            assert {proc.stdout.readline().strip() for _ in range(2)} == {"os-1", "listening"}
        started = time.monotonic()
        with connect(db_url) as other:
            versions.apply(other, text=policy_text("os-2"), actor="test", current_version="os-1")
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "os-2"
        assert time.monotonic() - started < 3
    finally:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=10)
        for dog in watchdogs:
            dog.cancel()
    assert [p.returncode for p in procs] == [0, 0]


def test_an_uncommitted_or_refused_apply_switches_no_one(db_url: str, conn: Conn) -> None:
    versions.apply(conn, text=policy_text("keep-1"), actor="test", current_version="boot")
    conn.commit()
    holder = PolicyHolder(parse(policy_text("boot")))
    listener = PolicyListener(db_url, holder, poll_seconds=0.2)
    listener.start()
    try:
        _wait_for([holder], "keep-1", 5)
        with connect(db_url) as other:
            versions.apply(other, text=policy_text("keep-2"), actor="test", current_version="keep-1")
            other.rollback()
        time.sleep(1.0)  # several polls
        assert holder.current.version == "keep-1"
    finally:
        listener.stop()


def test_start_seeds_the_file_policy_once_then_loads_the_stored_one(ctx: AppContext, conn: Conn) -> None:
    file_policy = load_file(ctx.settings.policy_file)
    lifecycle.start(ctx)
    try:
        assert ctx.policies.current.version == file_policy.version
        stored = versions.load_active(conn)
        assert stored is not None and stored.sha256 == file_policy.sha256
        assert ctx.readiness["policy"]() is None
        versions.apply(
            conn, text=policy_text("after-seed"), actor="test", current_version=file_policy.version
        )
        conn.commit()
        _wait_for([ctx.policies], "after-seed", 5)
    finally:
        lifecycle.stop(ctx)
    # A restart starts from the file again and must end on the stored policy, not the file.
    ctx.policies.replace(file_policy)
    lifecycle.start(ctx)
    try:
        assert ctx.policies.current.version == "after-seed"
        assert [a.version for a in versions.history(conn)] == ["after-seed", file_policy.version]
    finally:
        lifecycle.stop(ctx)


def test_a_stored_policy_that_no_longer_validates_keeps_the_file_policy_and_reports_not_ready(
    ctx: AppContext, conn: Conn
) -> None:
    # As if an older build stored a field this code no longer knows.
    stale = 'version: "old-build"\nretired_section: {}\n'
    conn.execute(
        "INSERT INTO policy_versions (version, sha256, source, created_by) VALUES ('old-build', %s, %s, 't')",
        ("0" * 64, stale),
    )
    conn.execute("INSERT INTO policy_activations (version, activated_by) VALUES ('old-build', 't')")
    conn.commit()
    file_version = ctx.policies.current.version
    lifecycle.start(ctx)
    try:
        time.sleep(1.0)  # the listener has connected and re-read the stored policy by now
        assert ctx.policies.current.version == file_version
        reason = ctx.readiness["policy"]()
        assert reason is not None and "no longer validates" in reason
        # An operator applies a policy that validates: the process switches and is ready again.
        versions.apply(conn, text=policy_text("fixed"), actor="test", current_version=file_version)
        conn.commit()
        _wait_for([ctx.policies], "fixed", 5)
        assert ctx.readiness["policy"]() is None
    finally:
        lifecycle.stop(ctx)


def test_a_poll_with_nothing_new_reads_the_digest_and_parses_nothing(
    db_url: str, conn: Conn, monkeypatch
) -> None:
    # Parsing and validating a policy holds the GIL for tens of milliseconds: every request of
    # the process would wait that out on every poll. Only a changed digest is parsed.
    versions.apply(conn, text=policy_text("poll-1"), actor="test", current_version="boot")
    conn.commit()
    holder = PolicyHolder(parse(policy_text("boot")))
    listener = PolicyListener(db_url, holder)
    parsed: list[str] = []
    real = versions.parse

    def counting(text: str):
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(versions, "parse", counting)
    assert listener.refresh(conn) and holder.current.version == "poll-1" and len(parsed) == 1
    assert not listener.refresh(conn) and len(parsed) == 1  # unchanged: nothing parsed
    with connect(db_url) as other:
        versions.apply(other, text=policy_text("poll-2"), actor="test", current_version="poll-1")
    before = len(parsed)  # apply validated the new text too
    assert listener.refresh(conn) and holder.current.version == "poll-2" and len(parsed) == before + 1
