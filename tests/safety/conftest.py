"""Safety fixtures: the app with fake text/face/voice models, stopped cleanly (follower thread
and snapshot) after each test, and procedural reference images."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from gate.app import create_app
from gate.settings import Settings
from gate.web import AppContext
from perception.fakes import FakeFaceDetector, FakeFaceEmbedder, FakeText, FakeVoice
from perception.registry import Models
from safety import lifecycle


def png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture
def safety_models() -> Models:
    return Models(
        Settings(),
        text=FakeText(),
        face_detector=FakeFaceDetector(),
        face_embedder=FakeFaceEmbedder(),
        voice_embedder=FakeVoice(),
    )


@pytest.fixture
def safety_ctx(ctx: AppContext, safety_models: Models) -> Iterator[AppContext]:
    ctx.services["models"] = safety_models
    try:
        yield ctx
    finally:
        lifecycle.stop(ctx)


@pytest.fixture
def sclient(settings: Settings, safety_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(settings, safety_ctx), raise_server_exceptions=False) as c:
        yield c


FileOptOut = Callable[..., Any]


@pytest.fixture
def file_optout(sclient: TestClient) -> FileOptOut:
    """POST /v1/optouts as multipart: metadata JSON plus image files; returns the response."""

    def _file(headers: dict[str, str], images: list[bytes] | None = None, **meta: Any) -> Any:
        body = {"title": "Test character", **meta}
        files = [
            ("files", (f"ref{i}.png", data, "application/octet-stream"))
            for i, data in enumerate(images or [])
        ]
        return sclient.post(
            "/v1/optouts", headers=headers, data={"metadata": json.dumps(body)}, files=files or None
        )

    return _file
