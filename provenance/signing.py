"""The signing identity: a development CA (root → intermediate → ES256 leaf) or a configured chain, and
the trust anchors that verification accepts (current and every previous root, so rotation keeps old
clips verifiable)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from gate.errors import ConfigurationError
from gate.settings import Settings

log = logging.getLogger(__name__)

# C2PA signing certificates need EKU documentSigning (1.3.6.1.5.5.7.3.36); emailProtection is also
# accepted and keeps older validators happy (measured here, see shared DEPENDENCIES.md).
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
DEV_DIR = "provenance"


@dataclass(frozen=True)
class Identity:
    """Chain PEM (leaf first, intermediates, no root) and the PKCS#8 key PEM. Never logged."""

    chain_pem: bytes
    key_pem: bytes = b""

    def __repr__(self) -> str:  # keys never reach logs or tracebacks
        return f"Identity(leaf={self.fingerprint[:16]}…)"

    @property
    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.chain_pem)[0]

    @property
    def fingerprint(self) -> str:
        return self.leaf.fingerprint(hashes.SHA256()).hex()


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cameogate (development)"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    *,
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
    days: int,
    now: dt.datetime,
) -> x509.Certificate:
    pub = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def create_chain(*, name: str = "cameogate", days: int = 825) -> tuple[Identity, bytes]:
    """A fresh root → intermediate → ES256 leaf. Returns (identity, root PEM)."""
    now = dt.datetime.now(dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert(
        subject=f"{name} root CA",
        key=root_key,
        issuer=None,
        issuer_key=root_key,
        ca=True,
        days=days * 4,
        now=now,
    )
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = _cert(
        subject=f"{name} intermediate CA",
        key=inter_key,
        issuer=root,
        issuer_key=root_key,
        ca=True,
        days=days * 2,
        now=now,
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(
        subject=f"{name} signer",
        key=leaf_key,
        issuer=inter,
        issuer_key=inter_key,
        ca=False,
        days=days,
        now=now,
    )
    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Identity(chain_pem=_pem(leaf) + _pem(inter), key_pem=key_pem), _pem(root)


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(data)


def dev_identity(var_dir: Path) -> tuple[Identity, list[bytes]]:
    """The development identity under var_dir/provenance, created on first use.

    Every root ever created stays in anchors/ (rotation keeps old clips Trusted)."""
    base = var_dir / DEV_DIR
    chain_path, key_path, anchors = base / "chain.pem", base / "signer.key", base / "anchors"
    if not chain_path.exists() or not key_path.exists():
        log.warning(
            "INSECURE development signing CA created under %s; configure CAMEOGATE_SIGNING_CHAIN", base
        )
        identity, root = create_chain()
        anchors.mkdir(parents=True, exist_ok=True)
        _write_secret(key_path, identity.key_pem)
        chain_path.write_bytes(identity.chain_pem)
        (anchors / f"{hashlib.sha256(root).hexdigest()[:16]}.pem").write_bytes(root)
    identity = Identity(chain_pem=chain_path.read_bytes(), key_pem=key_path.read_bytes())
    return identity, [p.read_bytes() for p in sorted(anchors.glob("*.pem"))]


def rotate_dev_identity(var_dir: Path) -> Identity:
    """Replace the development signer with a new chain; previous roots stay trusted."""
    base = var_dir / DEV_DIR
    for name in ("chain.pem", "signer.key"):
        (base / name).unlink(missing_ok=True)
    return dev_identity(var_dir)[0]


def configured_identity(settings: Settings) -> tuple[Identity, list[bytes]]:
    """Production: chain + PKCS#8 key (optionally encrypted) from settings; anchors are the chain's
    last certificate's issuer root if present in the file, plus var_dir/provenance/anchors/*.pem."""
    assert settings.signing_chain and settings.signing_key
    for setting, path in (
        ("CAMEOGATE_SIGNING_CHAIN", settings.signing_chain),
        ("CAMEOGATE_SIGNING_KEY", settings.signing_key),
    ):
        if not path.exists():
            raise ConfigurationError(f"{setting} points at {path}, which does not exist")
    certs = x509.load_pem_x509_certificates(settings.signing_chain.read_bytes())
    password = settings.signing_key_password.encode() if settings.signing_key_password else None
    try:
        key = serialization.load_pem_private_key(settings.signing_key.read_bytes(), password=password)
    except (ValueError, TypeError):
        # from None: the underlying error could quote key material.
        raise ConfigurationError(
            "CAMEOGATE_SIGNING_KEY cannot be loaded (wrong CAMEOGATE_SIGNING_KEY_PASSWORD?)"
        ) from None
    # The signer is handed an unencrypted PKCS#8 copy in memory only.
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # A self-signed certificate in the file is a root: an anchor, not part of the signed chain.
    chain = [c for c in certs if c.issuer != c.subject]
    roots = [_pem(c) for c in certs if c.issuer == c.subject]
    extra = settings.var_dir / DEV_DIR / "anchors"
    roots += [p.read_bytes() for p in sorted(extra.glob("*.pem"))] if extra.exists() else []
    return Identity(chain_pem=b"".join(_pem(c) for c in chain), key_pem=key_pem), roots


class ManifestSigner:
    """Holds the identity and anchors; creates a fresh c2pa Signer/Context per call (they are not
    thread-safe, so none is shared)."""

    def __init__(
        self,
        identity: Identity,
        anchors: list[bytes],
        *,
        tsa_url: str | None = None,
        watermark_key: bytes,
        pseudonym_key: bytes,
    ) -> None:
        self._identity = identity
        self.watermark_key = watermark_key
        self.pseudonym_key = pseudonym_key
        self.anchors = list(dict.fromkeys(anchors))
        self.tsa_url = tsa_url

    @classmethod
    def from_settings(cls, settings: Settings) -> ManifestSigner:
        if settings.signing_chain or settings.signing_key:
            if not (settings.signing_chain and settings.signing_key):
                raise ConfigurationError("set both CAMEOGATE_SIGNING_CHAIN and CAMEOGATE_SIGNING_KEY")
            identity, anchors = configured_identity(settings)
        else:
            identity, anchors = dev_identity(settings.var_dir)
        return cls(
            identity,
            anchors,
            tsa_url=settings.tsa_url,
            watermark_key=settings.secret("watermark_secret"),
            pseudonym_key=settings.secret("pseudonym_secret"),
        )

    def __repr__(self) -> str:
        return f"ManifestSigner({self._identity!r}, anchors={len(self.anchors)})"

    @property
    def fingerprint(self) -> str:
        return self._identity.fingerprint

    def _c2pa_signer(self) -> c2pa.Signer:
        info = c2pa.C2paSignerInfo(
            alg=b"es256",
            sign_cert=self._identity.chain_pem,
            private_key=self._identity.key_pem,
            ta_url=self.tsa_url.encode() if self.tsa_url else None,
        )
        return c2pa.Signer.from_info(info)

    def sign(
        self, *, manifest: dict, source: Path, dest: Path, ingredient: tuple[dict, Path] | None = None
    ) -> bytes:
        """Embed and sign `manifest` into `source` (an MP4), writing `dest`; returns the manifest bytes."""
        with self._c2pa_signer() as signer, c2pa.Builder.from_json(json.dumps(manifest)) as builder:
            if ingredient:
                with ingredient[1].open("rb") as fh:
                    builder.add_ingredient(json.dumps(ingredient[0]), "video/mp4", fh)
            with source.open("rb") as src, dest.open("w+b") as out:
                return builder.sign(signer, "video/mp4", src, out)

    def context(self, *, trusted: bool = True) -> c2pa.Context:
        """A fresh reading context; `trusted=False` reads with no anchors at all (for reports)."""
        settings: dict = {"verify": {"remote_manifest_fetch": False}}
        if trusted:
            settings["trust"] = {"user_anchors": b"".join(self.anchors).decode()}
        return c2pa.Context.from_dict(settings)

    @contextmanager
    def reader(
        self, data: bytes, *, mime: str = "video/mp4", trusted: bool = True
    ) -> Iterator[c2pa.Reader | None]:
        import io

        with self.context(trusted=trusted) as context:
            reader = c2pa.Reader.try_create(mime, io.BytesIO(data), context=context)
            try:
                yield reader
            finally:
                if reader is not None:
                    reader.close()
