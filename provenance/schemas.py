"""Request and response models of the provenance routes (verify report, soft-binding resolution)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from gate.schemas import Strict


class StatusCode(BaseModel):
    code: str
    explanation: str = ""


class StatusCodes(BaseModel):
    success: list[StatusCode] = []
    informational: list[StatusCode] = []
    failure: list[StatusCode] = []


class SignerInfo(BaseModel):
    issuer: str | None = None
    common_name: str | None = None
    alg: str | None = None
    serial: str | None = None
    trusted: bool = False
    chain: str = Field(description="how the certificate chain was judged, in plain words")


class WatermarkReport(BaseModel):
    found: bool
    payload: str | None = Field(None, description="32-bit payload, hex")
    sync_z: float
    matches_manifest: bool | None = None


class ClipState(BaseModel):
    id: uuid.UUID
    status: str
    removed: bool
    removal_reason: str | None = None


class Recovery(BaseModel):
    method: Literal["manifest", "watermark", "fingerprint"]
    clip_id: uuid.UUID
    similarity: float
    manifest_id: str | None = None
    manifest: dict[str, Any] | None = None


class VerifyReport(BaseModel):
    verdict: Literal["trusted", "valid_untrusted", "invalid", "recovered", "removed", "unknown"]
    summary: str
    manifest_present: bool
    validation_state: Literal["Trusted", "Valid", "Invalid"] | None = None
    status_codes: StatusCodes = StatusCodes()
    manifest_id: str | None = None
    signer: SignerInfo | None = None
    assertions: list[str] = []
    watermark: WatermarkReport | None = None
    clip: ClipState | None = None
    recovery: Recovery | None = None
    policy_version: str


class SupportedAlgorithms(BaseModel):
    watermarks: list[dict[str, str]]
    fingerprints: list[dict[str, str]]


class ByBindingQuery(Strict):
    alg: str = Field(max_length=200)
    value: str = Field(max_length=10_000, description="base64 of the binding value")


class Match(BaseModel):
    manifestId: str
    similarityScore: int | None = None


class Matches(BaseModel):
    matches: list[Match]
