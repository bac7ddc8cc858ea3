"""The controller's readers of a request's params fields, shared by every params type (`requests`,
`timetable`): each returns the field or raises BadRequest with the message the client sees. A missing
key and a JSON null are the same (the parameter is absent). Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from controller.contract.messages import COURSE_RE, U32, is_int, is_text
from controller.errors import BadRequest, UnknownSession

MAX_STORED_ID: Final = 2**31 - 1  # the largest id a database row holds (PostgreSQL integer)
ROOM_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}")
# Refused in any text a request carries (titles, names, lecturers), as it lands in configs, SSID
# labels, logs and terminals: control characters, line/paragraph separators, the bidi embeddings,
# overrides and isolates that can make text read as something else (U+202E), and non-characters.
# NBSP, joiners and the plain direction marks (U+200E/F) are fine in names.
FORBIDDEN_RE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufdd0-\ufdef]")


def clean_text(value: str) -> bool:
    """No character of FORBIDDEN_RE and no non-character (U+FFFE, U+FFFF in any plane)."""
    return FORBIDDEN_RE.search(value) is None and not any(ord(c) & 0xFFFE == 0xFFFE for c in value)


def check_course(course: str) -> str:
    if COURSE_RE.fullmatch(course) is None:
        raise BadRequest(f"course code {course[:40]!r} must be 1-16 letters, digits, '_' or '-'")
    return course


def missing(key: str) -> BadRequest:
    return BadRequest(f"missing parameter {key!r}")


def opt_str(params: Mapping[str, Any], key: str, *, hi: int, lo: int = 1) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    if not is_text(value, lo, hi):
        raise BadRequest(f"{key!r} must be a string of {lo}-{hi} characters")
    if not clean_text(value):
        raise BadRequest(f"{key!r} must not contain control, bidi-override or non-characters")
    return value


def required_str(params: Mapping[str, Any], key: str, *, hi: int) -> str:
    value = opt_str(params, key, hi=hi)
    if value is None:
        raise missing(key)
    return value


def opt_int(params: Mapping[str, Any], key: str, *, lo: int = 1, hi: int = U32) -> int | None:
    value = params.get(key)
    if value is None:
        return None
    if not is_int(value, lo, hi):
        raise BadRequest(f"{key!r} must be an integer in {lo}..{hi}")
    return value


def flag(params: Mapping[str, Any], key: str) -> bool:
    value = params.get(key, False)
    if type(value) is not bool:
        raise BadRequest(f"{key!r} must be true or false")
    return value


def seconds(params: Mapping[str, Any], key: str, *, default: float, hi: float) -> float:
    value = params.get(key, default)
    if type(value) not in (int, float) or not 0 <= value <= hi:
        raise BadRequest(f"{key!r} must be a number of seconds in 0-{hi:g}")
    return float(value)


def session_id(params: Mapping[str, Any]) -> int:
    session_id = opt_int(params, "session_id")
    if session_id is None:
        raise missing("session_id")
    if session_id > MAX_STORED_ID:  # a counter by the contract, but no row has such an id
        raise UnknownSession(f"no session {session_id}")
    return session_id
