"""Firmware images in the request API: a semantic `Version`, an image's record (version, SHA-256,
size, signature, notes), the params of `firmware.add` and the results of `firmware.add` and
`firmware.list`. Pure: no I/O.

An image's bytes never travel over MQTT: the CLI writes them to the images directory the controller
serves (`/firmware/<sha256>.bin`) and sends only the record, which the controller keeps in its
database so every controller of a fleet lists and serves the same images.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import total_ordering
from typing import Any, Final, Self

from controller.contract.fields import bad, integer, number, object_list, text
from controller.contract.messages import JsonObject, is_int
from controller.contract.readers import opt_str, required_str
from controller.errors import BadRequest, FleetError

APP_DESC_VERSION_SIZE: Final = 32  # esp_app_desc_t.version: char[32], NUL-terminated
MAX_IMAGE_SIZE: Final = 16 * 1024 * 1024  # the largest ESP32 flash; an app slot is smaller still
MAX_SIGNATURE_BYTES: Final = 72  # DER ECDSA-Sig-Value on P-256: SEQUENCE of two INTEGERs of up to 33 bytes
MAX_NOTES: Final = 500
SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
_B64: Final = "[A-Za-z0-9+/]"
SIGNATURE_B64: Final = re.compile(rf"(?:{_B64}{{4}}){{2,23}}(?:{_B64}{{4}}|{_B64}{{3}}=|{_B64}{{2}}==)")
"""Base64 with padding of 7..72 bytes (the schema's firmware_signature)."""

_SEMVER: Final = re.compile(
    r"(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?")


class FirmwareError(FleetError):
    """An image or a version that is not what it claims to be."""


@total_ordering
@dataclass(frozen=True, slots=True, eq=False)
class Version:
    """A semantic version (semver.org 2.0.0): compared by major, minor, patch, then pre-release
    (a pre-release sorts before its release; numeric identifiers numerically, and below alphanumeric
    ones); build metadata stays in `text` but is ignored in comparisons, as semver says."""

    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Self:
        match = _SEMVER.fullmatch(text) if len(text) < APP_DESC_VERSION_SIZE else None
        if match is None:
            raise FirmwareError(f"version {text[:40]!r} is not a semantic version MAJOR.MINOR.PATCH (e.g. 1.3.0), "
                                f"at most {APP_DESC_VERSION_SIZE - 1} characters")
        pre = tuple(match.group(4).split(".")) if match.group(4) else ()
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3)), pre, text)

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __str__(self) -> str:
        return self.text


def check_version(text: str) -> str:
    try:
        return Version.parse(text).text
    except FirmwareError as exc:
        raise BadRequest(str(exc)) from None


def check_sha256(value: str, key: str = "sha256") -> str:
    if SHA256_HEX.fullmatch(value) is None:
        raise BadRequest(f"'{key}' must be a SHA-256 in lowercase hex (64 characters)")
    return value


def check_signature(value: str) -> str:
    """Base64 of a DER signature (at most 72 bytes); the device checks it is one."""
    if SIGNATURE_B64.fullmatch(value) is None:
        raise BadRequest(f"'signature' must be base64 of at most {MAX_SIGNATURE_BYTES} bytes (a DER ECDSA-Sig-Value)")
    return value


@dataclass(frozen=True, slots=True)
class FirmwareAddParams:
    """firmware.add: an image already written to the images directory as `<sha256>.bin`."""

    version: str
    sha256: str
    size: int
    signature: str
    notes: str = ""

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        size = params.get("size")
        if not is_int(size, 1, MAX_IMAGE_SIZE):
            raise BadRequest(f"'size' must be an integer in 1-{MAX_IMAGE_SIZE}")
        return cls(check_version(required_str(params, "version", hi=APP_DESC_VERSION_SIZE - 1)),
                   check_sha256(required_str(params, "sha256", hi=64)), size,
                   check_signature(required_str(params, "signature", hi=96)),
                   opt_str(params, "notes", hi=MAX_NOTES, lo=0) or "")

    def to_obj(self) -> JsonObject:
        return {"version": self.version, "sha256": self.sha256, "size": self.size, "signature": self.signature,
                "notes": self.notes}


@dataclass(frozen=True, slots=True)
class FirmwareImage:
    """An image as the controller keeps it: its record, who added it and when (epoch seconds)."""

    version: str
    sha256: str
    size: int
    signature: str
    notes: str
    added_at: float
    added_by: str

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(text(obj, "version"), text(obj, "sha256"), integer(obj, "size"), text(obj, "signature"),
                   text(obj, "notes"), number(obj, "added_at"), text(obj, "added_by"))

    def to_obj(self) -> JsonObject:
        return {"version": self.version, "sha256": self.sha256, "size": self.size, "signature": self.signature,
                "notes": self.notes, "added_at": self.added_at, "added_by": self.added_by}

    @property
    def path(self) -> str:
        """Where the controller serves it: `/firmware/<sha256>.bin` on its HTTP endpoint."""
        return f"/firmware/{self.sha256}.bin"


@dataclass(frozen=True, slots=True)
class FirmwareAdded:
    """firmware.add: the image kept; `added` false when the same version with the same bytes was there."""

    image: FirmwareImage
    added: bool

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        image = obj.get("image")
        added = obj.get("added")
        if type(image) is not dict or type(added) is not bool:
            raise bad("image", "an object, and added a boolean")
        return cls(FirmwareImage.from_obj(image), added)

    def to_obj(self) -> JsonObject:
        return {"image": self.image.to_obj(), "added": self.added}


@dataclass(frozen=True, slots=True)
class FirmwareList:
    """firmware.list: every image, the highest version first."""

    images: tuple[FirmwareImage, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(tuple(FirmwareImage.from_obj(item) for item in object_list(obj, "images")))

    def to_obj(self) -> JsonObject:
        return {"images": [image.to_obj() for image in self.images]}


def newest_first(images: list[FirmwareImage]) -> tuple[FirmwareImage, ...]:
    return tuple(sorted(images, key=lambda image: Version.parse(image.version), reverse=True))
