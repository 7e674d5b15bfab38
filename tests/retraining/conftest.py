"""A small retraining deployment: GoEmotions `group` slices, a registry with a base model, the
gold-label store in real Redis, and a worker with the retraining activities.

The data is read from `../shared/data/goemotions/` (or `WARMLINE_GOEMOTIONS`); the slices the
tests train on are written to the test's temporary directory, never into the repository.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis import Redis
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.retraining import RetrainingActivities
from tests.workflows.conftest import EventLog
from warmline.annotation.gold import GoldLabel, GoldLabelStore
from warmline.events import DomainEvent, EventPublisher, PublishError
from warmline.retraining import client as retraining
from warmline.retraining.contracts import RetrainingStatus, retraining_workflow_id
from warmline.retraining.settings import CRISIS_LABELS, RetrainingSettings
from warmline.triage import registry
from warmline.triage.lexicon import LexiconProvider
from warmline.triage.local import TAXONOMIES
from warmline.triage.training import train
from warmline.worker import ACTIVITY_THREADS, build_worker

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("WARMLINE_GOEMOTIONS", ROOT.parent / "shared" / "data" / "goemotions"))
TAXONOMY = "group"
BASE_ROWS = 150
"""Rows of train.tsv the base model (v1) is trained on; gold labels come from the rows after."""


def _lines(name: str) -> list[str]:
    path = DATA / TAXONOMY / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: the retraining tests read GoEmotions from ../shared/data")
    return path.read_text(encoding="utf-8").splitlines()


def gold_labels(rows: list[str], *, shuffle_labels: bool = False) -> list[GoldLabel]:
    """Gold labels made from GoEmotions rows (`text<TAB>labels<TAB>id`), item id = row id."""
    names = TAXONOMIES[TAXONOMY]
    labels: list[GoldLabel] = []
    for number, row in enumerate(rows):
        text, indices, item = row.split("\t")
        chosen = [names[int(i)] for i in indices.split(",")]
        if shuffle_labels:
            # Deliberately wrong gold: every label moved to the next one.
            chosen = [names[(names.index(c) + 1 + number) % len(names)] for c in chosen]
        labels.append(
            GoldLabel(
                item_id=item,
                text=text,
                labels=chosen,
                taxonomy=TAXONOMY,
                source="random",
                created_at=datetime(2026, 11, 1, tzinfo=UTC),
            )
        )
    return labels


@dataclass
class Deployment:
    """One test's retraining deployment."""

    settings: RetrainingSettings
    store: GoldLabelStore
    train_rows: list[str]

    def add_gold(self, start: int, count: int, *, shuffle_labels: bool = False) -> int:
        """Record gold labels for train.tsv rows after the base slice; returns how many kept."""
        rows = self.train_rows[BASE_ROWS + start : BASE_ROWS + start + count]
        return self.add_gold_rows(rows, shuffle_labels=shuffle_labels)

    def add_gold_rows(self, rows: list[str], *, shuffle_labels: bool = False) -> int:
        """Record gold labels for these train.tsv rows; returns how many kept."""
        return sum(self.store.record(g) for g in gold_labels(rows, shuffle_labels=shuffle_labels))


@pytest.fixture(scope="session")
def slices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """base (150 train rows), dev (400 dev rows) and holdout (the next 400 dev rows)."""
    where = tmp_path_factory.mktemp("goemotions-slices")
    train_rows, dev_rows = _lines("train.tsv"), _lines("dev.tsv")
    files = {
        "base": train_rows[:BASE_ROWS],
        "dev": dev_rows[:400],
        "holdout": dev_rows[400:800],
    }
    paths = {}
    for name, rows in files.items():
        paths[name] = where / f"{name}.tsv"
        paths[name].write_text("\n".join(rows) + "\n", encoding="utf-8")
    return paths


@pytest.fixture(scope="session")
def base_model_dir(slices: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with v1 trained on the base slice, copied into each test's registry."""
    root = tmp_path_factory.mktemp("base-registry")
    # TF-IDF only: the shipped encoder was fine-tuned on all of train, gold rows included, so a
    # model over it learns little from them; candidates keep their parent's recipe.
    model = train(slices["base"], slices["dev"], TAXONOMY, use_encoder=False)
    registry.publish(root, model, data={}, metrics={}, command=["tests", "base"])
    return root


@pytest.fixture
def deployment(
    tmp_path: Path, slices: dict[str, Path], base_model_dir: Path, redis_url: str
) -> Iterator[Deployment]:

    root = tmp_path / "registry"
    shutil.copytree(base_model_dir, root)
    name = f"test-{uuid.uuid4().hex[:8]}"
    settings = RetrainingSettings(
        deployment=name,
        taxonomy=TAXONOMY,
        registry=root,
        base_data=slices["base"],
        dev_data=slices["dev"],
        holdout_data=slices["holdout"],
        after_gold_labels=300,
        crisis_labels=CRISIS_LABELS[TAXONOMY],
    )
    store = GoldLabelStore(Redis.from_url(redis_url), deployment=name)
    yield Deployment(settings=settings, store=store, train_rows=_lines("train.tsv"))
    store.close()


def write_config(tmp_path: Path, deployment: Deployment, extra: str = "") -> Path:
    """The peer-support example pointed at this test's registry and data."""
    settings = deployment.settings
    where = tmp_path / "peer-support"
    shutil.copytree(ROOT / "examples" / "peer-support", where)
    text = (where / "warmline.yaml").read_text(encoding="utf-8")
    name = text.split("metadata:\n  name: ", 1)[1].split("\n", 1)[0]
    text = text.replace(f"metadata:\n  name: {name}", f"metadata:\n  name: {settings.deployment}")
    # The example's own registry and data give way to this test's.
    text = re.sub(r"^    (registry|base_data): .*\n", "", text, flags=re.MULTILINE)
    text = text.replace(
        "  retraining:\n",
        "  retraining:\n"
        f"    taxonomy: {settings.taxonomy}\n"
        f"    registry: {settings.registry}\n"
        f"    base_data: {settings.base_data}\n"
        f"    dev_data: {settings.dev_data}\n"
        f"    holdout_data: {settings.holdout_data}\n" + extra,
    )
    path = where / "warmline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class OutagePublisher(EventPublisher):
    """The real publisher, refusing every publish while `down` (`PublishError`, as when Kafka
    does not acknowledge within the delivery timeout)."""

    down = False
    refused = 0

    def publish(self, events: Sequence[DomainEvent]) -> None:
        if self.down:
            self.refused += 1
            raise PublishError("Kafka is unreachable (test outage)")
        super().publish(events)


@dataclass
class Running:
    client: Client
    task_queue: str
    events: EventLog


async def run_worker(
    client: Client,
    events: EventLog,
    redis_url: str,
    task_queue: str,
    *,
    publisher: EventPublisher | None = None,
) -> AsyncIterator[Running]:
    """A worker with retraining publishing to `events` (through `publisher` when given; it is
    closed afterwards either way)."""
    publisher = publisher or EventPublisher.connect(events.bootstrap, topic=events.topic)
    redis = Redis.from_url(redis_url)
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(
            client,
            provider=LexiconProvider(),
            publisher=publisher,
            task_queue=task_queue,
            executor=executor,
            retraining=RetrainingActivities(client, redis, publisher),
        ):
            yield Running(client=client, task_queue=task_queue, events=events)
    publisher.close()
    redis.close()


@pytest.fixture
def event_log(kafka_bootstrap: str) -> Iterator[EventLog]:
    log = EventLog(kafka_bootstrap, f"events-{uuid.uuid4().hex[:8]}")
    yield log
    log.close()


async def wait_for_status(
    client: Client,
    settings: RetrainingSettings,
    done: Callable[[RetrainingStatus], bool],
    what: str,
    *,
    timeout_s: float = 60.0,
) -> RetrainingStatus:
    """The retraining workflow's status once `done` holds for it. A status query that gets no
    answer in time (a worker busy training on a loaded machine) is asked again, as any poll."""
    last: RetrainingStatus | None = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            last = await retraining.status(client, settings.deployment, settings.taxonomy)
        except RPCError as error:
            if error.status not in {RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED}:
                raise
        else:
            if done(last):
                return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout_s:.0f} s; last status: {last}")


async def history_length(client: Client, settings: RetrainingSettings) -> int:
    """The number of events in the retraining workflow's history so far."""
    handle = client.get_workflow_handle(
        retraining_workflow_id(settings.deployment, settings.taxonomy)
    )
    return len((await handle.fetch_history()).events)


async def counted(
    client: Client, settings: RetrainingSettings, *, after: int = 0, timeout_s: float = 60.0
) -> None:
    """Wait until a `count_gold_labels` activity scheduled after the first `after` events of the
    workflow's history completed, and a workflow task after it did too: what the workflow made
    of the count is then in its state. A check that no round ran waits for this, not for a
    fixed time (a busy machine may not have counted yet, and the check would hold on nothing)."""
    handle = client.get_workflow_handle(
        retraining_workflow_id(settings.deployment, settings.taxonomy)
    )
    for _ in range(int(timeout_s / 0.2)):
        events = (await handle.fetch_history()).events
        counts = {
            e.event_id
            for e in events
            if e.event_id > after
            and e.HasField("activity_task_scheduled_event_attributes")
            and e.activity_task_scheduled_event_attributes.activity_type.name == "count_gold_labels"
        }
        answered = [
            e.event_id
            for e in events
            if e.HasField("activity_task_completed_event_attributes")
            and e.activity_task_completed_event_attributes.scheduled_event_id in counts
        ]
        if answered and any(
            e.event_id > answered[0] and e.HasField("workflow_task_completed_event_attributes")
            for e in events
        ):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the retraining workflow did not count gold labels in {timeout_s:.0f} s")


@pytest.fixture
async def worker(
    workflow_env: WorkflowEnvironment, event_log: EventLog, redis_url: str, task_queue: str
) -> AsyncIterator[Running]:
    """The warmline worker with retraining, on the time-skipping test server."""
    async for running in run_worker(workflow_env.client, event_log, redis_url, task_queue):
        yield running
