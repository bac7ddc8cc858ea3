"""The CLI's side of the request API: one request, one reply, over the broker.

`call` sends any method with raw params; the typed methods (`start_session`, `devices`, ...) send a
method's params type and read its result type (`controller.contract.requests.METHODS`)."""

from __future__ import annotations

import getpass
import threading
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from controller.adapters.mqtt import connect_first, new_client, parse_broker_urls
from controller.contract import requests as api
from controller.contract.firmware import FirmwareAdded, FirmwareAddParams, FirmwareList
from controller.contract.messages import MAX_REQUEST_PAYLOAD, JsonObject, Request, encode, load_object
from controller.contract.report import AttendanceReport
from controller.contract.results import (
    AttendanceList,
    CoursesList,
    DeviceForgotten,
    DeviceInventory,
    DevicesList,
    DeviceUpdated,
    SessionEnded,
    SessionExtended,
    SessionList,
    SessionScaled,
    SessionStarted,
    SessionWaited,
    StatsResult,
)
from controller.contract.rollouts import (
    RolloutChanged,
    RolloutList,
    RolloutParams,
    RolloutStartParams,
    RolloutStatus,
    RolloutStatusParams,
)
from controller.contract.rosters import (
    MAX_ROSTER_CHUNK,
    AttendanceMarked,
    AttendanceMarkParams,
    CourseParams,
    CourseSetParams,
    CourseUpdated,
    RosterEntry,
    RosterImported,
    RosterImportParams,
    RosterList,
)
from controller.contract.session_detail import SessionShown
from controller.contract.timetable import (
    TimetableImported,
    TimetableImportParams,
    TimetableList,
    TimetableListParams,
    TimetableRemoved,
    TimetableRemoveParams,
)
from controller.contract.topics import CLIENT_RE, Topics
from controller.errors import ApiError, ControllerOffline, FleetError, Rejected

_REPLY_LIMIT = 64 * 1024 * 1024
ANONYMOUS = "anonymous"
P = TypeVar("P", bound=api.Wire)
R = TypeVar("R", bound=api.Wire)


def roster_chunks(course: str, students: Sequence[RosterEntry], *, replace: bool, reply_to: str,
                  limit: int = MAX_REQUEST_PAYLOAD) -> list[RosterImportParams]:
    """A roster split into roster.import requests of at most `limit` bytes each, in order. A
    replacing import of several requests names itself in each and ends with `final` (nobody is
    removed before the whole roster is in); each request is an upsert, so running them again repairs
    a partial import."""
    import_id = uuid.uuid4().hex if replace else None

    def size(chunk: Sequence[RosterEntry]) -> int:
        params = RosterImportParams(course, tuple(chunk), replace, import_id, replace)
        return len(encode(Request("0" * 32, reply_to, api.ROSTER_IMPORT.name, params.to_obj()).to_obj()))

    chunks: list[list[RosterEntry]] = [[]]
    for entry in students:
        grown = [*chunks[-1], entry]
        if chunks[-1] and (size(grown) > limit or len(grown) > MAX_ROSTER_CHUNK):
            chunks.append([entry])
        else:
            chunks[-1] = grown
    if replace and len(chunks) == 1:  # one request: it replaces the roster by itself
        return [RosterImportParams(course, tuple(chunks[0]), True)]
    last = len(chunks) - 1
    return [RosterImportParams(course, tuple(c), replace, import_id, replace and i == last)
            for i, c in enumerate(chunks)]


def request_user(username: str | None, user: str | None = None) -> str:
    """The user level of this client's requests topic: the broker username, which the secure
    profile's ACL holds it to; without credentials `user` (`fleet --user`), else the name of the
    OS user, else `anonymous`. FleetError if `user` cannot be a topic level."""
    if username:
        return username
    if user is not None:
        if CLIENT_RE.fullmatch(user) is None:
            raise FleetError(f"bad user name {user!r}: use 1-64 letters, digits, '.', '_' or '-'")
        return user
    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry
        return ANONYMOUS
    return name if CLIENT_RE.fullmatch(name) else ANONYMOUS


class FleetClient:
    """A short-lived connection to the broker that talks to whichever controller is online."""

    def __init__(self, broker_url: str, root: str = "fleet", *, presence_timeout: float = 3.0,
                 user: str | None = None) -> None:
        self.topics = Topics(root)
        self._address = parse_broker_urls(broker_url)
        self._client_id = f"cli-{uuid.uuid4().hex[:12]}"
        # Requests go to the user's own topic ({root}/controller/requests/{user}), which a broker ACL
        # gives to that user alone; the controller takes the user from it, never from the payload.
        self.user = request_user(self._address.username, user)
        self._requests = self.topics.requests(self.user)
        # With credentials the replies come to the username's topic, which a broker ACL can give to
        # that user alone ({root}/clients/{username}/replies); without, to this client's own.
        self._replies = self.topics.replies(self._address.username or self._client_id)
        self._presence_timeout = presence_timeout
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[threading.Event, list[JsonObject]]] = {}
        self._presence: JsonObject | None = None
        self._presence_seen = threading.Event()
        self._subscribed = threading.Event()
        self._refused: str | None = None
        self._client = new_client(self._address, self._client_id)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_: self._subscribed.set()

    def __enter__(self) -> FleetClient:
        self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def connect(self, timeout: float = 5.0) -> None:
        try:
            connect_first(self._client, keepalive=30)
        except OSError as exc:
            raise FleetError(f"cannot reach the broker at {self._address.url}: {exc.strerror or exc}") from exc
        self._client.loop_start()
        if not self._subscribed.wait(timeout) or self._refused:
            self.close()
            raise FleetError(self._refused or f"the broker at {self._address.url} did not answer")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: paho.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if reason.is_failure:
            self._refused = f"the broker at {self._address.url} refused the connection: {reason}"
            self._subscribed.set()  # stop waiting: the answer is in
            return
        client.subscribe([(self._replies, 1), (self.topics.controller_status, 1)])

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        try:
            obj = load_object(message.payload, max_bytes=_REPLY_LIMIT)
        except Rejected:
            return
        if message.topic == self.topics.controller_status:
            self._presence = obj
            self._presence_seen.set()
            return
        with self._lock:
            waiting = self._pending.get(str(obj.get("id")))
        if waiting is not None:
            waiting[1].append(obj)
            waiting[0].set()

    def controller_online(self) -> bool:
        """Whether a controller's retained presence says online and acting (waits briefly for it): a
        former leader that stands by answers nothing."""
        self._presence_seen.wait(self._presence_timeout)
        return bool(self._presence and self._presence.get("online") is True and self._presence.get("role") != "standby")

    def call(self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 10.0) -> JsonObject:
        """Send one request; its result, or ApiError with the controller's code, or ControllerOffline."""
        if not self.controller_online():
            raise ControllerOffline(
                f"no controller is online on {self._address.url} (topic root {self.topics.root!r}); "
                "start one with `fleet controller` or `fleet up`")
        request = Request(uuid.uuid4().hex, self._replies, method, params or {})
        done: tuple[threading.Event, list[JsonObject]] = (threading.Event(), [])
        with self._lock:
            self._pending[request.id] = done
        try:
            self._client.publish(self._requests, encode(request.to_obj()), qos=1)
            if not done[0].wait(timeout):
                raise ControllerOffline(f"the controller did not answer {method} within {timeout:g} s")
        finally:
            with self._lock:
                self._pending.pop(request.id, None)
        reply = done[1][0]
        if reply.get("ok") is True and isinstance(reply.get("result"), dict):
            result: JsonObject = reply["result"]
            return result
        error = reply.get("error")
        if not isinstance(error, dict):
            error = {}
        raise ApiError(str(error.get("message", "the controller refused the request")), str(error.get("code",
                                                                                                         "internal")))

    def request(self, method: api.Method[P, R], params: P, *, timeout: float = 10.0) -> R:
        """Send one method's typed params; its typed result (FleetError if the result cannot be read)."""
        result = self.call(method.name, params.to_obj(), timeout=timeout)
        try:
            return method.result.from_obj(result)
        except Rejected as exc:
            raise FleetError(f"the controller's answer to {method.name} is not understood: {exc.detail}") from exc

    # --- one typed method per request method ----------------------------------------------------

    def start_session(self, params: api.SessionStartParams) -> SessionStarted:
        return self.request(api.SESSION_START, params)

    def wait_session(self, params: api.SessionWaitParams, *, timeout: float) -> SessionWaited:
        return self.request(api.SESSION_WAIT, params, timeout=timeout)

    def end_session(self, session_id: int) -> SessionEnded:
        return self.request(api.SESSION_END, api.SessionParams(session_id))

    def scale_session(self, params: api.SessionScaleParams) -> SessionScaled:
        return self.request(api.SESSION_SCALE, params)

    def extend_session(self, params: api.SessionExtendParams) -> SessionExtended:
        return self.request(api.SESSION_EXTEND, params)

    def show_session(self, session_id: int, *, timeout: float = 10.0) -> SessionShown:
        return self.request(api.SESSION_SHOW, api.SessionParams(session_id), timeout=timeout)

    def sessions(self, *, active: bool = False, timeout: float = 10.0) -> SessionList:
        return self.request(api.SESSION_LIST, api.SessionListParams(active), timeout=timeout)

    def devices(self, params: api.DevicesListParams, *, timeout: float = 10.0) -> DevicesList:
        return self.request(api.DEVICES_LIST, params, timeout=timeout)

    def stats(self) -> StatsResult:
        return self.request(api.STATS, api.NoParams())

    def attendance(self, session_id: int) -> AttendanceList:
        return self.request(api.ATTENDANCE_LIST, api.SessionParams(session_id))

    def report(self, params: api.AttendanceReportParams) -> AttendanceReport:
        return self.request(api.ATTENDANCE_REPORT, params)

    def courses(self) -> CoursesList:
        return self.request(api.COURSES_LIST, api.NoParams())

    def inventory(self) -> DeviceInventory:
        return self.request(api.DEVICE_LIST, api.NoParams())

    def set_device(self, params: api.DeviceSetParams) -> DeviceUpdated:
        return self.request(api.DEVICE_SET, params)

    def retire(self, device: str) -> DeviceUpdated:
        return self.request(api.DEVICE_RETIRE, api.DeviceParams(device))

    def restore(self, device: str) -> DeviceUpdated:
        return self.request(api.DEVICE_RESTORE, api.DeviceParams(device))

    def approve(self, device: str) -> DeviceUpdated:
        return self.request(api.DEVICE_APPROVE, api.DeviceParams(device))

    def forget(self, device: str) -> DeviceForgotten:
        return self.request(api.DEVICE_FORGET, api.DeviceParams(device))

    def import_roster(self, course: str, students: Sequence[RosterEntry], *, replace: bool) -> list[RosterImported]:
        """A roster in as many roster.import requests as the request size limit needs."""
        return [self.request(api.ROSTER_IMPORT, chunk)
                for chunk in roster_chunks(course, students, replace=replace, reply_to=self._replies)]

    def roster(self, course: str) -> RosterList:
        return self.request(api.ROSTER_LIST, CourseParams(course))

    def set_course(self, params: CourseSetParams) -> CourseUpdated:
        return self.request(api.COURSE_SET, params)

    def mark(self, params: AttendanceMarkParams) -> AttendanceMarked:
        return self.request(api.ATTENDANCE_MARK, params)

    def import_timetable(self, params: TimetableImportParams) -> TimetableImported:
        return self.request(api.TIMETABLE_IMPORT, params, timeout=30.0)

    def timetable(self, params: TimetableListParams) -> TimetableList:
        return self.request(api.TIMETABLE_LIST, params)

    def remove_lectures(self, params: TimetableRemoveParams) -> TimetableRemoved:
        return self.request(api.TIMETABLE_REMOVE, params)

    def add_firmware(self, params: FirmwareAddParams) -> FirmwareAdded:
        return self.request(api.FIRMWARE_ADD, params)

    def firmware(self) -> FirmwareList:
        return self.request(api.FIRMWARE_LIST, api.NoParams())

    def start_rollout(self, params: RolloutStartParams) -> RolloutStatus:
        return self.request(api.ROLLOUT_START, params)

    def rollout(self, rollout_id: int | None = None, *, timeout: float = 10.0) -> RolloutStatus:
        return self.request(api.ROLLOUT_STATUS, RolloutStatusParams(rollout_id), timeout=timeout)

    def rollouts(self) -> RolloutList:
        return self.request(api.ROLLOUT_LIST, api.NoParams())

    def change_rollout(self, verb: str, rollout_id: int) -> RolloutChanged:
        """`verb`: pause, resume or abort."""
        method = {"pause": api.ROLLOUT_PAUSE, "resume": api.ROLLOUT_RESUME, "abort": api.ROLLOUT_ABORT}[verb]
        return self.request(method, RolloutParams(rollout_id))
