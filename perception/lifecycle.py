"""Puts the process's Models in the app context (ctx.services["models"]) at start-up."""

from __future__ import annotations

from gate.web import AppContext
from perception.registry import Models


def start(ctx: AppContext) -> None:
    ctx.services.setdefault("models", Models(ctx.settings))


def models(ctx: AppContext) -> Models:
    return ctx.services["models"]
