"""Kafka brokers: Apache Kafka in KRaft mode on Java, or the embedded Kafka-protocol broker."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from warmline.errors import ServiceError
from warmline.services.base import RunningService, ServiceName, ServiceSetupError
from warmline.services.binaries import tansu_path
from warmline.services.kafka_jars import kafka_classpath
from warmline.services.ports import LOOPBACK, free_port, is_listening
from warmline.services.process import ServiceProcess

READY_TIMEOUT_S = 90.0
MIN_JAVA_RELEASE = 17
"""Kafka 4's broker and tools are built for Java 17."""
# `openjdk version "17.0.15"`, `java version "1.8.0_202"` (before Java 9 the release came second).
_JAVA_RELEASE = re.compile(r'version "(?:1\.)?(\d+)')
# Small heap and a quick-starting JIT: a single-node test broker on a 2-core machine.
_JVM_FLAGS = ["-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
_LOG4J2 = """Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        Pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
"""


def answers_metadata(bootstrap: str) -> bool:
    """Whether the broker at `bootstrap` answers a real metadata request."""
    host, _, port = bootstrap.rpartition(":")
    if not is_listening(int(port), host):
        return False
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    except KafkaError:
        return False
    try:
        cluster = admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except KafkaError:
        return False
    finally:
        admin.close()


def java_release(java: str) -> int | None:
    """The feature release (8, 11, 17, ...) `java -version` names, None when it names none."""
    try:
        completed = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    found = _JAVA_RELEASE.search(completed.stderr + completed.stdout)
    return int(found.group(1)) if found else None


def _java() -> str:
    """The `java` on PATH, once it is known to run Kafka: an older one would fail only while
    formatting the storage, with a Java stack trace (UnsupportedClassVersionError)."""
    java = shutil.which("java")
    if java is None:
        raise ServiceSetupError(
            f"Apache Kafka needs Java {MIN_JAVA_RELEASE}+: install it (apt-get install "
            "openjdk-17-jre-headless), or use the embedded broker (`warmline services up "
            "--embedded`)"
        )
    release = java_release(java)
    if release is not None and release < MIN_JAVA_RELEASE:
        raise ServiceSetupError(
            f"Apache Kafka needs Java {MIN_JAVA_RELEASE}+, but {java} is Java {release}: install "
            "openjdk-17-jre-headless and make it the default `java` (update-alternatives "
            "--config java), or use the embedded broker (`warmline services up --embedded`)"
        )
    return java


def _properties_value(text: str) -> str:
    """`text` as a value of a Java properties file, which Java reads as ISO-8859-1: a backslash
    doubled, each character past ASCII as `\\uXXXX` (UTF-16 code units, as Java counts them).

    Written as UTF-8, a log directory under `/home/jürgen` was read as `/home/jÃ¼rgen`: the
    data went outside the state directory, and every start after the first failed on it."""
    escaped = []
    for char in text.replace("\\", "\\\\"):
        if char.isascii():
            escaped.append(char)
            continue
        units = char.encode("utf-16-be")
        escaped.extend(
            f"\\u{int.from_bytes(units[i : i + 2], 'big'):04x}" for i in range(0, len(units), 2)
        )
    return "".join(escaped)


def start_kafka(workdir: Path, *, outlives_parent: bool = False) -> RunningService:
    """Format a fresh single-node KRaft log directory and start the broker+controller on it."""
    java, classpath = _java(), kafka_classpath()
    home = workdir / "kafka"
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    port, controller_port = free_port(), free_port()
    properties = home / "server.properties"
    properties.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers={LOOPBACK}:{controller_port}",
                f"listeners=PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller_port}",
                f"advertised.listeners=PLAINTEXT://{LOOPBACK}:{port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={_properties_value(str(home / 'data'))}",
                "num.partitions=3",
                "offsets.topic.replication.factor=1",
                # Few group-offset partitions: a cold broker loads them before a group's first
                # join is answered, and one node needs no more.
                "offsets.topic.num.partitions=5",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
                "message.max.bytes=10485760",
            ]
        )
        + "\n"
    )
    log_config = home / "log4j2.yaml"
    log_config.write_text(_LOG4J2)
    base = [java, *_JVM_FLAGS, f"-Dlog4j2.configurationFile={log_config}", "-cp", classpath]
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    formatted = subprocess.run(
        [
            *base,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(properties),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if formatted.returncode != 0:
        raise ServiceError(
            f"formatting Kafka storage failed:\n{formatted.stdout}{formatted.stderr}"
        )
    process = ServiceProcess.spawn(
        "kafka",
        [*base, "kafka.Kafka", str(properties)],
        workdir / "kafka.log",
        outlives_parent=outlives_parent,
    )
    bootstrap = f"{LOOPBACK}:{port}"
    process.wait_ready(lambda: answers_metadata(bootstrap), READY_TIMEOUT_S)
    return RunningService(ServiceName.KAFKA, bootstrap, process)


def restart_kafka(workdir: Path, stopped: RunningService) -> RunningService:
    """Start a stopped `start_kafka` broker again on its address and log directory.

    Its topics, offsets and consumer groups are kept: for outage tests, where a broker goes away
    and comes back as it would after a crash or a rolling restart.
    """
    properties = workdir / "kafka" / "server.properties"
    if not properties.is_file():
        raise ServiceError(f"no Kafka broker was started in {workdir}")
    if stopped.process.alive():
        raise ServiceError("the broker is still running; stop it before restarting it")
    process = ServiceProcess.spawn(
        "kafka",
        stopped.process.command,
        workdir / "kafka.log",
        outlives_parent=stopped.process.outlives_parent,
    )
    process.wait_ready(lambda: answers_metadata(stopped.address), READY_TIMEOUT_S)
    return RunningService(ServiceName.KAFKA, stopped.address, process)


def start_embedded_kafka(workdir: Path, *, outlives_parent: bool = False) -> RunningService:
    """Start the embedded Kafka-protocol broker (tansu, in memory) for machines without Java."""
    port = free_port()
    bootstrap = f"{LOOPBACK}:{port}"
    command = [
        str(tansu_path()), "broker",
        "--listener-url", f"tcp://{bootstrap}",
        "--advertised-listener-url", f"tcp://{bootstrap}",
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    process = ServiceProcess.spawn(
        "kafka", command, workdir / "kafka.log", outlives_parent=outlives_parent
    )
    process.wait_ready(lambda: answers_metadata(bootstrap), READY_TIMEOUT_S)
    return RunningService(ServiceName.KAFKA, bootstrap, process)
