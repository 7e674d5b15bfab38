"""Record retraining workflow histories into tests/histories/retraining/ for the replay test.

Run after a deliberate, versioned change to a retraining workflow; old histories stay, since
they are what keeps the old side of each `workflow.patched` branch replaying:

    .venv/bin/python -m tests.retraining.record_histories [SCENARIO ...] [--overwrite]

Without a scenario it records those whose histories are missing; a scenario whose histories
exist is recorded again only with `--overwrite`. Scenarios: `original` (promoted, rejected,
shadow, failed, scheduled, scheduled-tick: recorded before round ids were scoped to the
execution), `failed-no-retry`, `shadow-rollback`, `restarted`, `event-outage`,
`shadow-failed` and `continued`.

Uses the embedded Kafka broker (behind a publisher the recorder can take it from) and Redis,
the time-skipping test server and GoEmotions slices written to a temporary directory.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from redis import Redis
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.retraining import RetrainingActivities
from tests.retraining.conftest import BASE_ROWS, DATA, TAXONOMY, OutagePublisher, gold_labels
from warmline.annotation.gold import GoldLabelStore
from warmline.retraining import client as retraining
from warmline.retraining import promotion
from warmline.retraining.contracts import (
    RetrainingStatus,
    RoundRequest,
    ScheduledRound,
    retraining_workflow_id,
)
from warmline.retraining.data import held_out
from warmline.retraining.rounds import retrain_once
from warmline.retraining.settings import CRISIS_LABELS, RetrainingSettings
from warmline.services import LocalServices, ServiceName, temporal_test_server_path
from warmline.triage import registry
from warmline.triage.lexicon import LexiconProvider
from warmline.triage.training import train
from warmline.worker import ACTIVITY_THREADS, build_worker
from workflows.retraining import CONTINUE_AS_NEW_AFTER, ScheduledRetrainingWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories" / "retraining"
SUGGESTED_AT = 4096
"""The history length from which the time-skipping server suggests continuing as new."""
QUEUE = "record-retraining"


class Recorder:
    def __init__(
        self, client: Client, redis: Redis, where: Path, publisher: OutagePublisher
    ) -> None:
        self.client = client
        self.redis = redis
        self.where = where
        self.publisher = publisher
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

    def deployment(
        self, name: str, gold: int, *, rows: list[str] | None = None, **changes: object
    ) -> RetrainingSettings:
        """A registry with v1 and `gold` gold labels from the rows after the base slice (or
        these `rows`)."""
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
        self.add_gold(settings, rows or self.train_rows[BASE_ROWS : BASE_ROWS + gold], name)
        return settings

    def add_gold(self, settings: RetrainingSettings, rows: list[str], name: str = "") -> None:
        store = GoldLabelStore(self.redis, deployment=settings.deployment)
        for label in gold_labels(rows, shuffle_labels=name == "rejected"):
            store.record(label)

    def split_rows(self, *, held: bool, count: int) -> list[str]:
        """Rows after the base slice whose item id falls (or not) in the held-out 20 %."""
        return [
            row for row in self.train_rows[BASE_ROWS:] if held_out(row.split("\t")[2], 0.2) == held
        ][:count]

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

    async def terminate(self, *settings: RetrainingSettings) -> None:
        for each in settings:
            handle = self.client.get_workflow_handle(
                retraining_workflow_id(each.deployment, TAXONOMY)
            )
            status = (await handle.describe()).status
            assert status is WorkflowExecutionStatus.RUNNING, (each.deployment, status)
            await handle.terminate()

    async def record_failed_no_retry(self, env: WorkflowEnvironment) -> None:
        """A round fails for good (no held-out row) before training; the periodic checks and a
        scheduled request do not try again; one more gold label does."""
        failed = self.deployment(
            "failed-no-retry",
            5,
            rows=self.split_rows(held=False, count=5),
            holdout_data=None,
            after_gold_labels=5,
        )
        await retraining.notify_gold_labels(
            self.client, failed.deployment, TAXONOMY, 5, start=failed, task_queue=QUEUE
        )
        status = await self.decided(failed, 1)
        assert status.last_decision is not None
        assert status.last_decision.outcome == "failed", status.last_decision
        for _ in range(2):
            await env.sleep(failed.check_interval + timedelta(minutes=1))
            await asyncio.sleep(0.5)
        await retraining.signal_round(
            self.client, failed, RoundRequest(trigger="schedule"), task_queue=QUEUE
        )
        await asyncio.sleep(1.0)
        status = await retraining.status(self.client, failed.deployment, TAXONOMY)
        assert (status.rounds, status.failed_at) == (1, 5), status
        self.add_gold(failed, self.split_rows(held=True, count=1))
        await retraining.notify_gold_labels(self.client, failed.deployment, TAXONOMY)
        status = await self.decided(failed, 2)
        assert status.last_decision is not None
        assert status.last_decision.outcome != "failed", status.last_decision
        await self.save(retraining_workflow_id(failed.deployment, TAXONOMY), "failed-no-retry")
        await self.terminate(failed)

    async def record_shadow_rollback(self, env: WorkflowEnvironment) -> None:
        """An operator rolls back while the candidate is in shadow: the round rejects it."""
        stale = self.deployment(
            "shadow-rollback",
            300,
            shadow=True,
            shadow_period=timedelta(hours=6),
            promotion_margin=0.0,
        )
        gold = GoldLabelStore(self.redis, deployment=stale.deployment).read(TAXONOMY)
        first = retrain_once(stale, gold, round_id="record/round-1")
        assert first.outcome == "promoted", first
        await retraining.signal_round(self.client, stale, RoundRequest(), task_queue=QUEUE)
        for _ in range(300):
            if promotion.shadow_version(stale.registry, TAXONOMY) == "v3":
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the candidate v3 never went into shadow")
        promotion.rollback(stale.registry, TAXONOMY, to=None, actor="record", reason="rollback")
        await env.sleep(timedelta(hours=6, minutes=1))
        status = await self.decided(stale, 1)
        assert status.last_decision is not None
        assert status.last_decision.outcome == "rejected", status.last_decision
        await self.save(retraining_workflow_id(stale.deployment, TAXONOMY), "shadow-rollback")
        await self.terminate(stale)

    async def record_restarted(self, env: WorkflowEnvironment) -> None:
        """A workflow terminated and started again under its id: the second execution's round 1
        trains its own candidate (the history saved is the second execution's)."""
        restarted = self.deployment("restarted", 300)
        first = await retraining.run_round(self.client, restarted, task_queue=QUEUE)
        assert first.outcome == "promoted", first
        await self.terminate(restarted)
        self.add_gold(restarted, self.train_rows[BASE_ROWS + 300 : BASE_ROWS + 340])
        second = await retraining.run_round(self.client, restarted, task_queue=QUEUE)
        assert second.round_id != first.round_id, second
        assert second.candidate_version == "v3", second
        await self.save(retraining_workflow_id(restarted.deployment, TAXONOMY), "restarted")
        await self.terminate(restarted)

    async def record_event_outage(self, env: WorkflowEnvironment) -> None:
        """Kafka is down when a round promotes its candidate and for ten minutes after: the round
        answers `promoted` at once, its `model.promoted` event goes out once Kafka is back, and a
        second request finds no new gold label."""
        outage = self.deployment("event-outage", 300)
        self.publisher.down = True
        try:
            promoted = await retraining.run_round(self.client, outage, task_queue=QUEUE)
            assert promoted.outcome == "promoted", promoted
            for _ in range(100):
                if self.publisher.refused:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the promotion's event was never tried")
            await env.sleep(timedelta(minutes=10))
            await asyncio.sleep(0.5)
        finally:
            self.publisher.down = False
        while (
            await retraining.status(self.client, outage.deployment, TAXONOMY)
        ).publishing is not None:
            await env.sleep(timedelta(seconds=30))
            await asyncio.sleep(0.2)
        skipped = await retraining.run_round(self.client, outage, task_queue=QUEUE)
        assert skipped.outcome == "skipped", skipped
        await self.save(retraining_workflow_id(outage.deployment, TAXONOMY), "event-outage")
        await self.terminate(outage)

    async def record_shadow_failed(self, env: WorkflowEnvironment) -> None:
        """CURRENT is emptied while the candidate is in shadow: the round fails and ends the
        candidate's shadow."""
        failed = self.deployment(
            "shadow-failed", 300, shadow=True, shadow_period=timedelta(hours=6)
        )
        await retraining.signal_round(self.client, failed, RoundRequest(), task_queue=QUEUE)
        for _ in range(300):
            if promotion.shadow_version(failed.registry, TAXONOMY) == "v2":
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the candidate v2 never went into shadow")
        (failed.registry / TAXONOMY / "CURRENT").write_bytes(b"")
        await env.sleep(timedelta(hours=6, minutes=1))
        status = await self.decided(failed, 1)
        assert status.last_decision is not None
        assert status.last_decision.outcome == "failed", status.last_decision
        assert promotion.shadow_version(failed.registry, TAXONOMY) is None
        await self.save(retraining_workflow_id(failed.deployment, TAXONOMY), "shadow-failed")
        await self.terminate(failed)

    async def record_continued(self, env: WorkflowEnvironment) -> None:
        """A run reaches its last wake-up, a round, and gold labels are announced while it trains:
        the run continues as new carrying the notice (`continued`), and the next run counts them
        at once (`continued-next`). The wake-ups before are signals, one at a time (a timer a
        minute apart takes the time-skipping server far longer), until the history is a round
        short of the length at which the server suggests continuing as new (4,096
        events, reached before `CONTINUE_AS_NEW_AFTER` wake-ups)."""
        settings = self.deployment("continued", 0, check_interval=timedelta(days=30))
        workflow_id = retraining_workflow_id(settings.deployment, TAXONOMY)
        await retraining.notify_gold_labels(
            self.client, settings.deployment, TAXONOMY, 0, start=settings, task_queue=QUEUE
        )
        first_run = (await self.client.get_workflow_handle(workflow_id).describe()).run_id
        handle = self.client.get_workflow_handle(workflow_id, run_id=first_run)
        # Wake-ups (about 12 events each) up to the run's last, which is a round (about 40).
        done, length = await self._counts(handle, 1)
        while length < SUGGESTED_AT - 40 and done < CONTINUE_AS_NEW_AFTER - 1:
            await retraining.notify_gold_labels(self.client, settings.deployment, TAXONOMY, 0)
            done, length = await self._counts(handle, done + 1)
            if done % 50 == 0:
                print(f"continued: {done} wake-ups, {length} events", flush=True)
        self.add_gold(settings, self.train_rows[BASE_ROWS : BASE_ROWS + 300])
        await retraining.notify_gold_labels(self.client, settings.deployment, TAXONOMY, 300)
        for _ in range(300):
            if (await retraining.status(self.client, settings.deployment, TAXONOMY)).running:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the last wake-up's round never started")
        self.add_gold(settings, self.train_rows[BASE_ROWS + 300 : BASE_ROWS + 600])
        await retraining.notify_gold_labels(self.client, settings.deployment, TAXONOMY, 300)
        status = await self.decided(settings, 2)
        assert status.trained_through == 600, status
        await self.save_run(workflow_id, first_run, "continued")
        await self.save(workflow_id, "continued-next")
        await self.terminate(settings)

    @staticmethod
    async def _counts(handle: WorkflowHandle[object, object], least: int) -> tuple[int, int]:
        """The run's completed `count_gold_labels` activities and its history's length, once at
        least `least` completed, none is in flight and the workflow task after the last one
        completed."""
        while True:
            events = (await handle.fetch_history()).events
            counts = {
                e.event_id
                for e in events
                if e.HasField("activity_task_scheduled_event_attributes")
                and e.activity_task_scheduled_event_attributes.activity_type.name
                == "count_gold_labels"
            }
            completed = [
                e.event_id
                for e in events
                if e.HasField("activity_task_completed_event_attributes")
                and e.activity_task_completed_event_attributes.scheduled_event_id in counts
            ]
            settled = completed and any(
                e.event_id > completed[-1]
                and e.HasField("workflow_task_completed_event_attributes")
                for e in events
            )
            if len(completed) == len(counts) >= least and settled:
                return len(completed), len(events)
            status = (await handle.describe()).status
            if status is not WorkflowExecutionStatus.RUNNING:
                raise AssertionError(
                    f"the run ended ({status}) after {len(completed)} counts, {len(events)} events"
                )
            await asyncio.sleep(0.02)

    async def save_run(self, workflow_id: str, run_id: str, name: str) -> None:
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
        history = await handle.fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())
        print(f"recorded {name}: {len(history.events)} events")

    async def record_original(self, env: WorkflowEnvironment) -> None:
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
        await self.terminate(promoted, rejected, shadow, failed, scheduled)


SCENARIOS: dict[
    str, tuple[list[str], Callable[[Recorder, WorkflowEnvironment], Awaitable[None]]]
] = {
    "original": (
        ["promoted", "rejected", "shadow", "failed", "scheduled", "scheduled-tick"],
        Recorder.record_original,
    ),
    "failed-no-retry": (["failed-no-retry"], Recorder.record_failed_no_retry),
    "shadow-rollback": (["shadow-rollback"], Recorder.record_shadow_rollback),
    "restarted": (["restarted"], Recorder.record_restarted),
    "event-outage": (["event-outage"], Recorder.record_event_outage),
    "shadow-failed": (["shadow-failed"], Recorder.record_shadow_failed),
    "continued": (["continued", "continued-next"], Recorder.record_continued),
}
"""Each scenario: the histories it writes, and how."""


def chosen(args: list[str]) -> list[str]:
    """The scenarios to record: those named (all of them with `--overwrite`, or only those with a
    history missing), or without names those with a history missing."""
    overwrite = "--overwrite" in args
    names = [a for a in args if a != "--overwrite"]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")

    def missing(name: str) -> bool:
        return any(not (HISTORIES / f"{h}.json").is_file() for h in SCENARIOS[name][0])

    wanted = names or list(SCENARIOS)
    kept = [n for n in wanted if not overwrite and not missing(n)]
    if names and kept:
        raise SystemExit(
            f"{', '.join(kept)} already recorded in {HISTORIES}; pass --overwrite to record again "
            "(old histories keep the old side of each patch replaying)"
        )
    return [n for n in wanted if n not in kept]


async def main(scenarios: list[str]) -> None:
    HISTORIES.mkdir(parents=True, exist_ok=True)
    if not scenarios:
        print(f"every scenario is recorded in {HISTORIES}")
        return
    with (
        LocalServices(only={ServiceName.KAFKA, ServiceName.REDIS}, embedded=True) as endpoints,
        tempfile.TemporaryDirectory() as where,
    ):
        assert endpoints.kafka is not None
        assert endpoints.redis is not None
        publisher = OutagePublisher.connect(endpoints.kafka, topic="recordings")
        assert isinstance(publisher, OutagePublisher)
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
                    recorder = Recorder(env.client, redis, Path(where), publisher)
                    for name in scenarios:
                        await SCENARIOS[name][1](recorder, env)
        finally:
            await env.shutdown()
            publisher.close()
            redis.close()


if __name__ == "__main__":
    asyncio.run(main(chosen(sys.argv[1:])))
