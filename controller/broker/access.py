"""Who may connect to the embedded broker and what each client may do, from the files a
`broker.conf` names (`allow_anonymous`, `password_file`, `acl_file`), reloaded when they change.

Authentication follows Mosquitto 2.0.11, checked against it: a client without a username needs
`allow_anonymous true`; a client with one needs a matching entry in the password file when there
is one, else `allow_anonymous true`. On top of that the embedded broker refuses any client id or
username holding `+`, `#` or `/` (Mosquitto 2.0.11 accepts the connection but then refuses such a
client every pattern-based access for `+`/`#`; `/` it lets through).

A file that breaks at reload is reported and the previous version kept; at start it stops the
broker. No amqtt here: `controller.broker.plugins` and `fixes` call this.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from controller.broker import auth
from controller.broker.auth import Access, Acl, PasswordFile
from controller.broker.conf import BrokerConf
from controller.errors import FleetError
from controller.logtext import shown

log = logging.getLogger(__name__)

_Signature = tuple[int, int, int] | None


class AccessError(FleetError):
    """A password or ACL file the broker cannot start with; the message is one line."""


class AccessControl:
    """The embedded broker's authentication and authorisation, loaded from `conf`'s files."""

    def __init__(self, conf: BrokerConf) -> None:
        self.allow_anonymous = conf.allow_anonymous
        self.password_path = conf.password_file
        self.acl_path = conf.acl_file
        self._passwords, self._password_sig = self._load_passwords()
        self._acl, self._acl_sig = self._load_acl()

    def refusal(self, username: str | None, password: str | None, client_id: str | None) -> str | None:
        """Why this client may not connect, or None if it may."""
        if auth.unsafe_identity(client_id):
            return f"client id {shown(client_id)} holds +, # or /"
        if auth.unsafe_identity(username):
            return f"username {shown(username)} holds +, # or /"
        if username is None or self._passwords is None:
            return None if self.allow_anonymous else "anonymous clients are not allowed"
        if self._passwords.verify(username, password):
            return None
        return f"bad username or password for {shown(username)}"

    def allows(self, username: str | None, client_id: str | None, topic: str, access: Access) -> bool:
        """Whether the client may READ (receive) or WRITE (publish) `topic`."""
        return self._acl is None or self._acl.allows(username, client_id, topic, access)

    def reload_if_changed(self) -> bool:
        """Reload the files that changed on disk; True if anything was reloaded. A file that no
        longer parses is reported once and its previous version kept."""
        changed = False
        if self.password_path is not None and _signature(self.password_path) != self._password_sig:
            try:
                self._passwords, self._password_sig = self._load_passwords()
                changed = True
            except AccessError as exc:
                log.error("%s; keeping the previous version", exc)
                self._password_sig = _signature(self.password_path)
        if self.acl_path is not None and _signature(self.acl_path) != self._acl_sig:
            try:
                self._acl, self._acl_sig = self._load_acl()
                changed = True
            except AccessError as exc:
                log.error("%s; keeping the previous version", exc)
                self._acl_sig = _signature(self.acl_path)
        if changed:
            log.info("reloaded credentials and access control")
        return changed

    def _load_passwords(self) -> tuple[PasswordFile | None, _Signature]:
        if self.password_path is None:
            return None, None
        text, signature = _read(self.password_path, "password_file")
        passwords = auth.parse_password_file(text, str(self.password_path))
        for problem in passwords.problems:
            log.error("%s", problem)  # Mosquitto drops such entries with an error, and so do we
        return passwords, signature

    def _load_acl(self) -> tuple[Acl | None, _Signature]:
        if self.acl_path is None:
            return None, None
        text, signature = _read(self.acl_path, "acl_file")
        try:
            return auth.parse_acl(text, str(self.acl_path)), signature
        except auth.AuthFileError as exc:
            raise AccessError(str(exc)) from exc


def _read(path: Path, what: str) -> tuple[str, _Signature]:
    try:
        signature = _signature(path)
        return path.read_text(encoding="utf-8"), signature
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise AccessError(f"{path}: cannot read the {what}: {reason}") from exc


def _signature(path: Path) -> _Signature:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size, status.st_ino
