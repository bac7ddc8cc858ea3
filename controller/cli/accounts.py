"""`fleet device provision|revoke`, `fleet user add|remove`, `fleet secure-profile`: offline edits of the
broker's own files (password file, ACL, broker.conf); no controller needs to be running."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controller.cli.common import DeviceArg, JsonOpt, err, friendly, globals_of, out, print_json
from controller.errors import FleetError

device_app = typer.Typer()
"""Merged into the `device` group (cli.py), after `inventory.app`."""
user_app = typer.Typer(help="Broker accounts of people and controllers: lecturer, operator, controller.",
                       no_args_is_help=True)

AccountConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The broker.conf whose password_file (and "
                                                "acl_file) to write.")]
_RELOAD_HINT = ("the embedded broker (fleet broker) applies it within a second; Mosquitto on reload: "
                "systemctl reload mosquitto, or kill -HUP its pid")


def _broker_url_hint(config: Path, username: str, password: str, *, local: bool) -> str:
    """A --broker URL for this account: the TLS listener for people and devices, loopback for controllers."""
    from controller.broker.conf import load

    listeners = load(config).listeners
    secure = next((item for item in listeners if item.tls is not None), None)
    if secure is not None and secure.tls is not None and not local:
        ca = f"?cafile={secure.tls.cafile}" if secure.tls.cafile else ""
        return f"mqtts://{username}:{password}@{secure.host or 'BROKER-HOST'}:{secure.port}{ca}"
    first = listeners[0]
    return f"mqtt://{username}:{password}@{first.host or '127.0.0.1'}:{first.port}"


@device_app.command("provision")
@friendly
def device_provision(device_id: DeviceArg, config: AccountConfigOpt = Path("broker.conf"),
                     as_json: JsonOpt = False) -> None:
    """Create or rotate a device's broker password (shown once, stored as a hash in the password file)."""
    from controller.broker.credentials import provision_device

    issued = provision_device(config, device_id)
    for warning in issued.warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    if as_json:
        print_json({"id": device_id, "username": issued.username, "password": issued.password})
        return
    out.print(f"device [bold]{device_id}[/] provisioned in {issued.password_file}; the password is shown only now",
              soft_wrap=True)
    out.print(f"username  {issued.username}\npassword  {issued.password}", highlight=False)
    out.print("on the device's serial console:", highlight=False)
    out.print("\n".join(f"  {line}" for line in _serial_script(config, issued.username, issued.password)),
              highlight=False, soft_wrap=True)
    err.print(_RELOAD_HINT, soft_wrap=True)


def _serial_script(config: Path, username: str, password: str) -> list[str]:
    """The firmware's serial console lines for this device; with the broker's TLS listener and CA."""
    from controller.broker.conf import load
    from controller.broker.credentials import ca_cert_setting

    lines = [f"set mqtt_user {username}", f"set mqtt_pass {password}"]
    secure = next((item for item in load(config).listeners if item.tls is not None), None)
    if secure is not None and secure.tls is not None:
        lines.insert(0, f"set broker mqtts://{secure.host or 'BROKER-HOST'}:{secure.port}   (the name in the broker's "
                        "certificate)")
        if secure.tls.cafile is not None:
            lines.append(f"set ca_cert {ca_cert_setting(secure.tls.cafile)}")
    return [*lines, "reboot"]


@device_app.command("revoke")
@friendly
def device_revoke(device_id: DeviceArg, config: AccountConfigOpt = Path("broker.conf"),
                  as_json: JsonOpt = False) -> None:
    """Remove a device's broker password: it can no longer connect (and is disconnected on reload)."""
    from controller.broker.credentials import revoke_device

    password_file = revoke_device(config, device_id)
    if as_json:
        print_json({"id": device_id, "revoked": True})
        return
    out.print(f"device {device_id} revoked in {password_file}", soft_wrap=True)
    err.print(_RELOAD_HINT, soft_wrap=True)


RoleOpt = Annotated[str, typer.Option("--role", help="lecturer (starts and ends its own sessions, reads their "
                                      "check-ins), operator (reads the fleet: `fleet watch`, `fleet devices`, `fleet "
                                      "stats`), admin (everything, the inventory too) or controller (the daemon's "
                                      "account).")]


@user_app.command("add")
@friendly
def user_add(ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name, e.g. alice.")],
             role: RoleOpt, config: AccountConfigOpt = Path("broker.conf"), as_json: JsonOpt = False) -> None:
    """Create a user (or rotate its password and set its role): password file and ACL; the password is shown once."""
    from controller.broker.credentials import add_user
    from controller.contract.roles import Role

    try:
        chosen = Role(role)
    except ValueError:
        raise FleetError(f"unknown role {role!r}: use lecturer, operator, admin or controller") from None
    issued = add_user(config, name, chosen, globals_of(ctx).root)
    url = _broker_url_hint(config, name, issued.password, local=chosen is Role.CONTROLLER)
    if as_json:
        print_json({"name": name, "role": chosen.value, "username": name, "password": issued.password,
                    "broker_url": url})
        return
    out.print(f"user [bold]{name}[/] ({chosen.value}) written to {issued.password_file} and the ACL; the password is "
              "shown only now", soft_wrap=True)
    out.print(f"username  {name}\npassword  {issued.password}\nbroker    {url}", highlight=False, soft_wrap=True)
    err.print(_RELOAD_HINT, soft_wrap=True)


@user_app.command("remove")
@friendly
def user_remove(name: Annotated[str, typer.Argument(help="User name.")],
                config: AccountConfigOpt = Path("broker.conf")) -> None:
    """Remove a user from the password file and the ACL."""
    from controller.broker.credentials import remove_user

    remove_user(config, name)
    out.print(f"user {name} removed")
    err.print(_RELOAD_HINT, soft_wrap=True)


PathOpt = Annotated[Path | None, typer.Option(help="PEM file.", exists=True, dir_okay=False, resolve_path=True)]


@friendly
def secure_profile(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Where to write broker.conf, acl, passwd (e.g. /etc/fleet).",
                                              resolve_path=True)],
    port: Annotated[int, typer.Option(help="Plain listener on 127.0.0.1, for controllers and local CLI users.")]
    = 1883,
    tls_port: Annotated[int, typer.Option(help="TLS listener, for devices and remote CLI users.")] = 8883,
    tls_host: Annotated[str | None, typer.Option(help="Address of the TLS listener (default: all interfaces).")]
    = None,
    certfile: PathOpt = None,
    keyfile: PathOpt = None,
    cafile: PathOpt = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where retained messages are kept (default DIR/data).",
                                                  resolve_path=True)] = None,
    owner: Annotated[str | None, typer.Option(help="Give the files to this user (default when root: mosquitto, "
                                              "which Mosquitto drops to).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing profile (its accounts are lost).")]
    = False,
    engine: Annotated[str, typer.Option(help="mosquitto (also the embedded broker), or nats: also the accounts as "
                                        "a NATS cluster's authorization block (nats-auth.conf), kept in step by "
                                        "`fleet device provision` and `fleet user add`.")] = "mosquitto",
) -> None:
    """Write a secure broker profile: broker.conf (both brokers), a least-privilege ACL, an empty password file."""
    from controller.broker.credentials import add_nats_side, default_owner, write_profile
    from controller.broker.profile import ProfileSpec

    if engine not in ("mosquitto", "nats"):
        raise typer.BadParameter(f"unknown engine {engine!r}: mosquitto or nats", param_hint="--engine")
    root = globals_of(ctx).root
    spec = ProfileSpec(directory=directory, data_dir=data_dir or directory / "data", port=port, tls_port=tls_port,
                       tls_host=tls_host, certfile=certfile, keyfile=keyfile, cafile=cafile)
    written = write_profile(spec, root, owner=owner or default_owner(), force=force)
    for warning in written.warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    out.print(f"secure profile for topic root {root!r} written to {directory}"
              + (f" (owned by {written.owner})" if written.owner else ""), soft_wrap=True)
    if not spec.tls:
        err.print("[yellow]warning:[/] no TLS listener (no --certfile/--keyfile): devices on the network cannot "
                  "connect; see the comment in broker.conf", soft_wrap=True)
    conf = spec.conf_path
    if engine == "nats":
        nats_auth = add_nats_side(conf)
        out.print(f"NATS accounts in {nats_auth}: put `include {nats_auth.name}` (beside it) or "
                  f"`include {nats_auth}` in each node's config, and reload the nodes after each account change "
                  "(nats-server --signal reload)", highlight=False, soft_wrap=True)
    out.print(f"next: fleet user add controller --role controller --config {conf}\n"
              f"      fleet device provision ID --config {conf}\n"
              f"      fleet broker --config {conf}   (or: mosquitto -c {conf})", highlight=False, soft_wrap=True)
