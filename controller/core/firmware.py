"""What a firmware image is before it is trusted: an ESP32 app image's header checks, its version
string against the semantic `Version` (`controller.contract.firmware`). Pure: bytes in, values or
FirmwareError out.

The layout is ESP-IDF 4.4's `esp_app_format.h`: `esp_image_header_t` (24 bytes, `magic` 0xE9 first),
then the first segment's `esp_image_segment_header_t` (8 bytes), whose data starts with
`esp_app_desc_t` (`magic_word` 0xABCD5432, `secure_version`, `reserv1[2]`, then `version[32]`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from controller.contract.firmware import APP_DESC_VERSION_SIZE, MAX_IMAGE_SIZE, FirmwareError, Version

ESP_IMAGE_HEADER_MAGIC: Final = 0xE9
IMAGE_HEADER_SIZE: Final = 24  # sizeof(esp_image_header_t)
SEGMENT_HEADER_SIZE: Final = 8  # sizeof(esp_image_segment_header_t)
APP_DESC_OFFSET: Final = IMAGE_HEADER_SIZE + SEGMENT_HEADER_SIZE
ESP_APP_DESC_MAGIC_WORD: Final = 0xABCD5432
APP_DESC_VERSION_OFFSET: Final = APP_DESC_OFFSET + 16  # after magic_word, secure_version, reserv1[2]
MAX_SEGMENTS: Final = 16  # ESP_IMAGE_MAX_SEGMENTS

@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says: segment count, and the app's own version (None: no app descriptor)."""

    segments: int
    app_version: str | None


def inspect_image(data: bytes) -> ImageInfo:
    """Check `data` looks like an ESP32 app image; FirmwareError says why not."""
    if len(data) < IMAGE_HEADER_SIZE:
        raise FirmwareError(f"{len(data)} bytes is too short for an ESP32 app image (header: {IMAGE_HEADER_SIZE})")
    if len(data) > MAX_IMAGE_SIZE:
        raise FirmwareError(f"{len(data)} bytes is larger than any ESP32 flash ({MAX_IMAGE_SIZE})")
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
