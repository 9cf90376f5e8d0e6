"""Command-line entry points of the consent domain: the webhook delivery worker."""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from consent import notifications, store
from gate.db import Conn, connect, database_url
from gate.settings import Settings
from policies.service import load_file


def _housekeeping(conn: Conn) -> None:
    """Token records outlive their tokens by an hour (for inspection), then go."""
    store.purge_grants(conn, expired_before=datetime.now(UTC) - timedelta(hours=1))


def _notify_worker(args: argparse.Namespace, settings: Settings) -> int:
    rules = load_file(settings.policy_file).policy.consent
    keyring, allow_private = settings.keyring(), settings.webhook_allow_private
    with connect(database_url(settings), autocommit=True) as conn:
        if args.once:
            attempted = notifications.run_once(
                conn, rules=rules, keyring=keyring, allow_private=allow_private
            )
            _housekeeping(conn)
            print(f"attempted {attempted} deliveries")
            return 0
        stop = threading.Event()

        def _stop(*_: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        while not stop.is_set():
            _housekeeping(conn)
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
