"""Big lectures through one 10-slot access point (issue 13): the host port's radio model makes each
client address a Wi-Fi station, so students on 127.0.0.2, 127.0.0.3, ... take the slots a real
access point has. With slot recycling a phone is released a few seconds after its confirmation page,
and 40 students get through one device; without it the 11th is refused while the first 10 hold on."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Callable

import pytest

from controller.adapters.client import FleetClient
from controller.daemon.controller import Controller
from tests.brokers import RunningBroker
from tests.conftest import Recorder
from tests.hostdevice import HostDevice, attendance, last_heartbeat, online, start_applied
from tests.waiting import eventually

SLOTS = 10
FULL_BODY = "access point full"  # fleet::kAccessPointFullBody
DEVICE_ID = "esp32-00000000013a"


class Phone:
    """One student's phone: its own loopback source address, so the portal sees one station."""

    def __init__(self, index: int, portal_port: int) -> None:
        self.address = f"127.0.0.{index + 2}"
        self.student_id = f"U2024/{index + 1:04d}"
        self.portal_port = portal_port

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.portal_port, timeout=5, source_address=(self.address, 0))
        try:
            body = None if form is None else urllib.parse.urlencode(form)
            headers = {} if form is None else {"Content-Type": "application/x-www-form-urlencoded"}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def open_portal(self) -> tuple[int, str]:
        return self.request("GET", "/")

    def check_in(self) -> tuple[int, str]:
        return self.request("POST", "/checkin", {"student_id": self.student_id})


@pytest.mark.parametrize("broker", ["mosquitto"], indirect=True)
def test_forty_students_check_in_through_ten_recycled_slots(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller],
    host_devices: Callable[..., HostDevice], recorder: Recorder,
) -> None:
    start_controller()
    device = host_devices(DEVICE_ID)
    with FleetClient(broker.url, root) as client:
        online(client, 1)
        started = start_applied(client)
        phones = [Phone(i, device.portal_port) for i in range(40)]
        waiting, refusals = list(phones), 0
        t0 = time.monotonic()
        while waiting:
            assert time.monotonic() - t0 < 60, f"{len(waiting)} students still waiting"
            for phone in list(waiting):
                status, page = phone.open_portal()
                if status == 503:
                    assert page == FULL_BODY
                    refusals += 1
                    continue
                assert status == 200 and "student_id" in page, page
                status, page = phone.check_in()
                assert status == 200 and "checked in" in page.lower(), page
                assert "will be disconnected" in page
                waiting.remove(phone)
            time.sleep(0.2)
        assert refusals > 0  # 40 phones at once: the radio was full until slots were released

        expected = sorted(p.student_id for p in phones)
        eventually(lambda: attendance(client, started["session_id"]) == expected, 15, "40 rows")

        # Back after its release: the "already checked in" page, and released again.
        time.sleep(3.5)
        status, page = phones[0].open_portal()
        assert status == 200 and "already checked in" in page.lower() and "<form" not in page

        def slots_settled() -> bool:
            hb = last_heartbeat(recorder, device.id)
            return hb is not None and hb.checkins_served == 40 and hb.stations == 0
        eventually(slots_settled, 15, "every station released")
        hb = last_heartbeat(recorder, device.id)
        assert hb is not None and hb.stations_peak == SLOTS and hb.stations_refused == refusals
        eventually(lambda: client.call("devices.list")["devices"][0]["stations"] == 0, 10, "controller saw it")
        assert attendance(client, started["session_id"]) == expected  # each student stored once


@pytest.mark.parametrize("broker", ["mosquitto"], indirect=True)
def test_without_recycling_the_eleventh_student_is_refused(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller],
    host_devices: Callable[..., HostDevice], recorder: Recorder,
) -> None:
    start_controller()
    device = host_devices(DEVICE_ID, "--no-recycle")
    with FleetClient(broker.url, root) as client:
        online(client, 1)
        started = start_applied(client)
        phones = [Phone(i, device.portal_port) for i in range(SLOTS + 1)]
        for phone in phones[:SLOTS]:
            assert phone.open_portal()[0] == 200
            status, page = phone.check_in()
            assert status == 200 and "checked in" in page.lower() and "disconnected" not in page
        assert phones[SLOTS].open_portal() == (503, FULL_BODY)
        time.sleep(4)  # past the release grace: nobody is released
        assert phones[SLOTS].open_portal() == (503, FULL_BODY)
        status, page = phones[0].open_portal()  # the first ten still hold their slots
        assert status == 200

        def full_and_counted() -> bool:
            hb = last_heartbeat(recorder, device.id)
            return hb is not None and hb.stations == SLOTS and hb.stations_refused == 2
        eventually(full_and_counted, 10, "heartbeat of a full access point")
        hb = last_heartbeat(recorder, device.id)
        assert hb is not None and hb.stations_peak == SLOTS and hb.checkins_served == SLOTS
        eventually(lambda: client.call("devices.list")["devices"][0]["stations"] == SLOTS, 10, "controller saw it")
        assert attendance(client, started["session_id"]) == sorted(p.student_id for p in phones[:SLOTS])
        assert json.loads((device.state_dir / "ap.json").read_text())["max_connections"] == SLOTS
