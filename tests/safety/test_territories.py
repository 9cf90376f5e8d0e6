"""Territories: an opt-out limited to some territories binds scans for those territories only; a
scan that does not say where its result will be shown is bound by every opt-out."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from eval.art import logo, paste, scene
from gate.settings import Settings
from perception.registry import Models
from safety import lifecycle
from tests.conftest import KeyMaker
from tests.safety.conftest import FileOptOut, jpeg, png


def _prompt(client: TestClient, headers: dict[str, str], prompt: str, territory: str | None = None) -> dict:
    body: dict[str, str] = {"prompt": prompt} | ({"territory": territory} if territory else {})
    r = client.post("/v1/scan/prompt", headers=headers, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_an_optout_limited_to_territories_binds_only_scans_there(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut
) -> None:
    rh, platform = make_key("rights_holder"), make_key("platform")
    filed = file_optout(rh, names=["Captain Quasar"], territories=["fr", "DE", "FR"])
    assert filed.status_code == 201, filed.text
    assert filed.json()["territories"] == ["DE", "FR"]  # upper case, once each
    prompt = "Captain Quasar saves the day"

    elsewhere = _prompt(sclient, platform, prompt, "US")
    assert elsewhere["decision"] == "allow" and elsewhere["matches"] == []
    for territory in ("FR", "de", None):  # none said: every opt-out applies
        scan = _prompt(sclient, platform, prompt, territory)
        assert scan["decision"] == "block" and scan["matches"][0]["optout_id"] == filed.json()["id"], (
            territory
        )
        assert scan["territory"] == (territory.upper() if territory else None)

    # An opt-out without territories applies everywhere.
    file_optout(rh, names=["Nebula Knight"])
    assert _prompt(sclient, platform, "Nebula Knight rides again", "US")["decision"] == "block"

    # The rights holder moves it to the US: the very next scans follow.
    r = sclient.patch(f"/v1/optouts/{filed.json()['id']}", headers=rh, json={"territories": ["us"]})
    assert r.status_code == 200 and r.json()["territories"] == ["US"], r.text
    assert _prompt(sclient, platform, prompt, "US")["decision"] == "block"
    assert _prompt(sclient, platform, prompt, "FR")["decision"] == "allow"


def test_media_scans_take_a_territory_too(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut
) -> None:
    filed = file_optout(make_key("rights_holder"), [png(logo(7))], title="Logo", territories=["JP"])
    assert filed.status_code == 201, filed.text
    platform = make_key("platform")
    frame = jpeg(paste(scene(1), logo(7), 0.15, seed=3), 60)

    def scan(**form: str) -> str:
        r = sclient.post("/v1/scan/media", headers=platform, files={"file": ("x", frame)}, data=form or None)
        assert r.status_code == 200, r.text
        return r.json()["decision"]

    assert scan(territory="jp") == "block" and scan() == "block"
    assert scan(territory="GB") == "allow"


def test_a_territory_is_an_assigned_country_code(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut
) -> None:
    rh, platform = make_key("rights_holder"), make_key("platform")
    for bad in ("USA", "U", "1A", "", "U S", "UK", "EU", "XX"):  # shapes, then unassigned codes
        r = sclient.post("/v1/scan/prompt", headers=platform, json={"prompt": "hello", "territory": bad})
        assert r.status_code == 422 and r.json()["code"] == "validation_failed", (bad, r.text)
        if bad:  # an empty form field is an absent one (FastAPI): a scan bound by every opt-out
            r = sclient.post(
                "/v1/scan/media",
                headers=platform,
                files={"file": ("x", jpeg(scene(2)))},
                data={"territory": bad},
            )
            assert r.status_code == 422 and r.json()["code"] == "validation_failed", (bad, r.text)
        r = file_optout(rh, names=["Someone"], territories=[bad])
        assert r.status_code == 422 and r.json()["code"] == "invalid_metadata", (bad, r.text)
    assert sclient.get("/v1/optouts", headers=rh).json() == []  # nothing was filed
    filed = file_optout(rh, names=["Someone"]).json()
    r = sclient.patch(f"/v1/optouts/{filed['id']}", headers=rh, json={"territories": ["France"]})
    assert r.status_code == 422, r.text
    assert sclient.get(f"/v1/optouts/{filed['id']}", headers=rh).json()["territories"] == []


def test_a_snapshot_keeps_each_optouts_territories(
    sclient: TestClient,
    make_key: KeyMaker,
    file_optout: FileOptOut,
    settings: Settings,
    safety_models: Models,
) -> None:
    oid = uuid.UUID(
        file_optout(make_key("rights_holder"), names=["Captain Quasar"], territories=["IT"]).json()["id"]
    )
    holder = lifecycle.open_indexes(settings, safety_models, url=settings.database_url)
    path = settings.var_dir / "snap.npz"
    holder.save(path)
    restored = lifecycle.new_indexes(safety_models)
    assert restored.load(path)
    found = restored.optout(oid)
    assert found is not None and found.territories == {"IT"}
    assert found.applies_in("IT") and found.applies_in(None) and not found.applies_in("ES")
