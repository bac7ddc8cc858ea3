"""Credentials on disk: hashes the real mosquitto_passwd makes, the atomic 0600 writer, the account
operations behind `fleet device provision/revoke`, `fleet user add/remove`, `fleet secure-profile`."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from controller.broker import auth, credentials
from controller.broker.credentials import CredentialsError, write_private
from controller.broker.profile import read_acl_users
from controller.contract.roles import Role
from tests.security.conftest import Profile

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def test_a_hash_made_now_by_mosquitto_passwd_verifies(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    subprocess.run([MOSQUITTO_PASSWD, "-c", "-b", str(passwd), "esp32-a1b2c3d4e5f6", "s3cret pass"], check=True,
                   capture_output=True)
    parsed = auth.parse_password_file(passwd.read_text(), str(passwd))
    assert parsed.problems == ()
    assert parsed.verify("esp32-a1b2c3d4e5f6", "s3cret pass")
    assert not parsed.verify("esp32-a1b2c3d4e5f6", "s3cret")


def test_write_private_is_0600_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "passwd"
    target.write_text("old\n")
    target.chmod(0o644)
    reader = target.open()  # a reader of the old file keeps seeing it whole: the file is replaced, not rewritten
    write_private(target, "new\n")
    assert target.read_text() == "new\n"
    assert reader.read() == "old\n"
    reader.close()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]
    write_private(tmp_path / "fresh", b"\x00bytes")
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o600


def test_the_acl_keeps_a_group_read_bit_across_rewrites_and_nothing_more(tmp_path: Path) -> None:
    """An operator lets the controllers' group read the ACL (its roles) once; `fleet user add`
    rewrites the file and must not take that away, nor keep anything wider."""
    target = tmp_path / "acl"
    target.write_text("old\n")
    target.chmod(0o664)
    write_private(target, "new\n", keep_group_read=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    target.chmod(0o600)
    write_private(target, "again\n", keep_group_read=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    target.chmod(0o640)
    write_private(target, "passwords\n")  # the password file: always 0600
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_write_private_keeps_the_replaced_files_owner(tmp_path: Path) -> None:
    target = tmp_path / "passwd"
    target.write_text("x")
    os.chown(target, 65534, 65534)  # handed to another user (as to `mosquitto`)
    write_private(target, "y")
    assert (target.stat().st_uid, target.stat().st_gid) == (65534, 65534)


def test_write_private_failure_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match=r"^cannot write .*/missing/passwd: No such file or directory$"):
        write_private(tmp_path / "missing" / "passwd", "x")


def test_provision_rotate_and_revoke(profile: Profile) -> None:
    first = credentials.provision_device(profile.conf, "esp32-a1b2c3d4e5f6")
    second = credentials.provision_device(profile.conf, "esp32-a1b2c3d4e5f6")  # rotates
    hashes = auth.parse_password_file(profile.spec.password_file.read_text()).hashes
    assert list(hashes) == ["esp32-a1b2c3d4e5f6"]
    assert auth.verify_password(second.password, hashes["esp32-a1b2c3d4e5f6"])
    assert not auth.verify_password(first.password, hashes["esp32-a1b2c3d4e5f6"])
    assert first.password not in profile.spec.password_file.read_text()
    assert stat.S_IMODE(profile.spec.password_file.stat().st_mode) == 0o600
    credentials.revoke_device(profile.conf, "esp32-a1b2c3d4e5f6")
    assert profile.spec.password_file.read_text() == ""
    with pytest.raises(CredentialsError, match="no device esp32-a1b2c3d4e5f6"):
        credentials.revoke_device(profile.conf, "esp32-a1b2c3d4e5f6")


def test_concurrent_provisioning_loses_no_device(profile: Profile) -> None:
    ids = [f"esp32-{n:012x}" for n in range(12)]
    threads = [threading.Thread(target=credentials.provision_device, args=(profile.conf, i)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(auth.parse_password_file(profile.spec.password_file.read_text()).hashes) == ids


def test_users_and_devices_share_one_namespace_without_clashing(profile: Profile) -> None:
    credentials.provision_device(profile.conf, "dev-aaa")
    credentials.add_user(profile.conf, "alice", Role.LECTURER, profile.root)
    with pytest.raises(CredentialsError, match="dev-aaa is a device account"):
        credentials.add_user(profile.conf, "dev-aaa", Role.LECTURER, profile.root)
    with pytest.raises(CredentialsError, match="alice is a user account"):
        credentials.provision_device(profile.conf, "alice")
    with pytest.raises(CredentialsError, match="alice is a user account"):
        credentials.revoke_device(profile.conf, "alice")
    with pytest.raises(CredentialsError, match="bad device id 'Bad/Id'"):
        credentials.provision_device(profile.conf, "Bad/Id")
    with pytest.raises(CredentialsError, match="bad user name"):
        credentials.add_user(profile.conf, "al ice", Role.LECTURER, profile.root)


def test_user_add_writes_the_acl_and_refuses_another_root(profile: Profile) -> None:
    issued = credentials.add_user(profile.conf, "alice", Role.LECTURER, profile.root)
    credentials.add_user(profile.conf, "ctl", Role.CONTROLLER, profile.root)
    users = read_acl_users(profile.spec.acl_file.read_text())
    assert dict(users.roles) == {"alice": Role.LECTURER, "ctl": Role.CONTROLLER}
    assert stat.S_IMODE(profile.spec.acl_file.stat().st_mode) == 0o600
    assert auth.parse_password_file(profile.spec.password_file.read_text()).verify("alice", issued.password)
    with pytest.raises(CredentialsError, match=f"is for topic root '{profile.root}', not 'other'"):
        credentials.add_user(profile.conf, "bob", Role.LECTURER, "other")
    credentials.remove_user(profile.conf, "alice")
    assert dict(read_acl_users(profile.spec.acl_file.read_text()).roles) == {"ctl": Role.CONTROLLER}
    assert "alice" not in profile.spec.password_file.read_text()


def test_a_password_file_mosquitto_would_partly_drop_is_not_rewritten(profile: Profile) -> None:
    profile.spec.password_file.write_text("bob:plaintext\n")
    with pytest.raises(CredentialsError, match=r"no usable password hash for user 'bob'.*fix or remove"):
        credentials.provision_device(profile.conf, "dev-aaa")
    assert profile.spec.password_file.read_text() == "bob:plaintext\n"


def test_the_quick_start_profile_takes_no_credentials(tmp_path: Path) -> None:
    conf = tmp_path / "broker.conf"
    conf.write_text("listener 1883 127.0.0.1\nallow_anonymous true\n")
    with pytest.raises(CredentialsError, match="names no password_file"):
        credentials.provision_device(conf, "dev-aaa")


def test_a_profile_is_not_overwritten_by_accident(profile: Profile) -> None:
    credentials.provision_device(profile.conf, "dev-aaa")
    with pytest.raises(CredentialsError, match="exists; pass --force"):
        credentials.write_profile(profile.spec, profile.root, owner=None)
    credentials.write_profile(profile.spec, profile.root, owner=None, force=True)
    assert profile.spec.password_file.read_text() == ""
    assert stat.S_IMODE(profile.spec.data_dir.stat().st_mode) == 0o700


# --- the CLI --------------------------------------------------------------------------------------


def _fleet(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_provision_shows_the_password_once(profile: Profile) -> None:
    code, out, _ = _fleet("device", "provision", "esp32-a1b2c3d4e5f6", "--config", str(profile.conf), "--json")
    assert code == 0
    issued = json.loads(out)
    assert issued["id"] == issued["username"] == "esp32-a1b2c3d4e5f6"
    assert auth.parse_password_file(profile.spec.password_file.read_text()).verify(issued["username"],
                                                                                 issued["password"])
    code, out, err = _fleet("device", "provision", "esp32-a1b2c3d4e5f6", "--config", str(profile.conf))
    assert code == 0
    assert "set mqtt_user esp32-a1b2c3d4e5f6" in out and "set mqtt_pass " in out
    assert f"set broker mqtts://127.0.0.1:{profile.spec.tls_port}" in out
    ca_line = next(line.strip() for line in out.splitlines() if "set ca_cert " in line)
    pem = profile.spec.cafile.read_text() if profile.spec.cafile else ""
    assert ca_line.removeprefix("set ca_cert ") == "".join(pem.split("-----")[2].split())
    assert "reload" in err
    code, out, _ = _fleet("device", "revoke", "esp32-a1b2c3d4e5f6", "--config", str(profile.conf), "--json")
    assert (code, json.loads(out)) == (0, {"id": "esp32-a1b2c3d4e5f6", "revoked": True})


def test_cli_user_add_and_its_errors(profile: Profile) -> None:
    code, out, _ = _fleet("--root", profile.root, "user", "add", "alice", "--role", "lecturer", "--config",
                          str(profile.conf), "--json")
    assert code == 0
    issued = json.loads(out)
    assert (issued["name"], issued["role"]) == ("alice", "lecturer")
    assert issued["broker_url"].startswith(f"mqtts://alice:{issued['password']}@127.0.0.1:{profile.spec.tls_port}?")
    code, _, err = _fleet("--root", profile.root, "user", "add", "bob", "--role", "boss", "-c", str(profile.conf))
    assert code == 1
    assert err == "error: unknown role 'boss': use lecturer, operator, admin or controller\n"
    code, _, err = _fleet("device", "provision", "x", "-c", str(profile.conf))
    assert code == 1
    assert err.startswith("error: bad device id 'x'") and err.count("\n") == 1


def test_cli_secure_profile(tmp_path: Path) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    code, _, err = _fleet("--root", "campus", "secure-profile", str(tmp_path / "p"), "--port", "11883", "--owner", me)
    assert code == 0, err
    assert "no TLS listener" in err
    assert (tmp_path / "p" / "broker.conf").exists()
    assert read_acl_users((tmp_path / "p" / "acl").read_text()).root == "campus"
    code, _, err = _fleet("secure-profile", str(tmp_path / "q"), "--certfile", str(tmp_path / "nope.crt"))
    assert code != 0


def test_cli_secure_profile_for_nats_keeps_the_cluster_accounts_in_step(tmp_path: Path) -> None:
    directory = tmp_path / "n"
    code, out, err = _fleet("secure-profile", str(directory), "--engine", "nats", "--owner",
                            pwd.getpwuid(os.getuid()).pw_name)
    assert code == 0, err
    assert "nats-auth.conf" in out
    conf = str(directory / "broker.conf")
    assert _fleet("user", "add", "alice", "--role", "lecturer", "-c", conf)[0] == 0
    code, out, _ = _fleet("device", "provision", "esp32-a1", "-c", conf, "--json")
    assert code == 0
    password = json.loads(out)["password"]
    block = (directory / "nats-auth.conf").read_text()
    assert '{user: "alice"' in block and '{user: "esp32-a1"' in block
    import bcrypt

    hashed = dict(line.split(":", 1) for line in (directory / "nats-passwd").read_text().splitlines())
    assert bcrypt.checkpw(password.encode(), hashed["esp32-a1"].encode())
    assert _fleet("device", "revoke", "esp32-a1", "-c", conf)[0] == 0
    assert "esp32-a1" not in (directory / "nats-auth.conf").read_text()
    code, _, err = _fleet("user", "add", "a.b", "--role", "lecturer", "-c", conf)
    assert code == 1 and "cannot be used on NATS" in err and err.count("\n") == 1
    code, _, err = _fleet("secure-profile", str(tmp_path / "m"), "--engine", "rabbit")
    assert code != 0 and "unknown engine" in err
