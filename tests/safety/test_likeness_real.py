"""Likeness in media scans with the real face and voice models: a verified cameo's face and voice
are found (covered only when consented), a protected person is never covered, strangers pass."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from consent import templates
from gate import auth
from gate.db import Conn
from gate.settings import Settings
from perception.registry import Models
from policies.service import load_file
from safety import lifecycle, service
from tests.conftest import SHARED_DATA

FACES = SHARED_DATA / "faces"
VOICES = sorted((SHARED_DATA / "voices" / "librispeech").glob("*/"))


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _pcm(path: Path) -> np.ndarray:
    data, _ = sf.read(path, dtype="float32")
    return np.asarray(data, np.float32)


def test_scan_finds_cameo_face_and_voice_and_protected_people_with_real_models(
    conn: Conn, settings: Settings, real_models: Models
) -> None:
    keyring = settings.keyring()
    detector, faces, voices = real_models.face_detector, real_models.face_embedder, real_models.voice_embedder
    owner = auth.ensure_subject(conn)
    cameo = uuid.uuid4()
    conn.execute("INSERT INTO cameos (id, owner_id, status) VALUES (%s, %s, 'verified')", (cameo, owner))
    obama = _rgb(FACES / "obama" / "1.jpg")
    templates.store(conn, keyring, owner_kind="cameo", owner_ref=cameo, kind="face", model_id=faces.model_id,
                    array=faces.embed(obama, detector.detect(obama)[:1]))  # fmt: skip
    speaker = sorted(VOICES[0].glob("*.flac"))
    templates.store(conn, keyring, owner_kind="cameo", owner_ref=cameo, kind="voice",
                    model_id=voices.model_id,
                    array=voices.embed(_pcm(speaker[0]))[None, :])  # fmt: skip
    protected = uuid.uuid4()
    biden = _rgb(FACES / "biden" / "1.jpg")
    biden_face = faces.embed(biden, detector.detect(biden)[:1])
    templates.store(conn, keyring, owner_kind="protected_person", owner_ref=protected, kind="face",
                    model_id=faces.model_id, array=biden_face)  # fmt: skip
    policy = load_file(settings.policy_file)
    holder = lifecycle.new_indexes(Models(settings, text=real_models.text))

    def scan(path: Path, audio: np.ndarray | None, consented: set[uuid.UUID]) -> service.MediaScan:
        return service.scan_media(
            conn, policy=policy, models=real_models, indexes=holder, keyring=keyring,
            frames=[(0.0, _rgb(path))], audio=audio, consented_cameo_ids=consented,
        )  # fmt: skip

    other_take = _pcm(speaker[1])
    found = scan(FACES / "obama" / "2.jpg", other_take, set())
    assert {(x.kind, x.owner_ref, x.covered) for x in found.likeness} == {
        ("face", cameo, False),
        ("voice", cameo, False),
    }
    assert found.decision == "block"
    assert scan(FACES / "obama" / "3.jpg", other_take, {cameo}).decision == "allow"
    prot = scan(FACES / "biden" / "2.jpg", None, {cameo, protected})
    assert [(x.owner_kind, x.covered) for x in prot.likeness] == [("protected_person", False)]
    assert prot.decision == "block"
    stranger_voice = _pcm(sorted(VOICES[1].glob("*.flac"))[0])
    stranger = scan(FACES / "paul_rudd" / "1.jpg", stranger_voice, set())
    assert stranger.likeness == [] and stranger.decision == "allow"
