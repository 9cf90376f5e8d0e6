"""Fixtures for provenance tests: small synthetic clips, a real-video segment, a signer, signing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from gate.db import Conn
from gate.media import ContentStore
from gate.settings import Settings
from policies.service import ActivePolicy, load_file
from provenance import service
from provenance.signing import ManifestSigner, create_chain
from tests.conftest import SHARED_DATA
from tests.provenance.media import ffmpeg, make_clip


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prov-media")


@pytest.fixture(scope="session")
def source_clip(media_dir: Path) -> Path:
    return make_clip(media_dir / "source.mp4", seed=1)


@pytest.fixture(scope="session")
def other_clip(media_dir: Path) -> Path:
    return make_clip(media_dir / "other.mp4", seed=2, tone=660.0)


@pytest.fixture(scope="session")
def real_segment(media_dir: Path) -> Path:
    """Two seconds of the real video (640x360, H.264 + AAC)."""
    out = media_dir / "hamilton_2s.mp4"
    ffmpeg(
        "-ss",
        "2",
        "-t",
        "2",
        "-i",
        str(SHARED_DATA / "video" / "short_hamilton_clip.mp4"),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "18",
        "-c:a",
        "aac",
        str(out),
    )
    return out


def _signer() -> ManifestSigner:
    identity, root = create_chain()
    return ManifestSigner(identity, [root], watermark_key=b"w" * 32, pseudonym_key=b"p" * 32)


@pytest.fixture(scope="session")
def signer() -> ManifestSigner:
    return _signer()


@pytest.fixture(scope="session")
def foreign_signer() -> ManifestSigner:
    """Another valid chain (its own root), unknown to `signer`."""
    return _signer()


@pytest.fixture
def policy(settings: Settings) -> ActivePolicy:
    return load_file(settings.policy_file)


@pytest.fixture
def content(settings: Settings) -> ContentStore:
    return ContentStore(settings.media_dir)


def new_clip(conn: Conn, status: str = "published") -> uuid.UUID:
    clip_id = uuid.uuid4()
    conn.execute("INSERT INTO clips (id, status) VALUES (%(id)s, %(s)s)", {"id": clip_id, "s": status})
    return clip_id


Sign = Callable[..., service.SignedClip]


@pytest.fixture
def sign(
    conn: Conn, signer: ManifestSigner, content: ContentStore, policy: ActivePolicy, tmp_path: Path
) -> Sign:
    def _sign(
        source: Path, *, status: str = "published", signer_: ManifestSigner | None = None, **kw: object
    ):
        clip_id = new_clip(conn, status)
        args = dict(
            creator_handle="alice",
            scan_digest="ab" * 32,
            coowner_ids=[],
            features_cameos=False,
            remix_of=None,
        )
        args.update(kw)
        signed = service.sign_clip(
            conn,
            signer=signer_ or signer,
            store=content,
            policy=policy,
            clip_id=clip_id,
            source=source,
            dest=tmp_path / f"signed-{clip_id}.mp4",
            **args,  # type: ignore[arg-type]
        )
        conn.commit()  # visible to the app's own connections
        return signed

    return _sign
