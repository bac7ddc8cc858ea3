"""Credentials on disk: the password file and ACL a `broker.conf` names, and the secure profile.

Every file is written atomically — a temporary file in the same directory, fsync, rename, fsync
of the directory — with mode 0600. A replaced file keeps its owner, so a password file handed to
the `mosquitto` user stays readable by Mosquitto after `fleet device provision` ran as root.
Writers of one password file are serialised by an flock on `<password file>.lock`, so two
provisioning commands at once cannot lose each other's update.

Passwords are generated here, shown once by the caller and stored only as `$7$` hashes; a profile
with a NATS side (`nats-passwd` beside the password file) also keeps bcrypt hashes there, and its
`nats-auth.conf` (the cluster's users and permissions) is written again after every change.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pwd
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from controller.broker import auth, nats_auth, profile
from controller.broker.conf import BrokerConf, load
from controller.broker.profile import ProfileSpec
from controller.contract.roles import Role
from controller.contract.topics import valid_device_id
from controller.errors import FleetError

log = logging.getLogger(__name__)

PRIVATE_MODE = 0o600
NATS_PASSWORD_FILE = "nats-passwd"
NATS_AUTH_FILE = "nats-auth.conf"
MOSQUITTO_USER = "mosquitto"


class CredentialsError(FleetError):
    """Credentials that cannot be read, changed or written; the message is one line."""


@dataclass(frozen=True, slots=True)
class Issued:
    """A password just created: shown once, stored only as a hash."""

    username: str
    password: str
    role: str  # "device" or a Role value
    password_file: Path
    warnings: tuple[str, ...] = ()


# --- files ----------------------------------------------------------------------------------------


def write_private(path: Path, data: str | bytes, *, owner: tuple[int, int] | None = None,
                  keep_group_read: bool = False) -> None:
    """Replace `path` atomically with `data`, mode 0600. Keeps the replaced file's owner (when run
    as root), or gives it `owner` (uid, gid) if one is named. With `keep_group_read`, a group-read
    bit the replaced file had is kept (0640): the ACL, which holds no secret, can then be read by
    the controllers' group (`chgrp fleet acl; chmod g+r acl` once) across every rewrite."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        previous = path.stat()
        keep: tuple[int, int] | None = (previous.st_uid, previous.st_gid)
        mode = PRIVATE_MODE | (previous.st_mode & stat.S_IRGRP if keep_group_read else 0)
    except FileNotFoundError:
        keep, mode = None, PRIVATE_MODE
    except OSError as exc:
        raise CredentialsError(f"cannot write {path}: {exc.strerror or exc}") from exc
    target = owner or keep
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        if target is not None and os.geteuid() == 0:
            os.chown(tmp, *target)
        os.replace(tmp, path)
        tmp = None
        _fsync_directory(path.parent)
    except OSError as exc:
        raise CredentialsError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `<path>.lock` (created 0600 if missing)."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE)
    except OSError as exc:
        raise CredentialsError(f"cannot lock {path}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CredentialsError(f"cannot read {path}: {reason}") from exc


# --- accounts -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Files:
    """What a broker.conf's credentials are now: its password file's hashes and its ACL's users."""

    conf: BrokerConf
    password_file: Path
    acl_file: Path | None
    hashes: dict[str, str]
    users: profile.AclUsers


def _files(config: Path) -> _Files:
    conf = load(config)
    if conf.password_file is None:
        raise CredentialsError(
            f"{config} names no password_file, so its broker takes no credentials; use a secure profile "
            "(`fleet secure-profile DIR`) and pass --config DIR/broker.conf"
        )
    passwords = auth.parse_password_file(_read_text(conf.password_file), str(conf.password_file))
    if passwords.problems:
        raise CredentialsError(f"{passwords.problems[0]}; fix or remove that line first")
    users = profile.read_acl_users(_read_text(conf.acl_file)) if conf.acl_file else profile.AclUsers(None, {})
    return _Files(conf, conf.password_file, conf.acl_file, dict(passwords.hashes), users)


def provision_device(config: Path, device_id: str) -> Issued:
    """Create or rotate the password of device `device_id` in the password file `config` names."""
    if not valid_device_id(device_id):
        raise CredentialsError(
            f"bad device id {device_id!r}: use 3-32 lowercase letters, digits or '-', starting with a letter or digit"
        )
    files = _files(config)
    with file_lock(files.password_file):
        files = _files(config)
        if files.users.is_user(device_id):
            raise CredentialsError(f"{device_id} is a user account in {files.acl_file}, not a device")
        if _nats_side(files) is not None:
            nats_auth.check_name(device_id)
        password = auth.new_password()
        files.hashes[device_id] = auth.hash_password(password)
        write_private(files.password_file, auth.format_password_file(files.hashes))
        _update_nats(config, device_id, password)
    warnings: tuple[str, ...] = ()
    if files.acl_file is None:
        warnings = (f"{config} names no acl_file: every authenticated client may use every topic",)
    log.info("device %s provisioned in %s", device_id, files.password_file)
    return Issued(device_id, password, "device", files.password_file, warnings)


def revoke_device(config: Path, device_id: str) -> Path:
    """Remove device `device_id` from the password file; returns that file."""
    files = _files(config)
    with file_lock(files.password_file):
        files = _files(config)
        if files.users.is_user(device_id):
            raise CredentialsError(f"{device_id} is a user account in {files.acl_file}, not a device")
        if device_id not in files.hashes:
            raise CredentialsError(f"no device {device_id} in {files.password_file}")
        del files.hashes[device_id]
        write_private(files.password_file, auth.format_password_file(files.hashes))
        _update_nats(config, device_id, None)
    log.info("device %s revoked in %s", device_id, files.password_file)
    return files.password_file


def add_user(config: Path, name: str, role: Role, root: str) -> Issued:
    """Create a user account (or rotate its password and set its role): password file and ACL."""
    if not profile.valid_user_name(name):
        raise CredentialsError(f"bad user name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    files = _files(config)
    with file_lock(files.password_file):
        files = _files(config)
        acl_file = files.acl_file
        if acl_file is None:
            raise CredentialsError(f"{config} names no acl_file, so a role cannot be given; use a secure profile")
        if name in files.hashes and not files.users.is_user(name):
            raise CredentialsError(f"{name} is a device account in {files.password_file}; pick another user name")
        acl_root = files.users.root or root
        if acl_root != root:
            raise CredentialsError(
                f"{acl_file} is for topic root {acl_root!r}, not {root!r}: pass --root {acl_root}, "
                f"or generate a profile for {root!r} with `fleet --root {root} secure-profile DIR`"
            )
        text = _read_text(acl_file) or profile.acl_text(root)
        new_acl = profile.with_user(text, root, name, role)
        try:
            auth.parse_acl(new_acl, str(acl_file))  # never write a file the brokers would refuse
        except auth.AuthFileError as exc:
            raise CredentialsError(f"{exc}; fix that line first") from exc
        if _nats_side(files) is not None:
            nats_auth.check_name(name)
        password = auth.new_password()
        files.hashes[name] = auth.hash_password(password)
        write_private(acl_file, new_acl, keep_group_read=True)
        write_private(files.password_file, auth.format_password_file(files.hashes))
        _update_nats(config, name, password)
    log.info("user %s (%s) written to %s and %s", name, role.value, files.password_file, acl_file)
    return Issued(name, password, role.value, files.password_file)


def remove_user(config: Path, name: str) -> None:
    """Remove a user account from the password file and its block from the ACL."""
    files = _files(config)
    with file_lock(files.password_file):
        files = _files(config)
        if not files.users.is_user(name):
            raise CredentialsError(f"no user {name} in {files.acl_file or config}")
        files.hashes.pop(name, None)
        write_private(files.password_file, auth.format_password_file(files.hashes))
        if files.acl_file is not None:
            write_private(files.acl_file, profile.without_user(_read_text(files.acl_file), name), keep_group_read=True)
        _update_nats(config, name, None)


def _nats_side(files: _Files) -> Path | None:
    """The NATS password file of the profile, when it has a NATS side."""
    path = files.password_file.parent / NATS_PASSWORD_FILE
    return path if path.exists() else None


def _update_nats(config: Path, name: str, password: str | None) -> None:
    """On a profile with a NATS side (under the password file's lock): set (or, with None, drop)
    `name`'s bcrypt hash and write the cluster's `authorization` block again."""
    files = _files(config)
    path = _nats_side(files)
    if path is None:
        return
    hashes = dict(line.split(":", 1) for line in _read_text(path).splitlines() if ":" in line)
    if password is None:
        hashes.pop(name, None)
    else:
        hashes[name] = nats_auth.hash_password(password)
    hashes = {n: h for n, h in hashes.items() if n in files.hashes}  # accounts gone from the profile go here too
    write_private(path, "".join(f"{n}:{hashes[n]}\n" for n in sorted(hashes)))
    _write_nats_auth(files, hashes)


def _write_nats_auth(files: _Files, hashes: dict[str, str]) -> None:
    root = files.users.root
    if root is None:
        raise CredentialsError(f"{files.acl_file} names no topic root; generate the profile again")
    write_private(files.password_file.parent / NATS_AUTH_FILE,
                  nats_auth.authorization_text(root, files.users.roles, hashes))


def add_nats_side(config: Path) -> Path:
    """Give the profile of `config` a NATS side: an empty NATS password file and the `authorization`
    block (accounts issued before have no bcrypt hash: issue their passwords again). Returns the block's file."""
    files = _files(config)
    with file_lock(files.password_file):
        path = files.password_file.parent / NATS_PASSWORD_FILE
        if not path.exists():
            write_private(path, "")
        _update_nats(config, "", None)
    return files.password_file.parent / NATS_AUTH_FILE


def ca_cert_setting(cafile: Path) -> str:
    """The value of the firmware's `set ca_cert`: the base64 body of the first certificate in a PEM
    file, on one line (the device turns it back into PEM and pins it)."""
    text = _read_text(cafile)
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = text.find(begin)
    stop = text.find(end, start + len(begin))
    if start < 0 or stop < 0:
        raise CredentialsError(f"{cafile} holds no PEM certificate")
    return "".join(text[start + len(begin):stop].split())


# --- the secure profile ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrittenProfile:
    spec: ProfileSpec
    owner: str | None
    warnings: tuple[str, ...]


def default_owner() -> str | None:
    """`mosquitto` when run as root on a machine that has that user (Mosquitto started as root
    drops to it, and must still read the password file, ACL and persistence directory)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(MOSQUITTO_USER)
    except KeyError:
        return None
    return MOSQUITTO_USER


def write_profile(spec: ProfileSpec, root: str, *, owner: str | None, force: bool = False) -> WrittenProfile:
    """Write broker.conf, an ACL without users, an empty password file and the persistence
    directory. Refuses to overwrite an existing profile unless `force` (accounts are then lost)."""
    conf_text = profile.broker_conf_text(spec)
    acl = profile.acl_text(root)
    ids = _owner_ids(owner)
    existing = [path for path in (spec.conf_path, spec.password_file, spec.acl_file) if path.exists()]
    if existing and not force:
        raise CredentialsError(f"{existing[0]} exists; pass --force to replace the profile (its accounts are lost)")
    try:
        spec.directory.mkdir(parents=True, exist_ok=True)
        spec.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if ids is not None and os.geteuid() == 0:
            os.chown(spec.data_dir, *ids)
    except OSError as exc:
        raise CredentialsError(f"cannot create {exc.filename}: {exc.strerror or exc}") from exc
    write_private(spec.password_file, "", owner=ids)
    write_private(spec.acl_file, acl, owner=ids)
    write_private(spec.conf_path, conf_text, owner=ids)
    os.chmod(spec.conf_path, 0o644)  # no secrets in it; readable for `fleet` run as other users
    return WrittenProfile(spec, owner, tuple(dict.fromkeys(_traversal_warnings(spec, owner))))


def _owner_ids(owner: str | None) -> tuple[int, int] | None:
    if owner is None:
        return None
    try:
        entry = pwd.getpwnam(owner)
    except KeyError:
        raise CredentialsError(f"no user {owner!r} on this machine") from None
    return entry.pw_uid, entry.pw_gid


def _traversal_warnings(spec: ProfileSpec, owner: str | None) -> Iterator[str]:
    """Directories above the profile that `owner` cannot enter (Mosquitto could not read it)."""
    ids = _owner_ids(owner)
    if owner is None or ids is None or os.geteuid() != 0:
        return
    for directory in sorted({spec.directory, spec.data_dir}):
        for parent in (directory, *directory.parents):
            try:
                status = parent.stat()
            except OSError:
                continue
            if not status.st_mode & 0o001 and status.st_uid != ids[0]:
                yield (f"{parent} is not searchable by {owner}: Mosquitto started as root drops to {owner} and "
                       f"cannot read the profile there (chmod o+x {parent}, or move the profile)")
                break
    for path in (spec.certfile, spec.keyfile, spec.cafile):
        if path is None:
            continue
        try:
            status = path.stat()
        except OSError:
            continue
        if status.st_uid != ids[0] and not status.st_mode & 0o004 and not (status.st_gid == ids[1]
                                                                           and status.st_mode & 0o040):
            yield (f"{path} is not readable by {owner}: Mosquitto 2.0 loads TLS files after dropping to {owner} "
                   f"(chown {owner} {path}, or chgrp {owner} + chmod g+r)")
