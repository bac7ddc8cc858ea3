"""The embedded broker's persistence: its retained messages in one file, so they survive a restart.

`persistence true` in broker.conf makes the embedded broker keep its retained messages in
`{persistence_location}/fleet-retained.json` (Mosquitto keeps its own `mosquitto.db` in the same
directory; the two formats are not shared). The file is written atomically with mode 0600 at
shutdown and as `autosave_interval` / `autosave_on_changes` ask, with Mosquitto's meaning: every
N seconds when something changed, or after N changes. Sessions and queued messages are not kept:
every client of the fleet uses clean sessions.

Format: `{"v": 1, "retained": [{"topic": "...", "qos": 1, "payload": "<base64>"}, ...]}`.
`Autosave` decides when the broker writes it. No amqtt here: the broker hands in its messages.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from controller.broker.conf import Persistence
from controller.broker.credentials import CredentialsError, write_private
from controller.errors import FleetError

log = logging.getLogger(__name__)

FILE_NAME = "fleet-retained.json"
FORMAT_VERSION = 1


class RetainedStoreError(FleetError):
    """The retained-message file cannot be read or written; the message is one line."""


@dataclass(frozen=True, slots=True)
class Retained:
    """One retained message."""

    topic: str
    payload: bytes
    qos: int


def encode(messages: Iterable[Retained]) -> bytes:
    rows = [{"topic": m.topic, "qos": m.qos, "payload": base64.b64encode(m.payload).decode("ascii")}
            for m in sorted(messages, key=lambda m: m.topic)]
    return json.dumps({"v": FORMAT_VERSION, "retained": rows}, separators=(",", ":")).encode("utf-8")


def decode(data: bytes, source: str = "<retained>") -> list[Retained]:
    """The messages in a file's bytes; RetainedStoreError when it is not one of ours."""
    try:
        obj = json.loads(data)
        if not isinstance(obj, dict) or obj.get("v") != FORMAT_VERSION or not isinstance(obj.get("retained"), list):
            raise ValueError(f"not a version {FORMAT_VERSION} retained-message file")
        return [
            Retained(str(row["topic"]), base64.b64decode(row["payload"], validate=True), int(row["qos"]))
            for row in obj["retained"]
        ]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise RetainedStoreError(f"{source}: cannot load retained messages: {exc}") from exc


class RetainedStore:
    """The file in a persistence directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / FILE_NAME

    def check(self) -> None:
        """Fail early (at broker start) if the directory is missing."""
        if not self.directory.is_dir():
            raise RetainedStoreError(f"persistence_location {self.directory} is not a directory")

    def load(self) -> list[Retained]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise RetainedStoreError(f"{self.path}: cannot read retained messages: {exc.strerror}") from exc
        messages = decode(data, str(self.path))
        log.info("loaded %d retained message(s) from %s", len(messages), self.path)
        return messages

    def save(self, data: bytes) -> None:
        """Write an `encode`d snapshot (blocking: run it off the event loop)."""
        try:
            write_private(self.path, data)
        except CredentialsError as exc:
            raise RetainedStoreError(str(exc)) from exc


class Autosave:
    """When the broker writes its retained messages (with persistence on): every `autosave_interval`
    seconds when something changed, or after that many changes with `autosave_on_changes`, and
    whenever `save` is called (at shutdown). Write errors are logged, as Mosquitto does."""

    def __init__(self, persistence: Persistence | None) -> None:
        self._persistence = persistence
        self._store = None if persistence is None else RetainedStore(persistence.location)
        self._changes = 0
        self._enough_changes = asyncio.Event()
        self._lock = asyncio.Lock()

    def changed(self) -> None:
        """One retained message was set or cleared."""
        if self._persistence is None:
            return
        self._changes += 1
        if self._persistence.autosave_on_changes and self._changes >= self._persistence.autosave_interval:
            self._enough_changes.set()

    async def run(self, snapshot: Callable[[], Iterable[Retained]]) -> None:
        """Save `snapshot()` whenever the settings ask, until cancelled."""
        persistence = self._persistence
        if persistence is None or persistence.autosave_interval == 0:
            return
        while True:
            if persistence.autosave_on_changes:
                await self._enough_changes.wait()
                self._enough_changes.clear()
            else:
                await asyncio.sleep(persistence.autosave_interval)
            if self._changes:
                await self.save(snapshot)

    async def save(self, snapshot: Callable[[], Iterable[Retained]]) -> None:
        """Write `snapshot()` now, off the event loop; nothing without persistence."""
        if self._store is None:
            return
        async with self._lock:
            self._changes = 0
            messages = list(snapshot())
            try:
                await asyncio.to_thread(self._store.save, encode(messages))
            except RetainedStoreError as exc:
                log.error("%s", exc)
                return
        log.debug("saved %d retained message(s) to %s", len(messages), self._store.path)
