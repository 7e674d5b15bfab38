"""The worker wiring: every workflow and activity warmline runs, listed in one place."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.events import EventActivities
from activities.triage import TriageActivities
from warmline.events import EventPublisher
from warmline.triage.provider import TriageProvider
from workflows.conversation import ConversationWorkflow

DEFAULT_TASK_QUEUE = "warmline"
# Activities are synchronous (blocking Kafka and provider calls) and run on this pool.
ACTIVITY_THREADS = 16


def build_worker(
    client: Client,
    *,
    provider: TriageProvider,
    publisher: EventPublisher,
    task_queue: str = DEFAULT_TASK_QUEUE,
    executor: ThreadPoolExecutor,
) -> Worker:
    """A worker for all of warmline's workflows and activities on one task queue.

    The client must use `pydantic_data_converter`; the caller owns (and shuts down) the executor.
    """
    triage = TriageActivities(provider)
    events = EventActivities(publisher)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ConversationWorkflow],
        activities=[triage.triage_message, events.publish_events],
        activity_executor=executor,
        max_concurrent_activities=ACTIVITY_THREADS,
    )
