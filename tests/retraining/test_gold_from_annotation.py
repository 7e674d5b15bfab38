"""Gold labels agreed in the annotation loop reach the retraining workflow: the real annotation
and retraining workflows on the time-skipping server, gold labels in real Redis, real training."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

from redis import Redis
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.retraining import RetrainingActivities
from tests.annotation.conftest import make_policy, wait_for_tasks
from tests.retraining.conftest import BASE_ROWS, Deployment, gold_labels
from tests.workflows.conftest import EventLog
from warmline.annotation.client import AnnotationLoop, start_loop, submit_texts
from warmline.annotation.model import TextItem
from warmline.annotation.redact import Redactor
from warmline.events import EventPublisher
from warmline.events.admin import ensure_topics
from warmline.retraining import client as retraining
from warmline.retraining.contracts import RetrainingStatus
from warmline.triage.lexicon import LexiconProvider
from warmline.triage.local import TAXONOMIES
from warmline.wellness.view import WellnessStateStore
from warmline.worker import ACTIVITY_THREADS, Annotation, build_worker


async def _label_all(loop: AnnotationLoop, truth: dict[str, list[str]], count: int) -> None:
    """Both annotators label `count` open tasks with the true labels (so they agree), once the
    loop has prepared them."""
    await wait_for_tasks(loop, count)
    for annotator in ("an-ada", "an-ben"):
        for _ in range(count):
            result = await loop.next_task(annotator)
            assert result.task is not None, result.reason
            await loop.submit(annotator, result.task.task_id, truth[result.task.task_id])


async def _status(deployment: Deployment, env: WorkflowEnvironment) -> RetrainingStatus:
    """The retraining workflow's status once it runs (the loop's first notice starts it)."""
    settings = deployment.settings
    for _ in range(200):
        try:
            return await retraining.status(env.client, settings.deployment, settings.taxonomy)
        except RPCError:
            await asyncio.sleep(0.05)
    raise AssertionError("the annotation loop never started the retraining workflow")


async def test_n_gold_labels_from_the_loop_start_a_round(
    workflow_env: WorkflowEnvironment,
    deployment: Deployment,
    event_log: EventLog,
    redis_url: str,
    task_queue: str,
) -> None:
    settings = deployment.settings.model_copy(update={"after_gold_labels": 4})
    policy = make_policy(
        deployment=settings.deployment,
        taxonomy="goemotions/group",
        labels=list(TAXONOMIES["group"]),
        model_taxonomy="group",
    )
    rows = gold_labels(deployment.train_rows[BASE_ROWS : BASE_ROWS + 4])
    items = [
        TextItem(item_id=f"t/c{n}/m{n}/emotion", conversation_id=f"c{n}", text=gold.text)
        for n, gold in enumerate(rows)
    ]
    truth = {item.item_id: gold.labels for item, gold in zip(items, rows, strict=True)}
    await asyncio.to_thread(ensure_topics, event_log.bootstrap, [event_log.topic])
    redis = Redis.from_url(redis_url)
    publisher = EventPublisher.connect(event_log.bootstrap, topic=event_log.topic)
    annotation = Annotation(
        gold=deployment.store,
        wellness=WellnessStateStore(redis, deployment="t", prefix=f"test-{uuid.uuid4().hex[:8]}"),
        redactor=Redactor(),
        retraining=settings,
    )
    try:
        with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
            async with build_worker(
                workflow_env.client,
                provider=LexiconProvider(),
                publisher=publisher,
                task_queue=task_queue,
                executor=executor,
                retraining=RetrainingActivities(workflow_env.client, redis, publisher),
                annotation=annotation,
            ):
                await start_loop(workflow_env.client, policy, task_queue=task_queue)
                loop = AnnotationLoop(workflow_env.client, policy.deployment)
                # Two items: one batch, two gold labels; the retraining workflow starts and
                # counts them, but 2 < after_gold_labels (4): no round.
                await submit_texts(workflow_env.client, policy, items[:2], task_queue=task_queue)
                await _label_all(loop, truth, 2)
                status = await _status(deployment, workflow_env)
                assert (status.rounds, status.trained_through) == (0, 0)
                assert deployment.store.count("group") == 2

                # Two more: four gold labels, a round reads all four.
                await submit_texts(workflow_env.client, policy, items[2:], task_queue=task_queue)
                await _label_all(loop, truth, 2)
                for _ in range(600):
                    status = await _status(deployment, workflow_env)
                    if status.last_decision is not None and not status.running:
                        break
                    await asyncio.sleep(0.1)
                decision = status.last_decision
                assert decision is not None, "no round after four gold labels"
                assert decision.outcome in {"promoted", "rejected"}, decision.reason
                assert decision.gold is not None
                assert decision.gold.read == 4
                assert (status.rounds, status.trained_through) == (1, 4)
                assert (await loop.report()).gold == 4
    finally:
        publisher.close()
        redis.close()
