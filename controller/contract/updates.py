"""The firmware update messages (contract v1): the retained command a rollout publishes on
`{root}/devices/{id}/update` and the device's progress on `{root}/devices/{id}/update/state`.
Decoders raise Rejected("schema"); encoders write what the schemas say. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Self

from controller.contract.firmware import (
    APP_DESC_VERSION_SIZE,
    MAX_IMAGE_SIZE,
    SHA256_HEX,
    SIGNATURE_B64,
    FirmwareError,
    Version,
)
from controller.contract.messages import JsonObject, boolean, drop_none, is_int, is_text
from controller.errors import Rejected

MAX_URL: Final = 256
"""An image's URL; with the rest the command stays well inside the device's 1024-byte payload."""
URL_RE: Final = re.compile(r"https?://[!-~]+")  # printable ASCII, no spaces
MAX_REASON: Final = 64
UPDATE_STATES: Final = ("downloading", "verifying", "rebooting", "confirmed", "failed", "rolled_back")


def _text(obj: Mapping[str, Any], key: str, hi: int, pattern: re.Pattern[str] | None = None) -> str:
    value = obj.get(key)
    if not is_text(value, 1, hi) or (pattern is not None and pattern.fullmatch(value) is None):
        raise Rejected("schema", f"{key} must be a string of 1..{hi} characters{' in its format' * bool(pattern)}")
    return value


def _version(obj: Mapping[str, Any]) -> str:
    text = _text(obj, "version", APP_DESC_VERSION_SIZE - 1)
    try:
        return Version.parse(text).text
    except FirmwareError:
        raise Rejected("schema", "version must be a semantic version") from None


def _signature(obj: Mapping[str, Any]) -> str:
    return _text(obj, "signature", 96, SIGNATURE_B64)


@dataclass(frozen=True, slots=True)
class UpdateCommand:
    """Retained on `{root}/devices/{id}/update` (QoS 1): the image a device should run. A device
    downloads `url` (resuming with Range), checks `size`, `sha256` and the fleet key's `signature`
    over the SHA-256 before it switches slots, and refuses a version below the one it runs unless
    `allow_downgrade`. An empty retained payload withdraws the command."""

    version: str
    url: str
    size: int
    sha256: str
    signature: str
    allow_downgrade: bool = False

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        size = obj.get("size")
        if not is_int(size, 1, MAX_IMAGE_SIZE):
            raise Rejected("schema", f"size must be an integer in 1..{MAX_IMAGE_SIZE}")
        downgrade = boolean(obj, "allow_downgrade") if "allow_downgrade" in obj else False
        return cls(_version(obj), _text(obj, "url", MAX_URL, URL_RE), size, _text(obj, "sha256", 64, SHA256_HEX),
                   _signature(obj), downgrade)

    def to_obj(self) -> JsonObject:
        obj: JsonObject = {"v": 1, "version": self.version, "url": self.url, "size": self.size,
                           "sha256": self.sha256, "signature": self.signature}
        if self.allow_downgrade:
            obj["allow_downgrade"] = True
        return obj


@dataclass(frozen=True, slots=True)
class UpdateState:
    """Retained on `{root}/devices/{id}/update/state` (QoS 1): how a device's update to `version`
    goes. `percent` with `downloading`; `reason` with `failed` (and may say why with `rolled_back`);
    `running` the version the device runs now (its esp_app_desc_t.version)."""

    version: str
    state: str
    percent: int | None = None
    reason: str | None = None
    running: str | None = None

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        state = obj.get("state")
        if state not in UPDATE_STATES:
            raise Rejected("schema", f"state must be one of {', '.join(UPDATE_STATES)}")
        percent = obj.get("percent")
        if (state == "downloading" or percent is not None) and not is_int(percent, 0, 100):
            raise Rejected("schema", "percent must be an integer in 0..100")
        reason = _text(obj, "reason", MAX_REASON) if state == "failed" or "reason" in obj else None
        running = _text(obj, "running", APP_DESC_VERSION_SIZE) if "running" in obj else None
        return cls(_version(obj), state, percent, reason, running)

    def to_obj(self, device_id: str | None = None) -> JsonObject:
        return drop_none({"v": 1, "id": device_id, "version": self.version, "state": self.state,
                          "percent": self.percent, "reason": self.reason, "running": self.running})
