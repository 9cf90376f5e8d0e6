"""`cameogate worker` (any number of them) and `cameogate demo`."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from gate.settings import Settings

log = logging.getLogger(__name__)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from gate.app import build_context
    from gate.startup import stop_domains
    from generation.lifecycle import pipeline_deps
    from generation.pipeline import run_job
    from generation.worker import Worker
    from perception.lifecycle import single_threaded_models

    single_threaded_models()
    ctx = build_context(settings)
    deps = pipeline_deps(ctx)
    policy = ctx.policies.current.policy.generation
    stop = threading.Event()
    # SIGTERM/SIGINT: finish the job in hand, then exit. kill -9 is covered by lease expiry.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = Worker(
        pool=ctx.pool,
        run=lambda job, control: run_job(deps, job, control),
        lease_seconds=args.lease or policy.lease_seconds,
        heartbeat_seconds=args.heartbeat or policy.heartbeat_seconds,
    )
    try:
        if args.once:
            worker.run_once()
        else:
            worker.run_forever(stop)
    finally:
        stop_domains(ctx)
        ctx.pool.close()
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from generation.demo import run_demo

    return run_demo(settings)


def register(sub: Any) -> None:
    worker = sub.add_parser("worker", help="run a generation worker (start as many as you like)")
    worker.add_argument("--once", action="store_true", help="process at most one job, then exit")
    worker.add_argument("--lease", type=float, help="lease seconds (default: the policy's)")
    worker.add_argument("--heartbeat", type=float, help="heartbeat seconds (default: the policy's)")
    worker.set_defaults(handler=_worker)
    demo = sub.add_parser("demo", help="walk the whole story on real data and print a summary")
    demo.set_defaults(handler=_demo)
