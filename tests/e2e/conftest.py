"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.brokers import RunningBroker
from tests.hostdevice import HostDevice


@pytest.fixture
def host_devices(broker: RunningBroker, root: str, tmp_path: Path) -> Iterator[Callable[..., HostDevice]]:
    """`make(device_id, *flags)`: a started `fleet-device`, `flags` more of its options (e.g. "--no-recycle")."""
    made: list[HostDevice] = []

    def make(device_id: str, *flags: str) -> HostDevice:
        device = HostDevice(device_id, broker.url, root, tmp_path / device_id, flags)
        device.start()
        made.append(device)
        return device

    yield make
    for device in made:
        device.stop()
