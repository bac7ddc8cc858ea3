"""The firmware signing key on real files: a P-256 pair, the private half 0600, signatures mbedTLS reads
(DER), and a tampered image named for what a device would refuse it for."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from controller.adapters import signing


def test_keygen_writes_the_private_key_0600_and_a_public_pem(tmp_path: Path) -> None:
    keys = signing.generate(tmp_path / "keys")
    assert stat.S_IMODE(keys.private.stat().st_mode) == 0o600
    assert keys.public.read_text() == keys.public_pem
    assert keys.public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert isinstance(signing.load_private(keys.private).curve, ec.SECP256R1)
    assert [p.name for p in keys.private.parent.iterdir()] != []
    assert not any(p.name.startswith(".") for p in keys.private.parent.iterdir())  # no temporary file left


def test_keygen_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    first = signing.generate(tmp_path)
    with pytest.raises(signing.SigningError, match="--force"):
        signing.generate(tmp_path)
    assert signing.generate(tmp_path, force=True).public_pem != first.public_pem


def test_a_signature_verifies_with_the_public_key_and_fails_for_other_bytes(tmp_path: Path) -> None:
    keys = signing.generate(tmp_path)
    image = b"\xe9\x01" + bytes(100)
    digest = hashlib.sha256(image).digest()
    signature = signing.sign_digest(signing.load_private(keys.private), digest)
    public = signing.load_public(keys.public)
    assert signing.verify_digest(public, digest, signature)
    assert not signing.verify_digest(public, hashlib.sha256(image + b"x").digest(), signature)
    # the same signature as signing the image with SHA-256, as mbedtls_pk_verify(MBEDTLS_MD_SHA256) checks it
    public.verify(signature, image, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(signature)  # DER ECDSA-Sig-Value: SEQUENCE { r INTEGER, s INTEGER }
    assert r > 0 and s > 0 and signature[0] == 0x30


def test_a_file_that_is_not_a_key_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "k"
    bad.write_text("nonsense")
    with pytest.raises(signing.SigningError, match="not an unencrypted PEM private key"):
        signing.load_private(bad)
    with pytest.raises(signing.SigningError, match="fleet firmware keygen"):
        signing.load_private(tmp_path / "missing")


def test_image_problem_names_what_a_device_would_refuse(tmp_path: Path) -> None:
    keys = signing.generate(tmp_path)
    image = b"\xe9\x01" + bytes(100)
    digest = hashlib.sha256(image).digest()
    signature = base64.b64encode(signing.sign_digest(signing.load_private(keys.private), digest)).decode()
    public = signing.load_public(keys.public)
    assert signing.image_problem(public, image, digest.hex(), len(image), signature) is None
    tampered = image[:-1] + b"\x01"
    assert "sha256" in (signing.image_problem(public, tampered, digest.hex(), len(image), signature) or "")
    other = signing.load_public(signing.generate(tmp_path / "other").public)
    assert signing.image_problem(other, image, digest.hex(), len(image), signature) == (
        "the signature does not verify with this public key")
