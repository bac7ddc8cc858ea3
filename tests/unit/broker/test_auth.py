"""Unit tests for controller.broker.auth: Mosquitto's password hashes, ACL files and their evaluation.

The expectations of the ACL tests were checked against a running Mosquitto 2.0.11.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from controller.broker.auth import (
    Access,
    AuthFileError,
    format_password_file,
    hash_password,
    parse_acl,
    parse_password_file,
    supported_hash,
    topic_matches,
    unsafe_identity,
    valid_filter,
    verify_password,
)

# Made by `mosquitto_passwd -c -b pw dev1 p1` (Mosquitto 2.0.11); tests/security checks a fresh one.
MOSQUITTO_PASSWD_LINE = ("dev1:$7$101$1H7mKDjwtw/qqD2I$p0rHs0p4IIha+imHEkZo+YES5uXX3HQK+Aq/mBAl/E7a4xabVLkYAguHjDz2u"
                         "LBPSC7gHDSqMoVdJsPBzBsxvQ==")
R, W, RW = Access.READ, Access.WRITE, Access.READWRITE


def test_a_hash_made_by_mosquitto_passwd_verifies() -> None:
    hashes = parse_password_file(MOSQUITTO_PASSWD_LINE + "\n").hashes
    assert verify_password("p1", hashes["dev1"])
    assert not verify_password("p2", hashes["dev1"])
    assert not verify_password("", hashes["dev1"])


def test_our_hashes_have_mosquitto_passwds_shape() -> None:
    encoded = hash_password("secret", salt=b"0123456789ab")
    kind, iterations, salt, digest = encoded.split("$")[1:]
    assert (kind, iterations) == ("7", "101")
    assert base64.b64decode(salt) == b"0123456789ab"
    assert base64.b64decode(digest) == hashlib.pbkdf2_hmac("sha512", b"secret", b"0123456789ab", 101)
    assert verify_password("secret", encoded)
    assert hash_password("secret") != hash_password("secret")  # a fresh salt every time


def test_the_old_sha512_form_verifies_too() -> None:
    salt = b"salty-salt-12"
    encoded = f"$6${base64.b64encode(salt).decode()}${base64.b64encode(hashlib.sha512(b'pw' + salt).digest()).decode()}"
    assert verify_password("pw", encoded)
    assert not verify_password("px", encoded)


@pytest.mark.parametrize("encoded", ["", "plain", "$7$101$!!$abc", "$7$x$YQ==$YQ==", "$7$0$YQ==$YQ==",
                                     "$5$YQ==$YQ==", "$7$101$YQ==", "$6$YQ=="])
def test_malformed_hashes_never_verify(encoded: str) -> None:
    assert not verify_password("anything", encoded)
    assert not supported_hash(encoded) or encoded.startswith("$7$0$")


def test_password_file_skips_comments_and_drops_what_mosquitto_drops() -> None:
    parsed = parse_password_file(f"# comment\n\n{MOSQUITTO_PASSWD_LINE}\nbob:plain\ncarol\n", "passwd")
    assert list(parsed.hashes) == ["dev1"]
    assert parsed.problems == ("passwd:4: no usable password hash for user 'bob'; entry dropped",
                               "passwd:5: no usable password hash for user 'carol'; entry dropped")
    assert parsed.verify("dev1", "p1")
    assert not parsed.verify("dev1", None)
    assert not parsed.verify("bob", "plain")


def test_password_file_round_trip_is_sorted() -> None:
    text = format_password_file({"b": "$7$1$YQ==$YQ==", "a": "$7$1$Yg==$Yg=="})
    assert text == "a:$7$1$Yg==$Yg==\nb:$7$1$YQ==$YQ==\n"
    assert dict(parse_password_file(text).hashes) == {"a": "$7$1$Yg==$Yg==", "b": "$7$1$YQ==$YQ=="}
    with pytest.raises(AuthFileError):
        format_password_file({"a:b": "x"})


@pytest.mark.parametrize(("name", "unsafe"), [("esp32-a1b2", False), ("a+b", True), ("#", True), ("a/b", True),
                                              (None, False), ("", False)])
def test_unsafe_identities(name: str | None, unsafe: bool) -> None:
    assert unsafe_identity(name) is unsafe


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("a/b", "a/b", True), ("a/+", "a/b", True), ("a/+", "a/b/c", False), ("a/#", "a", True),
        ("a/#", "a/b/c", True), ("#", "a/b", True), ("+/+", "a/b", True), ("a/+/c", "a//c", True),
        ("#", "$SYS/x", False), ("+/x", "$SYS/x", False), ("$SYS/#", "$SYS/x", True), ("a/b", "a/b/c", False),
    ],
)
def test_topic_matching(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(topic_filter, topic) is matches


@pytest.mark.parametrize(("topic_filter", "valid"), [("a/#", True), ("#", True), ("a/+/b", True), ("a/#/b", False),
                                                     ("a#", False), ("a+/b", False), ("", False)])
def test_filter_validity(topic_filter: str, valid: bool) -> None:
    assert valid_filter(topic_filter) is valid


ACL = """\
# anonymous clients
topic read public/#

user alice
topic write t/#
topic deny t/secret
topic read only/this

user ctl
topic readwrite fleet/devices/+/status

pattern write fleet/devices/%u/status
pattern read fleet/devices/%u/config
pattern write c/%c/x
pattern deny fleet/devices/ctl/#
"""


@pytest.mark.parametrize(
    ("username", "client_id", "topic", "access", "allowed"),
    [
        # the user's own block; deny wins whatever the order
        ("alice", "a1", "t/x", W, True), ("alice", "a1", "t/secret", W, False), ("alice", "a1", "t/x", R, False),
        ("alice", "a1", "only/this", R, True), ("alice", "a1", "only/this", W, False),
        # patterns apply to every account, users included (so generated user blocks deny them)
        ("alice", "a1", "fleet/devices/alice/status", W, True), ("alice", "a1", "fleet/devices/ctl/status", W, False),
        # the user's own grant decides before any pattern, even a deny pattern (so user blocks deny inside)
        ("ctl", "c", "fleet/devices/ctl/status", W, True), ("ctl", "c", "fleet/devices/dev1/status", R, True),
        # a device: username substituted for %u, its own topics only
        ("dev1", "dev1", "fleet/devices/dev1/status", W, True), ("dev1", "dev1", "fleet/devices/dev2/status", W, False),
        ("dev1", "dev1", "fleet/devices/dev1/config", R, True), ("dev1", "dev1", "fleet/devices/dev2/config", R, False),
        ("dev1", "dev1", "fleet/devices/dev1/config", W, False),
        # substitution is textual, as in Mosquitto 2.0.11: a `/` in an id adds levels
        ("dev1", "a/b", "c/a/b/x", W, True),
        # + or # in a username or client id: every pattern refused
        ("dev+", "dev+", "fleet/devices/dev+/status", W, False), ("dev1", "#", "fleet/devices/dev1/status", W, False),
        ("dev1", "x+", "c/x+/x", W, False),
        # anonymous: the rules before the first user line, and %c patterns (never %u ones)
        (None, "anon", "public/a", R, True), (None, "anon", "public/a", W, False), (None, "anon", "c/anon/x", W, True),
        (None, "anon", "fleet/devices//status", W, False),
    ],
)
def test_acl_evaluation_matches_mosquitto(username: str | None, client_id: str, topic: str, access: Access,
                                          allowed: bool) -> None:
    assert parse_acl(ACL).allows(username, client_id, topic, access) is allowed


def test_no_rules_for_the_client_and_no_patterns_refuses_everything() -> None:
    acl = parse_acl("user alice\ntopic t\n")
    assert acl.allows("alice", "x", "t", RW)
    assert not acl.allows("bob", "x", "t", R)
    assert not acl.allows(None, "x", "t", R)


def test_topic_without_access_word_is_readwrite() -> None:
    acl = parse_acl("user a\ntopic some/topic\ntopic read\n")
    assert acl.allows("a", "a", "some/topic", RW)
    assert acl.allows("a", "a", "read", W)  # `topic read`: the topic is "read"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("bogus line\n", "acl:1: invalid line 'bogus'"),
        ("user a\ntopic write t/#/x\n", "acl:2: invalid ACL topic 't/#/x'"),
        ("user a\ntopic publish t\n", "acl:2: invalid access 'publish'"),
        ("topic\n", "acl:1: topic needs a topic"),
        ("user\n", "acl:1: user needs a username"),
        ("  # indented comment\n", "acl:1: invalid line '#'"),  # Mosquitto only skips '#' in column 1
    ],
)
def test_acl_errors_name_file_and_line(text: str, fragment: str) -> None:
    with pytest.raises(AuthFileError) as caught:
        parse_acl(text, "acl")
    assert fragment in str(caught.value)
