"""Firmware updates of host devices for tests: images packed by `fleet-device --pack` and signed
with a fleet key, a small HTTP server for them (byte ranges, and a transfer it breaks once on
purpose), the supervised `fleet-device` (the host port's bootloader) and the retained update
command, published as the rollout will publish it."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.publish as paho_publish

from controller.adapters import signing
from controller.contract.messages import JsonObject
from tests.brokers import RunningBroker
from tests.conftest import Recorder
from tests.hostdevice import DEVICE_BIN, HostDevice


@dataclass(frozen=True, slots=True)
class Image:
    """A packed image as served, and what the command says of it (sha256 and signature may be of
    other bytes: a tampered copy)."""

    version: str
    data: bytes
    sha256: str
    signature: str

    def command(self, url: str, allow_downgrade: bool = False) -> JsonObject:
        return {"v": 1, "version": self.version, "url": url, "size": len(self.data), "sha256": self.sha256,
                "signature": self.signature, "allow_downgrade": allow_downgrade}


class Signer:
    """A fleet key pair in `directory`, as `fleet firmware keygen` makes it."""

    def __init__(self, directory: Path) -> None:
        files = signing.generate(directory)
        self.public_pem = files.public
        self.public_base64 = "".join(line for line in files.public_pem.splitlines() if "-----" not in line)
        self._key = signing.load_private(files.private)

    def image(self, data: bytes, version: str) -> Image:
        digest = hashlib.sha256(data).digest()
        signature = base64.b64encode(signing.sign_digest(self._key, digest)).decode()
        return Image(version, data, digest.hex(), signature)


def pack(executable: Path, version: str, out: Path) -> bytes:
    subprocess.run([str(DEVICE_BIN), "--pack", str(executable), "--version", version, "--out", str(out)],
                   check=True, capture_output=True)
    return out.read_bytes()


def stripped_device(directory: Path) -> Path:
    """fleet-device without its debug information: the same program in a seventh of the bytes."""
    out = directory / "fleet-device.stripped"
    shutil.copy(DEVICE_BIN, out)
    subprocess.run(["strip", str(out)], check=True)
    return out


def script(directory: Path, name: str, body: str) -> Path:
    """A "build" that is a shell script: one that exits at once, or never confirms."""
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@dataclass
class ImageServer:
    """Serves `files` by name on 127.0.0.1 with `Range: bytes=N-`; a name in `cut_once` has its first
    transfer broken halfway. `ranges` records each GET's Range header (None: none)."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_once: set[str] = field(default_factory=set)
    ranges: list[str | None] = field(default_factory=list)
    port: int = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


def _handler(server: ImageServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = server.files.get(self.path.lstrip("/"))
            if data is None:
                self.send_error(404)
                return
            wanted = self.headers.get("Range")
            server.ranges.append(wanted)
            match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
            start = int(match[1]) if match else 0
            self.send_response(206 if match else 200)
            if match:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            name = self.path.lstrip("/")
            if name in server.cut_once:
                server.cut_once.discard(name)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def image_server() -> Iterator[ImageServer]:
    server = ImageServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


class SupervisedDevice(HostDevice):
    """`fleet-device --supervise`: the factory image in slot 0, updates into the other slot, and a
    new slot rolled back unless it confirms within `confirm_s`."""

    confirm_s = 60

    def argv(self, broker_url: str | None = None) -> list[str]:
        return [str(DEVICE_BIN), "--supervise", "--confirm-s", str(self.confirm_s), "--",
                *super().argv(broker_url)[1:]]

    def provision_key(self, public_base64: str) -> None:
        """`set update_key ...` on the serial console: the key in flash."""
        nvs = self.state_dir / "nvs"
        nvs.mkdir(parents=True, exist_ok=True)
        (nvs / "update_key").write_text(public_base64)

    def boot_slot(self) -> str:
        return (self.state_dir / "ota" / "boot").read_text().strip()


def publish_json(broker: RunningBroker, topic: str, message: JsonObject) -> None:
    """`message` retained at QoS 1, as the controller publishes configs and commands."""
    paho_publish.single(topic, json.dumps(message), qos=1, retain=True, hostname=broker.host, port=broker.port)


def publish_update(broker: RunningBroker, root: str, device_id: str, command: JsonObject) -> None:
    """The retained update command, as the rollout publishes it."""
    publish_json(broker, f"{root}/devices/{device_id}/update", command)


def update_states(recorder: Recorder, device_id: str) -> list[JsonObject]:
    suffix = f"/{device_id}/update/state"
    return [json.loads(payload) for topic, payload, _ in list(recorder.messages) if topic.endswith(suffix) and payload]


def births(recorder: Recorder, device_id: str) -> list[JsonObject]:
    suffix = f"/{device_id}/status"
    found = [json.loads(payload) for topic, payload, _ in list(recorder.messages) if topic.endswith(suffix) and payload]
    return [status for status in found if status.get("online")]
