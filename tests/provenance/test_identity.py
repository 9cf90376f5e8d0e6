"""The signing identity: development CA on first start, configured chains and keys, rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gate.db import Conn
from gate.errors import ConfigurationError
from gate.media import ContentStore
from gate.settings import Settings
from policies.service import ActivePolicy
from provenance import service
from provenance.signing import ManifestSigner, create_chain, rotate_dev_identity
from tests.provenance.conftest import new_clip


def _sign(
    conn: Conn, signer: ManifestSigner, content: ContentStore, policy: ActivePolicy, src: Path, dest: Path
):
    return service.sign_clip(
        conn,
        signer=signer,
        store=content,
        policy=policy,
        clip_id=new_clip(conn),
        source=src,
        dest=dest,
        creator_handle=None,
        scan_digest="",
        coowner_ids=[],
        features_cameos=False,
        remix_of=None,
    )


def test_the_dev_chain_has_the_extensions_c2pa_requires(settings: Settings) -> None:
    signer = ManifestSigner.from_settings(settings)
    base = settings.var_dir / "provenance"
    certs = x509.load_pem_x509_certificates((base / "chain.pem").read_bytes())
    leaf, inter = certs
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).critical
    ekus = {e.dotted_string for e in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value}
    assert "1.3.6.1.5.5.7.3.36" in ekus
    assert inter.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert len(signer.anchors) == 1
    assert (base / "signer.key").stat().st_mode & 0o077 == 0
    # The same identity is reused on the next start.
    assert ManifestSigner.from_settings(settings).fingerprint == signer.fingerprint


def test_clips_signed_before_a_rotation_still_verify_as_trusted(
    conn: Conn,
    settings: Settings,
    content: ContentStore,
    policy: ActivePolicy,
    source_clip: Path,
    tmp_path: Path,
) -> None:
    old = ManifestSigner.from_settings(settings)
    before = _sign(conn, old, content, policy, source_clip, tmp_path / "before.mp4")
    rotate_dev_identity(settings.var_dir)
    new = ManifestSigner.from_settings(settings)
    assert new.fingerprint != old.fingerprint
    after = _sign(conn, new, content, policy, source_clip, tmp_path / "after.mp4")
    for signed in (before, after):
        report = service.verify_media(
            conn, signer=new, store=content, data=signed.path.read_bytes(), policy=policy
        )
        assert report.validation_state == "Trusted", signed


def test_a_configured_chain_with_an_encrypted_key_signs_trusted_clips(
    conn: Conn, tmp_path: Path, content: ContentStore, policy: ActivePolicy, source_clip: Path
) -> None:
    identity, root = create_chain(name="production")
    key = serialization.load_pem_private_key(identity.key_pem, password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    (tmp_path / "chain.pem").write_bytes(identity.chain_pem + root)  # the root travels as the anchor
    (tmp_path / "key.pem").write_bytes(encrypted)
    settings = Settings(
        database_url="postgresql://unused",
        var_dir=tmp_path / "var",
        signing_chain=tmp_path / "chain.pem",
        signing_key=tmp_path / "key.pem",
        signing_key_password="s3cret",
    )
    signer = ManifestSigner.from_settings(settings)
    assert "s3cret" not in repr(settings) and "PRIVATE" not in repr(signer)
    signed = _sign(conn, signer, content, policy, source_clip, tmp_path / "prod.mp4")
    assert signed.validation_state == "Trusted"
    wrong = settings.model_copy(update={"signing_key_password": "nope"})
    with pytest.raises(ConfigurationError, match="CAMEOGATE_SIGNING_KEY"):
        ManifestSigner.from_settings(wrong)
    missing = settings.model_copy(update={"signing_chain": tmp_path / "absent.pem"})
    with pytest.raises(ConfigurationError, match="CAMEOGATE_SIGNING_CHAIN"):
        ManifestSigner.from_settings(missing)
