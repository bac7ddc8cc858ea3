"""The fleet's firmware signing key, through `cryptography`: ECDSA over NIST P-256 with SHA-256.

The ESP32's mbedTLS verifies it (`mbedtls_pk_verify(MBEDTLS_MD_SHA256, ...)`, which calls
`mbedtls_ecdsa_read_signature`): the signature is over the image's SHA-256 digest and encoded as
DER ASN.1 `ECDSA-Sig-Value` (SEQUENCE of r and s), the encoding mbedTLS reads. The private key is a
PKCS#8 PEM file, written 0600 and never logged; the public key (SubjectPublicKeyInfo PEM) goes to
devices at provisioning (`mbedtls_pk_parse_public_key`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from controller.errors import FleetError

PRIVATE_NAME: Final = "firmware-signing.key"
PUBLIC_NAME: Final = "firmware-signing.pub"
_ALGORITHM: Final = ec.ECDSA(Prehashed(hashes.SHA256()))


class SigningError(FleetError):
    """A key that cannot be read, written or used (the message never holds key material)."""


@dataclass(frozen=True, slots=True)
class KeyFiles:
    private: Path
    public: Path
    public_pem: str


def default_key_dir() -> Path:
    """$XDG_CONFIG_HOME (~/.config)/fleet: the signing key is configuration, not data."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "fleet"


def generate(directory: Path, *, force: bool = False) -> KeyFiles:
    """A new P-256 key pair in `directory`: the private key 0600 (atomically), the public key 0644."""
    private, public = directory / PRIVATE_NAME, directory / PUBLIC_NAME
    if not force and (private.exists() or public.exists()):
        raise SigningError(f"{private} already exists: a new key makes every signed image unverifiable on devices "
                           "provisioned with the old one; pass --force to replace it")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    public_pem = public_key_pem(key.public_key())
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_atomic(private, pem, 0o600)
    _write_atomic(public, public_pem.encode(), 0o644)
    return KeyFiles(private, public, public_pem)


def public_key_pem(key: ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_private(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise SigningError(f"cannot read the signing key {path}: {exc.strerror}; create one with "
                           "`fleet firmware keygen`") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SigningError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SigningError(f"{path} is not an ECDSA P-256 key")
    return key


def load_public(path: Path) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise SigningError(f"cannot read the public key {path}: {exc.strerror}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise SigningError(f"{path} is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SigningError(f"{path} is not an ECDSA P-256 public key")
    return key


def sign_digest(key: ec.EllipticCurvePrivateKey, sha256: bytes) -> bytes:
    """The DER `ECDSA-Sig-Value` over an image's SHA-256 digest (what a device checks while it streams)."""
    return key.sign(sha256, _ALGORITHM)


def verify_digest(key: ec.EllipticCurvePublicKey, sha256: bytes, signature: bytes) -> bool:
    try:
        key.verify(signature, sha256, _ALGORITHM)
    except InvalidSignature:
        return False
    return True


def image_problem(key: ec.EllipticCurvePublicKey, data: bytes, sha256: str, size: int, signature: str) -> str | None:
    """What a device would refuse `data` for, given the kept record (None: nothing): its size or
    SHA-256 differ, or the signature (base64 DER) does not verify with `key`."""
    digest = hashlib.sha256(data).digest()
    if len(data) != size or digest.hex() != sha256:
        return f"sha256 {digest.hex()[:12]} ({len(data)} bytes), kept {sha256[:12]} ({size} bytes)"
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        return "the kept signature is not base64"
    return None if verify_digest(key, digest, raw) else "the signature does not verify with this public key"


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
