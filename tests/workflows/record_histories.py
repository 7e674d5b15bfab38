"""Record ConversationWorkflow histories into tests/histories/ for the replay tests.

Run after a deliberate, versioned change to the workflow (old histories stay as they are):

    .venv/bin/python -m tests.workflows.record_histories
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.workflows.test_conversation import POLICY
from warmline.conversation import CloseRequest, ConversationInput, CustomerMessage, workflow_id
from warmline.events import EventPublisher
from warmline.services import LocalServices, ServiceName, temporal_test_server_path
from warmline.triage.lexicon import LexiconProvider
from warmline.worker import ACTIVITY_THREADS, build_worker
from workflows.conversation import ConversationWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
SCRIPTS: dict[str, tuple[list[str], bool]] = {
    "conversation-routine": (["Where is my parcel?", "Thanks, that helps"], True),
    "conversation-bereavement": (["I need to close an account", "My wife passed away"], True),
    "conversation-crisis": (["nobody would miss me, I want to end it all"], True),
    "conversation-inactivity": (["hello?"], False),
    "conversation-continue-as-new": (["one", "two", "three", "four", "I am so scared"], True),
}


async def record(client: Client, task_queue: str) -> None:
    for name, (texts, close) in SCRIPTS.items():
        policy = POLICY
        if name.endswith("continue-as-new"):
            policy = POLICY.model_copy(update={"max_messages_before_continue_as_new": 3})
        conversation = f"{name}-{uuid.uuid4().hex[:6]}"
        handle = await client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(tenant_id="acme", conversation_id=conversation, policy=policy),
            id=workflow_id("acme", conversation),
            task_queue=task_queue,
        )
        for n, text in enumerate(texts):
            await handle.execute_update(
                ConversationWorkflow.add_message, CustomerMessage(message_id=f"m{n}", text=text)
            )
        if close:
            await handle.signal(ConversationWorkflow.close, CloseRequest())
        await handle.result()
        history = await client.get_workflow_handle(
            handle.id, run_id=handle.result_run_id
        ).fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())
        print(f"recorded {name}: {len(history.events)} events")


async def main() -> None:
    with LocalServices(only={ServiceName.KAFKA}) as endpoints:
        assert endpoints.kafka is not None
        publisher = EventPublisher.connect(endpoints.kafka, topic="recordings")
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=str(temporal_test_server_path()),
        )
        try:
            with ThreadPoolExecutor(ACTIVITY_THREADS) as pool:
                worker = build_worker(
                    env.client,
                    provider=LexiconProvider(),
                    publisher=publisher,
                    task_queue="record",
                    executor=pool,
                )
                async with worker:
                    await record(env.client, "record")
        finally:
            await env.shutdown()
            publisher.close()


if __name__ == "__main__":
    asyncio.run(main())
