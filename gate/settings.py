"""The one typed settings object, read from CAMEOGATE_* environment variables at start-up."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gate.crypto import Keyring

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Development secrets already read by this process, by file (Settings.dev_secret).
_DEV_SECRETS: dict[Path, bytes] = {}


class Settings(BaseSettings):
    """Built once by the entry point (CLI, app factory, tests) and passed down; never read at import."""

    model_config = SettingsConfigDict(env_prefix="CAMEOGATE_", extra="ignore")

    # Database: an external server when set; otherwise an embedded PostgreSQL under var_dir.
    database_url: str | None = None
    pool_min_size: int = 1
    pool_max_size: int = 10

    var_dir: Path = PROJECT_ROOT / "var"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    policy_file: Path = PROJECT_ROOT / "policies" / "default.yaml"

    # Secrets. Unset in development: generated once under var_dir/secrets with a loud warning.
    # Template keys: "kid1:BASE64KEY,kid2:BASE64KEY"; the first encrypts, all decrypt (rotation).
    template_keys: str | None = None
    token_secret: str | None = None  # HMAC key for consent tokens (base64)
    webhook_secret: str | None = None  # default HMAC key for webhooks to platforms (base64)
    # Webhook receivers at loopback, private, link-local and other non-public addresses are refused
    # (SSRF guard, consent/notifications.py). Tests and local development opt in to reach them.
    webhook_allow_private: bool = False

    # Models: offline defaults ship in packages; production ones load from configured paths.
    face_embedder: Literal["dlib", "facenet"] = "dlib"
    facenet_weights: Path | None = None  # state dict of InceptionResnetV1 (VGGFace2)
    voice_embedder: Literal["resemblyzer", "ecapa"] = "resemblyzer"
    ecapa_dir: Path | None = None  # speechbrain ECAPA-TDNN directory (hyperparams.yaml + ckpt)
    clip_checkpoint: Path | None = None  # open-clip checkpoint; CLIP signals are off when unset
    clip_model: str = "ViT-B-32"
    diffusers_model_dir: Path | None = None  # local diffusers text-to-video pipeline (GPU backend)
    generator_backend: Literal["cpu", "diffusers"] = "cpu"
    # Intra-op threads of torch in `cameogate serve`, set once at start-up; None leaves torch's
    # default (one per core). A server runs small inferences for concurrent requests (a consent
    # check embeds one prompt with MiniLM): measured on the 2-core machine, one such embedding
    # costs 7.8 ms of CPU with one thread and 35 ms with two, which is also slower (issue #4).
    serve_torch_threads: int | None = 1
    # ONNX Runtime threads of the text model (MiniLM), in every process; None: one per core. Idle
    # threads sleep rather than spin, so a second thread costs nothing between embeddings; one
    # short prompt takes ~6.5 ms on two threads against ~8 on one, and the consent check's
    # restriction screen waits for it (perception/text.py, docs/CONSENT.md).
    text_threads: int | None = None

    # Provenance signing identity. Unset in development: a local CA is created under var_dir.
    signing_chain: Path | None = None  # PEM, signing certificate first, then intermediates
    signing_key: Path | None = None  # PKCS#8 PEM
    signing_key_password: str | None = Field(default=None, repr=False)
    tsa_url: str | None = None
    # Provenance secrets (base64). The watermark key must never change once clips carry it.
    watermark_secret: str | None = Field(default=None, repr=False)  # keys the invisible-watermark patterns
    pseudonym_secret: str | None = Field(default=None, repr=False)  # HMAC key for co-owner pseudonyms

    @property
    def media_dir(self) -> Path:
        return self.var_dir / "media"

    def dev_secret(self, name: str, nbytes: int = 32) -> bytes:
        """A development-only secret kept in var_dir/secrets; production sets CAMEOGATE_* instead.

        Created atomically: written whole to a file of its own, then linked into place, which fails
        if another thread or process got there first — everyone then reads the one that won (two
        concurrent first consent checks once signed with two different keys).

        Read once per process and path: the file never changes once linked, and the consent check
        signs a token with it on every call (a file read per check, issue #4)."""
        path = (self.var_dir / "secrets" / name).absolute()
        known = _DEV_SECRETS.get(path)
        if known is not None:
            return known
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f".{name}.{os.getpid()}.{threading.get_ident()}")
            draft.touch(mode=0o600)
            draft.write_text(base64.b64encode(secrets.token_bytes(nbytes)).decode())
            try:
                # Another thread or process linked its own first: theirs is the secret.
                with contextlib.suppress(FileExistsError):
                    os.link(draft, path)
                    log.warning(
                        "INSECURE development secret %r created at %s; set it in production", name, path
                    )
            finally:
                draft.unlink()
        value = base64.b64decode(path.read_text())
        _DEV_SECRETS[path] = value
        return value

    def secret(self, name: str) -> bytes:
        configured = getattr(self, name)
        return base64.b64decode(configured) if configured else self.dev_secret(name)

    def keyring(self) -> Keyring:
        return Keyring(self.template_keyring())

    def template_keyring(self) -> dict[str, bytes]:
        """Key id → AES-256 key, active key first (dicts keep insertion order)."""
        if not self.template_keys:
            return {"dev": self.dev_secret("template_key")}
        ring: dict[str, bytes] = {}
        for item in self.template_keys.split(","):
            kid, _, b64 = item.strip().partition(":")
            key = base64.b64decode(b64)
            if len(key) != 32:
                raise ValueError(f"CAMEOGATE_TEMPLATE_KEYS: key {kid!r} must be 32 bytes (base64)")
            ring[kid] = key
        return ring
