"""The gRPC connector gateway against a real broker and Redis: the protocol through a Python client,
and the TypeScript reference connector (connectors/examples/ts-connector) as a real Node process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from connectors.grpc_gateway import SERVICE_NAME, GrpcGatewayConnector
from connectors.sdk.testkit import ConnectorHarness
from warmline.api.v1 import connector_pb2 as pb
from warmline.api.v1 import connector_pb2_grpc as pb_grpc
from warmline.events.types import EventType

ROOT = Path(__file__).resolve().parents[2]
TS_DIR = ROOT / "connectors" / "examples" / "ts-connector"
TSX = TS_DIR / "node_modules" / ".bin" / "tsx"
TSC = TS_DIR / "node_modules" / ".bin" / "tsc"
TOKEN = "gateway-test-token"
SPECIAL_TOKEN = "token-of-the-special-one"
HANDOFFS = "io.warmline.handoff.*"
ACCEPTED = {"specialist": "sam", "queue": "care", "offer_id": "o1", "crisis": False, "waited_ms": 5}
COMPLETED = {"specialist": "sam", "queue": "care", "outcome": "resolved"}
CLOSED = {"reason": "resolved", "messages": 4}
CRISIS = {"message_id": "m1", "risk_flags": ["self_harm"]}
GROUP_JOIN_TRIES = 3


def node_tools() -> None:
    """Fail, never skip, when the reference connector's packages are not installed."""
    if shutil.which("node") is None or not TSX.exists() or not TSC.exists():
        pytest.fail(
            f"Node 20 and the reference connector's packages are needed: run `npm ci` in {TS_DIR} "
            "(python3 dev.py test does it)"
        )


@contextlib.asynccontextmanager
async def gateway(
    kafka: str, redis: str, **settings: Any
) -> AsyncIterator[tuple[ConnectorHarness, str]]:
    """The gateway on a free port under the test kit, and its address once it listens and its
    runner holds the topic's partitions (so what a test emits is consumed at once)."""
    secrets = {"token": TOKEN, "token.special": SPECIAL_TOKEN}
    options = {"listen": "127.0.0.1:0", **settings}
    for _ in range(GROUP_JOIN_TRIES):
        harness = ConnectorHarness(
            GrpcGatewayConnector, options, kafka=kafka, redis=redis, secrets=secrets
        )
        await asyncio.to_thread(create_topic, kafka, harness.topic)
        async with harness as kit:
            if await ready(kit):
                yield kit, f"127.0.0.1:{gateway_of(kit).port}"
                return
    pytest.fail(f"the runner's consumer got no partitions in {GROUP_JOIN_TRIES} fresh groups")


async def ready(kit: ConnectorHarness, within: float = 10.0) -> bool:
    """Whether the gateway listens and the runner got its partitions within `within` seconds.

    kafka-python 3.0.12 now and then never finishes the rebalance that follows the topic's
    metadata arriving (the leader's SyncGroup of the second generation stays unanswered while a
    metadata update lands): about one fresh group in ten here. Such a group gets nothing to
    consume, so the caller starts over with a fresh one instead of failing the test.
    """
    deadline = asyncio.get_running_loop().time() + within
    while not (gateway_of(kit).port is not None and kit.runner.assigned.is_set()):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def create_topic(kafka: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        admin.close()


def gateway_of(kit: ConnectorHarness) -> GrpcGatewayConnector:
    connector = kit.connector
    assert isinstance(connector, GrpcGatewayConnector)
    return connector


def subscription(
    name: str = "py", token: str = TOKEN, patterns: tuple[str, ...] = (HANDOFFS,)
) -> pb.SubscribeRequest:
    return pb.SubscribeRequest(
        subscription=pb.Subscription(connector_name=name, token=token, event_types=patterns)
    )


def ack(delivery: pb.Delivery) -> pb.SubscribeRequest:
    return pb.SubscribeRequest(ack=pb.Ack(delivery_id=delivery.delivery_id))


def nack(delivery: pb.Delivery, reason: str, *, permanent: bool) -> pb.SubscribeRequest:
    return pb.SubscribeRequest(
        nack=pb.Nack(delivery_id=delivery.delivery_id, reason=reason, permanent=permanent)
    )


async def receive(call: Any, within: float = 15.0) -> pb.Delivery:
    delivery = await asyncio.wait_for(call.read(), within)
    assert isinstance(delivery, pb.Delivery), f"stream ended: {await call.code()}"
    return delivery


# --- the protocol, through a Python client --------------------------------------------------------


async def test_the_protocol_through_a_python_client(kafka_bootstrap: str, redis_url: str) -> None:
    async with (
        gateway(kafka_bootstrap, redis_url, ack_timeout="2s") as (kit, address),
        grpc.aio.insecure_channel(address) as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)
        checked = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        assert checked.status == health_pb2.HealthCheckResponse.SERVING

        call = pb_grpc.ConnectorGatewayStub(channel).Subscribe()
        await call.write(subscription())
        assert ("warmline-subscribed", "py") in tuple(await call.initial_metadata())
        assert gateway_of(kit).connected("py") == 1

        accepted = kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="c-ok")
        closed = kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c-ok")
        await kit.emit(accepted, accepted, closed)
        first = await receive(call)
        event = first.event
        assert (first.attempt, event.id, event.type, event.subject) == (
            1,
            accepted.id,
            "io.warmline.handoff.accepted.v1",
            "c-ok",
        )
        assert (event.source, event.datacontenttype) == ("/warmline/testkit", "application/json")
        assert datetime.fromisoformat(event.time) == accepted.time
        assert json.loads(event.data) == ACCEPTED
        await call.write(pb.SubscribeRequest(ack=pb.Ack(delivery_id="no-such-delivery")))
        await call.write(ack(first))
        await kit.wait_handled(2)
        assert gateway_of(kit).undelivered == 1  # conversation.closed: nobody subscribed to it
        assert kit.runner.stats.duplicates == 1

        # A retryable nack and an unacknowledged delivery are delivered again, each with a new id.
        flaky = kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="c-flaky")
        await kit.emit(flaky)
        nacked = await receive(call)
        await call.write(nack(nacked, "CRM returned 503", permanent=False))
        ignored = await receive(call)
        timed_out = await receive(call, within=10)
        assert [d.attempt for d in (nacked, ignored, timed_out)] == [1, 2, 3]
        assert {d.event.id for d in (nacked, ignored, timed_out)} == {flaky.id}
        assert len({d.delivery_id for d in (nacked, ignored, timed_out)}) == 3
        await call.write(ack(ignored))  # too late: that delivery timed out, so it is ignored
        await call.write(ack(timed_out))
        await kit.wait_handled(3)

        # A permanent nack dead-letters the event at once.
        refused = kit.event(
            EventType.HANDOFF_COMPLETED, ACCEPTED | {"outcome": "x"}, subject="c-no"
        )
        await kit.emit(refused)
        await call.write(nack(await receive(call), "invalid for the CRM", permanent=True))
        letters = await asyncio.to_thread(kit.dead_letters, expect=1)
        assert [letter.reason for letter in letters] == [
            f"forward failed after 1 attempt(s): py refused {refused.id}: invalid for the CRM"
        ]

        # Events in flight when a process goes away go to the next one that subscribes.
        lost = kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="c-lost")
        await kit.emit(lost)
        assert (await receive(call)).event.id == lost.id
        call.cancel()
        again = pb_grpc.ConnectorGatewayStub(channel).Subscribe()
        await again.write(subscription())
        redelivered = await receive(again)
        assert (redelivered.event.id, redelivered.attempt) == (lost.id, 2)
        await again.write(ack(redelivered))
        await kit.wait_handled(4)
        await again.done_writing()
        assert await again.code() == grpc.StatusCode.OK
        assert kit.runner.stats.dead_lettered == 1


@pytest.mark.parametrize(
    ("first", "code", "detail"),
    [
        (subscription(token="wrong"), grpc.StatusCode.UNAUTHENTICATED, "wrong token"),
        (subscription(name="special"), grpc.StatusCode.UNAUTHENTICATED, "wrong token"),
        (subscription(token=""), grpc.StatusCode.UNAUTHENTICATED, "wrong token"),
        (pb.SubscribeRequest(ack=pb.Ack(delivery_id="d")), grpc.StatusCode.INVALID_ARGUMENT, ""),
        (subscription(name=""), grpc.StatusCode.INVALID_ARGUMENT, "connector_name is empty"),
        (subscription(patterns=()), grpc.StatusCode.INVALID_ARGUMENT, "event_types is empty"),
        (
            subscription(patterns=(HANDOFFS, "io.warmline.inbound.*")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "'io.warmline.inbound.*' match(es) no event type",
        ),
    ],
    ids=[
        "wrong-token",
        "shared-token-for-a-name-with-its-own",
        "no-token",
        "ack-first",
        "no-name",
        "no-patterns",
        "inbound-pattern",
    ],
)
async def test_a_subscription_is_checked_first(
    gateway_address: str, first: pb.SubscribeRequest, code: grpc.StatusCode, detail: str
) -> None:
    async with grpc.aio.insecure_channel(gateway_address) as channel:
        call = pb_grpc.ConnectorGatewayStub(channel).Subscribe()
        await call.write(first)
        assert await asyncio.wait_for(call.code(), 10) == code
        assert detail in (await call.details() or "")


async def test_a_token_per_connector_name(gateway_address: str) -> None:
    async with grpc.aio.insecure_channel(gateway_address) as channel:
        call = pb_grpc.ConnectorGatewayStub(channel).Subscribe()
        await call.write(subscription("special", SPECIAL_TOKEN, ("io.warmline.model.*",)))
        assert ("warmline-subscribed", "special") in tuple(await call.initial_metadata())
        await call.done_writing()
        assert await asyncio.wait_for(call.code(), 10) == grpc.StatusCode.OK


async def test_bytes_that_are_not_a_request_end_the_stream_with_invalid_argument(
    gateway_address: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Not UNKNOWN with a traceback in the gateway's log (first message), nor OK, which tells a
    process to reconnect and send the same bytes again (a later one)."""
    corrupt = b"\xff\xff\xff"
    not_utf8 = b"\x0a\x05\x0a\x03\xff\xfe\xfd"  # subscription.connector_name: invalid UTF-8
    async with grpc.aio.insecure_channel(gateway_address) as channel:
        raw: Any = channel.stream_stream(
            f"/{SERVICE_NAME}/Subscribe",
            request_serializer=lambda b: b,
            response_deserializer=pb.Delivery.FromString,
        )
        for messages in ([corrupt], [not_utf8], [subscription().SerializeToString(), corrupt]):
            call = raw()
            for message in messages:
                await call.write(message)
            assert await asyncio.wait_for(call.code(), 10) == grpc.StatusCode.INVALID_ARGUMENT
            assert "is not a valid warmline.v1.SubscribeRequest" in (await call.details() or "")
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.fixture(scope="module")
async def gateway_address(kafka_bootstrap: str, redis_url: str) -> AsyncIterator[str]:
    async with gateway(kafka_bootstrap, redis_url) as (_, address):
        yield address


# --- the TypeScript reference connector -----------------------------------------------------------


class TsConnector:
    """The reference connector as a Node process; its JSON lines go to `output`."""

    def __init__(self, address: str, output: Path, **env: str) -> None:
        node_tools()
        self.output = output
        self.stderr_path = output.with_suffix(".stderr")
        self._env = {
            **os.environ,
            "WARMLINE_CONNECTOR_TOKEN": TOKEN,
            "WARMLINE_CONNECTOR_NAME": "ts-example",
            "WARMLINE_EVENT_TYPES": HANDOFFS,
            **env,
        }
        self._address = address
        self._files: list[TextIO] = []
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> TsConnector:
        stdout: TextIO | int = subprocess.DEVNULL
        if "WARMLINE_OUTPUT" not in self._env:
            stdout = self.output.open("a")
            self._files.append(stdout)
        stderr = self.stderr_path.open("a")
        self._files.append(stderr)
        self.process = subprocess.Popen(
            [str(TSX), "src/main.ts", self._address],
            cwd=TS_DIR,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL tsx and the node process it runs, as a crash of the machine would."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
        return self.wait(15)

    def wait(self, timeout: float) -> int:
        """Until the process exits by itself; its exit code."""
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        for file in self._files:
            file.close()
        self._files.clear()
        return code

    def lines(self) -> list[dict[str, Any]]:
        if not self.output.exists():
            return []
        text = self.output.read_text()
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    async def wait_subscribed(self, kit: ConnectorHarness, within: float = 20.0) -> None:
        await kit.wait_for(lambda: gateway_of(kit).connected("ts-example") >= 1, within=within)


@contextlib.contextmanager
def running(connector: TsConnector) -> Iterator[TsConnector]:
    connector.start()
    try:
        yield connector
    finally:
        connector.stop()


async def test_the_typescript_connector_gets_what_it_subscribed_to_once(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    async with gateway(kafka_bootstrap, redis_url, ack_timeout="10s") as (kit, address):
        with running(TsConnector(address, tmp_path / "stdout.jsonl")) as ts:
            await ts.wait_subscribed(kit)
            handoffs = [
                kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject=f"c{n}") for n in range(3)
            ]
            nack_once = kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="nack-once-1")
            others = [
                kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c0"),
                kit.event(EventType.CRISIS_DETECTED, CRISIS, subject="c1"),
            ]
            await kit.emit(*handoffs, handoffs[0], nack_once, *others, handoffs[1])
            await kit.wait_handled(6)
            lines = ts.lines()
        assert "nack " + nack_once.id in ts.stderr()
    counts = Counter(line["id"] for line in lines)
    assert counts == Counter({e.id: 1 for e in [*handoffs, nack_once]})
    by_id = {line["id"]: line for line in lines}
    assert by_id[nack_once.id]["attempt"] == 2
    assert by_id[handoffs[2].id]["attempt"] == 1
    assert by_id[handoffs[2].id]["data"] == ACCEPTED
    assert by_id[handoffs[2].id]["type"] == EventType.HANDOFF_ACCEPTED.value
    assert gateway_of(kit).undelivered == 2
    assert kit.runner.stats.duplicates == 2
    assert kit.runner.stats.dead_lettered == 0


async def test_a_killed_typescript_connector_gets_the_unacked_events_after_a_restart(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    output = tmp_path / "events.jsonl"
    slow = {"WARMLINE_OUTPUT": str(output), "WARMLINE_ACK_DELAY_MS": "150"}
    async with gateway(kafka_bootstrap, redis_url, ack_timeout="10s") as (kit, address):
        events = [
            kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject=f"k{n}") for n in range(20)
        ]
        ts = TsConnector(address, output, **slow).start()
        try:
            await ts.wait_subscribed(kit)
            await kit.emit(*events)
            await kit.wait_for(lambda: len(ts.lines()) >= 4, within=20)
            ts.kill()
            assert kit.runner.stats.handled < len(events)
            ts.start()
            await kit.wait_handled(len(events), within=40)
        finally:
            ts.stop()
    lines = ts.lines()
    assert sorted(line["id"] for line in lines) == sorted(e.id for e in events)
    assert max(line["attempt"] for line in lines) >= 2
    assert kit.runner.stats.dead_lettered == 0


async def test_the_typescript_connector_stops_on_a_wrong_token(
    gateway_address: str, tmp_path: Path
) -> None:
    ts = TsConnector(gateway_address, tmp_path / "out.jsonl", WARMLINE_CONNECTOR_TOKEN="wrong")
    ts.start()
    try:
        code = await asyncio.to_thread(ts.wait, 30)
    finally:
        ts.stop()
    assert code == 2
    assert "UNAUTHENTICATED" in ts.stderr()


def test_the_typescript_connector_type_checks() -> None:
    node_tools()
    checked = subprocess.run(
        [str(TSC), "--noEmit", "-p", str(TS_DIR)],
        cwd=TS_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
