"""`cameogate index check`: open the indexes as a process does (snapshot plus change feed) and
compare them with the database; `--rebuild` writes a fresh snapshot from the database."""

from __future__ import annotations

import argparse
import json

from gate.db import connect, database_url
from gate.settings import Settings


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from perception.registry import Models
    from safety.indexes import compare
    from safety.lifecycle import new_indexes, open_indexes, snapshot_path

    url = database_url(settings)
    models = Models(settings)
    path = snapshot_path(settings)
    if args.rebuild:
        holder = new_indexes(models)
        with connect(url) as conn:
            holder.build(conn)
        holder.save(path)
    else:
        holder = open_indexes(settings, models, url=url)
    with connect(url) as conn:
        result = compare(conn, holder)
    print(
        json.dumps(
            {
                "ok": result.ok,
                "snapshot": str(path) if path.exists() else None,
                "index": holder.stats(),
                "live_missing": [str(x) for x in result.live_missing],
                "live_extra": [str(x) for x in result.live_extra],
                "references_missing": [str(x) for x in result.references_missing],
            },
            indent=2,
        )
    )
    return 0 if result.ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    index = subparsers.add_parser("index", help="IP opt-out indexes").add_subparsers(
        dest="index_command", required=True
    )
    check = index.add_parser("check", help="compare the indexes with the database")
    check.add_argument("--rebuild", action="store_true", help="build from the database and write a snapshot")
    check.set_defaults(handler=_check)
