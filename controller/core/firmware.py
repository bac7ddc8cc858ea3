"""What a firmware image is before it is trusted: an ESP32 app image's header checks, and semantic
versions (parsed, compared). Pure: bytes and strings in, values or FirmwareError out.

The layout is ESP-IDF 4.4's `esp_app_format.h`: `esp_image_header_t` (24 bytes, `magic` 0xE9 first),
then the first segment's `esp_image_segment_header_t` (8 bytes), whose data starts with
`esp_app_desc_t` (`magic_word` 0xABCD5432, `secure_version`, `reserv1[2]`, then `version[32]`).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import total_ordering
from typing import Final, Self

from controller.errors import FleetError

ESP_IMAGE_HEADER_MAGIC: Final = 0xE9
IMAGE_HEADER_SIZE: Final = 24  # sizeof(esp_image_header_t)
SEGMENT_HEADER_SIZE: Final = 8  # sizeof(esp_image_segment_header_t)
APP_DESC_OFFSET: Final = IMAGE_HEADER_SIZE + SEGMENT_HEADER_SIZE
ESP_APP_DESC_MAGIC_WORD: Final = 0xABCD5432
APP_DESC_VERSION_OFFSET: Final = APP_DESC_OFFSET + 16  # after magic_word, secure_version, reserv1[2]
APP_DESC_VERSION_SIZE: Final = 32
MAX_SEGMENTS: Final = 16  # ESP_IMAGE_MAX_SEGMENTS
MAX_IMAGE_BYTES: Final = 16 * 1024 * 1024  # the largest ESP32 flash; an app slot is smaller still

_SEMVER: Final = re.compile(
    r"(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?")


class FirmwareError(FleetError):
    """An image or a version that is not what it claims to be."""


@total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    """A semantic version (semver.org 2.0.0): compared by major, minor, patch, then pre-release
    (a pre-release sorts before its release; numeric identifiers numerically); build metadata is
    kept in the text but ignored in comparisons, as semver says."""

    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Self:
        match = _SEMVER.fullmatch(text) if len(text) < APP_DESC_VERSION_SIZE else None
        if match is None:
            raise FirmwareError(f"version {text!r} is not a semantic version MAJOR.MINOR.PATCH (e.g. 1.3.0), "
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


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says: segment count, and the app's own version (None: no app descriptor)."""

    segments: int
    app_version: str | None


def inspect_image(data: bytes) -> ImageInfo:
    """Check `data` looks like an ESP32 app image; FirmwareError says why not."""
    if len(data) < IMAGE_HEADER_SIZE:
        raise FirmwareError(f"{len(data)} bytes is too short for an ESP32 app image (header: {IMAGE_HEADER_SIZE})")
    if len(data) > MAX_IMAGE_BYTES:
        raise FirmwareError(f"{len(data)} bytes is larger than any ESP32 flash ({MAX_IMAGE_BYTES})")
    if data[0] != ESP_IMAGE_HEADER_MAGIC:
        raise FirmwareError(f"not an ESP32 app image: first byte 0x{data[0]:02X}, not 0xE9 (a .bin from "
                            "`idf.py build` or `pio run`, not the merged flash image nor an .elf)")
    segments = data[1]
    if not 1 <= segments <= MAX_SEGMENTS:
        raise FirmwareError(f"not an ESP32 app image: {segments} segments (1-{MAX_SEGMENTS})")
    return ImageInfo(segments, _app_version(data))


def _app_version(data: bytes) -> str | None:
    end = APP_DESC_VERSION_OFFSET + APP_DESC_VERSION_SIZE
    if len(data) < end:
        return None
    (magic,) = struct.unpack_from("<I", data, APP_DESC_OFFSET)
    if magic != ESP_APP_DESC_MAGIC_WORD:
        return None
    raw = data[APP_DESC_VERSION_OFFSET:end].split(b"\0", 1)[0]
    return raw.decode("ascii", errors="replace")


def check_image(data: bytes, version: Version) -> ImageInfo:
    """`inspect_image`, and the app descriptor's version (when there is one) must be `version`."""
    info = inspect_image(data)
    if info.app_version is not None and info.app_version != version.text:
        raise FirmwareError(f"the image says it is version {info.app_version!r} (esp_app_desc_t.version), "
                            f"not {version.text!r}: build it with PROJECT_VER {version.text!r}, or add it as "
                            f"{info.app_version!r}")
    return info


def build_image(version: str | None, body: bytes = b"\0" * 64, segments: int = 1) -> bytes:
    """A minimal image with the header and (when `version` is given) an app descriptor: for tests
    and the simulator, never flashed."""
    header = bytes([ESP_IMAGE_HEADER_MAGIC, segments, 2, 0x20]) + struct.pack("<I", 0x400D0000) + b"\xee" + bytes(15)
    if version is None:
        desc = b""
    else:
        desc = struct.pack("<IIII", ESP_APP_DESC_MAGIC_WORD, 0, 0, 0) + version.encode().ljust(APP_DESC_VERSION_SIZE,
                                                                                                b"\0")
    segment = struct.pack("<II", 0x3F400020, len(desc) + len(body))
    return header + segment + desc + body
