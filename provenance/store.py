"""SQL of the provenance domain: the manifest store, watermark payloads and fingerprints (one
function per statement), plus read-only lookups of the shared clips table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from gate.db import Conn
from gate.errors import Conflict


@dataclass(frozen=True)
class ClipRow:
    id: uuid.UUID
    status: str
    removed_at: datetime | None
    removal_reason: str | None


@dataclass(frozen=True)
class ManifestRow:
    clip_id: uuid.UUID
    manifest_label: str
    manifest: dict[str, Any]
    manifest_store: bytes
    signed_sha256: str
    signer_fingerprint: str
    policy_version: str
    remix_of: uuid.UUID | None
    created_at: datetime


@dataclass(frozen=True)
class FingerprintRow:
    clip_id: uuid.UUID
    hashes: bytes
    times: list[float]


def get_clip(conn: Conn, clip_id: uuid.UUID) -> ClipRow | None:
    row = conn.execute(
        "SELECT id, status, removed_at, removal_reason FROM clips WHERE id = %(id)s", {"id": clip_id}
    ).fetchone()
    return ClipRow(**row) if row else None


def create_clip(conn: Conn, *, clip_id: uuid.UUID, status: str) -> None:
    """Only the `cameogate sign` command creates clips here (an operator signing a file directly);
    the generation pipeline creates its own."""
    conn.execute(
        "INSERT INTO clips (id, status) VALUES (%(id)s, %(status)s)", {"id": clip_id, "status": status}
    )


def payloads_in_use(conn: Conn, candidates: list[int]) -> dict[int, uuid.UUID]:
    rows = conn.execute(
        "SELECT payload, clip_id FROM provenance_watermarks WHERE payload = ANY(%(p)s)", {"p": candidates}
    ).fetchall()
    return {r["payload"]: r["clip_id"] for r in rows}


def insert_watermark(conn: Conn, *, clip_id: uuid.UUID, payload: int, algorithm: str) -> None:
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO provenance_watermarks (clip_id, payload, algorithm)"
                " VALUES (%(clip_id)s, %(payload)s, %(algorithm)s)",
                {"clip_id": clip_id, "payload": payload, "algorithm": algorithm},
            )
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict("this clip or payload already has a watermark", code="watermark_conflict") from exc


def get_watermark(conn: Conn, clip_id: uuid.UUID) -> int | None:
    row = conn.execute(
        "SELECT payload FROM provenance_watermarks WHERE clip_id = %(id)s", {"id": clip_id}
    ).fetchone()
    return int(row["payload"]) if row else None


def insert_manifest(
    conn: Conn,
    *,
    clip_id: uuid.UUID,
    manifest_label: str,
    manifest: dict[str, Any],
    manifest_store: bytes,
    signed_sha256: str,
    signer_fingerprint: str,
    policy_version: str,
    remix_of: uuid.UUID | None,
) -> None:
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO provenance_manifests (clip_id, manifest_label, manifest, manifest_store,"
                " signed_sha256, signer_fingerprint, policy_version, remix_of) VALUES"
                " (%(clip_id)s, %(label)s, %(manifest)s, %(store)s,"
                " %(sha)s, %(fp)s, %(pv)s, %(remix)s)",
                {
                    "clip_id": clip_id,
                    "label": manifest_label,
                    "manifest": Jsonb(manifest),
                    "store": manifest_store,
                    "sha": signed_sha256,
                    "fp": signer_fingerprint,
                    "pv": policy_version,
                    "remix": remix_of,
                },
            )
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict("this clip is already signed", code="clip_already_signed") from exc


_SELECT_MANIFEST = (
    "SELECT clip_id, manifest_label, manifest, manifest_store, signed_sha256, signer_fingerprint,"
    " policy_version, remix_of, created_at FROM provenance_manifests"
)


def get_manifest(conn: Conn, clip_id: uuid.UUID) -> ManifestRow | None:
    row = conn.execute(_SELECT_MANIFEST + " WHERE clip_id = %(id)s", {"id": clip_id}).fetchone()
    return ManifestRow(**row) if row else None


def get_manifest_by_label(conn: Conn, label: str) -> ManifestRow | None:
    row = conn.execute(
        _SELECT_MANIFEST + " WHERE manifest_label = %(label)s",
        {"label": label},
    ).fetchone()
    return ManifestRow(**row) if row else None


def insert_fingerprint(
    conn: Conn, *, clip_id: uuid.UUID, algorithm: str, hashes: bytes, times: list[float]
) -> None:
    conn.execute(
        "INSERT INTO provenance_fingerprints (clip_id, algorithm, hashes, times)"
        " VALUES (%(clip_id)s, %(algorithm)s, %(hashes)s, %(times)s)",
        {"clip_id": clip_id, "algorithm": algorithm, "hashes": hashes, "times": times},
    )


def all_fingerprints(conn: Conn) -> list[FingerprintRow]:
    """Every stored fingerprint. A linear scan: fine for thousands of clips; an index (FAISS binary or
    PDQ's multi-index hashing) is the next step at larger scale."""
    rows = conn.execute("SELECT clip_id, hashes, times FROM provenance_fingerprints").fetchall()
    return [FingerprintRow(**r) for r in rows]
