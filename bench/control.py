"""The benchmark's own client of the controller's request API, with arrival times.

`controller.adapters.client.FleetClient` is the CLI's blocking one-request client; a benchmark needs
more: several requests in flight (a stats poll must not wait behind a backlog), the monotonic
time each reply arrived, and the arrival times of device messages it watches (states, statuses).
It speaks the same contract through the same codecs.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from controller.adapters.client import request_user
from controller.adapters.mqtt import BrokerAddress, parse_broker_url
from controller.contract.messages import JsonObject, Request, encode, load_object
from controller.contract.topics import Topics
from controller.errors import ApiError, FleetError

_REPLY_LIMIT: Final = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Reply:
    sent_at: float
    received_at: float
    ok: bool
    result: JsonObject
    error_code: str | None = None
    error_message: str | None = None

    def value(self) -> JsonObject:
        if not self.ok:
            raise ApiError(self.error_message or "request failed", self.error_code or "internal")
        return self.result


@dataclass(slots=True)
class Pending:
    request_id: str
    sent_at: float
    done: threading.Event = field(default_factory=threading.Event)
    reply: Reply | None = None


@dataclass(frozen=True, slots=True)
class Seen:
    """A device message the client watched for, and when it arrived."""

    topic: str
    payload: bytes
    retained: bool
    at: float


class ControlClient:
    """Requests to whichever controller serves `root`, plus optional watched topic filters."""

    def __init__(self, broker_url: str, root: str, watch: tuple[str, ...] = ()) -> None:
        self.topics = Topics(root)
        self._address: BrokerAddress = parse_broker_url(broker_url)
        self._client_id = f"bench-{uuid.uuid4().hex[:10]}"
        self._replies = self.topics.replies(self._client_id)
        self._requests = self.topics.requests(request_user(self._address.username, self._client_id))
        self._watch = watch
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}
        self._ids = itertools.count(1)
        self._seen: list[Seen] = []
        self._presence: JsonObject | None = None
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id,
                                   protocol=paho.MQTTv311, clean_session=True)
        self._client.max_queued_messages_set(0)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_: self._subscribed.set()

    def __enter__(self) -> ControlClient:
        self.connect()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def connect(self, timeout: float = 10.0) -> None:
        self._client.connect(self._address.host, self._address.port, keepalive=60)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            raise FleetError(f"no SUBACK from {self._address.url}")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: paho.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        filters = [(self._replies, 1), (self.topics.controller_status, 1)] + [(f, 1) for f in self._watch]
        client.subscribe(filters)

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        now = time.monotonic()
        topic = message.topic
        if topic == self._replies:
            self._on_reply(message.payload, now)
        elif topic == self.topics.controller_status:
            try:
                self._presence = load_object(message.payload)
            except FleetError:
                self._presence = None
        else:
            seen = Seen(topic, bytes(message.payload), bool(message.retain), now)
            with self._lock:
                self._seen.append(seen)

    def _on_reply(self, payload: bytes | bytearray, now: float) -> None:
        try:
            obj = load_object(payload, max_bytes=_REPLY_LIMIT)
        except FleetError:
            return
        with self._lock:
            pending = self._pending.pop(str(obj.get("id")), None)
        if pending is None:
            return
        error = obj["error"] if isinstance(obj.get("error"), dict) else {}
        result = obj["result"] if isinstance(obj.get("result"), dict) else {}
        pending.reply = Reply(pending.sent_at, now, obj.get("ok") is True, result,
                              str(error.get("code")) if error else None, str(error.get("message")) if error else None)
        pending.done.set()

    # --- requests ---------------------------------------------------------------------------------

    def send(self, method: str, params: Mapping[str, Any] | None = None) -> Pending:
        """Publish one request; the returned handle's `done` is set when its reply arrives."""
        request = Request(f"{self._client_id}-{next(self._ids)}", self._replies, method, dict(params or {}))
        pending = Pending(request.id, time.monotonic())
        with self._lock:
            self._pending[request.id] = pending
        self._client.publish(self._requests, encode(request.to_obj()), qos=1)
        return pending

    def call(self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 30.0) -> Reply:
        pending = self.send(method, params)
        if not pending.done.wait(timeout) or pending.reply is None:
            raise FleetError(f"the controller did not answer {method} within {timeout:g} s")
        return pending.reply

    def try_call(self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 1.0) -> Reply | None:
        """One request; None when no reply came in time (e.g. no controller subscribed yet)."""
        pending = self.send(method, params)
        if pending.done.wait(timeout):
            return pending.reply
        with self._lock:
            self._pending.pop(pending.request_id, None)
        return pending.reply

    def wait_controller(self, timeout: float) -> float:
        """Wait until a controller answers a request; returns the monotonic time it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self.try_call("stats", timeout=0.5)
            if reply is not None:
                return reply.received_at
        raise FleetError(f"no controller answered on root {self.topics.root!r} within {timeout:g} s")

    @property
    def presence_online(self) -> bool:
        return bool(self._presence and self._presence.get("online") is True)

    # --- watched messages -------------------------------------------------------------------------

    def seen(self, start: int = 0) -> list[Seen]:
        """Watched messages in arrival order, from the `start`-th on."""
        with self._lock:
            return self._seen[start:]
