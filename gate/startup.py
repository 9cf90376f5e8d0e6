"""Start and stop each domain's long-lived parts (models, indexes, listeners) with the process."""

from __future__ import annotations

import importlib
import logging

from gate.web import AppContext

log = logging.getLogger(__name__)

# Each listed module may define start(ctx) and stop(ctx); order matters (models before indexes).
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
