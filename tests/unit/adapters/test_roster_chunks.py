"""A large roster is split into roster.import requests the controller accepts (at most 8192 bytes
each), in order; a replacing import names itself in each and only its last removes anyone
(adapters/client.py roster_chunks)."""

from __future__ import annotations

from controller.adapters.client import roster_chunks
from controller.contract.messages import MAX_REQUEST_PAYLOAD, Request, encode
from controller.contract.rosters import RosterEntry, RosterImportParams

REPLY_TO = "fleet/clients/" + "c" * 64 + "/replies"


def _size(params: RosterImportParams) -> int:
    return len(encode(Request("f" * 32, REPLY_TO, "roster.import", params.to_obj()).to_obj()))


def test_a_thousand_students_go_in_requests_under_the_limit_and_in_order() -> None:
    students = [RosterEntry(f"U2021/{i:04d}", f"Student Number {i} Ñandú", f"student{i}@example.edu")
                for i in range(1000)]
    chunks = roster_chunks("CS101", students, replace=True, reply_to=REPLY_TO)
    assert len(chunks) > 1
    assert all(_size(c) <= MAX_REQUEST_PAYLOAD for c in chunks)
    assert [s for c in chunks for s in c.students] == students
    assert all(c.replace for c in chunks) and len({c.import_id for c in chunks}) == 1 and chunks[0].import_id
    assert [c.final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert all(RosterImportParams.from_obj(c.to_obj()) == c for c in chunks)  # each one the controller reads


def test_a_small_roster_is_one_request_and_without_replace_none_clears() -> None:
    chunks = roster_chunks("CS101", [RosterEntry("U1", "Ada")], replace=False, reply_to=REPLY_TO)
    assert chunks == [RosterImportParams("CS101", (RosterEntry("U1", "Ada"),), False)]


def test_a_small_replacing_roster_is_one_request_that_replaces_by_itself() -> None:
    chunks = roster_chunks("CS101", [RosterEntry("U1", "Ada")], replace=True, reply_to=REPLY_TO)
    assert chunks == [RosterImportParams("CS101", (RosterEntry("U1", "Ada"),), True)]  # no import to name
