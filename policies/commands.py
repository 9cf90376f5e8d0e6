"""`cameogate policy ...`: apply a policy file, show the active policy, list its history."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gate.db import connect, database_url
from gate.errors import Problem
from gate.settings import Settings
from policies import versions


def _apply(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return 2
    with connect(database_url(settings)) as conn:
        current = versions.load_active(conn)
        try:
            applied = versions.apply(
                conn, text=text, actor="cli", current_version=current.version if current else "none"
            )
        except Problem as exc:
            conn.rollback()
            print(f"policy refused ({exc.code}): {exc.detail}", file=sys.stderr)
            for err in exc.extra.get("errors", []):
                print(
                    f"  {path}:{err['line']}: {err['field'] or '(document)'}: {err['reason']}",
                    file=sys.stderr,
                )
            return 1
    if applied.changed:
        print(f"policy {applied.active.version} ({applied.active.sha256[:12]}) is active;"
              f" was {applied.previous_version}. Running processes switch within seconds.")  # fmt: skip
    else:
        print(f"policy {applied.active.version} was already active; nothing changed")
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    with connect(database_url(settings)) as conn:
        active = versions.load_active(conn)
    if active is None:
        print("no policy was applied yet; processes seed it from the policy file at start", file=sys.stderr)
        return 1
    if args.json:
        out: dict[str, Any] = {"version": active.version, "sha256": active.sha256}
        out["document"] = active.policy.model_dump(mode="json")
        print(json.dumps(out, indent=2))
    else:
        print(f"# version {active.version}, sha256 {active.sha256}")
        print(active.source, end="" if active.source.endswith("\n") else "\n")
    return 0


def _history(args: argparse.Namespace, settings: Settings) -> int:
    with connect(database_url(settings)) as conn:
        rows = versions.history(conn, limit=args.limit)
    for a in rows:
        print(f"{a.activated_at.isoformat()}\t{a.version}\t{a.sha256[:12]}\t{a.activated_by}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    policy = sub.add_parser("policy", help="the policy document").add_subparsers(
        dest="policy_command", required=True
    )
    apply = policy.add_parser("apply", help="validate, store and activate a policy file")
    apply.add_argument("file")
    apply.set_defaults(handler=_apply)
    show = policy.add_parser("show", help="print the active policy")
    show.add_argument("--json", action="store_true", help="the validated document with defaults, as JSON")
    show.set_defaults(handler=_show)
    history = policy.add_parser("history", help="activations, newest first")
    history.add_argument("--limit", type=int, default=20)
    history.set_defaults(handler=_history)
