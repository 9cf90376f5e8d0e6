"""Signing clips (watermarks, C2PA manifest, fingerprint, manifest store) and verifying copies,
including recovery of stripped or broken credentials by watermark payload or fingerprint."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
import numpy as np

from gate import audit
from gate.db import Conn
from gate.errors import BadRequest, Conflict, Gone, InvalidMedia, NotFound, UnsupportedMedia, ValidationFailed
from gate.media import ContentStore, iter_frames, probe_video, sniff
from policies.schema import Policy, Provenance
from policies.service import ActivePolicy
from provenance import fingerprint as fp
from provenance import store as db
from provenance import watermark as wm
from provenance.schemas import (
    ClipState,
    Match,
    Matches,
    Recovery,
    SignerInfo,
    StatusCode,
    StatusCodes,
    SupportedAlgorithms,
    VerifyReport,
    WatermarkReport,
)
from provenance.signing import ManifestSigner

log = logging.getLogger(__name__)

GENERATOR_VERSION = "0.1.0"
WATERMARK_ALG = "org.cameogate.wm.ss-grid.v1"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CLIP_LABEL = "org.cameogate.clip"
TRAINING_MINING_USES = (
    "cawg.ai_generative_training",
    "cawg.ai_training",
    "cawg.ai_inference",
    "cawg.data_mining",
)


@dataclass(frozen=True)
class SignedClip:
    clip_id: uuid.UUID
    path: Path
    sha256: str
    manifest_id: str
    watermark_payload: int
    validation_state: str


def mark_params(settings: Provenance) -> wm.MarkParams:
    return wm.MarkParams(
        grid=settings.watermark_grid,
        strength=settings.watermark_strength,
        min_sync_z=settings.min_sync_z,
        min_sync_z_known=settings.min_sync_z_known,
        crf=settings.encode_crf,
        preset=settings.encode_preset,
    )


def pseudonym(key: bytes, *, clip_id: uuid.UUID, subject_id: uuid.UUID) -> str:
    """A co-owner's id in a manifest: HMAC of (clip, subject) with a server secret. Per clip, so the
    public manifests of two clips cannot be linked to the same person; the server can recompute it."""
    mac = hmac.new(key, f"{clip_id}:{subject_id}".encode(), hashlib.sha256).hexdigest()
    return f"cg-pseud:{mac[:32]}"


def _allocate_payload(conn: Conn) -> int:
    for _ in range(16):
        candidate = secrets.randbits(wm.PAYLOAD_BITS)
        if not db.payloads_in_use(conn, [candidate]):
            return candidate
    raise Conflict("no free watermark payload found", code="watermark_space_exhausted")


def build_manifest(
    *,
    policy: ActivePolicy,
    clip_id: uuid.UUID,
    payload: int,
    scan_digest: str,
    pseudonyms: list[str],
    features_cameos: bool,
    remix_of: uuid.UUID | None,
    creator_handle: str | None,
) -> dict[str, Any]:
    prov = policy.policy.provenance
    agent = {"name": prov.generator_name, "version": GENERATOR_VERSION}
    actions: list[dict[str, Any]] = [
        {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA, "softwareAgent": agent},
        {
            "action": "c2pa.watermarked",
            "softwareAgent": agent,
            "parameters": {"description": "invisible payload watermark and a moving visible mark"},
        },
    ]
    assertions: list[dict[str, Any]] = [
        {"label": "c2pa.actions", "data": {"actions": actions}},
        {
            "label": "c2pa.soft-binding",
            "data": {
                "alg": WATERMARK_ALG,
                "blocks": [{"scope": {}, "value": base64.b64encode(payload.to_bytes(4, "big")).decode()}],
            },
        },
        {
            "label": CLIP_LABEL,
            "data": {
                "clip_id": str(clip_id),
                "policy_version": policy.version,
                "scan_decisions_sha256": scan_digest,
                "coowners": pseudonyms,
                "features_cameos": features_cameos,
                "remix_of": str(remix_of) if remix_of else None,
                "visible_watermark": {"service": "cameogate", "creator_handle": creator_handle},
            },
        },
    ]
    if features_cameos:
        # Real people appear: no AI training or data mining of this clip.
        entries = {use: {"use": "notAllowed"} for use in TRAINING_MINING_USES}
        assertions.append({"label": "cawg.training-mining", "data": {"entries": entries}})
    return {
        "claim_generator_info": [agent],
        "title": f"cameogate clip {clip_id}",
        "format": "video/mp4",
        "assertions": assertions,
    }


def _frames(path: Path | bytes, *, every: float, max_frames: int) -> list[tuple[float, np.ndarray]]:
    """Luma frames: the watermark lives in luma and PDQ hashes luminance, so colour is never needed."""
    return list(iter_frames(path, every=every, max_frames=max_frames, pixel_format="gray"))


def signed_copy(conn: Conn, *, store: ContentStore, clip_id: uuid.UUID) -> SignedClip | None:
    """The signed file of a clip signed before, or None. A generation retried after its worker died
    between signing and publishing reuses it instead of signing twice (which is refused)."""
    manifest = db.get_manifest(conn, clip_id)
    payload = db.get_watermark(conn, clip_id)
    if manifest is None or payload is None or not store.exists(manifest.signed_sha256):
        return None
    return SignedClip(
        clip_id=clip_id,
        path=store.path(manifest.signed_sha256),
        sha256=manifest.signed_sha256,
        manifest_id=manifest.manifest_label,
        watermark_payload=payload,
        validation_state="Trusted",
    )


@dataclass
class Marking:
    """Both watermarks being burned into a clip (a running ffmpeg pass), before it is signed."""

    payload: int
    path: Path
    running: wm.MarkingPass

    def close(self) -> None:
        """Abandon the pass if it is still running (a blocked or failed job)."""
        self.running.cancel()


def start_marking(
    conn: Conn,
    *,
    signer: ManifestSigner,
    policy: ActivePolicy,
    source: Path,
    workdir: Path,
    creator_handle: str | None,
) -> Marking:
    """Allocate the clip's watermark payload and start marking `source` into `workdir`. The pass
    needs nothing from the manifest, so it can run while the caller still decides whether to sign."""
    prov = policy.policy.provenance
    info = probe_video(source, policy.policy.uploads)
    payload = _allocate_payload(conn)
    workdir.mkdir(parents=True, exist_ok=True)
    marked = workdir / "marked.mp4"
    running = wm.start(
        source=source,
        dest=marked,
        payload=payload,
        secret=signer.watermark_key,
        params=mark_params(prov),
        handle=creator_handle if prov.visible_handle else None,
        width=info.width,
        height=info.height,
        workdir=workdir,
        thumbs_every=1 / prov.fingerprint_reference_fps,
        audio_is_aac=info.audio_codec == "aac",
    )
    return Marking(payload, marked, running)


def sign_clip(
    conn: Conn,
    *,
    signer: ManifestSigner,
    store: ContentStore,
    policy: ActivePolicy,
    clip_id: uuid.UUID,
    source: Path,
    dest: Path,
    creator_handle: str | None,
    scan_digest: str,
    coowner_ids: list[uuid.UUID],
    features_cameos: bool,
    remix_of: uuid.UUID | None,
    marking: Marking | None = None,
) -> SignedClip:
    """Burn in both watermarks (or finish `marking`, started earlier on `source`), sign a C2PA
    manifest into `dest`, keep the signed file in the content store and its manifest, payload and
    fingerprint in the manifest store."""
    prov = policy.policy.provenance
    try:
        clip = db.get_clip(conn, clip_id)
        if clip is None:
            raise NotFound("no such clip", code="clip_not_found")
        if db.get_manifest(conn, clip_id) is not None:
            raise Conflict("this clip is already signed", code="clip_already_signed")
        ing = None
        if remix_of is not None:
            parent = db.get_manifest(conn, remix_of)
            if parent is None or not store.exists(parent.signed_sha256):
                raise NotFound("the remixed clip has no signed original", code="remix_source_not_found")
            ing = (
                {"title": f"cameogate clip {parent.clip_id}", "relationship": "componentOf"},
                store.path(parent.signed_sha256),
            )
        with tempfile.TemporaryDirectory(prefix="cameogate-sign-") as tmp:
            if marking is None:
                marking = start_marking(
                    conn, signer=signer, policy=policy, source=source, workdir=Path(tmp),
                    creator_handle=creator_handle,
                )  # fmt: skip
            payload = marking.payload
            pseudonyms = [pseudonym(signer.pseudonym_key, clip_id=clip_id, subject_id=s) for s in coowner_ids]
            manifest = build_manifest(
                policy=policy,
                clip_id=clip_id,
                payload=payload,
                scan_digest=scan_digest,
                pseudonyms=pseudonyms,
                features_cameos=features_cameos,
                remix_of=remix_of,
                creator_handle=creator_handle if prov.visible_handle else None,
            )
            thumbs = marking.running.wait()
            manifest_store = signer.sign(manifest=manifest, source=marking.path, dest=dest, ingredient=ing)
    finally:
        if marking is not None:
            marking.close()
    data = dest.read_bytes()
    with signer.reader(data) as reader:
        assert reader is not None  # we just embedded it
        state = reader.get_validation_state() or "Invalid"
        active = reader.get_active_manifest() or {}
    label = str(active.get("label", ""))
    digest = store.put(data)
    print_ = fp.compute(
        thumbs[: prov.fingerprint_max_reference_frames], min_quality=prov.fingerprint_min_quality
    )
    db.insert_watermark(conn, clip_id=clip_id, payload=payload, algorithm=WATERMARK_ALG)
    db.insert_manifest(
        conn,
        clip_id=clip_id,
        manifest_label=label,
        manifest=active,
        manifest_store=manifest_store,
        signed_sha256=digest,
        signer_fingerprint=signer.fingerprint,
        policy_version=policy.version,
        remix_of=remix_of,
    )
    db.insert_fingerprint(
        conn, clip_id=clip_id, algorithm=fp.ALGORITHM, hashes=print_.hashes.tobytes(), times=print_.times
    )
    audit.record(
        conn,
        actor="provenance",
        action="provenance.sign",
        policy_version=policy.version,
        target_kind="clip",
        target_id=str(clip_id),
        details={
            "manifest_id": label,
            "signer": signer.fingerprint[:16],
            "state": state,
            "fingerprint_frames": len(print_.times),
            "remix_of": str(remix_of) if remix_of else None,
        },
    )
    return SignedClip(
        clip_id=clip_id,
        path=dest,
        sha256=digest,
        manifest_id=label,
        watermark_payload=payload,
        validation_state=state,
    )


# --- verification -------------------------------------------------------------------------------

_PLAIN_ACTIONS = {
    "c2pa.created": "created",
    "c2pa.watermarked": "watermarked",
    "c2pa.edited": "edited",
    "c2pa.opened": "opened from an ingredient",
    "c2pa.placed": "placed an ingredient",
}


def describe_assertions(manifest: dict[str, Any]) -> list[str]:
    """The active manifest's assertions, one plain sentence each."""
    words: list[str] = []
    gen = manifest.get("claim_generator_info") or []
    if gen:
        g = gen[0]
        words.append(f"Made with {g.get('name', '?')} {g.get('version', '')}".strip() + ".")
    for a in manifest.get("assertions", []):
        label, data = str(a.get("label", "")), a.get("data") or {}
        if label.startswith("c2pa.actions"):
            for act in data.get("actions", []):
                name = _PLAIN_ACTIONS.get(act.get("action"), act.get("action"))
                src = act.get("digitalSourceType", "")
                if src.endswith("/trainedAlgorithmicMedia"):
                    words.append(
                        f"Action: {name} — generated by a trained AI model (trainedAlgorithmicMedia)."
                    )
                else:
                    words.append(f"Action: {name}.")
        elif label.startswith("c2pa.soft-binding"):
            words.append(
                f"Carries an invisible watermark ({data.get('alg')}) that points back to this manifest."
            )
        elif label == CLIP_LABEL:
            words.append(
                f"cameogate clip {data.get('clip_id')}, made under policy {data.get('policy_version')}."
            )
            words.append(f"Digest of the safety scan decisions: {data.get('scan_decisions_sha256')}.")
            owners = data.get("coowners") or []
            if owners:
                words.append(f"{len(owners)} co-owner(s), by pseudonymous id: {', '.join(owners)}.")
            if data.get("remix_of"):
                words.append(f"A remix of cameogate clip {data['remix_of']}.")
        elif label.startswith("cawg.training-mining"):
            uses = [k for k, v in (data.get("entries") or {}).items() if v.get("use") == "notAllowed"]
            words.append(f"AI training and data mining not allowed ({', '.join(uses)}).")
        elif label.startswith("c2pa.hash"):
            words.append("The video and audio bytes are hashed into the signature.")
    for ing in manifest.get("ingredients", []):
        words.append(f"Ingredient: {ing.get('title', 'untitled')} ({ing.get('relationship', '?')}).")
    return words


def _codes(results: dict[str, Any] | None) -> StatusCodes:
    active = (results or {}).get("activeManifest") or {}

    def pick(kind: str) -> list[StatusCode]:
        return [
            StatusCode(code=r.get("code", ""), explanation=r.get("explanation", ""))
            for r in active.get(kind, [])
        ]

    return StatusCodes(success=pick("success"), informational=pick("informational"), failure=pick("failure"))


def _read_manifest(signer: ManifestSigner, data: bytes) -> tuple[str | None, dict, StatusCodes, str | None]:
    """(state, active manifest, status codes, error) — a damaged manifest is reported, not raised."""
    try:
        with signer.reader(data) as reader:
            if reader is None:
                return None, {}, StatusCodes(), None
            return (
                reader.get_validation_state(),
                reader.get_active_manifest() or {},
                _codes(reader.get_validation_results()),
                None,
            )
    except c2pa.C2paError as exc:
        return (
            "Invalid",
            {},
            StatusCodes(failure=[StatusCode(code="manifest.unreadable", explanation=str(exc)[:200])]),
            str(exc),
        )


def _clip_state(conn: Conn, clip_id: uuid.UUID) -> ClipState | None:
    clip = db.get_clip(conn, clip_id)
    if clip is None:
        return None
    return ClipState(
        id=clip.id, status=clip.status, removed=clip.status == "removed", removal_reason=clip.removal_reason
    )


def _payload_lookup(conn: Conn, payload: int, max_errors: int) -> tuple[uuid.UUID, int] | None:
    """The issued payload within `max_errors` bit flips of the decoded one, if exactly one is."""
    candidates = {payload}
    frontier = {payload}
    for _ in range(max_errors):
        frontier = {c ^ (1 << i) for c in frontier for i in range(wm.PAYLOAD_BITS)}
        candidates |= frontier
    found = db.payloads_in_use(conn, sorted(candidates))
    if len(found) != 1:
        return None
    issued, clip_id = next(iter(found.items()))
    return clip_id, bin(issued ^ payload).count("1")


def fingerprint_queries(
    timed: list[tuple[float, np.ndarray]], decoded: wm.Decoded, prov: Provenance
) -> list[np.ndarray]:
    """PDQ hashes of a copy's frames (reusing the frames decoded for the watermark) and, when the
    watermark's sync search placed the copy as a crop, of the frames put back in place: the sync finds
    the crop even where the payload bits are too noisy to read, and busy images that are hard on the
    watermark are easy for PDQ."""
    sampled = fp.subsample(timed, prov.fingerprint_every_seconds)[: prov.fingerprint_max_frames]
    queries = [fp.compute(sampled, min_quality=prov.fingerprint_min_quality).hashes]
    if decoded.scale != (1.0, 1.0):
        framed = [(t, fp.reframe(f, decoded.scale, decoded.offset)) for t, f in sampled]
        queries.append(fp.compute(framed, min_quality=prov.fingerprint_min_quality).hashes)
    return queries


def fingerprint_distances(conn: Conn, queries: list[np.ndarray]) -> list[tuple[float, uuid.UUID]]:
    """Every signed clip's distance to the copy (the best of its queries), nearest first."""
    best: list[tuple[float, uuid.UUID]] = []
    for row in db.all_fingerprints(conn):
        ref = np.frombuffer(row.hashes, dtype=np.uint8).reshape(-1, fp.HASH_BYTES)
        best.append((min(fp.clip_distance(q, ref) for q in queries), row.clip_id))
    return sorted(best, key=lambda x: x[0])


def _fingerprint_lookup(
    conn: Conn, queries: list[np.ndarray], prov: Provenance
) -> tuple[uuid.UUID, float] | None:
    best = fingerprint_distances(conn, queries)
    if not best or best[0][0] > prov.fingerprint_max_distance:
        return None
    # A copy matches one clip clearly; two near-equal candidates means we cannot say which.
    if len(best) > 1 and best[1][0] - best[0][0] < 8:
        return None
    return best[0][1], round(1 - best[0][0] / 256, 3)


def verify_media(
    conn: Conn,
    *,
    signer: ManifestSigner,
    store: ContentStore,
    data: bytes,
    policy: ActivePolicy | None = None,
) -> VerifyReport:
    """Check an uploaded copy: its manifest (Trusted / Valid / Invalid), its watermark, and when the
    manifest is missing or broken, which signed clip it came from."""
    active_policy = policy or ActivePolicy(policy=Policy(version="default"), sha256="", source="")
    prov = active_policy.policy.provenance
    if sniff(data) != "video":
        raise UnsupportedMedia("verify accepts MP4, MOV or WebM video", code="not_a_video")
    _refuse_truncated(data)
    info = probe_video(data, active_policy.policy.uploads)
    # C2PA is embedded in ISO-BMFF (MP4/MOV) here; a WebM copy has no manifest to read.
    if info.container.startswith("mov,mp4"):
        state, manifest, codes, _error = _read_manifest(signer, data)
    else:
        state, manifest, codes = None, {}, StatusCodes()
    manifest_id = manifest.get("label")
    report: dict[str, Any] = {
        "manifest_present": state is not None,
        "validation_state": state,
        "status_codes": codes,
        "manifest_id": manifest_id,
        "assertions": describe_assertions(manifest) if manifest else [],
        "policy_version": active_policy.version,
    }
    if manifest:
        sig = manifest.get("signature_info") or {}
        trusted = any(c.code == "signingCredential.trusted" for c in codes.success)
        untrusted = any(c.code == "signingCredential.untrusted" for c in codes.failure + codes.informational)
        chain = (
            "chains to a cameogate trust anchor"
            if trusted
            else "valid signature, but the certificate chain does not reach a trusted anchor"
            if untrusted
            else "not judged (the manifest failed validation first)"
        )
        report["signer"] = SignerInfo(
            issuer=sig.get("issuer"),
            common_name=sig.get("common_name"),
            alg=sig.get("alg"),
            serial=sig.get("cert_serial_number"),
            trusted=trusted,
            chain=chain,
        )
    stored = db.get_manifest_by_label(conn, manifest_id) if manifest_id else None
    # Frames for the watermark. A trusted clip needs no search (it has not been cropped or scaled
    # by anyone who could keep the signature), which keeps verification of signed clips fast.
    trusted_ours = state == "Trusted" and stored is not None
    params = mark_params(prov)
    if trusted_ours:
        timed = _frames(data, every=0.0, max_frames=prov.verify_trusted_frames)
    else:
        timed = _frames(data, every=prov.decode_every_seconds, max_frames=prov.decode_max_frames)
    frames = [f for _, f in timed]
    decoded = wm.decode(frames, secret=signer.watermark_key, params=params, search=not trusted_ours)
    wm_report = WatermarkReport(
        found=decoded.payload is not None,
        sync_z=round(decoded.sync_z, 2),
        payload=f"{decoded.payload:08x}" if decoded.payload is not None else None,
    )
    if stored is not None and decoded.payload is not None:
        issued = db.get_watermark(conn, stored.clip_id)
        wm_report.matches_manifest = (
            issued is not None and bin(issued ^ decoded.payload).count("1") <= prov.max_payload_bit_errors
        )
    report["watermark"] = wm_report

    if stored is not None and state in ("Trusted", "Valid"):
        clip = _clip_state(conn, stored.clip_id)
        report["clip"] = clip
        if clip and clip.removed:
            return _tombstone(report, clip)
        verdict = "trusted" if state == "Trusted" else "valid_untrusted"
        report["recovery"] = Recovery(
            method="manifest", clip_id=stored.clip_id, similarity=1.0, manifest_id=stored.manifest_label
        )
        summary = (
            f"Signed by cameogate: clip {stored.clip_id}, manifest {stored.manifest_label}, state {state}."
        )
        return VerifyReport(verdict=verdict, summary=summary, **report)
    if state == "Trusted":
        return VerifyReport(
            verdict="trusted",
            summary="A trusted C2PA manifest from a cameogate certificate, for a clip not in this store.",
            **report,
        )
    if state == "Valid":
        return VerifyReport(
            verdict="valid_untrusted",
            summary="A valid C2PA manifest, signed by a certificate cameogate does not trust.",
            **report,
        )

    # Missing or broken manifest: recover by watermark payload, else by fingerprint.
    recovered: tuple[str, uuid.UUID, float] | None = None
    if decoded.payload is not None:
        hit = _payload_lookup(conn, decoded.payload, prov.max_payload_bit_errors)
        if hit:
            recovered = ("watermark", hit[0], round(1 - hit[1] / wm.PAYLOAD_BITS, 3))
    if recovered is None:
        fhit = _fingerprint_lookup(conn, fingerprint_queries(timed, decoded, prov), prov)
        if fhit:
            recovered = ("fingerprint", fhit[0], fhit[1])
    what = "no manifest" if state is None else "an invalid manifest"
    if recovered is None:
        verdict = "invalid" if state == "Invalid" else "unknown"
        return VerifyReport(
            verdict=verdict,
            summary=f"The file has {what}, and matches no clip signed by cameogate.",
            **report,
        )
    method, clip_id, similarity = recovered
    original = db.get_manifest(conn, clip_id)
    clip = _clip_state(conn, clip_id)
    report["clip"] = clip
    if clip and clip.removed:
        return _tombstone(report, clip)
    report["recovery"] = Recovery(
        method=method,
        clip_id=clip_id,
        similarity=similarity,
        manifest_id=original.manifest_label if original else None,
        manifest=original.manifest if original else None,
    )
    return VerifyReport(
        verdict="recovered",
        summary=f"The file has {what}; by {method} it matches signed clip {clip_id}, similarity {similarity},"
        " original manifest attached.",
        **report,
    )


def _refuse_truncated(data: bytes) -> None:
    """An ISO-BMFF file whose top-level boxes run past its end was cut short: refuse it (422) rather
    than report on whatever part of it decodes. Matroska/WebM has no such cheap check."""
    if data[4:8] not in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big") if pos + 16 <= len(data) else 0
        elif size == 0:
            return  # runs to the end of the file by definition
        if size < 8:
            raise InvalidMedia("the file's box structure is corrupt", code="corrupt_media")
        pos += size
    if pos != len(data):
        raise InvalidMedia("the file is truncated", code="truncated_media")


def _tombstone(report: dict[str, Any], clip: ClipState) -> VerifyReport:
    """A removed clip verifies as removed: which clip, that it was removed and why; its manifest is
    not served again."""
    report["recovery"] = None
    reason = f" ({clip.removal_reason})" if clip.removal_reason else ""
    return VerifyReport(
        verdict="removed", summary=f"This is cameogate clip {clip.id}, which was removed{reason}.", **report
    )


# --- soft-binding resolution (C2PA) -------------------------------------------------------------

RESOLVABLE = ("published", "removed")  # drafts and blocked clips never left cameogate


def supported_algorithms() -> SupportedAlgorithms:
    return SupportedAlgorithms(watermarks=[{"alg": WATERMARK_ALG}], fingerprints=[{"alg": fp.ALGORITHM}])


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed("value is not base64", code="invalid_binding_value") from exc


def matches_by_binding(conn: Conn, *, policy: ActivePolicy, alg: str, value: str) -> Matches:
    """Manifests whose clip carries this soft binding: an exact watermark payload, or PDQ hashes
    (one or more 32-byte hashes, concatenated) within the policy's fingerprint distance."""
    raw = _b64(value)
    found: list[tuple[uuid.UUID, int | None]] = []
    if alg == WATERMARK_ALG:
        if len(raw) != 4:
            raise ValidationFailed("a watermark value is 4 bytes", code="invalid_binding_value")
        hit = db.payloads_in_use(conn, [int.from_bytes(raw, "big")])
        found = [(clip_id, None) for clip_id in hit.values()]
    elif alg == fp.ALGORITHM:
        if not raw or len(raw) % fp.HASH_BYTES:
            raise ValidationFailed("a fingerprint value is n × 32 bytes", code="invalid_binding_value")
        query = np.frombuffer(raw, dtype=np.uint8).reshape(-1, fp.HASH_BYTES)
        fhit = _fingerprint_lookup(conn, [query], policy.policy.provenance)
        found = [(fhit[0], round(fhit[1] * 100))] if fhit else []
    else:
        raise BadRequest(f"unsupported algorithm {alg!r}", code="unsupported_algorithm")
    matches = []
    for clip_id, score in found:
        clip, row = db.get_clip(conn, clip_id), db.get_manifest(conn, clip_id)
        if clip and row and clip.status in RESOLVABLE:
            matches.append(Match(manifestId=row.manifest_label, similarityScore=score))
    return Matches(matches=matches)


def published_manifest(conn: Conn, *, manifest_id: str) -> db.ManifestRow:
    row = db.get_manifest_by_label(conn, manifest_id)
    clip = db.get_clip(conn, row.clip_id) if row else None
    if row is None or clip is None or clip.status not in RESOLVABLE:
        raise NotFound("no such manifest", code="manifest_not_found")
    if clip.status == "removed":
        raise Gone(
            "this clip was removed; its manifest is no longer served",
            code="clip_removed",
            clip_id=str(clip.id),
            removal_reason=clip.removal_reason,
        )
    return row


def manifest_json(row: db.ManifestRow) -> str:
    return json.dumps(row.manifest, sort_keys=True)


def read_media_file(path: Path, max_bytes: int) -> bytes:
    """A local file for the CLI, under the same size cap as uploads."""
    size = path.stat().st_size
    if size > max_bytes:
        raise InvalidMedia(f"{path} exceeds {max_bytes} bytes", code="too_large")
    return path.read_bytes()
