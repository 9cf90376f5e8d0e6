"""`cameogate sign` and `cameogate verify`: exit 0 only for a trusted clip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gate.cli import main


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path) -> None:
    monkeypatch.setenv("CAMEOGATE_DATABASE_URL", db_url)
    monkeypatch.setenv("CAMEOGATE_VAR_DIR", str(tmp_path / "var"))


def test_sign_then_verify_exits_zero_and_an_unsigned_file_exits_one(
    env: None, source_clip: Path, other_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "signed.mp4"
    assert main(["sign", str(source_clip), str(out), "--handle", "alice"]) == 0
    signed = json.loads(capsys.readouterr().out)
    assert signed["state"] == "Trusted"
    assert main(["verify", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "trusted" and report["clip"]["id"] == signed["clip_id"]
    assert main(["verify", str(other_clip)]) == 1
    assert "matches no clip" in capsys.readouterr().out


def test_verify_refuses_a_file_that_is_not_media(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video")
    assert main(["verify", str(junk)]) == 2
    assert "refused" in capsys.readouterr().err
