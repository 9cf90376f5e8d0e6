"""The `cameogate` command line: serve, migrate, keys, audit, and each domain's commands."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import signal
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from gate import audit, auth, logs
from gate.db import connect, database_url
from gate.errors import ConfigurationError
from gate.settings import Settings

log = logging.getLogger(__name__)
Handler = Callable[[argparse.Namespace, Settings], int]

# Domain modules that may define register(subparsers) to add their own commands.
DOMAIN_COMMANDS = [
    "policies.commands",
    "consent.commands",
    "safety.commands",
    "provenance.commands",
    "generation.commands",
]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from gate.app import build_context, create_app
    from gate.http11 import BoundedHttpTools
    from gate.startup import stop_domains

    if settings.serve_torch_threads:
        import torch

        torch.set_num_threads(settings.serve_torch_threads)
    # Built before uvicorn starts, so a configuration error stops start-up with its message.
    ctx = build_context(settings)
    # uvicorn drains requests on SIGTERM/SIGINT, then re-raises the signal to the handler that was
    # there before it; this one lets us close the pool and exit 0 instead of dying by the signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: log.info("stopped by signal"))
    try:
        # One worker process; uvicorn drains in-flight requests on SIGTERM before returning.
        uvicorn.run(
            create_app(settings, ctx),
            host=args.host or settings.host,
            port=args.port if args.port is not None else settings.port,
            log_config=None,
            http=BoundedHttpTools,
            # libuv's loop rather than asyncio's own: the same CPU per request, but in alternated
            # runs at a steady rate the consent check's p99 exceeded 20 ms in 3 of 22 phases
            # against 9 of 22 (docs/CONSENT.md). psycopg's asyncio connections run on it as is.
            loop="uvloop",
            timeout_graceful_shutdown=10,
        )
    finally:
        stop_domains(ctx)
        ctx.pool.close()
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from gate.migrate import MigrationError, migrate

    try:
        applied = migrate(database_url(settings))
    except MigrationError as exc:
        print(f"migration refused: {exc}", file=sys.stderr)
        return 1
    print(f"applied {len(applied)} migration(s)" + "".join(f"\n  {name}" for name in applied))
    return 0


def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    with connect(database_url(settings)) as conn:
        subject = None
        if args.role == "user":
            subject = auth.ensure_subject(conn, uuid.UUID(args.subject) if args.subject else None)
        org = auth.ensure_organisation(conn, args.org) if args.org else None
        full, rec = auth.create_key(
            conn, role=args.role, subject_id=subject, organisation_id=org, label=args.label
        )
        audit.record(
            conn,
            actor="cli",
            action="keys.create",
            policy_version="cli",
            subject_id=subject,
            target_kind="api_key",
            target_id=rec.id,
            details={"role": rec.role},
        )
    out = {"key": full, "id": rec.id, "role": rec.role, "subject_id": str(subject) if subject else None}
    print(json.dumps(out))
    print("store this key now: it is not shown again", file=sys.stderr)
    return 0


def _keys_list(args: argparse.Namespace, settings: Settings) -> int:
    with connect(database_url(settings)) as conn:
        for k in auth.list_keys(conn):
            state = "revoked" if k.revoked_at else "active"
            print(f"{k.id}\t{k.role}\t{k.subject_id or '-'}\t{k.organisation_id or '-'}\t{state}\t{k.label}")
    return 0


def _keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    with connect(database_url(settings)) as conn:
        auth.revoke_key(conn, args.key_id)
        audit.record(conn, actor="cli", action="keys.revoke", policy_version="cli", target_id=args.key_id)
    print(f"revoked {args.key_id}")
    return 0


def _audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    with connect(database_url(settings)) as conn:
        report = audit.verify_chain(conn)
    if report.ok:
        print(f"audit chain intact: {report.checked} entries")
        return 0
    print(f"audit chain BROKEN at entry {report.first_broken_id}: {report.reason}", file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cameogate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="apply migrations and serve the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=_serve)

    sub.add_parser("migrate", help="apply pending migrations").set_defaults(handler=_migrate)

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key (shown once)")
    create.add_argument("--role", required=True, choices=auth.ROLES)
    create.add_argument("--subject", help="subject id a user key is bound to (new subject if omitted)")
    create.add_argument("--org", help="organisation a rights_holder key is bound to")
    create.add_argument("--label", default="")
    create.set_defaults(handler=_keys_create)
    keys.add_parser("list", help="list keys (never the secrets)").set_defaults(handler=_keys_list)
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_keys_revoke)

    audit_cmd = sub.add_parser("audit", help="audit log").add_subparsers(dest="audit_command", required=True)
    audit_cmd.add_parser("verify", help="recompute the hash chain").set_defaults(handler=_audit_verify)

    for name in DOMAIN_COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    logs.configure(settings.log_level)
    handler: Any = args.handler
    try:
        return int(handler(args, settings))
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
