"""The store's firmware images: a record added (refused when its version, by semver, is taken by
other bytes; the same bytes again are kept as they are) and every record listed. `FirmwareStore`
(the store's `firmware`) runs each in a transaction of the store's."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlmodel import Session, select

from controller.adapters.tables import FirmwareImageRow
from controller.contract.firmware import (
    FirmwareAdded,
    FirmwareAddParams,
    FirmwareImage,
    FirmwareList,
    Version,
    newest_first,
)
from controller.errors import VersionTaken

Transaction = Callable[[], AbstractContextManager[Session]]


def _image(row: FirmwareImageRow) -> FirmwareImage:
    return FirmwareImage(row.version, row.sha256, row.size, row.signature, row.notes, row.added_at, row.added_by)


def add(s: Session, params: FirmwareAddParams, by: str, now: float) -> FirmwareAdded:
    version = Version.parse(params.version)
    for row in s.exec(select(FirmwareImageRow)):
        if Version.parse(row.version) != version:
            continue
        if row.sha256 != params.sha256 or row.version != params.version:
            raise VersionTaken(f"version {row.version} is already image {row.sha256[:12]} ({row.size} bytes); "
                               "a new build needs a new version")
        return FirmwareAdded(_image(row), added=False)
    row = FirmwareImageRow(version=params.version, sha256=params.sha256, size=params.size,
                           signature=params.signature, notes=params.notes, added_at=now, added_by=by[:64])
    s.add(row)
    s.flush()
    return FirmwareAdded(_image(row), added=True)


class FirmwareStore:
    """Firmware image records, one transaction each (`reading` and `writing` are the store's)."""

    def __init__(self, reading: Transaction, writing: Transaction) -> None:
        self._reading = reading
        self._writing = writing

    def add(self, params: FirmwareAddParams, by: str, now: float) -> FirmwareAdded:
        with self._writing() as s:
            return add(s, params, by, now)

    def images(self) -> FirmwareList:
        with self._reading() as s:
            return FirmwareList(newest_first([_image(row) for row in s.exec(select(FirmwareImageRow))]))
