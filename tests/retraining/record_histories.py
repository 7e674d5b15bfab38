"""Record retraining workflow histories into tests/histories/retraining/ for the replay test.

Run after a deliberate, versioned change to a retraining workflow (old histories stay):

    .venv/bin/python -m tests.retraining.record_histories

Uses the embedded Kafka broker and Redis, the time-skipping test server and GoEmotions slices
written to a temporary directory.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from redis import Redis
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.retraining import RetrainingActivities
from tests.retraining.conftest import BASE_ROWS, DATA, TAXONOMY, gold_labels
from warmline.annotation.gold import GoldLabelStore
from warmline.events import EventPublisher
from warmline.retraining import client as retraining
from warmline.retraining.contracts import (
    RetrainingStatus,
    RoundRequest,
    ScheduledRound,
    retraining_workflow_id,
)
from warmline.retraining.settings import CRISIS_LABELS, RetrainingSettings
from warmline.services import LocalServices, ServiceName, temporal_test_server_path
from warmline.triage import registry
from warmline.triage.lexicon import LexiconProvider
from warmline.triage.training import train
from warmline.worker import ACTIVITY_THREADS, build_worker
from workflows.retraining import ScheduledRetrainingWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories" / "retraining"
QUEUE = "record-retraining"


class Recorder:
    def __init__(self, client: Client, redis: Redis, where: Path) -> None:
        self.client = client
        self.redis = redis
        self.where = where
        self.train_rows = (DATA / TAXONOMY / "train.tsv").read_text(encoding="utf-8").splitlines()
        dev_rows = (DATA / TAXONOMY / "dev.tsv").read_text(encoding="utf-8").splitlines()
        self.files = {}
        for name, rows in {
            "base": self.train_rows[:BASE_ROWS],
            "dev": dev_rows[:400],
            "holdout": dev_rows[400:800],
        }.items():
            self.files[name] = where / f"{name}.tsv"
            self.files[name].write_text("\n".join(rows) + "\n", encoding="utf-8")
        self.base = where / "base-registry"
        model = train(self.files["base"], self.files["dev"], TAXONOMY, use_encoder=False)
        registry.publish(self.base, model, data={}, metrics={}, command=["record", "base"])

    def deployment(self, name: str, gold: int, **changes: object) -> RetrainingSettings:
        root = self.where / name
        shutil.copytree(self.base, root)
        deployment = f"record-{name}-{uuid.uuid4().hex[:6]}"
        settings = RetrainingSettings(
            deployment=deployment,
            taxonomy=TAXONOMY,
            registry=root,
            base_data=self.files["base"],
            dev_data=self.files["dev"],
            holdout_data=self.files["holdout"],
            after_gold_labels=300,
            crisis_labels=CRISIS_LABELS[TAXONOMY],
        ).model_copy(update=changes)
        store = GoldLabelStore(self.redis, deployment=deployment)
        rows = self.train_rows[BASE_ROWS : BASE_ROWS + gold]
        for label in gold_labels(rows, shuffle_labels=name == "rejected"):
            store.record(label)
        return settings

    async def decided(self, settings: RetrainingSettings, rounds: int) -> RetrainingStatus:
        while True:
            status = await retraining.status(self.client, settings.deployment, settings.taxonomy)
            if status.rounds >= rounds and status.last_decision and not status.running:
                return status
            await asyncio.sleep(0.2)

    async def save(self, workflow_id: str, name: str) -> None:
        history = await self.client.get_workflow_handle(workflow_id).fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())
        print(f"recorded {name}: {len(history.events)} events")

    async def record(self, env: WorkflowEnvironment) -> None:
        promoted = self.deployment("promoted", 300)
        await retraining.notify_gold_labels(
            self.client,
            promoted.deployment,
            TAXONOMY,
            300,
            start=promoted,
            task_queue=QUEUE,
        )
        await self.decided(promoted, 1)
        await retraining.notify_gold_labels(self.client, promoted.deployment, TAXONOMY)
        skipped = await retraining.run_round(self.client, promoted, task_queue=QUEUE)
        assert skipped.outcome == "skipped", skipped

        rejected = self.deployment("rejected", 300)
        decision = await retraining.run_round(self.client, rejected, task_queue=QUEUE)
        assert decision.outcome == "rejected", decision

        shadow = self.deployment("shadow", 300, shadow=True, shadow_period=timedelta(hours=6))
        await retraining.signal_round(self.client, shadow, RoundRequest(), task_queue=QUEUE)
        in_shadow = None
        while in_shadow is None:
            await asyncio.sleep(0.2)
            in_shadow = (
                await retraining.status(self.client, shadow.deployment, TAXONOMY)
            ).in_shadow
        await env.sleep(timedelta(hours=6, minutes=1))
        assert (await self.decided(shadow, 1)).last_decision is not None
        await self.save(retraining_workflow_id(shadow.deployment, TAXONOMY), "shadow")
        # Saved after the skipped hours, so these include periodic wake-ups on the timer.
        await self.save(retraining_workflow_id(promoted.deployment, TAXONOMY), "promoted")
        await self.save(retraining_workflow_id(rejected.deployment, TAXONOMY), "rejected")

        failed = self.deployment("failed", 300, dev_data=self.where / "missing.tsv")
        decision = await retraining.run_round(self.client, failed, task_queue=QUEUE)
        assert decision.outcome == "failed", decision
        await self.save(retraining_workflow_id(failed.deployment, TAXONOMY), "failed")

        scheduled = self.deployment("scheduled", 300)
        tick = f"tick-{uuid.uuid4().hex[:6]}"
        await self.client.execute_workflow(
            ScheduledRetrainingWorkflow.run,
            ScheduledRound(settings=scheduled),
            id=tick,
            task_queue=QUEUE,
        )
        await self.decided(scheduled, 1)
        await self.save(tick, "scheduled-tick")
        await self.save(retraining_workflow_id(scheduled.deployment, TAXONOMY), "scheduled")

        for settings in (promoted, rejected, shadow, failed, scheduled):
            handle = self.client.get_workflow_handle(
                retraining_workflow_id(settings.deployment, TAXONOMY)
            )
            status = (await handle.describe()).status
            assert status is WorkflowExecutionStatus.RUNNING, (settings.deployment, status)
            await handle.terminate()


async def main() -> None:
    HISTORIES.mkdir(parents=True, exist_ok=True)
    with (
        LocalServices(only={ServiceName.KAFKA, ServiceName.REDIS}, embedded=True) as endpoints,
        tempfile.TemporaryDirectory() as where,
    ):
        assert endpoints.kafka is not None
        assert endpoints.redis is not None
        publisher = EventPublisher.connect(endpoints.kafka, topic="recordings")
        redis = Redis.from_url(endpoints.redis)
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
                    task_queue=QUEUE,
                    executor=pool,
                    retraining=RetrainingActivities(env.client, redis, publisher),
                )
                async with worker:
                    await Recorder(env.client, redis, Path(where)).record(env)
        finally:
            await env.shutdown()
            publisher.close()
            redis.close()


if __name__ == "__main__":
    asyncio.run(main())
