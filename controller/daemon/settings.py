"""Defaults and environment names shared by the daemon and the CLI."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from controller.adapters.mqtt import DEFAULT_BROKER_URL
from controller.contract.messages import MAX_PACKET_SIZE
from controller.core.lease import DEFAULT_LEASE_TTL_S, HaMode
from controller.core.schedule import DEFAULT_SESSION_S, MAX_SESSION_S

ENV_BROKER = "FLEET_BROKER_URL"
ENV_ROOT = "FLEET_TOPIC_ROOT"
ENV_DB = "FLEET_DB_URL"
ENV_ACL = "FLEET_ACL_FILE"
DEFAULT_ROOT = "fleet"


def default_db_url() -> str:
    """A SQLite file under $XDG_DATA_HOME (~/.local/share)/fleet."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "fleet"
    return f"sqlite:///{base / 'fleet.db'}"


def default_controller_id() -> str:
    host = "".join(c for c in socket.gethostname().lower() if c.isalnum() or c == "-")[:24] or "host"
    return f"ctl-{host}-{os.getpid()}"


@dataclass(frozen=True)
class ControllerSettings:
    broker_url: str = DEFAULT_BROKER_URL
    root: str = DEFAULT_ROOT
    db_url: str = field(default_factory=default_db_url)
    heartbeat_ttl_s: float = 90.0
    flush_s: float = 5.0
    reconcile_s: float = 2.0
    resend_s: float = 30.0
    resync_s: float = 30.0
    require_approval: bool = False
    shared_group: str | None = None  # MQTT 5 / Mosquitto shared subscriptions for several controllers
    ha: HaMode | None = None
    """How several controllers share the fleet (`core.lease.ha_mode`); None: shared with a
    `shared_group`, else none."""
    lease_ttl_s: float = DEFAULT_LEASE_TTL_S
    """With `ha` lease: how long the lease lasts unrenewed (a standby takes over within about this
    plus a quarter of it of the leader's death)."""
    max_device_rate: float = 10.0
    """Messages a second one device may send (over 10 s); the excess is dropped and the device flagged."""
    request_rate: float = 20.0
    """Requests a second one client (reply topic) may make, after a burst of `request_burst`."""
    request_burst: float = 100.0
    max_packet_bytes: int = MAX_PACKET_SIZE
    """The largest packet the controller sends (as `max_packet_size` counts it); keep it within the
    broker's: the generated profiles set the same 16 MiB."""
    controller_id: str = field(default_factory=default_controller_id)
    acl_file: Path | None = None
    """The secure profile's ACL file: its `# role:` marks say what each user may ask (reread at every
    resync). None: no accounts, everyone may do everything (the open quick-start profile)."""
    metrics_port: int | None = None
    """Serve /metrics, /healthz and /readyz on this port (0: a free one); None: no HTTP endpoint."""
    metrics_host: str = "127.0.0.1"
    images_dir: Path | None = None
    """Serve /firmware/<sha256>.bin from this directory on the metrics port (`fleet firmware add` writes
    there); None: no images."""
    health_stale_s: float = 10.0
    """/healthz fails when the ticker has not completed a tick for this long."""
    default_session_s: float = DEFAULT_SESSION_S
    """A session's length when neither the lecturer nor its course's past sessions say (core.schedule)."""
    max_session_s: float = MAX_SESSION_S
    """The longest a session may last: longer requests are refused, defaults capped."""
    schedule_s: float = 5.0
    """How often the controller looks for sessions whose end has come and lectures due to start."""
    rollout_s: float = 2.0
    """How often the controller decides each running firmware rollout (core.rollout)."""
    update_timeout_s: float = 600.0
    """A device in an update that shows no progress this long is commanded again ..."""
    update_attempts: int = 3
    """... up to this many commands, then failed `timeout`."""
    image_url_base: str | None = None
    """Update commands name images as `<base><sha256>.bin`; None: the metrics endpoint's
    `http://<metrics_host>:<port>/firmware/` when it serves an images directory."""
    lead_s: float = 300.0
    """A timetabled lecture's session starts this long before it begins (the access point is up when
    students walk in)."""


def ensure_sqlite_dir(db_url: str) -> None:
    """Create the directory of a SQLite file URL, so the default works on a fresh machine."""
    prefix = "sqlite:///"
    if db_url.startswith(prefix) and db_url != prefix + ":memory:":
        Path(db_url[len(prefix):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
