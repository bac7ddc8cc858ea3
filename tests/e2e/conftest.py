"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.brokers import RunningBroker
from tests.hostdevice import HostDevice


@pytest.fixture
def host_devices(broker: RunningBroker, root: str, tmp_path: Path) -> Iterator[Callable[[str], HostDevice]]:
    made: list[HostDevice] = []

    def make(device_id: str) -> HostDevice:
        device = HostDevice(device_id, broker.url, root, tmp_path / device_id)
        device.start()
        made.append(device)
        return device

    yield make
    for device in made:
        device.stop()
