"""firmware/tools/app_version.py: the release's version written into an ESP32 app image's
esp_app_desc_t, with the image's checksum byte and appended SHA-256 made again, so the bootloader
and esp_ota_end still accept it and `fleet firmware add` reads the version. The images here are
built by hand after ESP-IDF 4.4's esp_app_format.h (checksum: 0xEF XOR every segment data byte,
in the last byte of a 16-byte block after the segments; then the SHA-256 of all before it)."""

from __future__ import annotations

import hashlib
import importlib.util
import struct
from pathlib import Path
from types import ModuleType

import pytest

from controller.core.firmware import inspect_image

TOOL = Path(__file__).resolve().parents[3] / "firmware" / "tools" / "app_version.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("app_version", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


app_version = _tool()


def segment(load: int, data: bytes) -> bytes:
    return struct.pack("<II", load, len(data)) + data


def image(version: bytes, hash_appended: bool = True) -> bytes:
    desc = struct.pack("<IIII", 0xABCD5432, 0, 0, 0) + version.ljust(32, b"\0") + bytes(208)  # 256 bytes
    segments = [segment(0x3F400020, desc + b"rodata" * 7), segment(0x400D0020, bytes(range(256)) * 3)]
    header = bytes([0xE9, len(segments), 2, 0x20]) + struct.pack("<I", 0x400D1234) + bytes(15) \
        + bytes([1 if hash_appended else 0])
    body = header + b"".join(segments)
    checksum = 0xEF
    for seg in segments:
        for byte in seg[8:]:
            checksum ^= byte
    body += bytes(15 - len(body) % 16) + bytes([checksum])
    return body + (hashlib.sha256(body).digest() if hash_appended else b"")


def test_the_version_checksum_and_hash_are_those_of_an_image_built_with_it() -> None:
    built_by_arduino = image(b"esp-idf: v4.4.7 38eeba213a")
    patched = app_version.set_version(built_by_arduino, "1.3.0")
    assert patched == image(b"1.3.0")
    assert inspect_image(patched).app_version == "1.3.0"


def test_an_image_without_an_appended_hash_gets_none() -> None:
    patched = app_version.set_version(image(b"v4.4.7", hash_appended=False), "1.3.0-rc.1")
    assert patched == image(b"1.3.0-rc.1", hash_appended=False)


@pytest.mark.parametrize(("data", "version", "why"), [
    (b"\x7fELF" + bytes(200), "1.3.0", "0xE9"),
    (image(b"1.0.0")[:40], "1.3.0", "0xE9"),
    (image(b"1.0.0"), "1." * 20, "1..31"),
    (image(b"1.0.0")[:24] + struct.pack("<II", 0, 64) + bytes(64), "1.3.0", "esp_app_desc_t"),
])
def test_what_is_not_an_app_image_is_refused(data: bytes, version: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        app_version.set_version(data, version)


def test_the_command_line_patches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "firmware.bin"
    path.write_bytes(image(b"v4.4.7"))
    app_version._patch_file(str(path), "2.0.0")
    assert path.read_bytes() == image(b"2.0.0")
