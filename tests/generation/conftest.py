"""End-to-end fixtures: a fully started process context (real models, indexes, signer, policy
listener), verified cameos built from real photos, and consent tokens from the real check."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from consent import templates
from gate import auth
from gate.app import create_app
from gate.db import connect
from gate.settings import Settings
from gate.startup import start_domains, stop_domains
from gate.web import AppContext
from generation.lifecycle import pipeline_deps
from generation.pipeline import Deps, run_job
from generation.worker import Worker
from perception.faces import crop_face
from perception.registry import Models
from tests.conftest import SHARED_DATA, KeyMaker


@pytest.fixture
def gate_ctx(ctx: AppContext, real_models: Models) -> Iterator[AppContext]:
    ctx.services["models"] = real_models
    start_domains(ctx)
    yield ctx
    stop_domains(ctx)


@pytest.fixture
def api(settings: Settings, gate_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(settings, gate_ctx), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def deps(gate_ctx: AppContext) -> Deps:
    return pipeline_deps(gate_ctx)


@pytest.fixture
def work(gate_ctx: AppContext, deps: Deps) -> Callable[[], object]:
    """Run one queued job through the real pipeline in this process."""
    worker = Worker(
        pool=gate_ctx.pool, run=lambda job, control: run_job(deps, job, control), heartbeat_seconds=0.5
    )
    return worker.run_once


@dataclass
class Person:
    subject_id: uuid.UUID
    headers: dict[str, str]
    cameo_id: uuid.UUID | None = None


def photo(rel: str) -> np.ndarray:
    return np.asarray(Image.open(SHARED_DATA / "faces" / rel).convert("RGB"))


@pytest.fixture
def enrolled(
    db_url: str, settings: Settings, real_models: Models, make_key: KeyMaker
) -> Callable[..., Person]:
    """A person with a user key and a verified cameo whose templates come from a real photo
    (enrollment's capture flow is tested on its own in tests/enrollment)."""

    def _make(photo_rel: str, *, permission: str = "only_me") -> Person:
        headers = make_key("user")
        subject = uuid.UUID(headers["X-Test-Subject"])
        img = photo(photo_rel)
        face = real_models.face_detector.detect(img)[0]
        emb = real_models.face_embedder.embed(img, [face])
        cameo = uuid.uuid4()
        ring = settings.keyring()
        with connect(db_url) as conn:
            conn.execute(
                "INSERT INTO cameos (id, owner_id, status, permission, verified_at)"
                " VALUES (%s, %s, 'verified', %s, now())",
                (cameo, subject, permission),
            )
            model = real_models.face_embedder.model_id
            templates.store(
                conn, ring, owner_kind="cameo", owner_ref=cameo, kind="face", model_id=model, array=emb
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
        return Person(subject, headers, cameo)

    return _make


@pytest.fixture
def requester(make_key: KeyMaker) -> Person:
    headers = make_key("user")
    return Person(uuid.UUID(headers["X-Test-Subject"]), headers)


@pytest.fixture
def platform(make_key: KeyMaker) -> dict[str, str]:
    return make_key("platform")


def consent_token(
    api: TestClient, platform: dict[str, str], requester: uuid.UUID, cameos: list[uuid.UUID], prompt: str
) -> str:
    resp = api.post(
        "/v1/consent/check",
        json={"requester": str(requester), "cameo_ids": [str(c) for c in cameos], "prompt": prompt},
        headers=platform,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["allowed"], body
    return str(body["token"])


def make_key_for(db_url: str, role: str) -> dict[str, str]:
    with connect(db_url) as c:
        full, _ = auth.create_key(c, role=role)
    return {"Authorization": f"Bearer {full}"}
