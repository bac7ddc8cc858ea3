"""The firmware's version in the ESP32 app image: PlatformIO `extra_scripts` hook and a tool.

An Arduino build cannot set `esp_app_desc_t.version`: the descriptor is compiled into the Arduino
core's prebuilt libapp_update.a with the version of Espressif's lib builder, and PROJECT_VER is
an ESP-IDF build variable the Arduino framework never reads (platform-espressif32 #550). The
fleet needs it: the device reports it (`esp_ota_get_app_description`), compares versions with it,
and `fleet firmware add FILE --version V` refuses an image whose descriptor says otherwise. So
after the link this script writes the version into firmware.bin's descriptor, then recomputes the
image's checksum byte and its appended SHA-256 (the bootloader and esp_ota_end check both).

As a hook (platformio.ini `extra_scripts = pre:tools/app_version.py`) it takes the version from
the environment, FLEET_FW_VERSION=1.3.0 pio run, default 1.0.0, and also defines FLEET_FW_VERSION
for the compiler. As a tool: python3 tools/app_version.py firmware.bin 1.3.0.
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys

IMAGE_HEADER = 24  # esp_image_header_t
SEGMENT_HEADER = 8  # esp_image_segment_header_t
DESC_MAGIC = 0xABCD5432
VERSION_AT = IMAGE_HEADER + SEGMENT_HEADER + 16  # esp_app_desc_t.version, after magic and words
VERSION_SIZE = 32
HASH_APPENDED_AT = 23  # esp_image_header_t.hash_appended
CHECKSUM_SEED = 0xEF
DEFAULT_VERSION = "1.0.0"


def set_version(image: bytes, version: str) -> bytes:
    """`image` with its descriptor's version replaced, checksum and appended SHA-256 made again."""
    raw = version.encode("ascii")
    if not 1 <= len(raw) < VERSION_SIZE:
        raise ValueError(f"version {version!r}: 1..{VERSION_SIZE - 1} ASCII characters")
    if len(image) < VERSION_AT + VERSION_SIZE or image[0] != 0xE9:
        raise ValueError("not an ESP32 app image (magic 0xE9)")
    (magic,) = struct.unpack_from("<I", image, IMAGE_HEADER + SEGMENT_HEADER)
    if magic != DESC_MAGIC:
        raise ValueError("the first segment does not start with esp_app_desc_t")
    out = bytearray(image)
    out[VERSION_AT:VERSION_AT + VERSION_SIZE] = raw.ljust(VERSION_SIZE, b"\0")
    end = _checksum_at(out)
    checksum = CHECKSUM_SEED
    for offset, length in _segments(out):
        for byte in out[offset:offset + length]:
            checksum ^= byte
    out[end] = checksum
    if out[HASH_APPENDED_AT] == 1:
        digest = hashlib.sha256(bytes(out[:end + 1])).digest()
        out[end + 1:end + 33] = digest
    return bytes(out)


def _segments(image: bytearray) -> list[tuple[int, int]]:
    """(data offset, length) of each segment."""
    found, at = [], IMAGE_HEADER
    for _ in range(image[1]):
        (length,) = struct.unpack_from("<I", image, at + 4)
        found.append((at + SEGMENT_HEADER, length))
        at += SEGMENT_HEADER + length
    if at > len(image):
        raise ValueError("segments run past the end of the image")
    return found


def _checksum_at(image: bytearray) -> int:
    """The checksum byte: after the segments, padded so that the byte ends a 16-byte block."""
    offset, length = _segments(image)[-1]
    end = offset + length
    at = end + (15 - end % 16)
    if at >= len(image):
        raise ValueError("no checksum byte after the segments")
    return at


def _patch_file(path: str, version: str) -> None:
    with open(path, "rb") as f:
        image = f.read()
    with open(path, "wb") as f:
        f.write(set_version(image, version))
    print(f"{path}: esp_app_desc_t.version = {version}")


def _hook(env: object) -> None:  # pragma: no cover (runs inside PlatformIO's SCons)
    version = os.environ.get("FLEET_FW_VERSION", DEFAULT_VERSION)
    env.Append(CPPDEFINES=[("FLEET_FW_VERSION", '\\"%s\\"' % version)])  # type: ignore[attr-defined]
    env.AddPostAction("$BUILD_DIR/${PROGNAME}.bin",  # type: ignore[attr-defined]
                      lambda target, source, env: _patch_file(str(target[0]), version))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: app_version.py FIRMWARE.bin VERSION")
    _patch_file(sys.argv[1], sys.argv[2])
elif "Import" in globals():  # pragma: no cover (PlatformIO runs this file as an SCons script)
    Import("env")  # type: ignore[name-defined] # noqa: F821
    _hook(globals()["env"])
