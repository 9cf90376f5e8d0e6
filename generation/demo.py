"""`cameogate demo`: the whole story, over HTTP, on real data from ../shared/data.

It runs against a fresh database `cameogate_demo` on the configured server (the embedded one by
default) and a fresh `var/demo`, with the API served by uvicorn in this process and one
generation worker thread. Each step prints what happened; the run ends with a summary.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import uvicorn
from PIL import Image, ImageDraw
from psycopg.conninfo import make_conninfo

from gate import auth
from gate.app import build_context, create_app
from gate.db import connect, database_url
from gate.settings import PROJECT_ROOT, Settings
from gate.startup import stop_domains
from generation.lifecycle import pipeline_deps
from generation.pipeline import run_job
from generation.worker import Worker

DATA = PROJECT_ROOT.parent / "shared" / "data"
DEMO_DB = "cameogate_demo"


class Demo:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=120)
        self.lines: list[tuple[str, str]] = []
        self.started = time.monotonic()

    def step(self, what: str, outcome: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:6.1f}s] {what}: {outcome}", flush=True)
        self.lines.append((what, outcome))

    def call(self, method: str, path: str, key: str, *, expect: int, **kw: Any) -> Any:
        resp = self.http.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kw)
        if resp.status_code != expect:
            raise RuntimeError(f"{method} {path} → {resp.status_code}, expected {expect}: {resp.text[:400]}")
        return (
            resp.json()
            if resp.headers.get("content-type", "").startswith(("application/json", "application/problem"))
            else resp
        )

    def wait_job(self, key: str, job_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job: dict[str, Any] = self.call("GET", f"/v1/generations/{job_id}", key, expect=200)
            if job["state"] not in ("queued", "running"):
                return job
            time.sleep(0.3)
        raise RuntimeError(f"generation {job_id} did not finish in {timeout:g}s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _logo() -> bytes:
    """The rights holder's reference: a drawn emblem, saved as PNG."""
    img = Image.new("RGB", (400, 400), (20, 30, 90))
    draw = ImageDraw.Draw(img)
    draw.ellipse((60, 60, 340, 340), fill=(250, 200, 40))
    draw.polygon(
        [
            (200, 90),
            (240, 190),
            (330, 200),
            (260, 260),
            (280, 340),
            (200, 290),
            (120, 340),
            (140, 260),
            (70, 200),
            (160, 190),
        ],
        fill=(200, 30, 40),
    )
    draw.rectangle((150, 180, 250, 220), fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _jpeg(path: Path) -> bytes:
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def run_demo(settings: Settings) -> int:
    admin_url = database_url(settings)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DEMO_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DEMO_DB}"')
    var = settings.var_dir / "demo"
    shutil.rmtree(var, ignore_errors=True)
    demo_settings = settings.model_copy(
        update={"database_url": make_conninfo(admin_url, dbname=DEMO_DB), "var_dir": var}
    )
    print(
        "cameogate demo: starting the service (migrations, models, indexes, signing identity)...", flush=True
    )
    ctx = build_context(demo_settings)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(demo_settings, ctx), host="127.0.0.1", port=port, log_config=None, log_level="warning"
        )
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    stop = threading.Event()
    deps = pipeline_deps(ctx)
    worker = Worker(pool=ctx.pool, run=lambda job, control: run_job(deps, job, control), heartbeat_seconds=1)
    working = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    working.start()
    try:
        while not server.started:
            time.sleep(0.05)
        demo = Demo(f"http://127.0.0.1:{port}")
        _story(demo, demo_settings, ctx.readiness)
        print("\nsummary")
        for what, outcome in demo.lines:
            print(f"  - {what}: {outcome}")
        print(f"  total {time.monotonic() - demo.started:.1f}s")
        return 0
    finally:
        stop.set()
        server.should_exit = True
        working.join(30)
        serving.join(30)
        stop_domains(ctx)
        ctx.pool.close()


def _story(demo: Demo, settings: Settings, readiness: dict[str, Callable[[], str | None]]) -> None:
    assert settings.database_url
    with connect(settings.database_url) as conn:
        admin, _ = auth.create_key(conn, role="admin", label="demo admin")
    deadline = time.monotonic() + 120
    while any(check() for check in readiness.values()) and time.monotonic() < deadline:
        time.sleep(0.2)

    def key(role: str, **extra: Any) -> str:
        return str(demo.call("POST", "/v1/keys", admin, expect=201, json={"role": role, **extra})["key"])

    platform, auditor = key("platform"), key("auditor")
    studio = key("rights_holder", organisation="Quasar Studios")
    alice = demo.call("POST", "/v1/subjects", admin, expect=201, json={"external_ref": "alice"})["id"]
    bob = demo.call("POST", "/v1/subjects", admin, expect=201, json={"external_ref": "bob"})["id"]
    alice_key = key("user", subject_id=alice)
    demo.step("keys", "admin, platform, auditor, rights holder (Quasar Studios), user key for alice")

    cameo = _enroll(demo, alice_key, settings)
    demo.call("PUT", f"/v1/cameos/{cameo}/permission", alice_key, expect=200, json={"permission": "approved"})
    demo.call("POST", f"/v1/cameos/{cameo}/approvals", alice_key, expect=201, json={"subject_id": bob})
    demo.step("permission", "alice allows approved people and approves bob")

    meta = {
        "title": "Captain Quasar",
        "names": ["Captain Quasar"],
        "keywords": ["quasar emblem"],
        "action": "block",
    }
    optout = demo.call(
        "POST",
        "/v1/optouts",
        studio,
        expect=201,
        data={"metadata": json.dumps(meta)},
        files=[("files", ("emblem.png", _logo(), "image/png"))],
    )
    demo.step("opt-out", f"Quasar Studios files 'Captain Quasar' (name + emblem), id {optout['id']}")
    time.sleep(1.0)  # every process sees it within a second (the index follower polls every 0.5 s)

    prompt = 'Shot 1: alice walks along a windy beach. Shot 2: she says "what a lovely day"'
    check = demo.call(
        "POST",
        "/v1/consent/check",
        platform,
        expect=200,
        json={"requester": bob, "cameo_ids": [cameo], "prompt": prompt},
    )
    token = check["token"]
    demo.step("consent check", f"bob may use alice's cameo: {check['allowed']}; token issued")
    job = demo.call(
        "POST",
        "/v1/generations",
        platform,
        expect=202,
        json={
            "requester": bob,
            "prompt": prompt,
            "cameo_ids": [cameo],
            "consent_token": token,
            "duration": 6,
            "seed": 7,
        },
    )
    done = demo.wait_job(platform, job["job_id"])
    stages = ", ".join(f"{s['stage']} {s['decision']}" for s in done["stages"])
    demo.step("generation 1", f"{done['state']} ({stages})")
    media = demo.call("GET", f"/v1/clips/{job['clip_id']}/media", platform, expect=200).content
    report = demo.call(
        "POST", "/v1/verify", auditor, expect=200, files={"file": ("clip.mp4", media, "video/mp4")}
    )
    demo.step("verify", f"{report['verdict']} / {report['validation_state']}: {report['summary']}")

    blocked_ip = demo.call(
        "POST",
        "/v1/generations",
        platform,
        expect=202,
        json={"requester": bob, "prompt": "Captain Quasar flies over the city", "duration": 2},
    )
    done = demo.wait_job(platform, blocked_ip["job_id"])
    demo.step("generation 2", f"{done['state']} at {done['stages'][-1]['stage']}: {done['error_detail']}")

    request = {"requester": bob, "prompt": "make this photo wave hello", "duration": 2}
    blocked_face = demo.call(
        "POST",
        "/v1/generations",
        platform,
        expect=202,
        data={"request": json.dumps(request)},
        files={"input": ("photo.jpg", _jpeg(DATA / "faces" / "biden" / "1.jpg"), "image/jpeg")},
    )
    done = demo.wait_job(platform, blocked_face["job_id"])
    demo.step("generation 3", f"{done['state']} at {done['stages'][-1]['stage']}: {done['error_detail']}")

    demo.call("DELETE", f"/v1/cameos/{cameo}/approvals/{bob}", alice_key, expect=200)
    again = demo.call(
        "POST",
        "/v1/consent/check",
        platform,
        expect=200,
        json={"requester": bob, "cameo_ids": [cameo], "prompt": prompt},
    )
    reasons = ", ".join(d["reason"] for d in again["decisions"])
    demo.step("revocation", f"alice removes bob; next check allowed={again['allowed']} ({reasons})")
    stale = demo.http.post(
        "/v1/generations",
        headers={"Authorization": f"Bearer {platform}"},
        json={
            "requester": bob,
            "prompt": prompt,
            "cameo_ids": [cameo],
            "consent_token": token,
            "duration": 2,
        },
    )
    demo.step("stale token", f"{stale.status_code} {stale.json()['code']}")

    demo.call(
        "POST",
        f"/v1/cameos/{cameo}/appearances/{job['clip_id']}/takedown",
        alice_key,
        expect=200,
        json={"note": "demo"},
    )
    report = demo.call(
        "POST", "/v1/verify", auditor, expect=200, files={"file": ("clip.mp4", media, "video/mp4")}
    )
    demo.step(
        "takedown", f"alice takes clip 1 down; verify now says {report['verdict']}: {report['summary']}"
    )


# The real video's one-person stretch and the head moves it really shows (measured with
# perception.pose at 4 fps; see tests/enrollment/media.py): the demo's capture is that stretch with
# its sound replaced by the challenge's digits read by a real speaker (FSDD "lucas").
STRETCH = (3.75, 7.95)
STRETCH_MOVES = ["left", "right", "left"]


def _spoken_digits(digits: str, speaker: str = "lucas") -> np.ndarray:
    import soundfile as sf
    from scipy.signal import resample_poly

    parts = [np.zeros(4000, np.float32)]
    for d in digits:
        pcm, rate = sf.read(DATA / "voices" / "digits" / speaker / f"{d}_2.wav", dtype="float32")
        pcm = resample_poly(pcm, 16, rate // 1000).astype(np.float32)
        parts += [0.8 * pcm / max(float(np.abs(pcm).max()), 1e-3), np.zeros(1920, np.float32)]
    return np.concatenate(parts)


def _capture(digits: str, workdir: Path) -> bytes:
    import subprocess

    import soundfile as sf

    wav, out = workdir / "digits.wav", workdir / "capture.mp4"
    sf.write(wav, _spoken_digits(digits), 16_000, subtype="PCM_16")
    start, end = STRETCH
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-ss",
            str(start),
            "-to",
            str(end),
            "-i",
            str(DATA / "video" / "short_hamilton_clip.mp4"),
            "-i",
            str(wav),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-af",
            "apad",
            "-shortest",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(out),
        ],
        check=True,
    )
    return out.read_bytes()


def _enroll(demo: Demo, user_key: str, settings: Settings) -> str:
    cameo = demo.call("POST", "/v1/cameos", user_key, expect=201)
    challenge = cameo["challenge"]
    # A person would turn their head as asked; the recorded video's moves are fixed, so the demo
    # sets its challenge to them (the digits stay the random ones the service chose).
    assert settings.database_url
    with connect(settings.database_url) as conn:
        conn.execute(
            "UPDATE enrollment_challenges SET moves = %s WHERE id = %s", (STRETCH_MOVES, challenge["id"])
        )
    data = _capture(challenge["digits"], settings.var_dir)
    result = demo.call(
        "POST",
        f"/v1/cameos/{cameo['id']}/capture",
        user_key,
        expect=200,
        files={"video": ("capture.mp4", data, "video/mp4")},
        data={"challenge_id": challenge["id"]},
    )
    checks = result["verification"]["checks"]
    failed = [c["code"] for c in checks if c["passed"] is False]
    passed = f"{len(checks) - len(failed)}/{len(checks)} checks passed"
    demo.step(
        "enrollment",
        f"alice's cameo from the real video, digits {challenge['digits']} read by a real voice: "
        f"{result['status']} ({passed}{'; failed ' + ', '.join(failed) if failed else ''})",
    )
    if result["status"] != "verified":
        raise RuntimeError("enrollment was not verified; the demo cannot go on")
    return str(cameo["id"])
