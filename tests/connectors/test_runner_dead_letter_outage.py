"""The runner while the dead-letter topic takes nothing: the dead letter is retried, nothing is
committed past its record, and a stop meanwhile ends the runner with the batch uncommitted.

The dead-letter topic here refuses every record for its size (`max.message.bytes` of 64, even a
dead letter cut short) until the limit is raised: a real broker's refusal, nothing of Kafka
replaced. `DeadLetters.send` raises `DeadLetterError` for it, as for a broker that does not
answer.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace

import pytest
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from pydantic import BaseModel

from connectors.sdk import Connector, ConnectorContext, Event, PermanentError, handles
from connectors.sdk.runner import ConnectorRunner
from connectors.sdk.state import InDoubt, RetryState, connect_redis
from connectors.sdk.testkit import FAST_RETRIES, read_dead_letters
from tests.bridge.test_dead_letter_outage import raise_limit
from tests.connectors.test_runner_delivery import Line, until
from tests.events.topics import create_topic
from warmline.events.catalog import HandoffAccepted
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from warmline.events.types import EventType

RETRIED_LOGGED = "the dead-letter topic did not take"


class NoSettings(BaseModel):
    pass


class Refusing(Connector):
    """Refuses the events of subjects starting `bad` for good; records the others."""

    type_name = "refusing"
    Settings = NoSettings

    def __init__(self, settings: BaseModel, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.done: list[str] = []

    @handles(EventType.HANDOFF_ACCEPTED)
    async def on_accepted(self, event: Event[HandoffAccepted]) -> None:
        if event.subject.startswith("bad"):
            raise PermanentError("422 from the CRM: unknown specialist")
        self.done.append(event.subject)


class Refused:
    """A `Line` whose dead letters go to a topic of their own that refuses them until
    `open_up`."""

    def __init__(self, kafka: str, redis: str) -> None:
        self.line = Line(kafka, redis)
        self.dead_letter_topic = f"dlq-refusing-{uuid.uuid4().hex[:8]}"
        self.group = f"group-{self.line.scope}"
        create_topic(kafka, self.dead_letter_topic, 64)

    def open_up(self) -> None:
        raise_limit(self.line.kafka, self.dead_letter_topic, 1_048_576)

    def runner(self) -> ConnectorRunner:
        """The connector started (again), on the line's topic, group and scope."""
        line = self.line
        store = connect_redis(line.redis)
        context = ConnectorContext(
            name=line.scope, secrets={}, in_doubt=InDoubt(store, scope=line.scope)
        )
        return ConnectorRunner(
            Refusing(NoSettings(), context),
            bootstrap=line.kafka,
            deduper=Deduper(store, scope=line.scope),
            dead_letters=DeadLetters.connect(
                line.kafka, consumer=line.scope, topic=self.dead_letter_topic
            ),
            settings=replace(FAST_RETRIES, topics=(line.topic,), group_id=self.group),
            retry_state=RetryState(store, scope=line.scope),
        )

    def committed(self) -> dict[TopicPartition, int]:
        admin = KafkaAdminClient(bootstrap_servers=self.line.kafka)
        try:
            offsets = admin.list_group_offsets(self.group).get(self.group, {})
        finally:
            admin.close()
        return {tp: int(meta.offset) for tp, meta in offsets.items()}


def refusing(runner: ConnectorRunner) -> Refusing:
    connector = runner.connector
    assert isinstance(connector, Refusing)
    return connector


async def test_a_dead_letter_the_topic_refuses_is_retried_and_nothing_is_committed_past_it(
    kafka_bootstrap: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="connectors.sdk.runner")
    refused = await asyncio.to_thread(Refused, kafka_bootstrap, redis_url)
    runner = refused.runner()
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.to_thread(refused.line.publish, "bad-1", "good-1")
        # The runner does not crash: the dead letter is retried, and logged each time.
        await until(lambda: caplog.text.count(RETRIED_LOGGED) >= 3, task)
        assert runner.stats.dead_letter_retries >= 3
        assert await asyncio.to_thread(refused.committed) == {}, "committed past the record"
        assert (runner.stats.dead_lettered, runner.stats.batches) == (0, 0)

        await asyncio.to_thread(refused.open_up)
        await until(lambda: sum(refused.committed().values()) == 2, task)
    finally:
        runner.stop()
        await asyncio.wait_for(task, timeout=60)
    assert runner.stats.dead_lettered == 1
    assert refusing(runner).done == ["good-1"]
    letters = await asyncio.to_thread(
        read_dead_letters, kafka_bootstrap, refused.dead_letter_topic, expect=1
    )
    assert [letter.reason for letter in letters] == [
        "on_accepted failed after 1 attempt(s): 422 from the CRM: unknown specialist"
    ]
    assert "the dead letter of" in caplog.text
    assert "written after" in caplog.text


async def test_a_stop_while_the_dead_letter_topic_refuses_leaves_the_batch_uncommitted(
    kafka_bootstrap: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A record that is not a warmline event (first on the topic, so its batch waits for its dead
    letter before any handler), and an event refused for good: a stop while the dead letter waits
    ends the runner; the next run, once the topic takes them, dead-letters each once and handles
    the good event once."""
    caplog.set_level(logging.INFO, logger="connectors.sdk.runner")
    refused = await asyncio.to_thread(Refused, kafka_bootstrap, redis_url)
    line = refused.line
    runner = refused.runner()
    task = asyncio.create_task(runner.run())
    producer_headers = [("ce_id", b"not-an-event")]
    try:
        await asyncio.to_thread(_send_raw, line.kafka, line.topic, b"not json {", producer_headers)
        await asyncio.to_thread(line.publish, "bad-2", "good-2")
        await until(lambda: caplog.text.count(RETRIED_LOGGED) >= 2, task)
        # What SIGTERM does: the runner ends while the topic still refuses.
        runner.stop()
        await asyncio.wait_for(task, timeout=60)
    finally:
        if not task.done():
            runner.stop()
            await asyncio.wait_for(task, timeout=60)
    assert runner.stats.dead_lettered == 0
    assert await asyncio.to_thread(refused.committed) == {}, "committed past the record"
    assert "stopping while the dead-letter topic is out" in caplog.text

    await asyncio.to_thread(refused.open_up)
    again = refused.runner()
    task = asyncio.create_task(again.run())
    try:
        await until(lambda: again.stats.dead_lettered >= 2 and again.stats.batches >= 1, task)
        await until(lambda: sum(refused.committed().values()) == 3, task)
    finally:
        again.stop()
        await asyncio.wait_for(task, timeout=60)
    assert refusing(runner).done + refusing(again).done == ["good-2"]
    letters = await asyncio.to_thread(
        read_dead_letters, kafka_bootstrap, refused.dead_letter_topic, expect=2
    )
    assert len(letters) == 2
    assert again.stats.dead_lettered == 2


async def test_a_stop_while_a_handler_s_dead_letter_waits_ends_the_runner(
    kafka_bootstrap: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The handler refused the event for good and its dead letter waits for the topic: a stop
    ends the runner (no error out of its handlers' task group), the batch uncommitted."""
    caplog.set_level(logging.INFO, logger="connectors.sdk.runner")
    refused = await asyncio.to_thread(Refused, kafka_bootstrap, redis_url)
    runner = refused.runner()
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.to_thread(refused.line.publish, "bad-3")
        await until(lambda: caplog.text.count(RETRIED_LOGGED) >= 2, task)
        runner.stop()
        await asyncio.wait_for(task, timeout=60)
    finally:
        if not task.done():
            runner.stop()
            await asyncio.wait_for(task, timeout=60)
    assert runner.stats.dead_lettered == 0
    assert await asyncio.to_thread(refused.committed) == {}, "committed past the record"
    assert "stopping before 1 dead letter(s) were written" in caplog.text


def _send_raw(kafka: str, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=kafka)
    try:
        producer.send(topic, key=b"raw", value=value, headers=headers).get(timeout=30)
    finally:
        producer.close(timeout=5)
