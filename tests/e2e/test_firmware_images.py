"""End to end: `fleet firmware keygen|add|list|verify` against a `fleet controller` process, which
serves the image it recorded over HTTP; a tampered copy is refused; the key never reaches a log."""

from __future__ import annotations

import json
import signal
import socket
import stat
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.core.firmware import build_image
from tests.brokers import RunningBroker
from tests.e2e.test_cli import Fleet, one_line_error


@pytest.fixture
def fleet(amqtt_broker: RunningBroker, root: str, tmp_path: Path) -> Fleet:
    made = Fleet(amqtt_broker, root)
    made.env = made.env | {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    return made


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def controller(fleet: Fleet, tmp_path: Path) -> Iterator[int]:
    """`fleet controller` with its HTTP endpoint on a free port (yielded)."""
    port = free_port()
    proc = fleet.spawn("-v", "controller", "--db", f"sqlite:///{tmp_path / 'fleet.db'}", "--metrics-port",
                       str(port), log=tmp_path / "controller.log")
    try:
        deadline = time.monotonic() + 30
        while fleet("firmware", "list", "--json").returncode != 0:
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "controller.log").read_text()
            time.sleep(0.3)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_keygen_add_list_serve_and_verify(fleet: Fleet, controller: int, tmp_path: Path) -> None:
    keygen = fleet("firmware", "keygen")
    assert keygen.returncode == 0, keygen.stderr
    key = tmp_path / "config" / "fleet" / "firmware-signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert keygen.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    one_line_error(fleet("firmware", "keygen"), "already exists", "--force")

    image = tmp_path / "fleet-1.3.0.bin"
    image.write_bytes(build_image("1.3.0", body=bytes(range(256)) * 40))
    added = fleet.json("firmware", "add", str(image), "--version", "1.3.0", "--notes", "portal fix")
    record = added["image"]
    assert isinstance(record, dict) and added["added"] is True
    assert (tmp_path / "data" / "fleet" / "images" / f"{record['sha256']}.bin").read_bytes() == image.read_bytes()
    assert fleet.json("firmware", "add", str(image), "--version", "1.3.0")["added"] is False  # idempotent
    listed = fleet.json("firmware", "list")
    assert listed == {"images": [record]} and record["notes"] == "portal fix" and record["size"] == image.stat().st_size

    with urllib.request.urlopen(f"http://127.0.0.1:{controller}/firmware/{record['sha256']}.bin", timeout=10) as r:
        downloaded = r.read()
    assert downloaded == image.read_bytes()
    verified = fleet("firmware", "verify", str(image), "--version", "1.3.0")
    assert verified.returncode == 0 and "verified" in verified.stdout, verified.stderr

    tampered = tmp_path / "tampered.bin"
    tampered.write_bytes(downloaded[:-1] + bytes([downloaded[-1] ^ 1]))
    one_line_error(fleet("firmware", "verify", str(tampered), "--version", "1.3.0"), "is not 1.3.0", "sha256")
    other_key = fleet("firmware", "keygen", "--out", str(tmp_path / "other"))
    assert other_key.returncode == 0
    one_line_error(fleet("firmware", "verify", str(image), "--version", "1.3.0", "--pub",
                         str(tmp_path / "other" / "firmware-signing.pub")), "signature does not verify")


def test_bad_images_and_taken_versions_are_one_line_errors(fleet: Fleet, controller: int, tmp_path: Path) -> None:
    assert fleet("firmware", "keygen").returncode == 0
    elf = tmp_path / "app.elf"
    elf.write_bytes(b"\x7fELF" + bytes(100))
    one_line_error(fleet("firmware", "add", str(elf), "--version", "1.3.0"), "not an ESP32 app image")
    image = tmp_path / "app.bin"
    image.write_bytes(build_image("1.2.9"))
    one_line_error(fleet("firmware", "add", str(image), "--version", "1.3.0"), "says it is version '1.2.9'")
    one_line_error(fleet("firmware", "add", str(image), "--version", "v1.2"), "not a semantic version")
    one_line_error(fleet("firmware", "add", str(tmp_path / "missing.bin"), "--version", "1.2.9"), "cannot read")
    assert fleet("firmware", "add", str(image), "--version", "1.2.9").returncode == 0
    image.write_bytes(build_image("1.2.9", body=b"other"))
    one_line_error(fleet("firmware", "add", str(image), "--version", "1.2.9"), "version_taken")


def test_the_private_key_never_reaches_the_output(fleet: Fleet, controller: int, tmp_path: Path) -> None:
    assert fleet("firmware", "keygen").returncode == 0
    pem = (tmp_path / "config" / "fleet" / "firmware-signing.key").read_text()
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    image = tmp_path / "app.bin"
    image.write_bytes(build_image("2.0.0"))
    done = fleet("-vv", "firmware", "add", str(image), "--version", "2.0.0", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] is True
    output = done.stdout + done.stderr + (tmp_path / "controller.log").read_text()
    assert "written to" in done.stderr  # -vv did log (the add's debug line)
    for start in range(0, len(body) - 16, 8):  # no 16-character piece of the key's base64
        assert body[start:start + 16] not in output
