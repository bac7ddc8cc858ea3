"""Topic roots, reply topics and the last check before publishing: the controller's rules for
topic levels that come from users and the network."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from controller.contract.topics import MAX_ROOT_LEN, Topics, check_root, publishable
from controller.errors import Rejected
from tests import contract


@pytest.mark.parametrize("root", ["fleet", "a/b/c", "campus-1/fleet_v2.0", "r" * MAX_ROOT_LEN])
def test_good_roots(root: str) -> None:
    assert Topics(root).root == root


@pytest.mark.parametrize("root", ["", "/fleet", "fleet/", "a//b", "fleet/+", "fleet/#", "r" * (MAX_ROOT_LEN + 1),
                                  "fl eet", "fl\x00et", "café", ".hidden", "a\u202eb"])
def test_bad_roots(root: str) -> None:
    with pytest.raises(ValueError):
        check_root(root)


def test_a_long_root_says_why() -> None:
    with pytest.raises(ValueError, match="at most 64"):
        Topics("r" * 65)


TOPICS = Topics("fleet")


@pytest.mark.parametrize("cid", ["alice", "cli-0123456789ab", "a.b_c-d", "A" * 64])
def test_reply_topics_the_controller_answers_on(cid: str) -> None:
    assert TOPICS.is_replies(TOPICS.replies(cid))


@pytest.mark.parametrize("topic", [
    "fleet/clients/a\x00b/replies", "fleet/clients/a\x01b/replies", "fleet/clients/a\uffffb/replies",
    "fleet/clients/a\ufdd0b/replies", "fleet/clients/a b/replies", "fleet/clients//replies",
    "fleet/clients/a/b/replies", "fleet/clients/+/replies", "fleet/clients/#/replies", "fleet/clients/-a/replies",
    "fleet/clients/" + "a" * 65 + "/replies", "other/clients/alice/replies", "fleet/devices/esp32-a/config",
    "fleet/clients/alice/replies/x",
])
def test_reply_topics_the_controller_refuses(topic: str) -> None:
    assert not TOPICS.is_replies(topic)


def test_the_last_check_before_publishing() -> None:
    assert publishable(TOPICS.config("esp32-a1b2c3d4e5f6"))
    assert publishable(TOPICS.replies("alice"))
    for topic in ("", "a\x00b", "a+b", "a#b", "a b", "caf\u00e9", "a\ud800b", "x" * 257):
        assert not publishable(topic), topic


@pytest.mark.parametrize("root", ["fleet", "a/b/c", "r" * 64, "r" * 65, "a//b", "fl eet", ".x", "café", ""])
def test_the_schemas_topic_root_is_the_controllers(root: str) -> None:
    schema = contract.load_schema(contract.COMMON)["$defs"]["topic_root"]
    try:
        check_root(root)
        ours = True
    except ValueError:
        ours = False
    assert Draft202012Validator(schema).is_valid(root) == ours


def test_each_user_has_its_own_requests_topic() -> None:
    topics = Topics("campus/a")
    assert topics.requests("alice") == "campus/a/controller/requests/alice"
    assert topics.request_sender("campus/a/controller/requests/alice") == "alice"
    assert topics.request_sender("campus/a/controller/status") is None
    assert topics.request_sender("campus/a/devices/esp32-aa/status") is None
    assert ("$share/g/campus/a/controller/requests/+", 1) in topics.controller_filters("g")
    assert ("campus/a/controller/requests/+", 1) in topics.controller_filters()


@pytest.mark.parametrize("user", ["", "-a", "a/b", "a b", "x" * 65, "a\x00", "+"])
def test_a_requests_topic_with_a_bad_user_level_is_rejected(user: str) -> None:
    with pytest.raises(Rejected) as caught:
        Topics().request_sender(f"fleet/controller/requests/{user}")
    assert caught.value.reason == "bad_topic"
