"""Builds the opt-out indexes at start (from a snapshot plus the change feed, or from scratch),
keeps them current with a follower thread, and snapshots them at stop.

`ctx.services["safety_indexes"]` holds the SafetyIndexes; `ctx.services["safety_follower"]` the
thread. The accessor starts them on first use for contexts built without start-up (tests).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from gate.db import connect, database_url
from gate.settings import Settings
from gate.web import AppContext
from perception.registry import Models
from perception.vectors import use_threads
from safety.indexes import Follower, SafetyIndexes

log = logging.getLogger(__name__)
_start_lock = threading.Lock()
# The follower polls every 0.5 s; readiness fails when it has not polled for this long.
STALE_SECONDS = 10.0


def snapshot_path(settings: Settings) -> Path:
    return settings.var_dir / "safety" / "indexes.npz"


def new_indexes(models: Models) -> SafetyIndexes:
    text = models.text
    clip = models.clip
    return SafetyIndexes(
        text_model_id=text.model_id,
        text_dim=text.dim,
        embed_texts=text.embed,
        clip_model_id=clip.model_id if clip else None,
        clip_dim=clip.dim if clip else None,
    )


def open_indexes(settings: Settings, models: Models, *, url: str | None = None) -> SafetyIndexes:
    """Snapshot (when it fits these models) plus the changes after it; else a full build."""
    url = url or database_url(settings)
    started = time.perf_counter()
    holder = new_indexes(models)
    path = snapshot_path(settings)
    loaded = path.exists() and holder.load(path)
    if not loaded:
        holder = new_indexes(models)
    with connect(url) as conn:
        if loaded:
            holder.refresh(conn)
        else:
            holder.build(conn)
    log.info(
        "safety indexes ready in %.2fs (%s)",
        time.perf_counter() - started,
        "snapshot" if loaded else "full build",
    )
    return holder


def start(ctx: AppContext) -> None:
    with _start_lock:
        if "safety_indexes" in ctx.services:
            return
        use_threads(1)  # see perception.vectors.use_threads
        models = ctx.services.setdefault("models", Models(ctx.settings))
        url = ctx.settings.database_url or database_url(ctx.settings)
        holder = open_indexes(ctx.settings, models, url=url)
        follower = Follower(url, holder)
        follower.start()
        ctx.services["safety_indexes"] = holder
        ctx.services["safety_follower"] = follower

        def ready() -> str | None:
            if follower.last_error:
                return f"index follower: {follower.last_error}"
            if follower.last_poll and time.time() - follower.last_poll > STALE_SECONDS:
                return "index follower has not polled the change feed recently"
            return None

        ctx.readiness["safety_indexes"] = ready


def stop(ctx: AppContext) -> None:
    follower: Follower | None = ctx.services.pop("safety_follower", None)
    if follower is not None:
        follower.stop()
    holder: SafetyIndexes | None = ctx.services.pop("safety_indexes", None)
    if holder is not None:
        holder.save(snapshot_path(ctx.settings))


def indexes(ctx: AppContext) -> SafetyIndexes:
    holder = ctx.services.get("safety_indexes")
    if holder is None:
        start(ctx)
        holder = ctx.services["safety_indexes"]
    return holder
