"""A sampled message carries its tenant's language, so it goes to annotators who read it.

Events carry no language; the sampler used to submit every item as English (`ItemRequest`'s
default), so a German tenant's messages went to annotators who read only English, and a
deployment whose annotators read only German dropped them all ("no annotator has the skill and
language").
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.annotation.conftest import LoopKit, make_policy, wait_for_tasks
from tests.annotation.test_sampler import running_sampler
from tests.api.conftest import load_peer_support
from warmline.annotation.model import AnnotatorSpec, ItemRequest, Source
from warmline.annotation.sampling import decide, tenant_languages
from warmline.config.model import WarmlineConfig
from warmline.conversation import (
    ConversationInput,
    CustomerMessage,
    EscalationPolicy,
    workflow_id,
)
from warmline.events import DomainEvent, EventType
from workflows.conversation import ConversationWorkflow


def german_open_door() -> WarmlineConfig:
    """The peer-support example with its tenant writing German, every message sampled."""
    base = load_peer_support()
    sampling = base.annotation.sampling.model_copy(
        update={"confidence_below": 1.0, "random_fraction": 0.0}
    )
    tenants = [tenant.model_copy(update={"locale": "de-DE"}) for tenant in base.tenants]
    return base.model_copy(
        update={
            "tenants": tenants,
            "annotation": base.annotation.model_copy(update={"sampling": sampling}),
        }
    )


def test_an_item_takes_its_tenants_language() -> None:
    config = german_open_door()
    event = DomainEvent(
        id="evt-1",
        type=EventType.CRISIS_DETECTED,
        source="/warmline/tenants/open-door",
        subject="c-1",
        time=datetime(2026, 12, 8, tzinfo=UTC),
        data={"message_id": "m1", "risk_flags": ["self_harm"]},
    )
    languages = tenant_languages(config)
    item = decide(event, config.annotation.sampling, tone_audit_fraction=0.0, languages=languages)
    assert item is not None
    assert item.language == "de-DE"
    elsewhere = event.model_copy(update={"source": "/warmline/tenants/not-configured"})
    other = decide(
        elsewhere, config.annotation.sampling, tone_audit_fraction=0.0, languages=languages
    )
    assert isinstance(other, ItemRequest)
    assert other.language == "en"
    assert other.sources == [Source.CRISIS]


async def test_a_sampled_message_goes_to_who_reads_its_language(
    kit: LoopKit, redis_url: str
) -> None:
    config = german_open_door()
    policy = make_policy(
        deployment=f"sampled-de-{uuid.uuid4().hex[:6]}",
        overlap=1,
        annotators=[
            AnnotatorSpec(id="an-ada", senior=True, languages=["de"]),
            AnnotatorSpec(id="an-ben", languages=["en"]),
        ],
    )
    loop = await kit.start(policy)
    conversation = f"c-{uuid.uuid4().hex[:8]}"
    handle = await kit.client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(
            tenant_id="open-door",
            conversation_id=conversation,
            locale="de-DE",
            policy=EscalationPolicy(),
        ),
        id=workflow_id("open-door", conversation),
        task_queue=kit.task_queue,
    )
    await handle.execute_update(
        ConversationWorkflow.add_message,
        CustomerMessage(message_id="m1", text="Ich bin so traurig und weiß nicht weiter"),
    )

    async with running_sampler(kit, config, redis_url, policy):
        [task] = await wait_for_tasks(loop, 1, timeout_s=30)
        assert task.item.message_id == "m1"
        assert task.item.language == "de-DE"
        english = await loop.next_task("an-ben")
        assert english.task is None
        german = await loop.next_task("an-ada")
        assert german.task is not None
        assert german.task.task_id == task.task_id
        assert german.task.language == "de-DE"
