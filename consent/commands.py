"""Command-line entry points of the consent domain: the webhook delivery worker, which also does
the service's periodic housekeeping."""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from consent import notifications, store, templates
from gate.db import Conn, connect, database_url
from gate.settings import Settings
from policies import quotas, versions
from policies.service import ActivePolicy, load_file


def _housekeeping(conn: Conn, default: ActivePolicy) -> None:
    """Token records outlive their tokens by an hour (for inspection), then go; quota counters go
    once their window has ended under the active policy (they can no longer refuse anything, and
    nothing else deletes them: one row per subject, kind and window otherwise stays forever)."""
    store.purge_grants(conn, expired_before=datetime.now(UTC) - timedelta(hours=1))
    quotas.prune(conn, policy=versions.load_active(conn) or default)


def _notify_worker(args: argparse.Namespace, settings: Settings) -> int:
    default = load_file(settings.policy_file)
    rules = default.policy.consent
    keyring, allow_private = settings.keyring(), settings.webhook_allow_private
    with connect(database_url(settings), autocommit=True) as conn:
        if args.once:
            attempted = notifications.run_once(
                conn, rules=rules, keyring=keyring, allow_private=allow_private
            )
            _housekeeping(conn, default)
            print(f"attempted {attempted} deliveries")
            return 0
        stop = threading.Event()

        def _stop(*_: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        while not stop.is_set():
            _housekeeping(conn, default)
            notifications.run_forever(
                conn, rules=rules, keyring=keyring, allow_private=allow_private, stop=stop,
                idle_seconds=args.idle, passes=600,
            )  # fmt: skip
    return 0


def _reseal(args: argparse.Namespace, settings: Settings) -> int:
    """After a key rotation (a new key first in CAMEOGATE_TEMPLATE_KEYS, the old one kept after
    it): every biometric template and webhook secret sealed under another key is sealed again
    under the first. Exit 0 once nothing is left under another key: the old one can then go."""
    keyring = settings.keyring()
    with connect(database_url(settings), autocommit=True) as conn:
        sealed = templates.reseal(conn, keyring), notifications.seal_secrets(conn, keyring)
        row = conn.execute(
            "SELECT (SELECT count(*) FROM templates WHERE key_id <> %(k)s)"
            " + (SELECT count(*) FROM webhook_endpoints WHERE secret_key_id IS DISTINCT FROM %(k)s) AS n",
            {"k": keyring.active_id},
        ).fetchone()
    left = int(row["n"]) if row else 0
    why = " (locked by a transaction: run again; or under a key no longer in the list: put it back)"
    print(f"sealed under {keyring.active_id!r}: {sealed[0]} templates, {sealed[1]} webhook secrets;"
          f" {left} rows still under another key{why if left else ''}")  # fmt: skip
    return 0 if left == 0 else 1


def register(subparsers: Any) -> None:
    reseal = subparsers.add_parser(
        "reseal", help="after a key rotation, seal templates and webhook secrets under the first key"
    )
    reseal.set_defaults(handler=_reseal)
    worker = subparsers.add_parser(
        "notify-worker", help="deliver the outbox as signed webhooks (retries with backoff)"
    )
    worker.add_argument("--once", action="store_true", help="one pass, then exit")
    worker.add_argument(
        "--idle", type=float, default=1.0, help="seconds to wait when there is nothing to send"
    )
    worker.set_defaults(handler=_notify_worker)
