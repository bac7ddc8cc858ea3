"""Unit tests for controller.broker.conf: the Mosquitto-syntax parser (no network, no disk)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.broker.conf import (
    BrokerConf,
    BrokerConfError,
    Limits,
    Listener,
    Persistence,
    Tls,
    load,
    parse,
    with_port,
)
from controller.broker.profile import MAX_PACKET_SIZE, MAX_QUEUED_BYTES, MAX_QUEUED_MESSAGES

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_listeners_and_anonymous() -> None:
    conf = parse(
        "# comment\n"
        "\n"
        "   # indented comment\n"
        "listener 1883 127.0.0.1\n"
        "listener 8883\n"
        "\tlistener   0   ::1  \n"
        "allow_anonymous true\n"
    )
    assert conf == BrokerConf(
        listeners=(Listener(1883, "127.0.0.1"), Listener(8883, None), Listener(0, "::1")),
        allow_anonymous=True,
        source=None,
    )


def test_no_listener_is_mosquittos_local_only_mode() -> None:
    conf = parse("# nothing but a comment\n")
    assert conf.listeners == (Listener(1883, "127.0.0.1"),)
    assert conf.allow_anonymous is True


def test_empty_text_gives_defaults() -> None:
    assert parse("") == BrokerConf((Listener(1883, "127.0.0.1"),), allow_anonymous=True)


def test_anonymous_defaults_to_false_once_a_listener_is_set() -> None:
    assert parse("listener 1883\n").allow_anonymous is False


def test_anonymous_false_without_listener() -> None:
    assert parse("allow_anonymous false\n").allow_anonymous is False


def test_crlf_line_endings() -> None:
    conf = parse("listener 1884 127.0.0.1\r\nallow_anonymous true\r\n")
    assert conf.listeners == (Listener(1884, "127.0.0.1"),)


@pytest.mark.parametrize("port", [0, 1, 65535])
def test_port_range_edges(port: int) -> None:
    assert parse(f"listener {port}\n").listeners == (Listener(port),)


def test_several_port_zero_listeners_are_not_duplicates() -> None:
    assert len(parse("listener 0 127.0.0.1\nlistener 0 127.0.0.1\n").listeners) == 2


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("listener 65536\n", 1, "out of range 0..65535"),
        ("\nlistener -1\n", 2, "out of range"),
        ("listener abc\n", 1, "'abc' is not a number"),
        ("listener\n", 1, "listener PORT [HOST]"),
        ("listener 1883 127.0.0.1 extra\n", 1, "listener PORT [HOST]"),
        ("listener 0 /run/mqtt.sock\n", 1, "unix socket"),
        ("listener 1883\nlistener 1883\n", 2, "repeats line 1"),
        ("allow_anonymous yes\n", 1, "must be true or false, got 'yes'"),
        ("allow_anonymous\n", 1, "got 'nothing'"),
        ("allow_anonymous True\n", 1, "must be true or false"),
        ("allow_anonymous true # inline\n", 1, "must be true or false"),
        ("allow_anonymous true\nallow_anonymous false\n", 2, "already set on line 1"),
        ("# x\n\nfrobnicate 1\n", 3, "unknown directive 'frobnicate'"),
        ("Listener 1883\n", 1, "unknown directive 'Listener'"),
    ],
)
def test_errors_name_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(BrokerConfError) as caught:
        parse(text, "broker.conf")
    message = str(caught.value)
    assert message.startswith(f"broker.conf:{line}: ")
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "line",
    [
        "require_certificate true",
        "tls_version tlsv1.2",
        "persistence_file fleet.db",
        "max_inflight_messages 20",
        "message_size_limit 1024",
        "per_listener_settings true",
        "connection cloud-bridge",
        "address remote.example:1883",
        "topic fleet/# both 1",
        "port 1883",
        "plugin /usr/lib/auth.so",
        "auth_opt_backends files",
        "plugin_opt_db x",
        "log_dest stdout",
        "user mosquitto",
    ],
)
def test_mosquitto_options_the_embedded_broker_cannot_honour(line: str) -> None:
    directive = line.split(maxsplit=1)[0]
    with pytest.raises(BrokerConfError) as caught:
        parse(f"listener 1883\n{line}\n", "secure.conf")
    message = str(caught.value)
    assert message.startswith("secure.conf:2: ")
    assert f"{directive!r} is a Mosquitto option the embedded broker does not support" in message


def test_default_source_name() -> None:
    with pytest.raises(BrokerConfError, match=r"^<string>:1: "):
        parse("bogus\n")


def test_with_port_overrides_the_first_listener_only() -> None:
    conf = parse("listener 1883 127.0.0.1\nlistener 1884\nallow_anonymous true\n")
    changed = with_port(conf, 0)
    assert changed.listeners == (Listener(0, "127.0.0.1"), Listener(1884))
    assert changed.allow_anonymous is True
    assert conf.listeners[0].port == 1883  # the original is untouched (frozen)


def test_with_port_rejects_out_of_range() -> None:
    with pytest.raises(BrokerConfError, match="65536"):
        with_port(parse(""), 65536)


def test_values_are_frozen() -> None:
    conf = parse("")
    with pytest.raises(AttributeError):
        conf.allow_anonymous = False  # type: ignore[misc]


def test_load_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    with pytest.raises(BrokerConfError) as caught:
        load(missing)
    assert str(caught.value) == f"{missing}: cannot read broker config: No such file or directory"


def test_shipped_quick_start_profile() -> None:
    # Reads the repository's own broker.conf: the file the quick start and `mosquitto -c` use.
    path = REPO_ROOT / "broker.conf"
    conf = load(path)
    limits = Limits(MAX_PACKET_SIZE, MAX_QUEUED_MESSAGES, MAX_QUEUED_BYTES)  # the secure profile's
    assert conf == BrokerConf((Listener(1883, "127.0.0.1"),), allow_anonymous=True, source=path, limits=limits)


def test_security_and_persistence_settings() -> None:
    conf = parse(
        "password_file /etc/fleet/passwd\n"
        "acl_file /etc/fleet/my acl\n"  # Mosquitto takes the rest of the line: spaces are allowed
        "allow_anonymous false\n"
        "persistence true\n"
        "persistence_location /var/lib/fleet/\n"
        "autosave_interval 10\n"
        "autosave_on_changes false\n"
        "listener 1883 127.0.0.1\n"
    )
    assert conf.password_file == Path("/etc/fleet/passwd")
    assert conf.acl_file == Path("/etc/fleet/my acl")
    assert conf.allow_anonymous is False
    assert conf.secured
    assert conf.persistence == Persistence(Path("/var/lib/fleet/"), 10, False)


def test_persistence_defaults_follow_mosquitto() -> None:
    assert parse("persistence true\n").persistence == Persistence(Path(), 1800, False)
    assert parse("persistence false\npersistence_location /x\n").persistence is None
    assert parse("listener 1\n").persistence is None


def test_tls_options_belong_to_the_listener_before_them() -> None:
    conf = parse(
        "listener 1883 127.0.0.1\n"
        "listener 8883\n"
        "certfile /tls/server.crt\n"
        "keyfile /tls/server.key\n"
        "cafile /tls/ca.crt\n"
        "listener 8884\n"
        "keyfile /tls/other.key\n"
        "certfile /tls/other.crt\n"
    )
    assert conf.listeners == (
        Listener(1883, "127.0.0.1"),
        Listener(8883, None, Tls(Path("/tls/server.crt"), Path("/tls/server.key"), Path("/tls/ca.crt"))),
        Listener(8884, None, Tls(Path("/tls/other.crt"), Path("/tls/other.key"))),
    )


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("certfile a.crt\nlistener 1\n", 1, "must follow the `listener` line"),
        ("listener 1\ncertfile a.crt\n", 2, "certfile without keyfile"),
        ("listener 1\nkeyfile a.key\n", 2, "keyfile without certfile"),
        ("listener 1\ncafile ca.crt\n", 2, "cafile without certfile and keyfile"),
        ("listener 1\ncertfile a\nkeyfile b\ncertfile c\n", 4, "already set for this listener on line 2"),
        ("listener 1\ncertfile a\nlistener 2\nkeyfile b\n", 2, "certfile without keyfile"),
        # Mosquitto would open a default listener on port 1883 for it
        ("use_username_as_clientid true\nlistener 1\n", 1, "must follow the `listener` line"),
        ("listener 1\nuse_username_as_clientid yes\n", 2, "must be true or false, got 'yes'"),
        ("listener 1\nuse_username_as_clientid true\nuse_username_as_clientid false\n", 3,
         "already set for this listener on line 2"),
        ("password_file\n", 1, "password_file needs a path"),
        ("acl_file a\nacl_file b\n", 2, "acl_file is already set on line 1"),
        ("persistence yes\n", 1, "persistence must be true or false"),
        ("autosave_interval ten\n", 1, "autosave_interval must be a whole number, got 'ten'"),
        ("autosave_interval -1\n", 1, "must be a whole number"),
        ("autosave_on_changes\n", 1, "got 'nothing'"),
        ("max_packet_size 19\n", 1, "max_packet_size must be at least 20, got 19"),
        ("\nmax_packet_size 0\n", 2, "at least 20, got 0"),  # Mosquitto refuses 0 as well
        ("max_packet_size 16M\n", 1, "must be a whole number, got '16M'"),
        ("max_queued_messages -1\n", 1, "must be a whole number"),
        ("max_queued_bytes 1\nmax_queued_bytes 2\n", 2, "already set on line 1"),
    ],
)
def test_security_errors_name_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(BrokerConfError) as caught:
        parse(text, "secure.conf")
    message = str(caught.value)
    assert message.startswith(f"secure.conf:{line}: "), message
    assert fragment in message
    assert "\n" not in message


def test_use_username_as_clientid_belongs_to_the_listener_before_it() -> None:
    conf = parse(
        "listener 1883 127.0.0.1\n"
        "listener 8883\n"
        "use_username_as_clientid true\n"
        "certfile /tls/server.crt\n"
        "keyfile /tls/server.key\n"
        "listener 8884\n"
        "use_username_as_clientid false\n"
    )
    assert conf.listeners == (
        Listener(1883, "127.0.0.1"),
        Listener(8883, None, Tls(Path("/tls/server.crt"), Path("/tls/server.key")), use_username_as_clientid=True),
        Listener(8884),
    )
    assert with_port(parse("listener 1\nuse_username_as_clientid true\n"), 0).listeners[0].use_username_as_clientid


def test_with_port_keeps_the_listeners_tls() -> None:
    conf = parse("listener 8883\ncertfile a.crt\nkeyfile a.key\n")
    assert with_port(conf, 0).listeners[0] == Listener(0, None, Tls(Path("a.crt"), Path("a.key")))


def test_limits_have_mosquittos_meaning() -> None:
    assert parse("").limits == Limits()  # no limits unless written down
    conf = parse("max_packet_size 20\nmax_queued_messages 100000\nmax_queued_bytes 65536\n")
    assert conf.limits == Limits(20, 100_000, 65_536)
    assert parse("max_queued_messages 0\nmax_queued_bytes 0\n").limits == Limits()  # 0: no maximum
