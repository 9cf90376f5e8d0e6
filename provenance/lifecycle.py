"""Creates the process's signer (signing identity, anchors, watermark and pseudonym keys) at start-up."""

from __future__ import annotations

from gate.web import AppContext
from provenance.signing import ManifestSigner


def start(ctx: AppContext) -> None:
    signer_ = ManifestSigner.from_settings(ctx.settings)
    ctx.services.setdefault("signer", signer_)
    ctx.readiness["signer"] = lambda: None if ctx.services.get("signer") else "no signing identity"


def signer(ctx: AppContext) -> ManifestSigner:
    """The signer, created on first use when the app was built without start() (tests)."""
    if "signer" not in ctx.services:
        ctx.services["signer"] = ManifestSigner.from_settings(ctx.settings)
    return ctx.services["signer"]
