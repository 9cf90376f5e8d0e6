"""Puts the process's Models in the app context (ctx.services["models"]) at start-up and warms
the offline defaults in the background, so the first request does not pay for loading them;
/readyz reports "loading" until they are in memory."""

from __future__ import annotations

import gc
import logging
import threading

from gate.web import AppContext
from perception.registry import Models

log = logging.getLogger(__name__)

WARM = ("text", "face_detector", "face_embedder", "voice_embedder")


def start(ctx: AppContext, *, warm: bool = True) -> None:
    registry = ctx.services.setdefault("models", Models(ctx.settings))
    registry.check_configuration()
    if not warm:
        return
    state: dict[str, str | None] = {"status": "loading models"}

    def load() -> None:
        try:
            for name in WARM:
                getattr(registry, name)
            # MTCNN builds its CPU kernels on the first frames it sees (15-25 s once per process,
            # docs/ENROLLMENT.md): pay that here, not in the first request.
            import numpy as np

            frame = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
            registry.face_detector.detect(frame)
            # The models and their libraries are millions of long-lived objects that every full
            # garbage collection would scan again: measured 0.54 s, a pause that every request in
            # flight waits for. Frozen now, a full collection scans only what came after.
            gc.collect()
            gc.freeze()
            state["status"] = None
        except Exception as exc:  # a configured production model is missing or broken
            log.exception("loading models failed")
            state["status"] = f"model loading failed: {exc}"

    threading.Thread(target=load, name="warm-models", daemon=True).start()
    ctx.readiness["models"] = lambda: state["status"]


def models(ctx: AppContext) -> Models:
    return ctx.services["models"]


def single_threaded_models() -> None:
    """torch and OpenCV on one thread each, for this whole process: what a generation worker wants.

    A worker's output scan runs beside its own ffmpeg encode, which keeps every core busy. A model's
    parallel region then waits for whichever of its threads the encoder has descheduled: in the
    pipeline MTCNN took twice its CPU time in wall time. With one thread each, the scan and the
    encoder share the cores without waiting on each other (bench.gate_cost: output scan ~1.5 s
    against ~1.7 s, same CPU; docs/GENERATION.md). `cameogate serve` sets torch's threads from the
    `serve_torch_threads` setting instead (one by default, for its own reason: small inferences for
    concurrent requests, docs/CONSENT.md)."""
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
