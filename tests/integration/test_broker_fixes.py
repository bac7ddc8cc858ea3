"""The overrides of amqtt's internals in controller.broker.fixes that no other suite shows: each test
fails on amqtt 0.12.1 as it is and passes with the override (the module's docstrings name every
override's test, here or elsewhere).

Raw clients (tests.rawmqtt) speak to the embedded broker on an ephemeral loopback port, so each
test controls exactly which packets are sent and when.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from controller.broker import auth, connection
from controller.broker.retained import FILE_NAME
from tests import rawmqtt
from tests.brokers import HOST, start_amqtt
from tests.rawmqtt import PUBACK, PUBLISH, SUBACK, RawClient
from tests.waiting import eventually

OPEN = f"listener 0 {HOST}\nallow_anonymous true\n"
PINGREQ, PINGRESP = b"\xc0\x00", 0xD0
DISCONNECT = b"\xe0\x00"


def _alive(raw: RawClient) -> bool:
    """Whether the broker still answers this connection."""
    raw.send(PINGREQ)
    answer = raw.read_packet(3.0)
    return answer is not None and answer[0] == PINGRESP


def test_stopping_with_a_socket_before_its_connect_logs_no_error(caplog: pytest.LogCaptureFixture) -> None:
    """Python 3.11 logs a traceback per socket whose handler the stop cancelled; amqtt let it."""
    caplog.set_level(logging.WARNING)
    with start_amqtt(OPEN) as running:
        waiting = [RawClient(running.host, running.port) for _ in range(5)]
        time.sleep(0.3)  # accepted: each handler now waits for its CONNECT
    for raw in waiting:
        raw.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


@pytest.fixture(scope="module")
def server_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for localhost (openssl CLI)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl not found; install openssl")
    d = tmp_path_factory.mktemp("cert")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "server.key", "-out", "server.crt", "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True, cwd=d)
    return d / "server.crt", d / "server.key"


def test_a_tls_socket_that_never_handshakes_is_closed_at_the_deadline(
    server_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncio's default handshake timeout is 60 s; ours is CONNECT_TIMEOUT_S."""
    monkeypatch.setattr(connection, "CONNECT_TIMEOUT_S", 1.0)
    cert, key = server_cert
    with start_amqtt(f"listener 0 {HOST}\ncertfile {cert}\nkeyfile {key}\nallow_anonymous true\n") as running:
        silent = RawClient(running.host, running.port)
        started = time.monotonic()
        try:
            assert silent.closed_within(5.0)
            assert time.monotonic() - started >= 0.5
        finally:
            silent.close()


def test_an_unauthenticated_connect_cuts_no_one_off(tmp_path: Path) -> None:
    """amqtt took over the client id's session before authenticating: a CONNECT with a device's
    client id and no password disconnected the device."""
    passwd = tmp_path / "passwd"
    passwd.write_text(f"dev-a:{auth.hash_password('right')}\n")
    with start_amqtt(f"listener 0 {HOST}\nallow_anonymous false\npassword_file {passwd}\n") as running:
        device, intruder = RawClient(running.host, running.port), RawClient(running.host, running.port)
        try:
            assert device.connect("dev-a", username="dev-a", password="right") == 0
            assert intruder.connect("dev-a") != 0
            assert intruder.closed_within(3.0)
            assert _alive(device)
        finally:
            device.close()
            intruder.close()


def test_an_empty_client_id_is_named_auto() -> None:
    """amqtt names it `amqtt/<random>`, and a `/` in a client id is refused; Mosquitto names it
    `auto-<random>` and lets the client in."""
    with start_amqtt(OPEN) as running:
        raw = RawClient(running.host, running.port)
        try:
            assert raw.connect("") == 0
            assert _alive(raw)
        finally:
            raw.close()


def _pid(body: bytes) -> bytes:
    """The packet id of a QoS 1 PUBLISH's body."""
    (length,) = struct.unpack("!H", body[:2])
    return body[2 + length:4 + length]


def test_an_offline_persistent_session_keeps_at_most_max_queued_messages() -> None:
    """amqtt queued every message for an offline persistent session, without bound."""
    with start_amqtt(f"{OPEN}max_queued_messages 10\n") as running:
        keeper = RawClient(running.host, running.port)
        assert keeper.connect("keeper", clean=False) == 0
        keeper.send(rawmqtt.subscribe("q/#", qos=1))
        assert (answer := keeper.read_packet(3.0)) is not None and answer[0] == SUBACK
        keeper.send(DISCONNECT)
        keeper.close()
        publisher = RawClient(running.host, running.port)
        assert publisher.connect("publisher") == 0
        for packet_id in range(1, 51):
            publisher.send(rawmqtt.publish(f"q/{packet_id}", b"x", qos=1, packet_id=packet_id))
            assert (answer := publisher.read_packet(3.0)) is not None and answer[0] == PUBACK
        publisher.close()
        keeper = RawClient(running.host, running.port)
        try:
            assert keeper.connect("keeper", clean=False) == 0
            delivered = 0
            while (packet := keeper.read_packet(1.0)) is not None:
                if packet[0] & 0xF0 == PUBLISH:
                    delivered += 1
                    keeper.send(bytes([PUBACK, 2]) + _pid(packet[1]))
            assert 0 < delivered <= 10
        finally:
            keeper.close()


def test_retained_messages_are_saved_after_autosave_on_changes(tmp_path: Path) -> None:
    """amqtt keeps retained messages in memory only; with `autosave_on_changes` the file is
    written after that many changes, while the broker runs."""
    conf = (f"{OPEN}persistence true\npersistence_location {tmp_path}\n"
            "autosave_interval 3\nautosave_on_changes true\n")
    saved = tmp_path / FILE_NAME
    with start_amqtt(conf) as running:
        publisher = RawClient(running.host, running.port)
        try:
            assert publisher.connect("publisher") == 0
            for packet_id in range(1, 4):
                publisher.send(rawmqtt.publish(f"kept/{packet_id}", b"x", qos=1, packet_id=packet_id, retain=True))
                assert (answer := publisher.read_packet(3.0)) is not None and answer[0] == PUBACK
            eventually(saved.exists, timeout=5)
            topics = {row["topic"] for row in json.loads(saved.read_bytes())["retained"]}
            assert topics == {"kept/1", "kept/2", "kept/3"}
        finally:
            publisher.close()

