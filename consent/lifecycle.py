"""The consent domain's per-process state: the list of revocation hooks other domains register,
and the check route's event-loop resources (consent.hotpath)."""

from __future__ import annotations

from consent.service import RevocationHook
from gate.web import AppContext

HOOKS = "revocation_hooks"


def start(ctx: AppContext) -> None:
    ctx.services.setdefault(HOOKS, [])


async def astart(ctx: AppContext) -> None:
    from consent.hotpath import SERVICE, open_hot_path

    ctx.services[SERVICE] = await open_hot_path(ctx)


async def astop(ctx: AppContext) -> None:
    """Drain the checks waiting to be recorded, then close their connections."""
    from consent.hotpath import SERVICE, HotPath

    hot: HotPath | None = ctx.services.pop(SERVICE, None)
    if hot is not None:
        await hot.close()


def revocation_hooks(ctx: AppContext) -> list[RevocationHook]:
    """Called as hook(conn, cameo_ids) -> int inside every revocation's transaction; generation
    registers one that cancels in-flight jobs (append to this list in its own start())."""
    hooks: list[RevocationHook] = ctx.services.setdefault(HOOKS, [])
    return hooks


def register_revocation_hook(ctx: AppContext, hook: RevocationHook) -> None:
    revocation_hooks(ctx).append(hook)
