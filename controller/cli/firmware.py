"""`fleet firmware keygen|add|list|verify`: the fleet's signing key, and signed images kept by the
running controller (the record) and in the images directory it serves (the bytes)."""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from controller.adapters import signing
from controller.adapters.images import default_images_dir, store_image
from controller.cli.common import ImagesOpt, JsonOpt, client, err, friendly, globals_of, out, print_json, show
from controller.contract.firmware import FirmwareAddParams, Version
from controller.core.firmware import check_image
from controller.errors import FleetError

app = typer.Typer(help="Firmware images: the signing key, signed images the controller serves over HTTP.",
                  no_args_is_help=True)
log = logging.getLogger(__name__)

KeyOpt = Annotated[Path | None, typer.Option(
    "--key", envvar="FLEET_SIGNING_KEY", dir_okay=False, show_default="~/.config/fleet/firmware-signing.key",
    help="The fleet's private signing key (`fleet firmware keygen`).")]


def _read_image(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FleetError(f"cannot read {path}: {exc.strerror}") from None


@app.command("keygen")
@friendly
def keygen(
    out_dir: Annotated[Path | None, typer.Option(
        "--out", file_okay=False, show_default="~/.config/fleet",
        help="Where to write firmware-signing.key (0600) and firmware-signing.pub.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing key: devices provisioned with the old public key then refuse "
                        "every image signed with the new one.")] = False,
) -> None:
    """Make the fleet's firmware signing key: ECDSA P-256, which the ESP32's mbedTLS verifies. The
    public key (printed) goes to every device at provisioning; the private key never leaves this machine."""
    keys = signing.generate(out_dir or signing.default_key_dir(), force=force)
    err.print(f"private key: {keys.private} (0600; keep it off devices and out of backups you do not trust)",
              highlight=False, soft_wrap=True)
    err.print(f"public key: {keys.public} (give it to devices at provisioning):", highlight=False, soft_wrap=True)
    out.print(keys.public_pem, end="", highlight=False, soft_wrap=True)


@app.command("add")
@friendly
def add(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The app image (.bin from `idf.py build` or `pio run`).",
                                         dir_okay=False)],
    version: Annotated[str, typer.Option(help="Its semantic version, e.g. 1.3.0 (the image's own, if it says).")],
    notes: Annotated[str, typer.Option(help="What changed, for operators.")] = "",
    key: KeyOpt = None,
    images: ImagesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign an image and keep it: the bytes as <sha256>.bin in the images directory (served as
    /firmware/<sha256>.bin), the record (version, SHA-256, size, signature, notes) by the controller.
    Adding the same image again changes nothing; a version already kept with other bytes is refused."""
    data = _read_image(file)
    wanted = Version.parse(version)
    check_image(data, wanted)
    digest = hashlib.sha256(data).digest()
    signature = signing.sign_digest(signing.load_private(key or signing.default_key_dir() / signing.PRIVATE_NAME),
                                    digest)
    params = FirmwareAddParams(wanted.text, digest.hex(), len(data), base64.b64encode(signature).decode(), notes)
    stored = store_image(images or default_images_dir(), data)
    log.debug("image %s written to %s", params.sha256, stored)
    with client(globals_of(ctx)) as fleet:
        added = fleet.add_firmware(params)
    if as_json:
        print_json(added.to_obj())
        return
    image = added.image
    state = "[green]added[/]" if added.added else "already kept"
    out.print(f"{image.version} {state}: {image.size} bytes, sha256 {image.sha256}, served as {image.path}",
              highlight=False, soft_wrap=True)


@app.command("list")
@friendly
def firmware_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every image the controller keeps, the highest version first."""
    with client(globals_of(ctx)) as fleet:
        result = fleet.firmware()
    if as_json:
        print_json(result.to_obj())
        return
    table = Table("version", "sha256", "size", "added", "by", "notes", title="firmware images")
    for image in result.images:
        added = datetime.fromtimestamp(image.added_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        table.add_row(image.version, image.sha256[:12], f"{image.size:,}", added, image.added_by, image.notes)
    show(table)


@app.command("verify")
@friendly
def verify(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An image file, e.g. one downloaded from /firmware/.", dir_okay=False)],
    version: Annotated[str, typer.Option(help="The version it should be.")],
    public: Annotated[Path | None, typer.Option(
        "--pub", dir_okay=False, show_default="~/.config/fleet/firmware-signing.pub",
        help="The fleet's public key, as devices hold it.")] = None,
) -> None:
    """Check an image as a device does before it boots it: its SHA-256 is the one kept for `version`,
    and the kept signature verifies with the public key. Exit 1 when it does not."""
    data = _read_image(file)
    key = signing.load_public(public or signing.default_key_dir() / signing.PUBLIC_NAME)
    with client(globals_of(ctx)) as fleet:
        kept = [i for i in fleet.firmware().images if Version.parse(i.version) == Version.parse(version)]
    if not kept:
        raise FleetError(f"the controller keeps no image {version} (fleet firmware list)")
    problem = signing.image_problem(key, data, kept[0].sha256, kept[0].size, kept[0].signature)
    if problem:
        raise FleetError(f"{file} is not {kept[0].version}: {problem}")
    out.print(f"{file}: {kept[0].version}, sha256 and signature verified", highlight=False, soft_wrap=True)

