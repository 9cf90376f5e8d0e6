"""Signing and verifying: trust states and status codes, tampering, foreign chains, recovery, tombstones."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path
from typing import TypedDict

from gate.db import Conn
from gate.media import ContentStore
from policies.service import ActivePolicy
from provenance import service
from provenance import store as db
from provenance.signing import ManifestSigner
from tests.provenance.conftest import Sign
from tests.provenance.media import ffmpeg


def top_level_boxes(data: bytes) -> list[tuple[str, int, int]]:
    """(type, offset, size) of each top-level ISO-BMFF box."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = len(data) - pos
        out.append((kind.decode("latin-1"), pos, size))
        pos += size
    return out


def verify(conn: Conn, signer: ManifestSigner, content: ContentStore, policy: ActivePolicy, data: bytes):
    return service.verify_media(conn, signer=signer, store=content, data=data, policy=policy)


def codes(report, kind: str) -> set[str]:
    return {c.code for c in getattr(report.status_codes, kind)}


def test_a_signed_clip_is_trusted_with_our_root_as_anchor(
    sign: Sign,
    source_clip: Path,
    conn: Conn,
    signer: ManifestSigner,
    content: ContentStore,
    policy: ActivePolicy,
) -> None:
    signed = sign(source_clip)
    assert signed.validation_state == "Trusted"
    report = verify(conn, signer, content, policy, signed.path.read_bytes())
    assert report.verdict == "trusted"
    assert report.validation_state == "Trusted"
    assert "signingCredential.trusted" in codes(report, "success")
    assert report.signer and report.signer.trusted and report.signer.common_name == "cameogate signer"
    assert report.clip and report.clip.id == signed.clip_id
    assert report.manifest_id == signed.manifest_id
    assert report.watermark and report.watermark.found and report.watermark.matches_manifest
    assert any("trainedAlgorithmicMedia" in line for line in report.assertions)


def test_the_same_manifest_with_no_anchor_is_valid_but_untrusted(
    sign: Sign, source_clip: Path, signer: ManifestSigner
) -> None:
    signed = sign(source_clip)
    with signer.reader(signed.path.read_bytes(), trusted=False) as reader:
        assert reader is not None
        assert reader.get_validation_state() == "Valid"
        results = reader.get_validation_results()["activeManifest"]
    untrusted = {r["code"] for r in results.get("failure", []) + results.get("informational", [])}
    assert "signingCredential.untrusted" in untrusted


def test_a_flipped_byte_in_the_video_is_invalid_with_a_bmff_hash_mismatch(
    sign: Sign,
    real_segment: Path,
    conn: Conn,
    signer: ManifestSigner,
    content: ContentStore,
    policy: ActivePolicy,
) -> None:
    signed = sign(real_segment)
    data = bytearray(signed.path.read_bytes())
    _, offset, size = next(b for b in top_level_boxes(bytes(data)) if b[0] == "mdat")
    data[offset + size // 2] ^= 0xFF
    report = verify(conn, signer, content, policy, bytes(data))
    assert report.validation_state == "Invalid"
    assert "assertion.bmffHash.mismatch" in codes(report, "failure")
    # The credentials are broken, but the watermark still leads back to the clip.
    assert report.verdict == "recovered"
    assert report.recovery and report.recovery.clip_id == signed.clip_id and report.recovery.manifest


def test_a_clip_signed_by_another_valid_chain_is_not_trusted(
    conn: Conn,
    source_clip: Path,
    signer: ManifestSigner,
    foreign_signer: ManifestSigner,
    content: ContentStore,
    policy: ActivePolicy,
    tmp_path: Path,
) -> None:
    created = {"action": "c2pa.created", "digitalSourceType": service.TRAINED_ALGORITHMIC_MEDIA}
    manifest = {
        "claim_generator_info": [{"name": "elsewhere", "version": "1"}],
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [created]}}],
    }
    dest = tmp_path / "foreign.mp4"
    foreign_signer.sign(manifest=manifest, source=source_clip, dest=dest)
    report = verify(conn, signer, content, policy, dest.read_bytes())
    assert report.validation_state == "Valid"
    assert report.verdict == "valid_untrusted"
    assert report.signer and not report.signer.trusted
    assert report.recovery is None


def test_a_manifest_copied_onto_another_file_fails(
    sign: Sign,
    source_clip: Path,
    other_clip: Path,
    conn: Conn,
    signer: ManifestSigner,
    content: ContentStore,
    policy: ActivePolicy,
) -> None:
    signed = sign(source_clip).path.read_bytes()
    _, offset, size = next(b for b in top_level_boxes(signed) if b[0] == "uuid")
    # Appended after the other file's boxes, so its own sample offsets stay correct.
    forged = other_clip.read_bytes() + signed[offset : offset + size]
    report = verify(conn, signer, content, policy, forged)
    assert report.manifest_present
    assert report.validation_state == "Invalid"
    assert report.verdict != "trusted"
    assert codes(report, "failure")


def test_a_stripped_reencoded_downscaled_cropped_copy_recovers_the_original_manifest(
    sign: Sign,
    real_segment: Path,
    conn: Conn,
    signer: ManifestSigner,
    content: ContentStore,
    policy: ActivePolicy,
    tmp_path: Path,
) -> None:
    signed = sign(real_segment)
    sign(real_segment)  # a second clip of the same content: the watermark still tells them apart
    copy = tmp_path / "copy.mp4"
    ffmpeg(
        "-i",
        str(signed.path),
        "-vf",
        "crop=iw*0.9:ih*0.9,scale=-2:240",
        "-crf",
        "28",
        "-map_metadata",
        "-1",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        str(copy),
    )
    report = verify(conn, signer, content, policy, copy.read_bytes())
    assert not report.manifest_present
    assert report.verdict == "recovered"
    assert report.recovery and report.recovery.method == "watermark"
    assert report.recovery.clip_id == signed.clip_id
    assert report.recovery.manifest and report.recovery.manifest_id == signed.manifest_id
    assert "similarity" in report.summary and "original manifest attached" in report.summary


def test_a_cropped_copy_whose_payload_is_unreadable_is_traced_by_its_fingerprint(
    sign: Sign,
    real_segment: Path,
    source_clip: Path,
    conn: Conn,
    signer: ManifestSigner,
    content: ContentStore,
    policy: ActivePolicy,
    tmp_path: Path,
) -> None:
    signed = sign(real_segment)
    sign(source_clip)
    # As when the payload bits are too noisy to read: the payload no longer resolves, but the sync
    # still tells where the crop sat, and PDQ of the copy put back in place matches the original.
    conn.execute("DELETE FROM provenance_watermarks WHERE clip_id = %(id)s", {"id": signed.clip_id})
    copy = tmp_path / "copy.mp4"
    ffmpeg("-i", str(signed.path), "-vf", "crop=iw*0.9:ih*0.9", "-map_metadata", "-1", str(copy))
    report = verify(conn, signer, content, policy, copy.read_bytes())
    assert report.watermark and report.watermark.found
    assert report.recovery and report.recovery.method == "fingerprint"
    assert report.recovery.clip_id == signed.clip_id


def test_an_unrelated_unsigned_clip_matches_nothing(
    sign: Sign,
    source_clip: Path,
    other_clip: Path,
    conn: Conn,
    signer: ManifestSigner,
    content: ContentStore,
    policy: ActivePolicy,
) -> None:
    sign(source_clip)
    report = verify(conn, signer, content, policy, other_clip.read_bytes())
    assert report.verdict == "unknown"
    assert report.recovery is None and report.watermark and not report.watermark.found


def test_a_removed_clip_verifies_as_removed(
    sign: Sign,
    source_clip: Path,
    conn: Conn,
    signer: ManifestSigner,
    content: ContentStore,
    policy: ActivePolicy,
) -> None:
    signed = sign(source_clip)
    conn.execute(
        "UPDATE clips SET status = 'removed', removed_at = now(), removal_reason = 'owner revoked'"
        " WHERE id = %(id)s",
        {"id": signed.clip_id},
    )
    report = verify(conn, signer, content, policy, signed.path.read_bytes())
    assert report.verdict == "removed"
    assert report.clip and report.clip.removed and report.clip.removal_reason == "owner revoked"
    assert report.recovery is None
    assert "removed" in report.summary


def test_the_manifest_states_ai_generation_policy_scan_coowners_and_no_training(
    sign: Sign, source_clip: Path, conn: Conn, policy: ActivePolicy
) -> None:
    owner = uuid.uuid4()
    signed = sign(source_clip, coowner_ids=[owner], features_cameos=True)
    row = db.get_manifest(conn, signed.clip_id)
    assert row is not None
    by_label = {a["label"]: a["data"] for a in row.manifest["assertions"]}
    actions = next(v for k, v in by_label.items() if k.startswith("c2pa.actions"))["actions"]
    assert actions[0]["action"] == "c2pa.created"
    assert actions[0]["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    assert any(a["action"] == "c2pa.watermarked" for a in actions)
    binding = by_label["c2pa.soft-binding"]
    assert binding["alg"] == service.WATERMARK_ALG
    assert (
        int.from_bytes(__import__("base64").b64decode(binding["blocks"][0]["value"]), "big")
        == signed.watermark_payload
    )
    clip = by_label[service.CLIP_LABEL]
    assert clip["policy_version"] == policy.version and clip["scan_decisions_sha256"] == "ab" * 32
    assert len(clip["coowners"]) == 1 and str(owner) not in str(row.manifest)
    assert clip["coowners"][0].startswith("cg-pseud:")
    mining = by_label["cawg.training-mining"]["entries"]
    assert mining["cawg.ai_generative_training"]["use"] == "notAllowed"
    assert row.manifest["claim_generator_info"][0]["name"] == policy.policy.provenance.generator_name


def test_a_clip_without_cameos_carries_no_training_restriction(
    sign: Sign, source_clip: Path, conn: Conn
) -> None:
    signed = sign(source_clip, features_cameos=False)
    row = db.get_manifest(conn, signed.clip_id)
    assert row is not None
    assert not any(a["label"].startswith("cawg.training-mining") for a in row.manifest["assertions"])


def test_a_remix_lists_its_source_clip_as_an_ingredient(
    sign: Sign, source_clip: Path, other_clip: Path, conn: Conn
) -> None:
    original = sign(source_clip)
    remix = sign(other_clip, remix_of=original.clip_id)
    assert remix.validation_state == "Trusted"
    row = db.get_manifest(conn, remix.clip_id)
    assert row is not None and row.remix_of == original.clip_id
    assert [i["title"] for i in row.manifest["ingredients"]] == [f"cameogate clip {original.clip_id}"]


def test_signing_a_clip_twice_is_a_conflict(
    sign: Sign,
    source_clip: Path,
    conn: Conn,
    signer: ManifestSigner,
    content: ContentStore,
    policy: ActivePolicy,
    tmp_path: Path,
) -> None:
    import pytest

    from gate.errors import Conflict

    signed = sign(source_clip)
    with pytest.raises(Conflict):
        service.sign_clip(
            conn,
            signer=signer,
            store=content,
            policy=policy,
            clip_id=signed.clip_id,
            source=source_clip,
            dest=tmp_path / "again.mp4",
            creator_handle=None,
            scan_digest="",
            coowner_ids=[],
            features_cameos=False,
            remix_of=None,
        )


def test_a_webm_copy_has_no_manifest_but_is_traced_by_its_watermark(
    sign: Sign,
    real_segment: Path,
    conn: Conn,
    signer: ManifestSigner,
    content: ContentStore,
    policy: ActivePolicy,
    tmp_path: Path,
) -> None:
    signed = sign(real_segment)
    copy = tmp_path / "copy.webm"
    ffmpeg(
        "-i",
        str(signed.path),
        "-c:v",
        "libvpx",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-b:v",
        "600k",
        "-an",
        str(copy),
    )
    report = verify(conn, signer, content, policy, copy.read_bytes())
    assert not report.manifest_present and report.validation_state is None
    assert report.recovery and report.recovery.clip_id == signed.clip_id


def test_the_signed_clip_keeps_the_sound_as_aac_whatever_the_source_carried(
    sign: Sign, source_clip: Path, media_dir: Path
) -> None:
    """AAC is copied untouched (the marks are in the pictures); any other codec is encoded to AAC."""
    mp2 = media_dir / "mp2_sound.mp4"
    ffmpeg("-i", str(source_clip), "-c:v", "copy", "-c:a", "mp2", str(mp2))
    for source in (source_clip, mp2):
        before = av_streams(source)
        after = av_streams(sign(source).path)
        assert after["video"] == "h264" and after["audio"] == "aac", (source.name, after)
        assert abs(after["audio_seconds"] - before["audio_seconds"]) < 0.1, (before, after)


class AvStreams(TypedDict):
    video: str
    audio: str
    audio_seconds: float


def av_streams(path: Path) -> AvStreams:
    import av

    with av.open(str(path)) as c:
        audio = c.streams.audio[0]
        seconds = 0.0
        if audio.duration:
            assert audio.time_base is not None
            seconds = float(audio.duration * audio.time_base)
        return {
            "video": c.streams.video[0].codec_context.name,
            "audio": audio.codec_context.name,
            "audio_seconds": seconds,
        }
