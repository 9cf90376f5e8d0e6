"""Start and stop each domain's long-lived parts (models, indexes, listeners) with the process."""

from __future__ import annotations

import importlib
import logging

from gate.web import AppContext

log = logging.getLogger(__name__)

# Each listed module may define start(ctx) and stop(ctx), run once per process with the context,
# and `async def` astart(ctx) and astop(ctx), run in the event loop that serves requests (the
# app's lifespan, also for a context a test opened); order matters (models before indexes).
DOMAIN_LIFECYCLES = [
    "perception.lifecycle",
    "policies.lifecycle",
    "consent.lifecycle",
    "safety.lifecycle",
    "provenance.lifecycle",
    "generation.lifecycle",
]


def _modules() -> list:
    found = []
    for name in DOMAIN_LIFECYCLES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


def start_domains(ctx: AppContext) -> None:
    for module in _modules():
        if hasattr(module, "start"):
            module.start(ctx)


def stop_domains(ctx: AppContext) -> None:
    for module in reversed(_modules()):
        if hasattr(module, "stop"):
            try:
                module.stop(ctx)
            except Exception:
                log.exception("stopping %s failed", module.__name__)


async def astart_domains(ctx: AppContext) -> None:
    for module in _modules():
        if hasattr(module, "astart"):
            await module.astart(ctx)


async def astop_domains(ctx: AppContext) -> None:
    for module in reversed(_modules()):
        if hasattr(module, "astop"):
            try:
                await module.astop(ctx)
            except Exception:
                log.exception("stopping %s failed", module.__name__)
