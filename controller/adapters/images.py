"""The firmware images directory: content-addressed files `<sha256>.bin`, written once (atomically,
0644) and read by the HTTP endpoint. The CLI writes here, the controller serves from here: with
several controllers it is a shared directory (NFS, a synced volume) or a web server's root."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Final

from controller.errors import FleetError

SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")


def default_images_dir() -> Path:
    """Next to the default SQLite file: $XDG_DATA_HOME (~/.local/share)/fleet/images."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "fleet" / "images"


def image_name(sha256: str) -> str:
    if SHA256_RE.fullmatch(sha256) is None:
        raise FleetError(f"not a SHA-256 in hex: {sha256!r}")
    return f"{sha256}.bin"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_image(directory: Path, data: bytes) -> Path:
    """Write `data` as `<sha256>.bin` in `directory` (kept as it is when already there and intact)."""
    path = directory / image_name(sha256_of(data))
    if path.is_file() and sha256_of(path.read_bytes()) == path.stem:
        return path
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".upload-")
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise FleetError(f"cannot store the image in {directory}: {exc.strerror}") from None
    return path


def find_image(directory: Path, name: str) -> Path | None:
    """The file a request path's last part names, or None: only `<64 hex>.bin`, so no `..`, no
    subdirectories, nothing else of the directory is ever served."""
    if not name.endswith(".bin") or SHA256_RE.fullmatch(name[:-4]) is None:
        return None
    path = directory / name
    return path if path.is_file() else None
