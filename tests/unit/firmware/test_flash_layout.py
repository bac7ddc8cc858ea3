"""firmware/partitions.csv and firmware/platformio.ini: what `pio run -t upload` writes must boot.

platform-espressif32 writes the bootloader at 0x1000, the partition table at 0x8000, the Arduino
build's boot_app0.bin (otadata) at 0xe000 and firmware.bin at `upload.offset_address` (0x10000
unless `board_upload.offset_address` says otherwise). A table whose otadata or first app is
elsewhere leaves the board without a bootable app after an upload (arduino-esp32 #8093,
platform-espressif32 #538). The checks are plain functions returning the problems they find, so
the tests below also show them rejecting broken layouts, the one that shipped before included.
"""

from __future__ import annotations

import configparser
import itertools
import re
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[3] / "firmware"
ENV = "env:esp32dev"

FLASH_END = 0x400000  # esp32dev: 4 MB of flash
BOOT_REGION_END = 0x9000  # bootloader 0x1000..0x7fff, partition table 0x8000..0x8fff
OTADATA_OFFSET = 0xE000  # where the Arduino build writes boot_app0.bin
OTADATA_SIZE = 0x2000
DEFAULT_UPLOAD_OFFSET = 0x10000  # platform-espressif32's upload.offset_address
APP_ALIGN = 0x10000  # app partitions: 64 KiB
DATA_ALIGN = 0x1000  # everything else: one 4 KiB flash sector
MIN_NVS_SIZE = 92 * 1024  # the check-in queue: 256 slots of about 128 NVS bytes, config, settings
PINNED_PLATFORM = re.compile(r"^espressif32\s*@\s*\d+\.\d+\.\d+$")

# The table that shipped before issue 11: NVS over 0x9000-0x1ffff, otadata at 0x20000, ota_0 at
# 0x30000. The upload wrote boot_app0.bin and firmware.bin into NVS, and the board did not boot.
LAYOUT_THAT_DID_NOT_BOOT = """\
# Name,   Type, SubType,  Offset,   Size
nvs,      data, nvs,      0x9000,   0x17000,
otadata,  data, ota,      0x20000,  0x2000,
app0,     app,  ota_0,    0x30000,  0x1E0000,
app1,     app,  ota_1,    0x210000, 0x1E0000,
coredump, data, coredump, 0x3F0000, 0x10000,
"""


@dataclass(frozen=True)
class Partition:
    name: str
    type: str
    subtype: str
    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size


def parse_size(text: str) -> int:
    """A partitions.csv number: hex (0x...), decimal, or with a K/M suffix."""
    value = text.strip()
    for suffix, scale in (("K", 1024), ("M", 1024 * 1024)):
        if value.upper().endswith(suffix):
            return int(value[:-1], 0) * scale
    return int(value, 0)


def parse_partitions(text: str) -> list[Partition]:
    """The rows of a partitions.csv; every row must give its offset (no implicit placement)."""
    rows: list[Partition] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, ptype, subtype, offset, size, *_ = (field.strip() for field in line.split(","))
        if not offset:
            raise ValueError(f"{name}: no offset; give every partition an explicit offset")
        rows.append(Partition(name, ptype, subtype, parse_size(offset), parse_size(size)))
    return rows


def parse_env(text: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return dict(parser[ENV])


def upload_offset(env: dict[str, str]) -> int:
    return int(env.get("board_upload.offset_address", hex(DEFAULT_UPLOAD_OFFSET)), 0)


def layout_problems(partitions: list[Partition], env: dict[str, str]) -> list[str]:
    """Everything that keeps this table from booting after `pio run -t upload`, or from fitting."""
    problems: list[str] = []
    ordered = sorted(partitions, key=lambda p: p.offset)
    for before, after in itertools.pairwise(ordered):
        if after.offset < before.end:
            problems.append(f"{after.name} at {after.offset:#x} overlaps {before.name} (ends {before.end:#x})")
    for part in ordered:
        align = APP_ALIGN if part.type == "app" else DATA_ALIGN
        if part.offset % align:
            problems.append(f"{part.name} at {part.offset:#x} is not {align:#x}-aligned")
        if part.size <= 0 or part.size % DATA_ALIGN:
            problems.append(f"{part.name} size {part.size:#x} is not a whole number of 4 KiB sectors")
        if part.offset < BOOT_REGION_END:
            problems.append(f"{part.name} at {part.offset:#x} is inside the bootloader/partition table")
        if part.end > FLASH_END:
            problems.append(f"{part.name} ends at {part.end:#x}, past the 4 MB flash ({FLASH_END:#x})")

    otadata = [p for p in partitions if (p.type, p.subtype) == ("data", "ota")]
    if [(p.offset, p.size) for p in otadata] != [(OTADATA_OFFSET, OTADATA_SIZE)]:
        found = ", ".join(f"{p.offset:#x}+{p.size:#x}" for p in otadata) or "none"
        problems.append(
            f"otadata must be one partition at {OTADATA_OFFSET:#x}+{OTADATA_SIZE:#x} "
            f"(boot_app0.bin lands there); found {found}"
        )

    target = upload_offset(env)
    at_target = [p for p in partitions if p.type == "app" and p.offset == target]
    first_slot = "ota_0" if any(p.subtype.startswith("ota_") for p in partitions) else "factory"
    if [p.subtype for p in at_target] != [first_slot]:
        problems.append(f"firmware.bin is uploaded to {target:#x}, but no {first_slot} app starts there")

    nvs = [p for p in partitions if p.name == "nvs" and (p.type, p.subtype) == ("data", "nvs")]
    if len(nvs) != 1 or nvs[0].size < MIN_NVS_SIZE:
        problems.append(f"Preferences needs one data/nvs partition named nvs of at least {MIN_NVS_SIZE} bytes")
    return problems


def platform_problems(env: dict[str, str]) -> list[str]:
    problems: list[str] = []
    platform = env.get("platform", "")
    if not PINNED_PLATFORM.match(platform):
        problems.append(f"platform {platform!r} is not pinned to an exact version (espressif32 @ X.Y.Z)")
    if env.get("board_build.partitions") != "partitions.csv":
        problems.append("board_build.partitions must name partitions.csv")
    if env.get("board") != "esp32dev":
        problems.append("the 4 MB flash limit assumes board = esp32dev")
    return problems


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return parse_env((FIRMWARE / "platformio.ini").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def partitions() -> list[Partition]:
    return parse_partitions((FIRMWARE / "partitions.csv").read_text(encoding="utf-8"))


def test_the_layout_boots_after_a_standard_upload(partitions: list[Partition], env: dict[str, str]) -> None:
    assert layout_problems(partitions, env) == []


def test_the_platform_is_pinned_and_names_the_table(env: dict[str, str]) -> None:
    assert platform_problems(env) == []


def test_the_upload_uses_the_default_offset_and_app0_is_there(partitions: list[Partition], env: dict[str, str]) -> None:
    assert "board_upload.offset_address" not in env
    app0 = next(p for p in partitions if p.subtype == "ota_0")
    assert app0.offset == upload_offset(env) == DEFAULT_UPLOAD_OFFSET


def test_the_layout_that_did_not_boot_is_rejected(env: dict[str, str]) -> None:
    problems = layout_problems(parse_partitions(LAYOUT_THAT_DID_NOT_BOOT), env)
    assert any(p.startswith("otadata must be one partition at 0xe000") for p in problems)
    assert any(p.startswith("firmware.bin is uploaded to 0x10000") for p in problems)


# One change to the real table each, and the problem it must produce.
BROKEN = {
    "app0 grows into app1": ("app0", {"size": 0x1F0000}, "app1 at 0x1f0000 overlaps app0"),
    "app1 off its 64 KiB boundary": ("app1", {"offset": 0x1F8000}, "app1 at 0x1f8000 is not 0x10000-aligned"),
    "nvs off its sector": ("nvs", {"offset": 0x3D0800}, "nvs at 0x3d0800 is not 0x1000-aligned"),
    "coredump past 4 MB": ("coredump", {"size": 0x20000}, "coredump ends at 0x410000, past the 4 MB flash"),
    "otadata into the table": (
        "otadata",
        {"offset": 0x8000},
        "otadata at 0x8000 is inside the bootloader/partition table",
    ),
    "nvs too small": ("nvs", {"size": 20 * 1024}, "Preferences needs one data/nvs partition named nvs"),
    "ota_1 where the upload lands": ("app0", {"subtype": "ota_1"}, "firmware.bin is uploaded to 0x10000"),
}


@pytest.mark.parametrize(("name", "change", "problem"), BROKEN.values(), ids=BROKEN.keys())
def test_each_broken_layout_is_rejected_for_its_reason(
    name: str, change: dict[str, int | str], problem: str, partitions: list[Partition], env: dict[str, str]
) -> None:
    broken = [replace(p, **change) if p.name == name else p for p in partitions]  # type: ignore[arg-type]
    problems = layout_problems(broken, env)
    assert any(p.startswith(problem) for p in problems), problems


def test_a_moved_upload_offset_must_move_app0_too(partitions: list[Partition], env: dict[str, str]) -> None:
    moved = {**env, "board_upload.offset_address": "0x20000"}
    assert layout_problems(partitions, moved) == ["firmware.bin is uploaded to 0x20000, but no ota_0 app starts there"]


@pytest.mark.parametrize(
    "platform",
    ["espressif32", "espressif32 @ ^6.13.0", "espressif32 @ ~6.13.0", "espressif32 @ >=6.13.0", "espressif32 @ 6"],
)
def test_an_unpinned_platform_is_rejected(platform: str, env: dict[str, str]) -> None:
    assert platform_problems({**env, "platform": platform}) != []


def test_implicit_offsets_are_refused() -> None:
    with pytest.raises(ValueError, match="no offset"):
        parse_partitions("nvs, data, nvs, , 0x5000,\n")
