"""Firmware image records on SQLite and PostgreSQL: added once per version, the same bytes again
kept as they are, a version taken by other bytes refused, listed highest version first."""

from __future__ import annotations

import base64

import pytest

from controller.adapters.store import Store
from controller.contract.firmware import FirmwareAddParams
from controller.errors import VersionTaken

SIG = base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode()


def params(version: str, digit: str = "a", notes: str = "") -> FirmwareAddParams:
    return FirmwareAddParams(version, digit * 64, 1000, SIG, notes)


def test_an_image_is_kept_and_listed_highest_version_first(store: Store) -> None:
    for digit, version in zip("1234", ("1.2.9", "1.10.0", "1.3.0-rc.1", "1.3.0"), strict=True):
        added = store.firmware.add(params(version, digit), "admin", now=5.0)
        assert added.added and added.image.version == version and added.image.added_by == "admin"
    assert [i.version for i in store.firmware.images().images] == ["1.10.0", "1.3.0", "1.3.0-rc.1", "1.2.9"]


def test_the_same_bytes_again_are_kept_as_they_were(store: Store) -> None:
    first = store.firmware.add(params("1.3.0", notes="first"), "admin", now=5.0)
    again = store.firmware.add(params("1.3.0", notes="second"), "bob", now=9.0)
    assert not again.added and again.image == first.image
    assert len(store.firmware.images().images) == 1


@pytest.mark.parametrize("version", ["1.3.0", "1.3.0+build.2"])
def test_a_version_taken_by_other_bytes_is_refused(store: Store, version: str) -> None:
    store.firmware.add(params("1.3.0"), "admin", now=5.0)
    with pytest.raises(VersionTaken, match="already image aaaaaaaaaaaa"):
        store.firmware.add(params(version, digit="b"), "admin", now=6.0)
    assert [i.sha256 for i in store.firmware.images().images] == ["a" * 64]
