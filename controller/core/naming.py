"""The seed's naming formats for a session's config, with the SSID rules on top."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Final

from controller.contract.messages import MAX_DEVICE_PAYLOAD, U32, Config, SessionConfig, encode
from controller.contract.readers import check_course
from controller.contract.requests import SessionStartParams, check_password
from controller.errors import BadRequest

MAX_SSID: Final = 32
_NOT_SSID_CHAR = re.compile(r"[^A-Za-z0-9_-]")


def _underscored(text: str) -> str:
    return text.replace(" ", "_").replace("/", "_")


def device_label(course: str, session: str, semester: str) -> str:
    """`ESP32_CS101_2024_2025_1st_Semester`, as the seed named its devices."""
    return f"ESP32_{course}_{_underscored(f'{session}_{semester}')}"


def base_ssid(course: str, session: str) -> str:
    """The seed's `CS101_Attendance_2024_2025`, cut down to at most 32 bytes of [A-Za-z0-9_-]."""
    year = _NOT_SSID_CHAR.sub("", _underscored(session))
    for middle in ("_Attendance_", "_Att_"):
        ssid = _NOT_SSID_CHAR.sub("", f"{course}{middle}{year}")
        if len(ssid) <= MAX_SSID:
            return ssid
    return ssid[:MAX_SSID]


def unique_ssid(base: str, taken: Collection[str]) -> str:
    """`base`, or `base_2`, `base_3`, ... (still ≤ 32 bytes) when an active session has it."""
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"_{n}"
        candidate = base[: MAX_SSID - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        n += 1


def check_size(config: SessionConfig) -> SessionConfig:
    """The config must reach the device: at most 1024 bytes of UTF-8 even with the largest version."""
    size = len(encode(Config(U32, config).to_obj()))
    if size > MAX_DEVICE_PAYLOAD:
        raise BadRequest(f"the session's config would be {size} bytes, over the devices' {MAX_DEVICE_PAYLOAD}: "
                         "shorten the title, semester or lecturer")
    return config


def session_config(request: SessionStartParams, *, session_id: int, title: str, taken_ssids: Collection[str],
                   room: str | None = None) -> SessionConfig:
    """The course-specific config the seed generated, for one session of `request`; `title` is the
    course's (remembered from an earlier session when the request has none) and the location names
    the device's room when it has one (`CS101 LT2 - 2024/2025 1st Semester`)."""
    course, session, semester = check_course(request.course), request.session, request.semester
    return check_size(SessionConfig(
        session_id=session_id,
        course_code=course,
        course_title=title,
        session=session,
        semester=semester,
        lecturer=request.lecturer,
        device_id=device_label(course, session, semester),
        device_name=f"{course} - {title}",
        ssid=unique_ssid(base_ssid(course, session), taken_ssids),
        password=check_password(request.password),
        location=f"{course} {room or 'Classroom'} - {session} {semester}",
    ))
