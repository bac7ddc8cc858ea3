"""Firmware images before they are trusted: the ESP32 header checks and semantic versions."""

from __future__ import annotations

import pytest

from controller.contract.firmware import FirmwareError, Version
from controller.core.firmware import APP_DESC_OFFSET, build_image, check_image, inspect_image


def test_an_image_with_an_app_descriptor_says_its_version() -> None:
    info = inspect_image(build_image("1.3.0"))
    assert info.segments == 1 and info.app_version == "1.3.0"


def test_an_image_without_an_app_descriptor_has_no_version() -> None:
    assert inspect_image(build_image(None)).app_version is None


def test_the_app_descriptor_sits_after_the_image_and_segment_headers() -> None:
    image = build_image("2.0.1")
    assert image[APP_DESC_OFFSET:APP_DESC_OFFSET + 4] == bytes.fromhex("3254cdab")  # 0xABCD5432, little-endian
    assert image[48:53] == b"2.0.1"


@pytest.mark.parametrize(("data", "why"), [
    (b"", "too short"),
    (b"\x7fELF" + bytes(60), "0x7F, not 0xE9"),
    (bytes([0xE9, 0]) + bytes(60), "0 segments"),
    (bytes([0xE9, 17]) + bytes(60), "17 segments"),
])
def test_what_is_not_an_app_image_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(FirmwareError, match=why):
        inspect_image(data)


def test_the_version_given_must_match_the_app_descriptor() -> None:
    check_image(build_image("1.3.0"), Version.parse("1.3.0"))
    check_image(build_image(None), Version.parse("1.3.0"))
    with pytest.raises(FirmwareError, match=r"says it is version '1\.2\.9'"):
        check_image(build_image("1.2.9"), Version.parse("1.3.0"))


@pytest.mark.parametrize("lower, higher", [
    ("1.2.9", "1.3.0"), ("1.9.0", "1.10.0"), ("1.3.0-rc.1", "1.3.0"), ("1.3.0-alpha", "1.3.0-alpha.1"),
    ("1.3.0-alpha.1", "1.3.0-alpha.beta"), ("1.3.0-rc.2", "1.3.0-rc.10"), ("0.9.9", "1.0.0"),
])
def test_versions_compare_as_semver_says(lower: str, higher: str) -> None:
    assert Version.parse(lower) < Version.parse(higher)
    assert not Version.parse(higher) < Version.parse(lower)


def test_build_metadata_does_not_order_versions() -> None:
    assert Version.parse("1.3.0+build.7") == Version.parse("1.3.0")
    assert str(Version.parse("1.3.0+build.7")) == "1.3.0+build.7"


@pytest.mark.parametrize("text", ["1.3", "v1.3.0", "01.3.0", "1.3.0-", "1.3.0 ", "", "1.2.3-" + "a" * 40])
def test_what_is_not_semver_is_refused(text: str) -> None:
    with pytest.raises(FirmwareError, match="not a semantic version"):
        Version.parse(text)
