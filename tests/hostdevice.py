"""`fleet-device` host processes for tests: the ESP32 core over libmosquitto, a directory as flash,
a file as the access point and libmicrohttpd as the captive portal."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from controller.adapters.client import FleetClient
from controller.broker.startup import free_port
from controller.contract.messages import Heartbeat, JsonObject, decode_heartbeat
from tests.conftest import Recorder
from tests.waiting import eventually

REPO = Path(__file__).resolve().parents[1]
DEVICE_BIN = REPO / "firmware" / "build" / "host" / "fleet-device"
START = {"course": "CS101", "title": "Introduction to Computer Science", "session": "2024/2025",
         "semester": "1st Semester", "lecturer": "alice"}


class HostDevice:
    """One `fleet-device` process with its own flash directory and portal port."""

    def __init__(
        self, device_id: str, broker_url: str, root: str, state_dir: Path, flags: tuple[str, ...] = (),
    ) -> None:
        if not DEVICE_BIN.exists():
            raise RuntimeError(f"{DEVICE_BIN} is missing: run `make firmware` (make test does)")
        self.id, self.root, self.state_dir = device_id, root, state_dir
        self.broker_url = broker_url
        self.flags = flags  # more fleet-device options, e.g. ("--no-recycle",)
        self.portal_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        state_dir.mkdir(parents=True, exist_ok=True)

    def start(self, broker_url: str | None = None) -> None:
        log = (self.state_dir / "device.log").open("ab")
        self.proc = subprocess.Popen(self.argv(broker_url), stdout=log, stderr=subprocess.STDOUT)
        eventually(self._portal_up, 10, f"{self.id} portal")

    def argv(self, broker_url: str | None = None) -> list[str]:
        return [str(DEVICE_BIN), "--id", self.id, "--broker", broker_url or self.broker_url, "--state-dir",
                str(self.state_dir), "--portal-port", str(self.portal_port), "--root", self.root, "--heartbeat-s",
                "1", *self.flags]

    def _portal_up(self) -> bool:
        # A connect, not a request: every client address that asks the portal something is a Wi-Fi
        # station of the host port's radio model, and a probe must not take one of its slots.
        try:
            socket.create_connection(("127.0.0.1", self.portal_port), timeout=1).close()
        except OSError:
            return False
        return True

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def ap(self) -> dict[str, object]:
        path = self.state_dir / "ap.json"
        result: dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
        return result

    def get(self, path: str) -> tuple[int, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.portal_port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()

    def checkin(self, student_id: str) -> tuple[int, str]:
        """POST the portal's form as a phone's browser does."""
        body = urllib.parse.urlencode({"student_id": student_id}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.portal_port}/checkin", data=body,
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def log(self) -> str:
        return (self.state_dir / "device.log").read_text(errors="replace")


def start_applied(client: FleetClient) -> JsonObject:
    """Start the START session and wait until its device reports it applied."""
    started = client.call("session.start", START)
    assert client.call("session.wait", {"session_id": started["session_id"], "timeout_s": 5})["status"] == "applied"
    return started


def online(client: FleetClient, n: int) -> None:
    eventually(lambda: client.call("devices.list")["online"] == n, 10, f"{n} devices online")


def attendance(client: FleetClient, session_id: int) -> list[str]:
    return sorted(r["student_id"] for r in client.call("attendance.list", {"session_id": session_id})["records"])


def last_heartbeat(recorder: Recorder, device_id: str) -> Heartbeat | None:
    """The device's last heartbeat as the controller decodes it, or None before its first."""
    beats = [payload for topic, payload, _ in list(recorder.messages) if topic.endswith(f"/{device_id}/heartbeat")]
    return decode_heartbeat(beats[-1], device_id) if beats else None
