"""The package's exception types: one root, and API errors that carry a wire code."""

from __future__ import annotations


class FleetError(Exception):
    """Root of every error this package raises on purpose."""


class ApiError(FleetError):
    """An error a request can end with; `code` is what the reply carries on the wire."""

    code = "internal"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class BadRequest(ApiError):
    code = "bad_request"


class NoDeviceAvailable(ApiError):
    code = "no_device_available"


class NotEnoughDevices(ApiError):
    """Fewer devices are free than a session asked for (and it did not say to start anyway)."""

    code = "not_enough_devices"


class DeviceBusy(ApiError):
    code = "device_busy"


class UnknownDevice(ApiError):
    code = "unknown_device"


class UnknownSession(ApiError):
    code = "unknown_session"


class Forbidden(ApiError):
    """The requesting user's role does not allow the call (`controller.core.access`)."""

    code = "forbidden"


class SessionAlreadyEnded(ApiError):
    """A session was ended again (`session.end` twice)."""

    code = "session_ended"


class SessionRunning(ApiError):
    """A session of the course is already running, started by the timetable."""

    code = "session_running"


class LectureTaken(FleetError):
    """A timetabled lecture another controller started a session for first."""


class StoreError(FleetError):
    """The database failed (unreachable, locked, refused a write); the message is one line."""


class LeaseLost(StoreError):
    """This controller no longer holds the controller lease: what it was writing is not committed."""


class ControllerOffline(FleetError):
    """The CLI found no controller answering on the broker."""


class Rejected(FleetError):
    """An inbound message that is dropped; `reason` is the counter it lands in."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class VersionTaken(ApiError):
    """firmware.add of a version already kept with other bytes."""

    code = "version_taken"


class UnknownRollout(ApiError):
    code = "unknown_rollout"


class RolloutRefused(ApiError):
    """rollout.start refused: `unknown_version` (no image kept), `rollout_overlap` (a device is in a
    running rollout), `downgrade` (a device runs a higher version), `no_devices` (the target is empty);
    rollout.pause/resume/abort of a rollout in the wrong state: `rollout_state`."""

    code = "rollout_refused"
