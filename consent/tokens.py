"""Consent tokens: short-lived, HMAC-signed statements that one check allowed these cameos for this
requester and this exact prompt, at these revocation epochs.

HMAC-SHA256 rather than Ed25519: the only verifier is cameogate itself (generation presents the
token back to validate_token in the same deployment, sharing CAMEOGATE_TOKEN_SECRET), and a token
cannot be judged offline anyway — it is only as good as the cameos' current epochs in PostgreSQL.
A public-key signature would buy third-party verification nobody can use, at ~20x the cost.

Format: "ct1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, 'ct1.' + claims part))>".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

PREFIX = "ct1"


@dataclass(frozen=True)
class Claims:
    token_id: str
    requester_id: uuid.UUID
    epochs: dict[uuid.UUID, int]  # cameo id → consent_epoch when the check allowed it
    prompt_sha256: str
    issued_at: int
    expires_at: int
    policy_version: str


def prompt_digest(prompt: str) -> str:
    """The prompt's exact UTF-8 bytes: a token for one prompt says nothing about any other."""
    return hashlib.sha256(prompt.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed_part: str) -> bytes:
    return hmac.new(key, signed_part.encode(), hashlib.sha256).digest()


def sign(key: bytes, claims: Claims) -> str:
    body: dict[str, Any] = {
        "jti": claims.token_id,
        "req": str(claims.requester_id),
        "cam": sorted([str(k), v] for k, v in claims.epochs.items()),
        "ph": claims.prompt_sha256,
        "iat": claims.issued_at,
        "exp": claims.expires_at,
        "pv": claims.policy_version,
    }
    signed_part = f"{PREFIX}.{_b64(json.dumps(body, separators=(',', ':')).encode())}"
    return f"{signed_part}.{_b64(_mac(key, signed_part))}"


class TokenMalformed(ValueError):
    pass


def verify(key: bytes, token: str) -> Claims:
    """Claims of a token whose signature is right; TokenMalformed for anything else."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or len(token) > 8192:
        raise TokenMalformed("not a consent token")
    signed_part = f"{parts[0]}.{parts[1]}"
    try:
        mac = _unb64(parts[2])
    except ValueError as exc:
        raise TokenMalformed("bad signature encoding") from exc
    if not hmac.compare_digest(mac, _mac(key, signed_part)):
        raise TokenMalformed("signature does not match")
    try:
        body = json.loads(_unb64(parts[1]))
        return Claims(
            token_id=str(body["jti"]),
            requester_id=uuid.UUID(body["req"]),
            epochs={uuid.UUID(k): int(v) for k, v in body["cam"]},
            prompt_sha256=str(body["ph"]),
            issued_at=int(body["iat"]),
            expires_at=int(body["exp"]),
            policy_version=str(body["pv"]),
        )
    except (ValueError, KeyError, TypeError) as exc:  # signed by us, so only a format change
        raise TokenMalformed("claims cannot be read") from exc
