"""/firmware/<sha256>.bin on the controller's HTTP endpoint, over real sockets: whole files, byte
ranges a device resumes with (206), a range past the end (416), unknown images and every other path
of the directory refused (404)."""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from controller.adapters.images import sha256_of, store_image
from controller.adapters.metrics_http import MetricsServer, Probes, parse_range

IMAGE = bytes(range(256)) * 1000  # 256000 bytes, every offset distinguishable


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[MetricsServer, str]]:
    images = tmp_path / "images"
    store_image(images, IMAGE)
    (tmp_path / "secret.bin").write_bytes(b"not for devices")
    (images / "notes.txt").write_text("not an image")
    server = MetricsServer("127.0.0.1", 0, Probes(CollectorRegistry(), list, list, images))
    server.start()
    try:
        yield server, f"/firmware/{sha256_of(IMAGE)}.bin"
    finally:
        server.stop()


def fetch(server: MetricsServer, path: str, headers: dict[str, str] | None = None,
          method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_the_whole_image(served: tuple[MetricsServer, str]) -> None:
    status, headers, body = fetch(*served)
    assert status == 200 and body == IMAGE
    assert headers["content-length"] == str(len(IMAGE)) and headers["accept-ranges"] == "bytes"
    assert headers["etag"] == f'"{sha256_of(IMAGE)}"'


def test_a_broken_download_resumes_with_a_range(served: tuple[MetricsServer, str]) -> None:
    status, headers, body = fetch(*served, {"Range": "bytes=100000-"})
    assert status == 206 and body == IMAGE[100000:]
    assert headers["content-range"] == f"bytes 100000-{len(IMAGE) - 1}/{len(IMAGE)}"
    status, headers, body = fetch(*served, {"Range": "bytes=10-19"})
    assert (status, body, headers["content-length"]) == (206, IMAGE[10:20], "10")
    status, _, body = fetch(*served, {"Range": "bytes=-5"})
    assert (status, body) == (206, IMAGE[-5:])


def test_a_range_past_the_end_is_416(served: tuple[MetricsServer, str]) -> None:
    status, headers, body = fetch(*served, {"Range": f"bytes={len(IMAGE)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(IMAGE)}" and body == b""


def test_head_says_the_size_without_the_body(served: tuple[MetricsServer, str]) -> None:
    status, headers, body = fetch(*served, method="HEAD")
    assert status == 200 and headers["content-length"] == str(len(IMAGE)) and body == b""


@pytest.mark.parametrize("path", [
    "/firmware/" + "0" * 64 + ".bin",
    "/firmware/../secret.bin",
    "/firmware/%2e%2e/secret.bin",
    "/firmware/..%2fsecret.bin",
    "/firmware/notes.txt",
    "/firmware/",
    "/firmware/" + "A" * 64 + ".bin",
])
def test_unknown_images_and_other_files_are_404(served: tuple[MetricsServer, str], path: str) -> None:
    status, _, body = fetch(served[0], path)
    assert status == 404 and b"not for devices" not in body


def test_only_get_and_head(served: tuple[MetricsServer, str]) -> None:
    assert fetch(*served, method="POST")[0] == 405


def test_without_an_images_directory_there_is_no_firmware(tmp_path: Path) -> None:
    server = MetricsServer("127.0.0.1", 0, Probes(CollectorRegistry(), list, list))
    server.start()
    try:
        assert fetch(server, "/firmware/" + sha256_of(b"") + ".bin")[0] == 404
    finally:
        server.stop()


@pytest.mark.parametrize(("header", "size", "expected"), [
    (None, 10, None), ("bytes=0-", 10, (0, 9)), ("bytes=2-4", 10, (2, 4)), ("bytes=5-100", 10, (5, 9)),
    ("bytes=-3", 10, (7, 9)), ("bytes=-30", 10, (0, 9)), ("bytes=10-", 10, "unsatisfiable"),
    ("bytes=-0", 10, "unsatisfiable"), ("bytes=4-2", 10, None), ("bytes=0-1,4-5", 10, None),
    ("items=0-1", 10, None), ("bytes=x-1", 10, None), ("bytes=-", 10, None),
])
def test_range_headers(header: str | None, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


def test_image_files_are_written_once_and_readable(tmp_path: Path) -> None:
    path = store_image(tmp_path, b"abc")
    assert path.name == f"{sha256_of(b'abc')}.bin" and os.stat(path).st_mode & 0o777 == 0o644
    assert store_image(tmp_path, b"abc") == path and [p.name for p in tmp_path.iterdir()] == [path.name]
