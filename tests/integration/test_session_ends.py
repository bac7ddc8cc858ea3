"""Every session ends (issue 14): at the end it was given, moved by session.extend, even across a
controller restart; against real brokers and a real database."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from controller.adapters.client import FleetClient
from controller.contract.requests import SessionExtendParams, SessionStartParams
from controller.daemon.controller import Controller
from controller.errors import ApiError
from tests.brokers import RunningBroker
from tests.conftest import Device, crash
from tests.integration.test_controller import online_device, wait_online
from tests.waiting import eventually

CS101 = SessionStartParams("CS101", "Intro", "2024/2025", "1st Semester")


def test_a_session_ends_by_itself_at_its_end_and_frees_its_device(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller(schedule_s=0.2)
    device = online_device(make_device, "esp32-0000000000e1")
    with FleetClient(broker.url, root) as client:
        wait_online(client, 1)
        asked = time.time()
        started = client.start_session(replace(CS101, duration_s=2.0))
        assert asked + 2.0 <= started.ends_at <= time.time() + 2.0
        active = device.wait_config()
        assert active["session_id"] == started.session_id
        idle = device.wait_config(newer_than=int(str(active["version"])), timeout=15)
        assert idle["active_session"] is False
        [row] = client.sessions().sessions
        assert not row.active and row.ended_at is not None and row.ended_at >= row.ends_at == started.ends_at
        eventually(lambda: client.call("devices.list")["available"] == 1)


def test_an_end_moves_later_or_sooner_and_an_ended_session_cannot_move(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller(schedule_s=0.2)
    online_device(make_device, "esp32-0000000000e2")
    with FleetClient(broker.url, root) as client:
        wait_online(client, 1)
        started = client.start_session(replace(CS101, duration_s=600.0))
        later = client.extend_session(SessionExtendParams(started.session_id, by_s=900))
        assert later.ends_at == pytest.approx(started.ends_at + 900)
        with pytest.raises(ApiError) as caught:
            client.extend_session(SessionExtendParams(started.session_id, by_s=5 * 3600))
        assert caught.value.code == "bad_request" and "at most 4 h from now" in caught.value.message
        client.extend_session(SessionExtendParams(started.session_id, by_s=-3600))  # its end is past: ends now
        eventually(lambda: not client.sessions().sessions[0].active)
        with pytest.raises(ApiError) as ended:
            client.extend_session(SessionExtendParams(started.session_id, by_s=60))
        assert ended.value.code == "session_ended"


def test_a_session_whose_end_came_while_no_controller_ran_ends_at_the_next_start(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    first = start_controller(schedule_s=0.2)
    device = online_device(make_device, "esp32-0000000000e3")
    with FleetClient(broker.url, root) as client:
        wait_online(client, 1)
        started = client.start_session(replace(CS101, duration_s=1.0))
        active = device.wait_config()
        crash(first)  # no controller when the end comes
        time.sleep(1.5)
        start_controller(schedule_s=0.2)
        assert device.wait_config(newer_than=int(str(active["version"])), timeout=15)["active_session"] is False
        eventually(lambda: not client.sessions().sessions[0].active)
        assert client.sessions().sessions[0].session_id == started.session_id
