"""The provenance routes: auditor verification, hostile uploads, the public soft-binding resolution API."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gate.db import Conn
from gate.web import AppContext
from policies.service import ActivePolicy
from provenance import service
from provenance.lifecycle import signer as signer_of
from provenance.signing import ManifestSigner
from tests.conftest import KeyMaker
from tests.pg import one_row
from tests.provenance.conftest import Sign


@pytest.fixture
def app_signer(ctx: AppContext, signer: ManifestSigner) -> ManifestSigner:
    """The app verifies with the same signer the tests sign with."""
    ctx.services["signer"] = signer
    return signer


def test_an_auditor_verifies_an_upload_and_gets_a_report(
    client: TestClient, make_key: KeyMaker, sign: Sign, source_clip: Path, app_signer: ManifestSigner
) -> None:
    signed = sign(source_clip)
    r = client.post(
        "/v1/verify", headers=make_key("auditor"), files={"file": ("x.mp4", signed.path.read_bytes())}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] == "trusted" and body["validation_state"] == "Trusted"
    assert body["clip"]["id"] == str(signed.clip_id)


def test_a_platform_key_may_not_verify(client: TestClient, make_key: KeyMaker, source_clip: Path) -> None:
    r = client.post(
        "/v1/verify", headers=make_key("platform"), files={"file": ("x.mp4", source_clip.read_bytes())}
    )
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"", 422, "empty_upload"),
        (b"%PDF-1.7 not a video at all", 415, "unsupported_media"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 415, "not_a_video"),
        (b"\x00\x00\x00\x20ftypisom" + b"\x00" * 40, 415, "unsupported_media"),
    ],
)
def test_hostile_uploads_are_refused_with_a_stable_code(
    client: TestClient, make_key: KeyMaker, conn: Conn, payload: bytes, status: int, code: str
) -> None:
    r = client.post("/v1/verify", headers=make_key("auditor"), files={"file": ("x.mp4", payload)})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code
    assert one_row(conn.execute("SELECT count(*) AS n FROM provenance_manifests"))["n"] == 0


def test_a_truncated_video_is_a_4xx_not_a_500(
    client: TestClient, make_key: KeyMaker, sign: Sign, source_clip: Path, app_signer: ManifestSigner
) -> None:
    data = sign(source_clip).path.read_bytes()
    for cut in (100, 3000, len(data) // 2):
        r = client.post("/v1/verify", headers=make_key("auditor"), files={"file": ("x.mp4", data[:cut])})
        assert 400 <= r.status_code < 500, (cut, r.text)
        assert r.json()["code"]


def test_an_oversized_upload_is_413(
    client: TestClient, make_key: KeyMaker, ctx: AppContext, source_clip: Path
) -> None:
    current = ctx.policies.current
    small = current.policy.model_copy(
        update={"provenance": current.policy.provenance.model_copy(update={"verify_max_bytes": 1000})}
    )
    ctx.policies.replace(ActivePolicy(policy=small, sha256=current.sha256, source=current.source))
    r = client.post(
        "/v1/verify", headers=make_key("auditor"), files={"file": ("x.mp4", source_clip.read_bytes())}
    )
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"


def test_supported_algorithms_are_public(client: TestClient) -> None:
    r = client.get("/v1/c2pa/services/supportedAlgorithms")
    assert r.status_code == 200
    assert r.json()["watermarks"] == [{"alg": service.WATERMARK_ALG}]


def test_a_watermark_binding_resolves_to_the_published_manifest(
    client: TestClient, sign: Sign, source_clip: Path, app_signer: ManifestSigner
) -> None:
    signed = sign(source_clip)
    value = base64.b64encode(signed.watermark_payload.to_bytes(4, "big")).decode()
    r = client.post("/v1/c2pa/matches/byBinding", json={"alg": service.WATERMARK_ALG, "value": value})
    assert r.status_code == 200, r.text
    assert r.json()["matches"] == [{"manifestId": signed.manifest_id, "similarityScore": None}]
    got = client.get(f"/v1/c2pa/manifests/{signed.manifest_id}")
    assert got.status_code == 200 and got.headers["content-type"] == "application/c2pa"
    assert b"c2pa" in got.content[:64]
    as_json = client.get(f"/v1/c2pa/manifests/{signed.manifest_id}", params={"accept": "json"})
    assert as_json.json()["label"] == signed.manifest_id


def test_a_fingerprint_binding_resolves_to_the_clip(
    client: TestClient, conn: Conn, sign: Sign, source_clip: Path, app_signer: ManifestSigner
) -> None:
    signed = sign(source_clip)
    hashes = one_row(
        conn.execute(
            "SELECT hashes FROM provenance_fingerprints WHERE clip_id = %(id)s", {"id": signed.clip_id}
        )
    )["hashes"]
    value = base64.b64encode(bytes(hashes)).decode()
    r = client.get(
        "/v1/c2pa/matches/byBinding", params={"alg": "org.cameogate.pdq-frames.v1", "value": value}
    )
    assert r.status_code == 200, r.text
    assert [m["manifestId"] for m in r.json()["matches"]] == [signed.manifest_id]


def test_draft_clips_do_not_resolve_and_removed_clips_are_a_tombstone(
    client: TestClient, conn: Conn, sign: Sign, source_clip: Path, app_signer: ManifestSigner
) -> None:
    draft = sign(source_clip, status="draft")
    value = base64.b64encode(draft.watermark_payload.to_bytes(4, "big")).decode()
    r = client.post("/v1/c2pa/matches/byBinding", json={"alg": service.WATERMARK_ALG, "value": value})
    assert r.json()["matches"] == []
    assert client.get(f"/v1/c2pa/manifests/{draft.manifest_id}").status_code == 404
    conn.execute(
        "UPDATE clips SET status = 'removed', removal_reason = 'takedown' WHERE id = %(id)s",
        {"id": draft.clip_id},
    )
    conn.commit()
    gone = client.get(f"/v1/c2pa/manifests/{draft.manifest_id}")
    assert gone.status_code == 410, gone.text
    assert gone.json()["code"] == "clip_removed"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"alg": "com.example.other", "value": "AAAA"}, 400, "unsupported_algorithm"),
        ({"alg": service.WATERMARK_ALG, "value": "not base64!"}, 422, "invalid_binding_value"),
        ({"alg": service.WATERMARK_ALG, "value": "AAAAAAAA"}, 422, "invalid_binding_value"),
        ({"alg": service.WATERMARK_ALG, "value": "AAAA", "extra": 1}, 422, "validation_failed"),
    ],
)
def test_bad_binding_queries_are_4xx(client: TestClient, body: dict, status: int, code: str) -> None:
    r = client.post("/v1/c2pa/matches/byBinding", json=body)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code


def test_the_app_creates_a_dev_signer_when_none_is_configured(ctx: AppContext) -> None:
    s = signer_of(ctx)
    assert s is signer_of(ctx)
    assert (ctx.settings.var_dir / "provenance" / "signer.key").stat().st_mode & 0o077 == 0
    assert "PRIVATE KEY" not in repr(s)
