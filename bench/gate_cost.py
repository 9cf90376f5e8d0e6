"""The gate's own cost on a 10 s 720p clip, against a plain ffmpeg re-encode of the same clip.

Runs one real generation (one consented cameo, real models, real signing) through the pipeline
in this process, then reads the stage timings the pipeline recorded. "Gate cost" is every stage
except the backend's rendering; the baseline is `ffmpeg -i clip.mp4 -c:v libx264 -preset veryfast
-c:a aac` of the rendered clip, timed in the same run.

    .venv/bin/python -m bench.gate_cost [--duration 10] [--width 1280 --height 720]

Uses CAMEOGATE_DATABASE_URL's server (or the embedded one) and a fresh database it drops after.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from PIL import Image
from psycopg.conninfo import make_conninfo

from consent import service as consent
from consent import templates
from gate import auth
from gate.app import build_context
from gate.db import database_url
from gate.settings import PROJECT_ROOT, Settings
from gate.startup import stop_domains
from generation import service as generation
from generation.lifecycle import pipeline_deps
from generation.pipeline import run_job
from generation.schemas import GenerationRequest
from generation.worker import Worker
from perception.faces import crop_face
from perception.lifecycle import models as models_of
from perception.lifecycle import single_threaded_models

PHOTO = PROJECT_ROOT.parent / "shared" / "data" / "faces" / "obama" / "1.jpg"


def _cpu() -> float:
    """CPU seconds of this process and its finished children (ffmpeg): a figure that other load
    on the machine disturbs far less than wall time."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class _Metered:
    """The backend, with the CPU its rendering takes counted apart (the gate is everything else)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.cpu = inner, 0.0
        self.name, self.version = inner.name, inner.version

    def render(self, *args: Any, **kwargs: Any) -> Any:
        started = _cpu()
        try:
            return self.inner.render(*args, **kwargs)
        finally:
            self.cpu += _cpu() - started


def _ffmpeg_reencode(src: Path, dest: Path) -> tuple[float, float]:
    started, cpu = time.perf_counter(), _cpu()
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(src),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-c:a",
            "aac",
            str(dest),
        ],
        check=True,
    )
    return time.perf_counter() - started, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    args = parser.parse_args()
    single_threaded_models()  # as `cameogate worker` runs its models

    admin = database_url(Settings())
    name = f"cameogate_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    tmp = Path(tempfile.mkdtemp(prefix="gate-cost-"))
    settings = Settings(database_url=make_conninfo(admin, dbname=name), var_dir=tmp / "var")
    ctx = build_context(settings)
    try:
        models = models_of(ctx)
        deps = pipeline_deps(ctx)
        policy = ctx.policies.current
        with ctx.pool.connection() as conn:
            owner, requester = auth.ensure_subject(conn), auth.ensure_subject(conn)
            platform_key, rec = auth.create_key(conn, role="platform")
            principal = auth.authenticate(conn, platform_key)
            cameo = uuid.uuid4()
            conn.execute(
                "INSERT INTO cameos (id, owner_id, status, permission, verified_at)"
                " VALUES (%s, %s, 'verified', 'everyone', now())",
                (cameo, owner),
            )
            img = np.asarray(Image.open(PHOTO).convert("RGB"))
            face = models.face_detector.detect(img)[0]
            ring = settings.keyring()
            emb = models.face_embedder.embed(img, [face])
            templates.store(
                conn,
                ring,
                owner_kind="cameo",
                owner_ref=cameo,
                kind="face",
                model_id=models.face_embedder.model_id,
                array=emb,
            )
            templates.store(
                conn,
                ring,
                owner_kind="cameo",
                owner_ref=cameo,
                kind="face_crop",
                model_id="",
                array=crop_face(img, face),
            )
            prompt = 'Shot 1: a walk on a windy beach. Shot 2: she says "what a lovely day"'

            def submit(duration: float, width: int, height: int) -> generation.store.Job:
                check = consent.check_consent(
                    conn, policy=policy, models=models, settings=settings, requester_id=requester,
                    cameo_ids=[cameo], prompt=prompt, platform_key_id=rec.id,
                )  # fmt: skip
                request = GenerationRequest(
                    requester=requester, prompt=prompt, cameo_ids=[cameo], consent_token=check.token,
                    duration=duration, width=width, height=height, fps=24, seed=1,
                )  # fmt: skip
                return generation.submit(
                    conn, settings=settings, policy=policy, media_store=ctx.store, principal=principal,
                    request=request, input_media=None,
                )  # fmt: skip

            # A short warm-up job first: every model, cache and codec is loaded once, as in a
            # worker that has been running; the measured job is the second one.
            submit(2, 320, 240)
            job = submit(args.duration, args.width, args.height)
        deps.backend = metered = _Metered(deps.backend)
        worker = Worker(pool=ctx.pool, run=lambda j, c: run_job(deps, j, c))
        worker.run_once()
        # A worker is another process than the API that took the submission: the prompt's
        # embeddings, cached here by the consent check and the submission, are not in its cache.
        forget = getattr(models.text, "forget", None)
        if forget is not None:
            forget()
        metered.cpu, job_cpu = 0.0, _cpu()
        worker.run_once()
        gate_cpu = _cpu() - job_cpu - metered.cpu
        with ctx.pool.connection() as conn:
            state = generation.store.get_job(conn, job.id)
            stages = generation.store.stages(conn, job.id)
            digest = conn.execute("SELECT media_sha256 FROM clips WHERE id = %s", (job.clip_id,)).fetchone()
        assert state is not None and state.state == "published", state
        assert digest is not None
        clip = tmp / "published.mp4"
        clip.write_bytes(ctx.store.get(digest["media_sha256"]))
        baseline, baseline_cpu = min(_ffmpeg_reencode(clip, tmp / f"reencoded{i}.mp4") for i in range(2))

        print(f"clip: {args.duration:g} s {args.width}x{args.height} @ 24 fps, one consented cameo")
        print(f"{'stage':<16}{'ms':>10}")
        gate_ms = 0.0
        for s in stages:
            print(f"{s['stage']:<16}{s['ms']:>10.0f}")
            if s["stage"] != "generate":
                gate_ms += s["ms"]
        print(f"{'gate (all but generate)':<28}{gate_ms:>8.0f} ms")
        print(f"{'ffmpeg re-encode baseline':<28}{baseline * 1000:>8.0f} ms")
        print(f"ratio gate / baseline: {gate_ms / (baseline * 1000):.2f} (goal <= 2.0)")
        print(
            f"CPU seconds: gate {gate_cpu:.2f}, re-encode {baseline_cpu:.2f},"
            f" ratio {gate_cpu / baseline_cpu:.2f} (less disturbed by other load; not the goal's measure)"
        )
    finally:
        stop_domains(ctx)
        ctx.pool.close()
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
