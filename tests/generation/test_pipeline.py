"""The gate closes: every branch of the generation pipeline, end to end, on real models."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from gate.db import Conn
from gate.settings import Settings
from gate.web import AppContext
from provenance import service as provenance
from provenance.lifecycle import signer
from tests.conftest import KeyMaker
from tests.generation.conftest import Person, consent_token, photo

pytestmark = pytest.mark.slow

SMALL = {"duration": 2, "width": 320, "height": 240, "fps": 8}


def _submit(api: TestClient, platform: dict[str, str], **body: object) -> dict:
    payload = {**SMALL, **body}
    payload = {k: (str(v) if k in ("requester", "remix_of") else v) for k, v in payload.items()}
    if "cameo_ids" in payload:
        payload["cameo_ids"] = [str(c) for c in payload["cameo_ids"]]  # type: ignore[attr-defined]
    resp = api.post("/v1/generations", json=payload, headers=platform)
    assert resp.status_code == 202, resp.text
    return resp.json()


def _job(api: TestClient, platform: dict[str, str], job_id: str) -> dict:
    return api.get(f"/v1/generations/{job_id}", headers=platform).json()


def test_a_consented_generation_is_published_signed_and_trusted(
    api: TestClient, platform: dict[str, str], enrolled: Callable[..., Person], requester: Person,
    work: Callable[[], object], gate_ctx: AppContext, conn: Conn,
) -> None:  # fmt: skip
    alice = enrolled("obama/1.jpg", permission="everyone")
    assert alice.cameo_id is not None
    prompt = 'Shot 1: a walk on the beach. Shot 2: she says "what a day"'
    token = consent_token(api, platform, requester.subject_id, [alice.cameo_id], prompt)
    accepted = _submit(
        api,
        platform,
        requester=requester.subject_id,
        prompt=prompt,
        cameo_ids=[alice.cameo_id],
        consent_token=token,
        seed=5,
    )
    work()
    job = _job(api, platform, accepted["job_id"])
    assert job["state"] == "published", job
    stages = [s["stage"] for s in job["stages"]]
    assert stages == [
        "policy",
        "prompt_scan",
        "consent",
        "generate",
        "output_scan",
        "watermark_sign",
        "publish",
    ]
    assert all(s["decision"] == "pass" and s["policy_version"] for s in job["stages"])
    media = api.get(f"/v1/clips/{accepted['clip_id']}/media", headers=platform)
    assert media.status_code == 200 and media.headers["content-type"] == "video/mp4"
    report = provenance.verify_media(conn, signer=signer(gate_ctx), store=gate_ctx.store, data=media.content)
    assert (report.verdict, report.validation_state) == ("trusted", "Trusted")
    # The featured cameo's owner co-owns the clip and sees it among their appearances.
    seen = api.get(f"/v1/cameos/{alice.cameo_id}/appearances", headers=alice.headers).json()
    assert [a["clip_id"] for a in seen] == [accepted["clip_id"]]


def _file_quasar(api: TestClient, make_key: KeyMaker, **meta: object) -> None:
    """A rights holder's opt-out of "Captain Quasar", matchable once this returns."""
    holder = make_key("rights_holder", org="Quasar Studios")
    metadata = {"title": "Captain Quasar", "names": ["Captain Quasar"], "action": "block", **meta}
    filed = api.post("/v1/optouts", data={"metadata": json.dumps(metadata)}, headers=holder)
    assert filed.status_code == 201, filed.text
    time.sleep(1.0)  # the index follower polls every 0.5 s


def test_a_prompt_naming_an_opted_out_character_is_blocked(
    api: TestClient,
    platform: dict[str, str],
    requester: Person,
    make_key: KeyMaker,
    work: Callable[[], object],
) -> None:
    _file_quasar(api, make_key)
    accepted = _submit(api, platform, requester=requester.subject_id, prompt="Captain Quasar saves the day")
    work()
    job = _job(api, platform, accepted["job_id"])
    assert (job["state"], job["error_code"]) == ("blocked", "prompt_blocked")
    assert job["stages"][-1]["stage"] == "prompt_scan" and job["stages"][-1]["decision"] == "block"
    assert api.get(f"/v1/clips/{accepted['clip_id']}/media", headers=platform).status_code == 404


def test_an_optout_for_one_territory_blocks_generations_shown_there_only(
    api: TestClient,
    platform: dict[str, str],
    requester: Person,
    make_key: KeyMaker,
    work: Callable[[], object],
) -> None:
    """A generation says where its clip will be shown; the pipeline's scans apply the opt-outs of
    that territory (docs/SAFETY.md, territories)."""
    _file_quasar(api, make_key, territories=["FR"])

    def generate(**territory: str) -> dict:
        accepted = _submit(
            api, platform, requester=requester.subject_id, prompt="Captain Quasar saves the day", **territory
        )
        work()
        return _job(api, platform, accepted["job_id"])

    shown_in_france = generate(territory="fr")
    assert shown_in_france["territory"] == "FR"
    assert (shown_in_france["state"], shown_in_france["error_code"]) == ("blocked", "prompt_blocked")
    unsaid = generate()  # every opt-out applies
    assert (unsaid["state"], unsaid["error_code"]) == ("blocked", "prompt_blocked")
    shown_in_canada = generate(territory="CA")
    assert shown_in_canada["state"] == "published", shown_in_canada
    scan = next(s for s in shown_in_canada["stages"] if s["stage"] == "prompt_scan")
    assert scan["decision"] == "pass" and scan["details"]["matches"] == []

    bad = api.post(
        "/v1/generations",
        json={**SMALL, "requester": str(requester.subject_id), "prompt": "x", "territory": "Canada"},
        headers=platform,
    )
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed", bad.text


def test_an_input_image_of_a_person_without_consent_is_blocked(
    api: TestClient, platform: dict[str, str], requester: Person, work: Callable[[], object]
) -> None:
    buf = io.BytesIO()
    Image.fromarray(photo("biden/1.jpg")).save(buf, "JPEG")
    body = {"requester": str(requester.subject_id), "prompt": "animate this photo", **SMALL}

    files = {"input": ("p.jpg", buf.getvalue(), "image/jpeg")}
    resp = api.post("/v1/generations", data={"request": json.dumps(body)}, files=files, headers=platform)
    assert resp.status_code == 202, resp.text
    work()
    job = _job(api, platform, resp.json()["job_id"])
    assert job["state"] == "blocked" and job["error_code"] == "input_person_without_consent", job


def test_revoking_consent_while_a_job_runs_cancels_it(
    api: TestClient, platform: dict[str, str], enrolled: Callable[..., Person], requester: Person,
    work: Callable[[], object], conn: Conn,
) -> None:  # fmt: skip
    alice = enrolled("obama/2.jpg", permission="everyone")
    assert alice.cameo_id is not None
    prompt = "a long walk"
    token = consent_token(api, platform, requester.subject_id, [alice.cameo_id], prompt)
    accepted = _submit(
        api, platform, requester=requester.subject_id, prompt=prompt, cameo_ids=[alice.cameo_id],
        consent_token=token, duration=6, width=640, height=360, fps=12,
    )  # fmt: skip
    runner = threading.Thread(target=work)
    runner.start()
    deadline = time.monotonic() + 60
    while (
        _job(api, platform, accepted["job_id"])["stage"] not in ("generate", "output_scan")
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    revoked = api.post(f"/v1/cameos/{alice.cameo_id}/revoke", headers=alice.headers)
    assert revoked.status_code == 200, revoked.text
    runner.join(120)
    job = _job(api, platform, accepted["job_id"])
    assert job["state"] == "cancelled" and job["error_code"] == "consent_revoked", job
    assert api.get(f"/v1/clips/{accepted['clip_id']}/media", headers=platform).status_code == 404
    # The next attempt with the old token is refused before anything is queued.
    again = api.post(
        "/v1/generations",
        json={
            "requester": str(requester.subject_id),
            "prompt": prompt,
            "cameo_ids": [str(alice.cameo_id)],
            "consent_token": token,
            **SMALL,
        },
        headers=platform,
    )
    assert again.status_code == 403 and again.json()["code"] == "consent_revoked"


def test_bad_requests_are_refused_before_anything_is_queued(
    api: TestClient, platform: dict[str, str], enrolled: Callable[..., Person], requester: Person, conn: Conn
) -> None:
    alice = enrolled("obama/3.jpg", permission="everyone")
    base = {"requester": str(requester.subject_id), "prompt": "a walk", **SMALL}
    cases = [
        ({**base, "duration": 999}, 422, "duration_over_limit"),
        ({**base, "cameo_ids": [str(alice.cameo_id)]}, 403, "consent_token_missing"),
        ({**base, "cameo_ids": [str(alice.cameo_id)], "consent_token": "forged.token"}, 403, "token_invalid"),
        ({**base, "width": 99999}, 422, "validation_failed"),
        ({**base, "remix_of": "00000000-0000-0000-0000-000000000000"}, 404, "remix_source_not_found"),
    ]
    for body, status, code in cases:
        resp = api.post("/v1/generations", json=body, headers=platform)
        assert (resp.status_code, resp.json()["code"]) == (status, code), (body, resp.text)

    for data, code in [
        (b"not media at all", "unsupported_media"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 50, "corrupt_media"),
    ]:
        resp = api.post(
            "/v1/generations",
            data={"request": json.dumps(base)},
            files={"input": ("x.jpg", data, "image/jpeg")},
            headers=platform,
        )
        assert resp.status_code in (415, 422) and resp.json()["code"] in (code, "unsupported_media"), (
            resp.text
        )
    bad_json = api.post(
        "/v1/generations", content=b"{nope", headers={**platform, "content-type": "application/json"}
    )
    assert bad_json.status_code == 422
    assert conn.execute("SELECT count(*) AS n FROM generation_jobs").fetchone() == {"n": 0}


def test_cancelling_a_queued_job_means_no_clip(
    api: TestClient, platform: dict[str, str], requester: Person, work: Callable[[], object]
) -> None:
    accepted = _submit(api, platform, requester=requester.subject_id, prompt="a quiet lake")
    assert api.delete(f"/v1/generations/{accepted['job_id']}", headers=platform).status_code == 204
    assert work() is None  # nothing left to run
    assert _job(api, platform, accepted["job_id"])["state"] == "cancelled"
    assert api.get(f"/v1/clips/{accepted['clip_id']}/media", headers=platform).status_code == 404
    assert (
        api.delete(f"/v1/generations/{accepted['job_id']}", headers=platform).json()["code"]
        == "generation_finished"
    )


def test_another_platform_cannot_see_or_cancel_a_job(
    api: TestClient, platform: dict[str, str], requester: Person, make_key: KeyMaker
) -> None:
    accepted = _submit(api, platform, requester=requester.subject_id, prompt="a quiet lake")
    other = make_key("platform")
    assert api.get(f"/v1/generations/{accepted['job_id']}", headers=other).status_code == 404
    assert api.delete(f"/v1/generations/{accepted['job_id']}", headers=other).status_code == 404


def test_a_remix_carries_its_co_owners_and_needs_their_consent_again(
    api: TestClient, platform: dict[str, str], enrolled: Callable[..., Person], requester: Person,
    work: Callable[[], object], gate_ctx: AppContext, conn: Conn, settings: Settings,
) -> None:  # fmt: skip
    alice = enrolled("obama/1.jpg", permission="everyone")
    assert alice.cameo_id is not None
    prompt = "a dance"
    token = consent_token(api, platform, requester.subject_id, [alice.cameo_id], prompt)
    source = _submit(
        api,
        platform,
        requester=requester.subject_id,
        prompt=prompt,
        cameo_ids=[alice.cameo_id],
        consent_token=token,
    )
    work()
    remix_prompt = "the same dance, at night"
    # Without a token covering the source's cameo, the remix is refused.
    refused = api.post(
        "/v1/generations",
        json={
            "requester": str(requester.subject_id),
            "prompt": remix_prompt,
            "remix_of": source["clip_id"],
            **SMALL,
        },
        headers=platform,
    )
    assert refused.status_code == 403 and refused.json()["code"] == "consent_token_missing"
    token2 = consent_token(api, platform, requester.subject_id, [alice.cameo_id], remix_prompt)
    remix = _submit(
        api,
        platform,
        requester=requester.subject_id,
        prompt=remix_prompt,
        remix_of=source["clip_id"],
        consent_token=token2,
    )
    work()
    assert _job(api, platform, remix["job_id"])["state"] == "published"
    owners = conn.execute(
        "SELECT cameo_id FROM clip_coowners WHERE clip_id = %s", (remix["clip_id"],)
    ).fetchall()
    assert [r["cameo_id"] for r in owners] == [alice.cameo_id]
    media = api.get(f"/v1/clips/{remix['clip_id']}/media", headers=platform).content
    report = provenance.verify_media(conn, signer=signer(gate_ctx), store=gate_ctx.store, data=media)
    assert report.validation_state == "Trusted"
    assert any(source["clip_id"] in line for line in report.assertions), report.assertions  # the ingredient


def test_deleting_a_cameo_cancels_queued_jobs_that_feature_it(
    api: TestClient, platform: dict[str, str], enrolled: Callable[..., Person], requester: Person
) -> None:
    alice = enrolled("obama/2.jpg", permission="everyone")
    assert alice.cameo_id is not None
    token = consent_token(api, platform, requester.subject_id, [alice.cameo_id], "a picnic")
    accepted = _submit(
        api,
        platform,
        requester=requester.subject_id,
        prompt="a picnic",
        cameo_ids=[alice.cameo_id],
        consent_token=token,
    )
    assert api.delete(f"/v1/cameos/{alice.cameo_id}", headers=alice.headers).status_code == 200
    job = _job(api, platform, accepted["job_id"])
    assert (job["state"], job["error_code"]) == ("cancelled", "consent_revoked")


def test_a_job_retried_after_signing_reuses_its_signature(
    api: TestClient, platform: dict[str, str], requester: Person, work: Callable[[], object], conn: Conn
) -> None:
    accepted = _submit(api, platform, requester=requester.subject_id, prompt="a slow river")
    work()
    first = api.get(f"/v1/clips/{accepted['clip_id']}/media", headers=platform).content
    # What a worker dying between signing and publishing leaves: a signed clip still a draft, the
    # job runnable again.
    conn.execute(
        "UPDATE clips SET status = 'draft', published_at = NULL WHERE id = %s", (accepted["clip_id"],)
    )
    conn.execute(
        "UPDATE generation_jobs SET state = 'queued', lease_owner = NULL WHERE id = %s", (accepted["job_id"],)
    )
    conn.commit()
    work()
    job = _job(api, platform, accepted["job_id"])
    assert job["state"] == "published" and job["attempts"] == 2
    signing = [s for s in job["stages"] if s["stage"] == "watermark_sign"]
    assert [s["details"]["reused_earlier_signature"] for s in signing] == [False, True]
    assert api.get(f"/v1/clips/{accepted['clip_id']}/media", headers=platform).content == first
