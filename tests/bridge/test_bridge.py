"""The inbound bridge end to end: Kafka records in, conversations and roster changes in Temporal.

Real services throughout: the dev server with warmline's worker, Apache Kafka, Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition
from redis import Redis
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from tests.bridge.conftest import PEER_SUPPORT, Inbound, Sent, until
from tests.worker_process import WARMLINE
from warmline.bridge import InboundBridge
from warmline.bridge.inbound import _Item
from warmline.conversation import MAX_MESSAGE_CHARS
from warmline.events import DomainEvent, EventType, to_record
from warmline.events.catalog import InboundShift
from warmline.wellness.policy import WorkerKind
from warmline.wellness.types import wellness_workflow_id
from workflows.roster import RosterWorkflow
from workflows.wellness import WellnessWorkflow

PROJECT = Path(__file__).resolve().parents[2]
# A traceback frame in one of these is warmline's; the standard library's and the venv's are not.
OWN_PACKAGES = ("warmline", "workflows", "activities", "connectors")
OWN_FRAMES = tuple(f'File "{PROJECT / package}/' for package in OWN_PACKAGES)
UNREACHABLE_TEMPORAL = "127.0.0.1:9"


class CaughtUp(InboundBridge):
    """A bridge that counts the polls it starts with every partition of `ends` read to its end
    offset. Each poll follows the handling of the batch before it, so once one is counted,
    whatever the bridge was going to read again has been read and signalled."""

    ends: dict[TopicPartition, int]
    """The end offset of each partition to read; set before the bridge runs."""
    polls_caught_up = 0

    def _poll(self, consumer: KafkaConsumer) -> list[ConsumerRecord]:
        if set(self.ends) <= consumer.assignment() and all(
            consumer.position(tp) >= end for tp, end in self.ends.items()
        ):
            self.polls_caught_up += 1
        return super()._poll(consumer)


async def test_a_message_starts_a_conversation_that_triages_it_once(inbound: Inbound) -> None:
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    first = inbound.message(conversation, "m0", "Where is my parcel?")
    # The CRM sent m0 twice under two event ids; Kafka redelivers the first record too.
    again = inbound.message(conversation, "m0", "Where is my parcel?")
    running = await inbound.run()
    await inbound.send(first, first, again)
    await until(lambda: running.bridge.stats.batches >= 1, what="a batch", task=running)
    await inbound.send(inbound.message(conversation, "m1", "Thanks, that is helpful"))
    view = await inbound.view(conversation, messages=2)
    assert [p.message_id for p in view.trajectory] == ["m0", "m1"]
    assert view.message_count == 2
    assert running.bridge.stats.duplicates == 1
    await running.stop()
    stats = running.bridge.stats
    assert (stats.messages, stats.dead_lettered) == (3, 0)

    # Everything was committed: a bridge of the same group starts after it and reads nothing
    # again. Its dedupe would turn a record read again into a duplicate, not a message, so the
    # duplicates count too; and it is checked once the bridge has read to the end.
    committed = inbound.committed()
    assert sum(committed.values()) == 4
    watched = inbound.bridge(kind=CaughtUp)
    assert isinstance(watched, CaughtUp)
    watched.ends = {
        TopicPartition(topic, partition): end for (topic, partition), end in committed.items()
    }
    restarted = await inbound.run(watched)
    await until(lambda: watched.polls_caught_up >= 1, what="caught up to the end", task=restarted)
    await restarted.stop()
    stats = restarted.bridge.stats
    assert (stats.messages, stats.duplicates, stats.dead_lettered) == (0, 0, 0), (
        "nothing read again"
    )

    # A bridge killed before it committed (here: a group and dedupe with no memory of the records)
    # signals every message again; the conversation still triages each once.
    amnesiac = await inbound.run(inbound.bridge(group=f"again-{uuid.uuid4().hex[:6]}"))
    await until(lambda: amnesiac.bridge.stats.messages == 3, what="re-signalled", task=amnesiac)
    await amnesiac.stop()
    view = await inbound.view(conversation, messages=2)
    assert view.message_count == 2


async def test_two_systems_may_send_the_same_event_id(inbound: Inbound) -> None:
    """CloudEvents makes `source` and `id` unique together, not `id` alone: the WhatsApp
    channel's event 42 is not the CRM's event 42."""
    crm, chat = (f"conv-{uuid.uuid4().hex[:8]}" for _ in range(2))
    shared = f"42-{uuid.uuid4().hex[:6]}"
    from_crm = inbound.message(crm, "m0", "Where is my parcel?", event_id=shared)
    from_chat = inbound.message(chat, "m0", "Hello, anyone there?", event_id=shared).model_copy(
        update={"source": "/channels/whatsapp"}
    )
    running = await inbound.run()
    await inbound.send(from_crm, from_chat)
    for conversation in (crm, chat):
        assert (await inbound.view(conversation, messages=1)).message_count == 1
    await running.stop()
    assert (running.bridge.stats.messages, running.bridge.stats.duplicates) == (2, 0)


async def test_nothing_is_committed_or_dead_lettered_while_temporal_is_down(
    inbound: Inbound,
) -> None:
    down = await Client.connect(
        UNREACHABLE_TEMPORAL, data_converter=pydantic_data_converter, lazy=True
    )
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    outage = await inbound.run(inbound.bridge(client=down))
    await inbound.send(inbound.message(conversation, "m0", "Is anyone there?"))
    await until(lambda: outage.bridge.stats.retries >= 3, what="retries", task=outage)
    await outage.stop()
    assert (outage.bridge.stats.messages, outage.bridge.stats.dead_lettered) == (0, 0)
    assert inbound.committed() == {}

    # Temporal is back (the bridge restarts with a working client): the record was kept.
    back = await inbound.run()
    view = await inbound.view(conversation, messages=1)
    await back.stop()
    assert view.trajectory[0].message_id == "m0"
    assert sum(inbound.committed().values()) == 1


async def test_availability_updates_the_roster_and_shifts_are_kept(inbound: Inbound) -> None:
    away = inbound.event(
        EventType.INBOUND_AVAILABILITY_CHANGED,
        {"specialist_id": "vol-marcus", "available": False, "reason": "sick leave"},
        subject="vol-marcus",
    )
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    shift = inbound.shift("vol-aoife", "s-1", starts, queues=["listening"])
    # HR and the workforce tool both number their events: their `42`s are two changes, and the
    # later one (back on) must reach the roster too.
    shared = f"42-{uuid.uuid4().hex[:6]}"
    off, back = (
        inbound.event(
            EventType.INBOUND_AVAILABILITY_CHANGED,
            {"specialist_id": "staff-luis", "available": available},
            subject="staff-luis",
            event_id=shared,
        ).model_copy(update={"source": source})
        for available, source in ((False, "/hr/bamboohr"), (True, "/wfm/shiftboard"))
    )
    running = await inbound.run()
    # No worker has started the roster of this task queue yet: the bridge starts it.
    await inbound.send(away, shift, away, off, back)
    await until(
        lambda: running.bridge.stats.availability + running.bridge.stats.shifts == 4,
        what="availability and shift",
        task=running,
    )
    await running.stop()
    assert running.bridge.stats.duplicates == 1
    roster = inbound.client.get_workflow_handle_for(RosterWorkflow.run, inbound.roster_id)
    members = {m.member.id: m.state for m in (await roster.query(RosterWorkflow.view)).members}
    assert not members["vol-marcus"].available
    assert members["vol-aoife"].available
    assert members["staff-luis"].available
    kept = inbound.shifts.shifts("vol-aoife")
    assert [(s.shift_id, s.starts_at, s.queues) for s in kept] == [("s-1", starts, ["listening"])]
    # Each worker's wellness workflow got the shift (signal-with-start) and the availability.
    wellness = {
        worker: inbound.client.get_workflow_handle_for(
            WellnessWorkflow.run, wellness_workflow_id("peer-support", worker)
        )
        for worker in ("vol-aoife", "vol-marcus")
    }
    inbound.started.extend(handle.id for handle in wellness.values())
    aoife = await wellness["vol-aoife"].query(WellnessWorkflow.state)
    assert [(s.shift_id, s.starts_at) for s in aoife.upcoming] == [("s-1", starts)]
    marcus = await wellness["vol-marcus"].query(WellnessWorkflow.state)
    assert marcus.shift is None


async def test_an_annotators_availability_and_shifts_reach_their_wellness_workflow_alone(
    inbound: Inbound,
) -> None:
    annotator = "an-dee"

    def availability(available: bool) -> DomainEvent:
        data = {"specialist_id": annotator, "available": available, "reason": "rota"}
        return inbound.event(EventType.INBOUND_AVAILABILITY_CHANGED, data, subject=annotator)

    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    shift = inbound.shift(annotator, "s-an", starts, 4)
    handle = inbound.client.get_workflow_handle_for(
        WellnessWorkflow.run, wellness_workflow_id("peer-support", annotator)
    )
    inbound.started.append(handle.id)

    running = await inbound.run()
    await inbound.send(availability(True), shift)
    # Available with no shift running: the annotator's wellness workflow starts one, as a
    # specialist's does; HR's shift waits for its start.
    state = await inbound.wellness_when(
        annotator, lambda s: s.shift is not None and bool(s.upcoming)
    )
    assert state.kind is WorkerKind.ANNOTATOR
    assert state.shift is not None
    assert state.shift.shift_id.startswith("available-")
    assert [(s.shift_id, s.starts_at) for s in state.upcoming] == [("s-an", starts)]
    await inbound.send(availability(False))
    state = await inbound.wellness_when(annotator, lambda s: s.shift is None)
    assert [s.shift_id for s in state.upcoming] == ["s-an"]
    await until(lambda: running.bridge.stats.availability == 2, what="both", task=running)
    await running.stop()
    assert (running.bridge.stats.shifts, running.bridge.stats.dead_lettered) == (1, 0)
    # Annotators are in no roster: the bridge neither updated nor started one.
    roster = inbound.client.get_workflow_handle(inbound.roster_id)
    with pytest.raises(RPCError) as missing:
        await roster.describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND


async def test_bad_records_are_dead_lettered_with_their_coordinates_and_the_bridge_goes_on(
    inbound: Inbound,
) -> None:
    topic, hr = inbound.settings.messages_topic, inbound.settings.hr_topic
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    good = to_record(inbound.message(conversation, "m0", "Hello, is this the right place?"))

    def retyped(type_name: bytes) -> list[tuple[str, bytes]]:
        return [(k, type_name if k == "ce_type" else v) for k, v in good.headers]

    def with_data(**changes: object) -> bytes:
        return json.dumps({**json.loads(good.value), **changes}).encode()

    bad: list[tuple[str, bytes, list[tuple[str, bytes]], str]] = [
        (topic, b"not json {", good.headers, "data is not a JSON object: Expecting value"),
        (topic, good.value, [], "not a CloudEvent: missing header(s) ce_id, ce_type"),
        (
            topic,
            good.value,
            retyped(b"io.warmline.inbound.parcel.lost.v1"),
            "unknown event type 'io.warmline.inbound.parcel.lost.v1'",
        ),
        (
            topic,
            good.value,
            retyped(b"io.warmline.inbound.message.received.v2"),
            "unknown event type 'io.warmline.inbound.message.received.v2': this consumer knows v1",
        ),
        (
            topic,
            with_data(text="x" * (5 * 1_048_576)),
            good.headers,
            "bytes; the bridge takes at most 1,048,576",
        ),
        (topic, b'{"text": "\xff\xfe"}', good.headers, "UTF-8"),
        (
            topic,
            with_data(tenant_id="nobody"),
            good.headers,
            "unknown tenant 'nobody'; this deployment serves open-door, open-door-us",
        ),
        (topic, with_data(text=" \n "), good.headers, "the message text is empty"),
        (
            topic,
            with_data(text="x" * (MAX_MESSAGE_CHARS + 1)),
            good.headers,
            "the message text has 20,001 characters; the limit is 20,000",
        ),
        (topic, with_data(message_id=None), good.headers, "message_id: Input should be"),
        (
            topic,
            with_data(conversation_id="elsewhere"),
            good.headers,
            f"subject '{conversation}' is not the conversation id 'elsewhere'",
        ),
        (hr, good.value, good.headers, f"does not belong on {hr}"),
    ]
    availability = to_record(
        inbound.event(
            EventType.INBOUND_AVAILABILITY_CHANGED,
            {"specialist_id": "vol-nobody", "available": True},
            subject="vol-nobody",
        )
    )
    bad.append(
        (
            hr,
            availability.value,
            availability.headers,
            "unknown worker 'vol-nobody': neither in the configuration's routing.specialists nor "
            "in its annotation.annotators",
        )
    )
    starts = datetime.now(UTC).replace(microsecond=0)
    for shift_id, hours, queues, reason in (
        ("s-decade", 24 * 3650, [], "shift 's-decade' lasts 87,600 h; the longest the bridge"),
        ("s-queue", 8, ["listenin"], "shift 's-queue' names queue(s) the configuration lacks"),
    ):
        shift = to_record(inbound.shift("vol-aoife", shift_id, starts, hours, queues=queues))
        bad.append((hr, shift.value, shift.headers, reason))
    # Ids the specialist and annotator APIs would refuse: a conversation nobody could serve.
    too_long = to_record(inbound.message("c" * 1100, "m0", "Hello?"))
    bad.append((topic, too_long.value, too_long.headers, "conversation_id: String should have at"))
    broken = to_record(inbound.message("c-nl\n1", "m0", "Hello?"))
    bad.append((topic, broken.value, broken.headers, "conversation_id: must not contain control"))
    bad.append((topic, with_data(message_id="m" * 2000), good.headers, "message_id: String should"))
    bad.append((topic, with_data(country="GBR"), good.headers, "country: String should match"))

    running = await inbound.run()
    where: dict[tuple[str, int, int], str] = {}
    for to, value, headers, reason in bad:
        sent: Sent = await inbound.send_raw(to, value, headers=headers, key=good.key)
        where[(sent.topic, sent.partition, sent.offset)] = reason
    await inbound.send_raw(topic, good.value, headers=good.headers, key=good.key)
    view = await inbound.view(conversation, messages=1)
    assert view.trajectory[0].message_id == "m0"
    await until(lambda: running.bridge.stats.dead_lettered == len(bad), what="dead letters")
    await running.stop()

    letters = inbound.dead_lettered_as(where)
    biggest = max(letters, key=lambda letter: len(letter.value or b""))
    assert len(biggest.value or b"") > 5 * 1_048_576, "the 5 MB record is kept whole"


class BuggyBridge(InboundBridge):
    """The bridge with two bugs nobody has found yet: one where a record is read, one where a shift
    is handed on. Each must cost its own record only."""

    def _read(self, record: ConsumerRecord) -> _Item:
        if b"trip-the-read-bug" in (record.value or b""):
            raise KeyError("trip-the-read-bug")
        return super()._read(record)

    async def _keep_shift(self, shift: InboundShift) -> None:
        if shift.shift_id == "s-bug":
            raise ValueError("a bug in the shift code")
        await super()._keep_shift(shift)


async def test_a_record_that_raises_is_dead_lettered_and_its_partition_goes_on(
    inbound: Inbound,
) -> None:
    """Records that used to raise out of the bridge (nothing committed, the same batch read again
    on every restart, and the crisis message behind them never delivered) are dead-lettered with
    a reason; so is one that trips a bug, as `internal: <type>: <message>`."""
    topic, hr = inbound.settings.messages_topic, inbound.settings.hr_topic
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    good = to_record(inbound.message(conversation, "m0", "Hello"))

    def with_data(raw: bytes) -> bytes:
        """The message's data with JSON spliced in as sent (escapes and all)."""
        return good.value[:-1] + b", " + raw + b"}"

    def shift(
        worker: str, shift_id: str, starts: datetime
    ) -> tuple[bytes, list[tuple[str, bytes]]]:
        record = to_record(inbound.shift(worker, shift_id, starts))
        return record.value, record.headers

    plain = [(k, b"text/plain" if k == "content-type" else v) for k, v in good.headers]
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    bad: list[tuple[str, bytes, list[tuple[str, bytes]], bytes, str]] = [
        (
            topic,
            good.value.replace(b'"Hello"', b'"Hello \\ud83d"'),
            good.headers,
            good.key,
            "data.text is not valid Unicode: a lone surrogate \\ud83d at character 6",
        ),
        (topic, b"[" * 100_000, good.headers, good.key, "data is not a JSON object: nested too"),
        (
            topic,
            with_data(b'"x": ' + b"9" * 5000),
            good.headers,
            good.key,
            "data is not a JSON object: Exceeds the limit (4300 digits)",
        ),
        (topic, good.value, plain, good.key, "content-type 'text/plain' is not JSON"),
        (
            topic,
            with_data(b'"note": "trip-the-read-bug"'),
            good.headers,
            good.key,
            "internal: KeyError: 'trip-the-read-bug'",
        ),
        (
            hr,
            *shift("vol-aoife", "s-eot", datetime(9999, 12, 31, tzinfo=UTC)),
            b"vol-aoife",
            "shift 's-eot' starts_at 9999-12-31T00:00:00+00:00 is not a real shift's",
        ),
        (
            hr,
            *shift("vol-marcus", "s-wrongtype", tomorrow),
            b"vol-marcus",
            "Redis refused shift s-wrongtype of vol-marcus: WRONGTYPE",
        ),
        (
            hr,
            *shift("staff-ren", "s-bug", tomorrow),
            b"staff-ren",
            "internal: ValueError: a bug in the shift code",
        ),
    ]
    # Something else wrote vol-marcus's shift key: Redis refuses the hash commands on it.
    redis = Redis.from_url(inbound.redis_url)
    try:
        redis.set(inbound.shifts.key("vol-marcus"), b"not a hash")
    finally:
        redis.close()
    where: dict[tuple[str, int, int], str] = {}
    for to, value, headers, key, reason in bad:
        sent = await inbound.send_raw(to, value, headers=headers, key=key)
        where[(sent.topic, sent.partition, sent.offset)] = reason
    # Behind the bad records on their partitions: a crisis message, and vol-aoife going off.
    crisis = inbound.message(conversation, "m1", "I want to end my life tonight")
    away = inbound.event(
        EventType.INBOUND_AVAILABILITY_CHANGED,
        {"specialist_id": "vol-aoife", "available": False},
        subject="vol-aoife",
    )
    await inbound.send(crisis, away)
    running = await inbound.run(inbound.bridge(kind=BuggyBridge))
    await until(
        lambda: (
            running.bridge.stats.dead_lettered == len(bad)
            and running.bridge.stats.availability == 1
        ),
        what="the bad records dead-lettered and the availability applied",
        task=running,
    )
    view = await inbound.view(conversation, messages=1)
    await running.stop()
    assert [p.message_id for p in view.trajectory] == ["m1"]
    assert running.bridge.stats.messages == 1
    assert sum(inbound.committed().values()) == len(bad) + 2, "every record committed"

    inbound.dead_lettered_as(where)


def test_a_bad_config_exits_2_with_positions(tmp_path: Path) -> None:
    broken = tmp_path / "warmline.yaml"
    broken.write_text("apiVersion: warmline/v1\nkind: WarmlineConfig\nroutng: {}\n")
    result = subprocess.run(
        [str(WARMLINE), "bridge", "--config", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"{broken}:3:1: (top level): unknown key 'routng'; did you mean 'routing'?" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


async def test_warmline_bridge_bridges_until_sigterm(
    inbound: Inbound, temporal_address: str
) -> None:
    s = inbound.settings
    process = await asyncio.create_subprocess_exec(
        str(WARMLINE),
        "bridge",
        "--config",
        str(PEER_SUPPORT),
        "--temporal",
        temporal_address,
        "--kafka",
        inbound.kafka,
        "--redis",
        inbound.redis_url,
        "--task-queue",
        s.task_queue,
        "--group",
        s.group_id,
        "--messages-topic",
        s.messages_topic,
        "--hr-topic",
        s.hr_topic,
        env={**os.environ, "WARMLINE_DEADLETTER_TOPIC": inbound.dead_letter_topic},
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        conversation = f"conv-{uuid.uuid4().hex[:8]}"
        await inbound.send(inbound.message(conversation, "m0", "Hello there"))
        view = await inbound.view(conversation, messages=1)
        assert view.message_count == 1
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    said = stderr.decode()
    assert process.returncode == 0, said
    assert "bridge ready" in said
    # kafka-python may log a dropped connection with its traceback (frames in its own code and the
    # standard library's selectors); no frame may be warmline's.
    ours = [line for line in said.splitlines() if line.lstrip().startswith(OWN_FRAMES)]
    assert ours == [], said
    assert sum(inbound.committed().values()) == 1
