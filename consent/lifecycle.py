"""The consent domain's per-process state: the list of revocation hooks other domains register."""

from __future__ import annotations

from consent.service import RevocationHook
from gate.web import AppContext

HOOKS = "revocation_hooks"


def start(ctx: AppContext) -> None:
    ctx.services.setdefault(HOOKS, [])


def revocation_hooks(ctx: AppContext) -> list[RevocationHook]:
    """Called as hook(conn, cameo_ids) -> int inside every revocation's transaction; generation
    registers one that cancels in-flight jobs (append to this list in its own start())."""
    hooks: list[RevocationHook] = ctx.services.setdefault(HOOKS, [])
    return hooks


def register_revocation_hook(ctx: AppContext, hook: RevocationHook) -> None:
    revocation_hooks(ctx).append(hook)
