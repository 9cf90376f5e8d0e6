"""Command-line entry points of the consent domain: the webhook delivery worker, which also does
the service's periodic housekeeping."""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from consent import notifications, store
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


def register(subparsers: Any) -> None:
    worker = subparsers.add_parser(
        "notify-worker", help="deliver the outbox as signed webhooks (retries with backoff)"
    )
    worker.add_argument("--once", action="store_true", help="one pass, then exit")
    worker.add_argument(
        "--idle", type=float, default=1.0, help="seconds to wait when there is nothing to send"
    )
    worker.set_defaults(handler=_notify_worker)
