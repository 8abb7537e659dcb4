"""Apache Kafka on loopback: one KRaft node, or three (replication 3, min ISR 2), as JVMs.

For the tests' broker tier and `vagus broker --kafka` / `vagus demo --kafka`. Every node is a
combined broker and controller (a static quorum of all nodes), on free loopback ports, with its
storage formatted in a private temporary directory that stop() removes. Each JVM is tied to
this process (PR_SET_PDEATHSIG), so a killed test run leaves no broker behind. The faults the
fault tests need are here too: kill -9 a node, stop one and start it again on the same storage.

``LocalKafka(1, secure=True)`` adds an mTLS and a SASL_SSL/SCRAM-SHA-512 listener, a CA and
users made for the run, and an authorizer that refuses what no ACL allows (security.py).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from stream.broker import die_with_parent, end_process, free_loopback_port, wait_exit
from stream.errors import BrokerError
from stream.local_kafka.fetch import KAFKA_VERSION, java_missing, kafka_libs

if TYPE_CHECKING:  # security.py needs `cryptography` (the dev extra): loaded for secure=True only
    from stream.local_kafka.security import ClusterSecurity, Listener

#: small heaps: three nodes share a 2-core development machine with the tests
_HEAP = ("-Xms96m", "-Xmx320m", "-XX:+UseSerialGC", "-Djava.awt.headless=true")
_LOG4J = """status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


@dataclass
class _Node:
    node_id: int
    port: int
    controller_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None)
    mtls_port: int = 0  # the secured listeners' ports (secure clusters only)
    scram_port: int = 0


class LocalKafka:
    """``nodes`` (1 or 3) Kafka nodes; ``start()`` returns the bootstrap address once every
    node is registered, ``stop()`` returns once every JVM is gone and its storage removed."""

    def __init__(
        self, nodes: int = 1, *, version: str = KAFKA_VERSION, secure: bool = False
    ) -> None:
        if nodes not in (1, 3):
            raise ValueError(f"a local Kafka has 1 or 3 nodes, not {nodes}")
        self.version = version
        self._count = nodes
        self._secure = secure
        self._root: Path | None = None
        self._nodes: list[_Node] = []
        #: The CA, certificates and SCRAM passwords of a secure cluster, once started.
        self.security: ClusterSecurity | None = None

    @property
    def name(self) -> str:
        """What the demo's summary names: broker and version."""
        nodes = "1 node" if self._count == 1 else f"{self._count} nodes"
        return f"Apache Kafka {self.version} ({nodes}, KRaft)"

    @property
    def bootstrap(self) -> str:
        """The PLAINTEXT listeners (on a secure cluster: the inter-broker ones, super user)."""
        if not self._nodes:
            raise BrokerError("the local Kafka is not running")
        return ",".join(f"127.0.0.1:{n.port}" for n in self._nodes)

    def secure_bootstrap(self, listener: Listener) -> str:
        """A secure cluster's ``mtls`` or ``scram`` (SASL_SSL) listeners."""
        if not self._nodes or self.security is None:
            raise BrokerError("no secure local Kafka is running")
        ports = [n.mtls_port if listener == "mtls" else n.scram_port for n in self._nodes]
        return ",".join(f"127.0.0.1:{port}" for port in ports)

    def alive(self) -> bool:
        """Whether every node is running (False once one exited, was killed or stopped)."""
        return bool(self._nodes) and all(
            n.process is not None and n.process.poll() is None for n in self._nodes
        )

    def exit_status(self) -> int | None:
        """The exit status of the first node that ended, or None while all run."""
        ended = [n.process.poll() for n in self._nodes if n.process is not None]
        return next((status for status in ended if status is not None), None)

    async def exited(self) -> int:
        """Wait until a node exits (however it ends); its exit status."""
        processes = [n.process for n in self._nodes if n.process is not None]
        if not processes:
            raise BrokerError("the local Kafka is not running")
        waits = [asyncio.ensure_future(wait_exit(p)) for p in processes]
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return next(iter(done)).result()

    def pids(self) -> list[int]:
        return [n.process.pid for n in self._nodes if n.process and n.process.poll() is None]

    def start(self, timeout_s: float = 120.0) -> str:
        if self._nodes:
            return self.bootstrap
        missing = java_missing()
        if missing:
            raise BrokerError(missing)
        libs = kafka_libs(self.version)
        self._root = Path(tempfile.mkdtemp(prefix="vagus-kafka-"))
        os.chmod(self._root, 0o700)
        self._nodes = [
            _Node(i, free_loopback_port(), free_loopback_port(), self._root / f"node{i}")
            for i in range(1, self._count + 1)
        ]
        if self._secure:
            from stream.local_kafka.security import ClusterSecurity  # noqa: PLC0415

            self.security = ClusterSecurity(self._root / "pki")
            for node in self._nodes:
                node.mtls_port, node.scram_port = free_loopback_port(), free_loopback_port()
        cluster_id = _new_cluster_id()
        try:
            for node in self._nodes:
                self._configure(node)
                self._format(libs, node, cluster_id)
            for node in self._nodes:
                self._spawn(libs, node)
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self.bootstrap

    def _configure(self, node: _Node) -> None:
        n = self._count
        voters = ",".join(f"{m.node_id}@127.0.0.1:{m.controller_port}" for m in self._nodes)
        replicas, isr = n, min(2, n)
        settings = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{node.port},"
            f"CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": node.directory / "data",
            "num.partitions": 4,
            "default.replication.factor": replicas,
            "min.insync.replicas": isr,
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": isr,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": isr,
            "group.initial.rebalance.delay.ms": 0,
            # the tests' and the demo's consumer groups use 1 s sessions (docs/broker.md)
            "group.min.session.timeout.ms": 500,
            "auto.create.topics.enable": "true",
        }
        if self.security is not None:
            settings = self.security.secured(settings, node.mtls_port, node.scram_port)
        node.directory.mkdir(parents=True)
        text = "".join(f"{key}={value}\n" for key, value in settings.items())
        (node.directory / "server.properties").write_text(text, encoding="utf-8")
        log4j = _LOG4J.format(log=node.directory / "server.log")
        (node.directory / "log4j2.properties").write_text(log4j, encoding="utf-8")

    def _java(self, libs: Path, node: _Node, main: str, *args: str) -> list[str]:
        java = shutil.which("java") or "java"
        log4j = f"-Dlog4j2.configurationFile={node.directory / 'log4j2.properties'}"
        return [java, *_HEAP, log4j, "-cp", f"{libs}/*", main, *args]

    def _format(self, libs: Path, node: _Node, cluster_id: str) -> None:
        properties = str(node.directory / "server.properties")
        command = self._java(
            libs, node, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", properties
        )
        if self.security is not None:
            command += self.security.scram_arguments()
        done = subprocess.run(  # noqa: S603 - java with fixed arguments
            command, capture_output=True, text=True, check=False, timeout=120
        )
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-2:]
            raise BrokerError(f"formatting Kafka node {node.node_id} failed: {' | '.join(tail)}")

    def _spawn(self, libs: Path, node: _Node) -> None:
        properties = str(node.directory / "server.properties")
        command = self._java(libs, node, "kafka.Kafka", properties)
        with open(node.directory / "stdout.log", "ab") as output:
            node.process = subprocess.Popen(  # noqa: S603 - java with fixed arguments
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - prctl only, no locks taken
            )

    def _wait_ready(self, timeout_s: float) -> None:
        """Every node listening, then the cluster reporting every node as a broker."""
        deadline = time.monotonic() + timeout_s
        for node in self._nodes:
            while not _accepts(node.port):
                if node.process is None or node.process.poll() is not None:
                    raise BrokerError(f"Kafka node {node.node_id} exited: {self._tail(node)}")
                if time.monotonic() > deadline:
                    raise BrokerError(f"Kafka node {node.node_id} did not listen in {timeout_s} s")
                time.sleep(0.2)
        remaining = max(1.0, deadline - time.monotonic())
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # callers may run an event loop
            seen = pool.submit(asyncio.run, _brokers_seen(self.bootstrap, self._count, remaining))
            if seen.result() < self._count:
                raise BrokerError(f"the Kafka cluster did not form within {timeout_s} s")

    def server_log(self, node_index: int = 0) -> str:
        """One node's broker log (WARN and above, plus the start line), for tests and failures."""
        path = self._nodes[node_index].directory / "server.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def _tail(self, node: _Node) -> str:
        for name in ("server.log", "stdout.log"):
            path = node.directory / name
            if path.is_file() and path.stat().st_size:
                return path.read_text(errors="replace")[-400:]
        return "no log"

    def kill(self, node_index: int) -> None:
        """kill -9 one node (the fault tests' leader crash); its storage stays for restart. A
        cluster whose start failed (no Java, say) has no node to kill: nothing happens, so a
        caller's clean-up cannot hide the reason the start failed."""
        if not 0 <= node_index < len(self._nodes):
            return
        node = self._nodes[node_index]
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(timeout=30)

    def stop_node(self, node_index: int, timeout_s: float = 60.0) -> None:
        """A controlled shutdown of one node (SIGTERM, then SIGKILL if it lingers)."""
        process = self._nodes[node_index].process
        if process is not None:
            end_process(process, timeout_s)

    def start_node(self, node_index: int, timeout_s: float = 120.0) -> None:
        """Start a stopped or killed node again on its storage and wait for the cluster."""
        node = self._nodes[node_index]
        if node.process is not None and node.process.poll() is None:
            return
        self._spawn(kafka_libs(self.version), node)
        self._wait_ready(timeout_s)

    def stop(self) -> None:
        """Stop every node (in parallel: a lone survivor of a quorum waits long) and remove
        their storage."""
        nodes, self._nodes = self._nodes, []
        for node in nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in nodes:
            if node.process is not None:
                end_process(node.process, 30.0)
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        self.security = None

    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _accepts(port: int) -> bool:
    with (
        contextlib.suppress(OSError),
        socket.create_connection(("127.0.0.1", port), timeout=0.5),
    ):
        return True
    return False


async def _brokers_seen(bootstrap: str, want: int, timeout_s: float) -> int:
    """How many brokers the cluster's metadata lists, polled until ``want`` or the timeout."""
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415 - only once a node listens
    from aiokafka.errors import KafkaError  # noqa: PLC0415

    deadline = time.monotonic() + timeout_s
    seen = 0
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            with contextlib.suppress(TimeoutError, OSError, KafkaError):  # not ready: poll again
                await asyncio.wait_for(admin.start(), 10)
                cluster = await asyncio.wait_for(admin.describe_cluster(), 10)
                seen = len(cluster.get("brokers", []))
                if seen >= want:
                    return seen
        finally:
            with contextlib.suppress(TimeoutError, OSError, KafkaError):
                await admin.close()
        await asyncio.sleep(0.5)
    return seen


def _new_cluster_id() -> str:
    """A random KRaft cluster id: 16 bytes, URL-safe base64 without padding, never starting with
    "-" (the storage tool would read it as an option; Kafka's own generator redraws too)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id
