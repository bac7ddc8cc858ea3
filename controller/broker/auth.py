"""Broker credentials and access control in Mosquitto's own formats, as pure code.

- Password files as `mosquitto_passwd` writes them: `user:$7$101$<b64 salt>$<b64 hash>`, the hash
  being PBKDF2-HMAC-SHA512 over 101 iterations with a 12-byte salt. The older `$6$` form
  (SHA-512 of password + salt, Mosquitto 1.x) is verified too, never written.
- ACL files (`acl_file`): `user NAME`, `topic [read|write|readwrite|deny] TOPIC` and
  `pattern [read|write|readwrite|deny] TOPIC` with `%u` (username) and `%c` (client id).

`Acl.allows` reproduces Mosquitto 2.0.11's default check (src/security_default.c), checked
against a running Mosquitto:
1. no ACL file: everything is allowed;
2. the client's own rules (the `user` block of its username; rules before the first `user` line
   apply to clients without a username): any matching `deny` refuses, any matching grant allows;
3. then the patterns, for every client: a username or client id containing `+` or `#` is refused
   outright; `%u`/`%c` are replaced by text (a pattern with `%u` is skipped for a client without
   a username); `deny` first, then grants;
4. anything else is refused.
Subscribing is always allowed: what a client may *receive* is checked per message (READ).

No I/O here: the callers read and write the files.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntFlag

from controller.errors import FleetError

PBKDF2_ITERATIONS = 101
"""What `mosquitto_passwd` 2.0 uses."""

SALT_BYTES = 12
UNSAFE_ID_CHARS = "+#/"
"""Characters that would let a username or client id widen a `%u`/`%c` pattern."""

_PATTERN_DANGEROUS = "+#"  # what Mosquitto 2.0.11 itself refuses in pattern checks
_SUBSTITUTION = re.compile(r"%[cu]")


class AuthFileError(FleetError):
    """A password or ACL file that cannot be used; the message names the file and line."""


# --- passwords ------------------------------------------------------------------------------------


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """`$7$ITER$SALT$HASH`, the form `mosquitto_passwd` 2.0 writes."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches a `$7$` or `$6$` hash; False for anything malformed."""
    parts = encoded.split("$")
    try:
        if len(parts) == 5 and parts[:2] == ["", "7"]:
            iterations = int(parts[2], 10)
            if not 1 <= iterations <= 10_000_000:
                return False
            salt, expected = _unb64(parts[3]), _unb64(parts[4])
            actual = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
        elif len(parts) == 4 and parts[:2] == ["", "6"]:
            salt, expected = _unb64(parts[2]), _unb64(parts[3])
            actual = hashlib.sha512(password.encode("utf-8") + salt).digest()
        else:
            return False
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


def supported_hash(encoded: str) -> bool:
    """Whether `encoded` is a hash Mosquitto 2.0 accepts (and so do we)."""
    parts = encoded.split("$")
    try:
        if len(parts) == 5 and parts[:2] == ["", "7"] and int(parts[2], 10) >= 1:
            _unb64(parts[3])
            _unb64(parts[4])
            return True
        if len(parts) == 4 and parts[:2] == ["", "6"]:
            _unb64(parts[2])
            _unb64(parts[3])
            return True
    except (ValueError, binascii.Error):
        return False
    return False


def new_password() -> str:
    """A random password of 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True, slots=True)
class PasswordFile:
    """The usable entries of a password file, and one line per entry Mosquitto would drop."""

    hashes: Mapping[str, str]
    problems: tuple[str, ...] = ()

    def verify(self, username: str, password: str | None) -> bool:
        encoded = self.hashes.get(username)
        return encoded is not None and password is not None and verify_password(password, encoded)


def parse_password_file(text: str, source: str = "<password file>") -> PasswordFile:
    """Parse `user:hash` lines. Blank lines and `#` comments are skipped; an entry with no or an
    unsupported hash is dropped and reported in `problems`, as Mosquitto drops it with an error."""
    hashes: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        username, sep, encoded = line.partition(":")
        encoded = encoded.split(":", 1)[0].strip()
        if not sep or not supported_hash(encoded):
            problems.append(f"{source}:{number}: no usable password hash for user {username!r}; entry dropped")
            continue
        hashes[username] = encoded
    return PasswordFile(hashes, tuple(problems))


def format_password_file(hashes: Mapping[str, str]) -> str:
    """The text of a password file, one `user:hash` line per user, sorted by username."""
    for username in hashes:
        if not username or ":" in username or any(c in username for c in "\r\n"):
            raise AuthFileError(f"username {username!r} cannot be stored in a password file")
    return "".join(f"{username}:{hashes[username]}\n" for username in sorted(hashes))


def unsafe_identity(name: str | None) -> bool:
    """Whether a username or client id holds `+`, `#` or `/`, which could widen an ACL pattern."""
    return name is not None and any(c in name for c in UNSAFE_ID_CHARS)


# --- topics ---------------------------------------------------------------------------------------


def valid_filter(topic_filter: str) -> bool:
    """A valid MQTT topic filter: `#` only as the whole last level, `+` only as a whole level."""
    if not topic_filter or len(topic_filter.encode("utf-8")) > 65535 or "\0" in topic_filter:
        return False
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether `topic` (no wildcards) matches `topic_filter` by the MQTT rules, including that a
    wildcard in the first level does not match a topic starting with `$`."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)


# --- access control -------------------------------------------------------------------------------


class Access(IntFlag):
    """What a rule grants; a rule with no access (`deny`) refuses instead."""

    NONE = 0
    READ = 1
    WRITE = 2
    READWRITE = 3


_ACCESS_WORDS = {"read": Access.READ, "write": Access.WRITE, "readwrite": Access.READWRITE, "deny": Access.NONE}


@dataclass(frozen=True, slots=True)
class AclRule:
    """One `topic` or `pattern` line."""

    access: Access
    topic: str

    @property
    def denies(self) -> bool:
        return self.access == Access.NONE


@dataclass(frozen=True, slots=True)
class Acl:
    """A parsed ACL file. `anonymous` holds the rules before the first `user` line."""

    users: Mapping[str, tuple[AclRule, ...]] = field(default_factory=dict)
    anonymous: tuple[AclRule, ...] = ()
    patterns: tuple[AclRule, ...] = ()

    def allows(self, username: str | None, client_id: str | None, topic: str, access: Access) -> bool:
        """Whether the client may READ or WRITE `topic` (Mosquitto 2.0.11's default check)."""
        own = self.users.get(username) if username is not None else (self.anonymous or None)
        if own is None and not self.patterns:
            return False
        verdict = _first_verdict(own or (), topic, access, lambda rule: rule.topic)
        if verdict is not None:
            return verdict
        if not self.patterns:
            return False
        if any(c in _PATTERN_DANGEROUS for c in (username or "") + (client_id or "")):
            return False
        if client_id is None:
            return False
        patterns = [rule for rule in self.patterns if username is not None or "%u" not in rule.topic]
        verdict = _first_verdict(patterns, topic, access, lambda rule: _substitute(rule.topic, username, client_id))
        return bool(verdict)


def _first_verdict(rules: Sequence[AclRule], topic: str, access: Access,
                   expand: Callable[[AclRule], str]) -> bool | None:
    """False if a deny rule matches, True if a granting rule matches, None if no rule decides."""
    matching = [rule for rule in rules if _rule_matches(expand(rule), topic)]
    if any(rule.denies for rule in matching):
        return False
    if any(rule.access & access for rule in matching):
        return True
    return None


def _rule_matches(rule_topic: str, topic: str) -> bool:
    if topic.startswith("$") and not rule_topic.startswith("$"):
        return False
    return topic_matches(rule_topic, topic)


def _substitute(pattern: str, username: str | None, client_id: str) -> str:
    return _SUBSTITUTION.sub(lambda m: client_id if m.group() == "%c" else (username or ""), pattern)


def parse_acl(text: str, source: str = "<acl file>") -> Acl:
    """Parse an ACL file as strictly as Mosquitto 2.0.11 does; AuthFileError names file and line."""
    users: dict[str, list[AclRule]] = {}
    anonymous: list[AclRule] = []
    patterns: list[AclRule] = []
    current: list[AclRule] = anonymous
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip() or line.startswith("#"):
            continue
        where = f"{source}:{number}"
        keyword, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if keyword == "user":
            if not rest:
                raise AuthFileError(f"{where}: user needs a username")
            current = users.setdefault(rest, [])
        elif keyword in ("topic", "pattern"):
            rule = _parse_rule(keyword, rest, where)
            (patterns if keyword == "pattern" else current).append(rule)
        else:
            raise AuthFileError(f"{where}: invalid line {keyword!r}: expected user, topic or pattern")
    return Acl({name: tuple(rules) for name, rules in users.items()}, tuple(anonymous), tuple(patterns))


def _parse_rule(keyword: str, rest: str, where: str) -> AclRule:
    if not rest:
        raise AuthFileError(f"{where}: {keyword} needs a topic")
    first, _, topic = rest.partition(" ")
    topic = topic.strip()
    if not topic:
        access, topic = Access.READWRITE, first
    elif first in _ACCESS_WORDS:
        access = _ACCESS_WORDS[first]
    else:
        raise AuthFileError(f"{where}: invalid access {first!r}: expected read, write, readwrite or deny")
    if not valid_filter(topic):
        raise AuthFileError(f"{where}: invalid ACL topic {topic!r}")
    return AclRule(access, topic)
