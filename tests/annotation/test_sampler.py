"""The sampler: real Kafka events in, the real annotation loop fed; text fetched and redacted."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from redis import Redis
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.annotation.conftest import LoopKit, make_policy, wait_for_tasks
from tests.api.conftest import UNREACHABLE_TEMPORAL, load_peer_support
from warmline.annotation.client import AnnotationLoop, submit_item
from warmline.annotation.model import AnnotationPolicy, ItemRequest, Source
from warmline.annotation.sampler import AnnotationSampler, SamplerSettings
from warmline.config.model import WarmlineConfig
from warmline.conversation import (
    ConversationInput,
    CustomerMessage,
    EscalationPolicy,
    workflow_id,
)
from warmline.events import EventPublisher, to_record
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from workflows.conversation import ConversationWorkflow

PII = "I'm Margaret Thompson, call 07911 123456 or margaret@example.com, I feel hopeless"


@contextlib.asynccontextmanager
async def running_sampler(
    kit: LoopKit, config: WarmlineConfig, redis_url: str, policy: AnnotationPolicy
) -> AsyncIterator[AnnotationSampler]:
    """The real sampler on the kit's events topic, feeding `policy`'s loop; stopped and its
    clients closed on the way out."""
    redis = Redis.from_url(redis_url)
    dead_letters = DeadLetters.connect(
        kit.events.bootstrap, consumer="test-sampler", topic=f"{kit.events.topic}-dlq"
    )
    sampler = AnnotationSampler(
        kit.client,
        config,
        bootstrap=kit.events.bootstrap,
        deduper=Deduper(redis, scope=f"test-{uuid.uuid4().hex[:8]}"),
        dead_letters=dead_letters,
        settings=SamplerSettings(
            task_queue=kit.task_queue,
            events_topic=kit.events.topic,
            group_id=f"sampler-{uuid.uuid4().hex[:8]}",
        ),
        policy=policy,
    )
    running = asyncio.create_task(sampler.run())
    try:
        yield sampler
    finally:
        sampler.stop()
        await running
        dead_letters.close()
        redis.close()


async def test_sampled_message_reaches_annotators_redacted(kit: LoopKit, redis_url: str) -> None:
    base = load_peer_support()
    # Every message for low confidence, none at random (the example samples 3 % at random,
    # keyed by the event id, which would add a `random` source to about one run in 33).
    sampling = base.annotation.sampling.model_copy(
        update={"confidence_below": 1.0, "random_fraction": 0.0}
    )
    config = base.model_copy(
        update={"annotation": base.annotation.model_copy(update={"sampling": sampling})}
    )
    policy = make_policy(deployment=f"sampled-{uuid.uuid4().hex[:6]}", overlap=1)
    loop = await kit.start(policy)

    conversation = f"c-{uuid.uuid4().hex[:8]}"
    conversation_wf = workflow_id("open-door", conversation)
    handle = await kit.client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(
            tenant_id="open-door", conversation_id=conversation, policy=EscalationPolicy()
        ),
        id=conversation_wf,
        task_queue=kit.task_queue,
    )
    await handle.execute_update(
        ConversationWorkflow.add_message, CustomerMessage(message_id="m1", text=PII)
    )

    async with running_sampler(kit, config, redis_url, policy) as sampler:
        [task] = await wait_for_tasks(loop, 1, timeout_s=30)
        assert task.item.message_id == "m1"
        assert task.item.conversation_id == conversation
        for secret in ("Margaret", "Thompson", "07911", "margaret@example.com"):
            assert secret not in task.item.text
        assert "hopeless" in task.item.text
        assert task.item.redactions >= 3
        assert task.item.model_version

        # Sampled again for another reason: the open task gains it, no second item.
        again = ItemRequest(
            tenant_id="open-door",
            conversation_id=conversation,
            message_id="m1",
            sources=[Source.CRISIS],
            crisis=True,
        )
        await submit_item(kit.client, policy, again, task_queue=kit.task_queue)
        for _ in range(100):
            [task] = await loop.tasks()
            if Source.CRISIS in task.item.sources:
                break
            await asyncio.sleep(0.05)
        assert task.item.sources == [Source.LOW_CONFIDENCE, Source.CRISIS]
        assert task.item.crisis

        # The same event again (a redelivery) and a broken record of a sampled type.
        publisher = EventPublisher.connect(kit.events.bootstrap, topic=kit.events.topic)
        [event] = [
            e
            for e in await kit.read_events(conversation, until="io.warmline.message.triaged.v1")
            if e.type == "io.warmline.message.triaged.v1"
        ]
        broken = event.model_copy(update={"id": "broken-1", "data": {"message_id": "m9"}})
        publisher.publish([event, broken])
        publisher.close()
        for _ in range(200):
            if sampler.stats.duplicates and sampler.stats.dead_lettered:
                break
            await asyncio.sleep(0.05)
        assert sampler.stats.duplicates == 1
        assert sampler.stats.dead_lettered == 1
        assert sampler.stats.sampled == 1
        assert (await AnnotationLoop(kit.client, policy.deployment).report()).items == 1
        assert to_record(event).key == conversation.encode()


async def test_a_sampler_started_while_temporal_is_down_retries_and_stops_cleanly(
    kafka_bootstrap: str, redis_url: str
) -> None:
    """An outage at start is waited out like any other (it used to end the sampler with an
    error), and a stop meanwhile ends `run()` quietly, before it consumed anything."""
    down = await Client.connect(
        UNREACHABLE_TEMPORAL, data_converter=pydantic_data_converter, lazy=True
    )
    redis = Redis.from_url(redis_url)
    dead_letters = DeadLetters.connect(kafka_bootstrap, consumer="test-sampler")
    sampler = AnnotationSampler(
        down,
        load_peer_support(),
        bootstrap=kafka_bootstrap,
        deduper=Deduper(redis, scope=f"test-{uuid.uuid4().hex[:8]}"),
        dead_letters=dead_letters,
        settings=SamplerSettings(
            group_id=f"sampler-{uuid.uuid4().hex[:8]}",
            initial_backoff=timedelta(milliseconds=20),
            max_backoff=timedelta(milliseconds=50),
        ),
    )
    running = asyncio.create_task(sampler.run())
    try:
        for _ in range(200):
            if sampler.stats.retries >= 3 or running.done():
                break
            await asyncio.sleep(0.05)
        assert sampler.stats.retries >= 3
    finally:
        sampler.stop()
        await asyncio.wait_for(running, timeout=10)
        dead_letters.close()
        redis.close()
    assert not sampler.assigned.is_set()
    assert sampler.stats.batches == 0
