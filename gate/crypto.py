"""Encryption at rest for biometric templates: AES-256-GCM under a rotating keyring.

Each ciphertext carries the id of the key that sealed it, so old rows stay readable after a new
key becomes active; `associated` binds a ciphertext to its row (a template copied onto another
cameo does not decrypt).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


@dataclass(frozen=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes


class Keyring:
    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._keys = dict(keys)
        self.active_id = next(iter(keys))

    def seal(self, plaintext: bytes, associated: bytes) -> Sealed:
        nonce = os.urandom(12)
        ct = AESGCM(self._keys[self.active_id]).encrypt(nonce, plaintext, associated)
        return Sealed(self.active_id, nonce, ct)

    def open(self, sealed: Sealed, associated: bytes) -> bytes:
        key = self._keys.get(sealed.key_id)
        if key is None:
            raise KeyError(f"template key {sealed.key_id!r} is not in CAMEOGATE_TEMPLATE_KEYS")
        return AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, associated)
