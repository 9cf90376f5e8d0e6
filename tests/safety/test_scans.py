"""Prompt and media scans: each signal, decisions under the policy, withdraw/suspend taking effect,
likeness with consent coverage, hostile media."""

from __future__ import annotations

import io
import uuid

import av
import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient

from consent import templates
from eval.art import logo, paste, scene
from gate import auth
from gate.db import Conn
from gate.web import AppContext
from perception.fakes import FakeFaceDetector, FakeFaceEmbedder
from policies import protected
from safety import service
from safety.lifecycle import indexes
from tests.conftest import KeyMaker
from tests.safety.conftest import FileOptOut, jpeg, png


def _scan(client: TestClient, headers: dict[str, str], data: bytes, **form: str) -> dict:
    r = client.post("/v1/scan/media", headers=headers, files={"file": ("x", data)}, data=form or None)
    assert r.status_code == 200, r.text
    return r.json()


def test_prompt_scan_catches_names_through_leetspeak_spacing_and_typos(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut
) -> None:
    oid = file_optout(make_key("rights_holder"), names=["SpongeBob SquarePants"]).json()["id"]
    platform = make_key("platform")
    for prompt in ["spongebob squarepants dancing", "Sp0nge-B0b Square Pants at sea", "spongebob sqarepants"]:
        body = sclient.post("/v1/scan/prompt", headers=platform, json={"prompt": prompt}).json()
        assert body["decision"] == "block", prompt
        assert body["matches"][0]["optout_id"] == oid and body["matches"][0]["signal"] == "name"
        assert body["policy_version"]
    body = sclient.post(
        "/v1/scan/prompt", headers=platform, json={"prompt": "a sponge on a square plate"}
    ).json()
    assert body["decision"] == "allow" and body["matches"] == []


def test_keywords_flag_and_descriptions_match_semantically(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut
) -> None:
    rh = make_key("rights_holder")
    file_optout(
        rh, title="Robo", keywords=["laser falcon"], description="a silver robot falcon with laser wings"
    )
    platform = make_key("platform")
    body = sclient.post("/v1/scan/prompt", headers=platform, json={"prompt": "my laser falcon toy"}).json()
    assert body["decision"] == "flag"
    assert {m["signal"] for m in body["matches"]} >= {"keyword"}
    # FakeText embeds bags of words: the description's words make it similar.
    body = sclient.post(
        "/v1/scan/prompt", headers=platform, json={"prompt": "silver robot falcon with laser wings flying"}
    ).json()
    assert "description" in {m["signal"] for m in body["matches"]}
    assert body["decision"] == "block"


def test_media_scan_finds_a_reference_pasted_into_a_scene_with_its_region(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut, conn: Conn
) -> None:
    oid = file_optout(make_key("rights_holder"), [png(logo(7))], title="Logo").json()["id"]
    platform = make_key("platform")
    frame = paste(scene(1), logo(7), 0.15, seed=3)
    body = _scan(sclient, platform, jpeg(frame, 60))
    assert body["decision"] == "block"
    sift = [m for m in body["matches"] if m["signal"] == "sift"]
    assert sift and sift[0]["optout_id"] == oid and sift[0]["score"] >= sift[0]["threshold"]
    x0, y0, x1, y1 = sift[0]["region"]
    assert 0 < (x1 - x0) * (y1 - y0) < frame.shape[0] * frame.shape[1] * 0.4
    assert _scan(sclient, platform, jpeg(scene(2)))["decision"] == "allow"
    counts = sclient.get(f"/v1/optouts/{oid}", headers=make_key("admin")).json()["matches"]
    assert counts.get("sift") == 1


def test_pdq_matches_a_flipped_near_exact_copy(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut
) -> None:
    ref = logo(11)
    oid = file_optout(make_key("rights_holder"), [png(ref)]).json()["id"]
    body = _scan(sclient, make_key("platform"), jpeg(np.ascontiguousarray(ref[:, ::-1]), 50))
    pdq = [m for m in body["matches"] if m["signal"] == "pdq"]
    assert pdq and pdq[0]["optout_id"] == oid


def test_withdrawn_and_suspended_opt_outs_stop_matching(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut
) -> None:
    rh, platform, admin = make_key("rights_holder"), make_key("platform"), make_key("admin")
    a = file_optout(rh, [png(logo(21))], names=["Alpha Kid"]).json()["id"]
    b = file_optout(rh, [png(logo(22))], names=["Beta Kid"]).json()["id"]
    assert _scan(sclient, platform, png(logo(21)))["decision"] == "block"
    sclient.post(f"/v1/optouts/{a}/withdraw", headers=rh)
    sclient.post(f"/v1/optouts/{b}/suspend", headers=admin, json={"reason": "invalid reference"})
    app = sclient.app
    assert isinstance(app, FastAPI)
    holder = indexes(app.state.ctx)
    import time

    deadline = time.time() + 5
    while (holder.live(uuid.UUID(a)) or holder.live(uuid.UUID(b))) and time.time() < deadline:
        time.sleep(0.05)
    assert _scan(sclient, platform, png(logo(21)))["decision"] == "allow"
    assert _scan(sclient, platform, png(logo(22)))["decision"] == "allow"
    body = sclient.post("/v1/scan/prompt", headers=platform, json={"prompt": "alpha kid and beta kid"}).json()
    assert body["decision"] == "allow"


def _video(frames: list[np.ndarray], fps: int = 4) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def test_video_scan_samples_each_second_and_reports_the_frame_time(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut
) -> None:
    oid = file_optout(make_key("rights_holder"), [png(logo(31))]).json()["id"]
    bg = scene(5, 320, 240)
    # 3 s at 4 fps; the logo appears from t = 2.0 s (a scene change).
    frames = [bg] * 8 + [paste(scene(6, 320, 240), logo(31), 0.2, seed=1)] * 4
    body = _scan(sclient, make_key("platform"), _video(frames))
    assert body["frames_scanned"] >= 3
    hit = [m for m in body["matches"] if m["optout_id"] == oid]
    assert hit and hit[0]["frame_time"] >= 1.9
    assert body["decision"] == "block"


def test_a_shot_shorter_than_the_sampling_interval_is_scanned_at_its_scene_change(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut
) -> None:
    oid = file_optout(make_key("rights_holder"), [png(logo(32))]).json()["id"]
    bg = scene(7, 320, 240)
    # 3 s at 4 fps, sampled once a second: the logo is on screen for one frame only, at t = 1.25 s.
    frames = [bg] * 5 + [paste(scene(8, 320, 240), logo(32), 0.2, seed=2)] + [bg] * 6
    body = _scan(sclient, make_key("platform"), _video(frames))
    hit = [m for m in body["matches"] if m["optout_id"] == oid]
    assert hit and abs(hit[0]["frame_time"] - 1.25) < 0.01, body
    assert body["decision"] == "block"


def test_hostile_scan_uploads_are_4xx_problems(sclient: TestClient, make_key: KeyMaker) -> None:
    platform = make_key("platform")
    good = png(logo(1))
    for data in [b"", b"hello world, not media", good[:100], b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 50]:
        r = sclient.post("/v1/scan/media", headers=platform, files={"file": ("x", data)})
        assert 400 <= r.status_code < 500, r.status_code
        assert r.headers["content-type"].startswith("application/problem+json")
    r = sclient.post("/v1/scan/prompt", headers=platform, json={"prompt": "x", "extra": 1})
    assert r.status_code == 422


def _verified_cameo(conn: Conn, ctx: AppContext, rgb: np.ndarray) -> tuple[uuid.UUID, uuid.UUID]:
    owner = auth.ensure_subject(conn)
    cameo = uuid.uuid4()
    conn.execute("INSERT INTO cameos (id, owner_id, status) VALUES (%s, %s, 'verified')", (cameo, owner))
    faces = FakeFaceDetector().detect(rgb)
    templates.store(
        conn, ctx.settings.keyring(), owner_kind="cameo", owner_ref=cameo, kind="face",
        model_id=FakeFaceEmbedder.model_id, array=FakeFaceEmbedder().embed(rgb, faces),
    )  # fmt: skip
    conn.commit()
    return cameo, owner


def test_media_scan_reports_cameo_likeness_and_whether_consent_covers_it(
    sclient: TestClient, make_key: KeyMaker, conn: Conn, safety_ctx: AppContext
) -> None:
    face = scene(40, 300, 300)
    cameo, _ = _verified_cameo(conn, safety_ctx, face)
    body = _scan(sclient, make_key("platform"), png(face))
    assert [x["owner_ref"] for x in body["likeness"]] == [str(cameo)]
    assert body["likeness"][0]["covered"] is False and body["decision"] == "block"
    # The contract generation calls: consent resolved to a set of covered cameo ids.
    holder = indexes(safety_ctx)
    scan = service.scan_media(
        conn, policy=safety_ctx.policies.current, models=safety_ctx.services["models"], indexes=holder,
        keyring=safety_ctx.settings.keyring(), frames=[(0.0, face)], audio=None, consented_cameo_ids={cameo},
    )  # fmt: skip
    assert scan.likeness[0].covered is True and scan.decision == "allow"
    assert scan.to_dict()["likeness"][0]["covered"] is True


def test_a_face_that_appears_only_at_the_end_of_a_video_is_still_checked(
    conn: Conn, safety_ctx: AppContext
) -> None:
    face = scene(43, 300, 300)
    cameo, _ = _verified_cameo(conn, safety_ctx, face)
    blank = np.full((300, 300, 3), 90, np.uint8)
    limit = safety_ctx.policies.current.policy.safety.likeness_max_frames
    frames = [(float(t), blank) for t in range(limit + 2)] + [(float(limit + 2), face)]
    scan = service.scan_media(
        conn, policy=safety_ctx.policies.current, models=safety_ctx.services["models"],
        indexes=indexes(safety_ctx), keyring=safety_ctx.settings.keyring(), frames=frames, audio=None,
        consented_cameo_ids=set(),
    )  # fmt: skip
    assert [x.owner_ref for x in scan.likeness] == [cameo] and scan.decision == "block"


def test_a_consent_token_needs_its_requester(sclient: TestClient, make_key: KeyMaker) -> None:
    r = sclient.post(
        "/v1/scan/media", headers=make_key("platform"), files={"file": ("x", png(logo(2)))},
        data={"consent_token": "abc"},
    )  # fmt: skip
    assert r.status_code == 422 and r.json()["code"] == "requester_required"


def test_the_callers_consent_token_covers_its_cameos(
    sclient: TestClient, make_key: KeyMaker, conn: Conn, safety_ctx: AppContext
) -> None:
    face = scene(41, 300, 300)
    cameo, owner = _verified_cameo(conn, safety_ctx, face)
    platform = make_key("platform")
    check = sclient.post(
        "/v1/consent/check",
        json={"requester": str(owner), "cameo_ids": [str(cameo)], "prompt": "a walk"},
        headers=platform,
    )
    assert check.status_code == 200 and check.json()["allowed"], check.text
    body = _scan(sclient, platform, png(face), consent_token=check.json()["token"], requester=str(owner))
    assert body["likeness"][0]["covered"] is True and body["decision"] == "allow"
    forged = sclient.post(
        "/v1/scan/media", headers=platform, files={"file": ("f.png", png(face), "image/png")},
        data={"consent_token": "forged", "requester": str(owner)},
    )  # fmt: skip
    assert forged.status_code == 200 and forged.json()["likeness"][0]["covered"] is False
    assert forged.json()["decision"] == "block"
    # A revocation after the token was issued uncovers the cameo at once.
    conn.execute("UPDATE cameos SET consent_epoch = consent_epoch + 1 WHERE id = %s", (cameo,))
    conn.commit()
    body = _scan(sclient, platform, png(face), consent_token=check.json()["token"], requester=str(owner))
    assert body["likeness"][0]["covered"] is False and body["decision"] == "block"


def test_a_protected_person_is_covered_only_through_their_own_consented_cameo(
    conn: Conn, safety_ctx: AppContext
) -> None:
    face = scene(42, 300, 300)
    subject = auth.ensure_subject(conn)
    person = protected.create(
        conn,
        policy=safety_ctx.policies.current,
        actor="test",
        name="Famous Person",
        aliases=[],
        subject_id=subject,
    )
    vectors = FakeFaceEmbedder().embed(face, FakeFaceDetector().detect(face))
    templates.store(
        conn, safety_ctx.settings.keyring(), owner_kind="protected_person", owner_ref=person.id, kind="face",
        model_id=FakeFaceEmbedder.model_id, array=vectors,
    )  # fmt: skip
    own_cameo = uuid.uuid4()
    conn.execute(
        "INSERT INTO cameos (id, owner_id, status) VALUES (%s, %s, 'verified')", (own_cameo, subject)
    )
    conn.commit()

    def scan(consented: set[uuid.UUID]) -> service.MediaScan:
        return service.scan_media(
            conn, policy=safety_ctx.policies.current, models=safety_ctx.services["models"],
            indexes=indexes(safety_ctx), keyring=safety_ctx.settings.keyring(), frames=[(0.0, face)],
            audio=None, consented_cameo_ids=consented,
        )  # fmt: skip

    assert [(x.owner_kind, x.covered) for x in scan(set()).likeness] == [("protected_person", False)]
    assert [(x.owner_kind, x.covered) for x in scan({uuid.uuid4()}).likeness] == [("protected_person", False)]
    own = scan({own_cameo})
    assert [(x.owner_kind, x.covered) for x in own.likeness] == [("protected_person", True)]
    assert own.decision == "allow"


def test_a_reference_video_is_sampled_into_frames_that_match(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut
) -> None:
    shots = [paste(scene(70, 320, 240), logo(72), 0.3, seed=2)] * 12  # 3 s at 4 fps
    r = file_optout(make_key("rights_holder"), [_video(shots)], title="Trailer")
    assert r.status_code == 201, r.text
    assert r.json()["references"] == 3  # reference_video_fps = 1
    # A re-encoded, cropped copy of the trailer's picture.
    body = _scan(sclient, make_key("platform"), jpeg(np.ascontiguousarray(shots[0][20:220, 10:300]), 40))
    assert {m["optout_id"] for m in body["matches"]} == {r.json()["id"]}
    assert body["decision"] == "block"
