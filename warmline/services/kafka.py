"""Kafka brokers: Apache Kafka in KRaft mode on Java, or the embedded Kafka-protocol broker."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from warmline.errors import ServiceError
from warmline.services.base import RunningService, ServiceName
from warmline.services.binaries import tansu_path
from warmline.services.kafka_jars import kafka_classpath
from warmline.services.ports import LOOPBACK, free_port, is_listening
from warmline.services.process import ServiceProcess

READY_TIMEOUT_S = 90.0
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


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise ServiceError(
            "Apache Kafka needs Java 17+: install it (apt-get install openjdk-17-jre-headless), "
            "or use the embedded broker (`warmline services up --embedded`)"
        )
    return java


def start_kafka(workdir: Path) -> RunningService:
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
                f"log.dirs={home / 'data'}",
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
        "kafka", [*base, "kafka.Kafka", str(properties)], workdir / "kafka.log"
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
    process = ServiceProcess.spawn("kafka", stopped.process.command, workdir / "kafka.log")
    process.wait_ready(lambda: answers_metadata(stopped.address), READY_TIMEOUT_S)
    return RunningService(ServiceName.KAFKA, stopped.address, process)


def start_embedded_kafka(workdir: Path) -> RunningService:
    """Start the embedded Kafka-protocol broker (tansu, in memory) for machines without Java."""
    port = free_port()
    bootstrap = f"{LOOPBACK}:{port}"
    command = [
        str(tansu_path()), "broker",
        "--listener-url", f"tcp://{bootstrap}",
        "--advertised-listener-url", f"tcp://{bootstrap}",
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    process = ServiceProcess.spawn("kafka", command, workdir / "kafka.log")
    process.wait_ready(lambda: answers_metadata(bootstrap), READY_TIMEOUT_S)
    return RunningService(ServiceName.KAFKA, bootstrap, process)
