"""Generation's part of a process: the hook that cancels in-flight jobs when consent is revoked."""

from __future__ import annotations

from consent.lifecycle import register_revocation_hook, revocation_hooks
from gate.web import AppContext
from generation import service
from generation.backends import CpuRenderer, GeneratorBackend
from generation.pipeline import Deps


def start(ctx: AppContext) -> None:
    if service.cancel_for_cameos not in revocation_hooks(ctx):
        register_revocation_hook(ctx, service.cancel_for_cameos)


def backend(ctx: AppContext) -> GeneratorBackend:
    """The configured generator: the CPU renderer, or a diffusers pipeline from a local directory."""
    if ctx.settings.generator_backend == "diffusers":
        from generation.diffusers_backend import load_backend

        return load_backend(ctx.settings)
    return CpuRenderer()


def pipeline_deps(ctx: AppContext) -> Deps:
    from perception.lifecycle import models
    from provenance.lifecycle import signer
    from safety.lifecycle import indexes

    return Deps(
        settings=ctx.settings,
        pool=ctx.pool,
        policies=ctx.policies,
        store=ctx.store,
        models=models(ctx),
        backend=backend(ctx),
        indexes=indexes(ctx),
        signer=signer(ctx),
        services=ctx.services,
    )
