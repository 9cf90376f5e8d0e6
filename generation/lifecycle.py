"""Generation's part of a process: the hook that cancels in-flight jobs when consent is revoked."""

from __future__ import annotations

from gate.web import AppContext
from generation import service


def start(ctx: AppContext) -> None:
    hooks = ctx.services.setdefault("revocation_hooks", [])
    if service.cancel_for_cameos not in hooks:
        hooks.append(service.cancel_for_cameos)
