"""The BambooHR connector: wellness rows out through the test kit, shifts pulled in as events."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer
from pydantic import ValidationError

from connectors.bamboohr import BambooHRConnector, BambooHRSettings
from connectors.sdk.connector import ConnectorContext, Event, PermanentError, RetryableError
from connectors.sdk.run import build
from connectors.sdk.testkit import FAST_RETRIES, ConnectorHarness
from tests.connectors.fakes import BAMBOOHR_KEY, FakeBambooHR, Fault, consuming
from warmline.config.loader import load_config
from warmline.events.catalog import WellnessExposureUpdated
from warmline.events.envelope import DomainEvent, from_record
from warmline.events.publisher import EventPublisher
from warmline.events.types import EventType

RUNNER = replace(FAST_RETRIES, max_backoff=timedelta(seconds=3))
EMPLOYEES = {"w-ana": "101", "w-ben": "102", "w-gone": "999"}
EXPOSURE = "customWarmlineExposure"
TEAM = "900"
ROTATION = "customWarmlineRotation"
API = "/api/gateway.php/harbourmutual/v1"
INSURER = Path(__file__).resolve().parents[2] / "examples" / "insurer-claims"


def settings(fake: FakeBambooHR, **changes: Any) -> dict[str, Any]:
    return {
        "subdomain": fake.subdomain,
        "base_url": fake.url,
        "employees": EMPLOYEES,
        "timeout_seconds": 1.0,
        "team_employee": TEAM,
    } | changes


def harness(
    fake: FakeBambooHR, kafka: str, redis: str, *, name: str | None = None
) -> AbstractAsyncContextManager[ConnectorHarness]:
    return consuming(
        lambda: ConnectorHarness(
            BambooHRConnector,
            settings(fake),
            kafka=kafka,
            redis=redis,
            secrets={"api_key": BAMBOOHR_KEY},
            runner=RUNNER,
            name=name,
            min_group_size=3,
        )
    )


async def emit(kit: ConnectorHarness, *events: DomainEvent) -> None:
    """Publish onto the kit's topic, wellness events too.

    `kit.emit`'s publisher sends wellness events to the production wellness topic, which the
    kit's runner does not read; this one sends both kinds to the kit's topic.
    """
    publisher = await asyncio.to_thread(
        EventPublisher.connect, kit.kafka, topic=kit.topic, wellness_topic=kit.topic
    )
    try:
        await asyncio.to_thread(publisher.publish, list(events))
    finally:
        await asyncio.to_thread(publisher.close)


def exposure(minutes: float) -> dict[str, Any]:
    return {"exposure_minutes": minutes, "budget_minutes": 240.0}


HOUR = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
"""The start of a report period (`1h` by default) no test has reached: open to figures."""


def at(event: DomainEvent, time: datetime) -> DomainEvent:
    return event.model_copy(update={"time": time})


def bamboo(kit: ConnectorHarness) -> BambooHRConnector:
    assert isinstance(kit.connector, BambooHRConnector)
    return kit.connector


def rows_of(fake: FakeBambooHR, table: str, employee: str) -> list[dict[str, str]]:
    return [
        {k: v for k, v in row.items() if k not in ("id", "employeeId")}
        for row in fake.table(table)
        if row["employeeId"] == employee
    ]


async def test_wellness_figures_become_rows_and_nothing_else_leaves(
    kafka_bootstrap: str, redis_url: str
) -> None:
    until = datetime(2025, 3, 1, 15, 30, tzinfo=UTC)
    with FakeBambooHR(employees=("101", "102", "103", TEAM)) as fake:
        async with harness(fake, kafka_bootstrap, redis_url) as kit:
            updates = [
                at(
                    kit.event(EventType.WELLNESS_EXPOSURE_UPDATED, exposure(m), subject="w-ana"),
                    HOUR + timedelta(minutes=n),
                )
                for n, m in enumerate((10.0, 20.0, 35.5))
            ]
            ben, unmapped, unknown = (
                at(kit.event(EventType.WELLNESS_EXPOSURE_UPDATED, exposure(m), subject=w), HOUR)
                for w, m in (("w-ben", 5), ("w-zed", 9), ("w-gone", 9))
            )
            exceeded = kit.event(
                EventType.WELLNESS_BUDGET_EXCEEDED,
                {"exposure_minutes": 245.0, "budget_minutes": 240.0},
                subject="w-ana",
            )
            rotated = kit.event(
                EventType.WELLNESS_ROTATION_STARTED,
                {"off_queues": ["grief", "crisis"], "until": until.isoformat()},
                subject="w-ana",
            )
            back = kit.event(
                EventType.WELLNESS_ROTATION_ENDED, {"queues": ["grief"]}, subject="w-ana"
            )
            checkin = kit.event(
                EventType.WELLNESS_CHECKIN_SUBMITTED,
                {"mood": 2, "note": "I cried after the third call"},
                subject="w-ana",
            )
            await emit(kit, *updates, ben, unmapped, unknown, exceeded, rotated, back, checkin)
            await kit.wait_handled(9)
            await kit.wait_for(lambda: kit.runner.stats.skipped >= 1)
            assert kit.runner.stats.dead_lettered == 0
            assert fake.table(EXPOSURE) == [], "nothing before the period's row is due"
            reported = await bamboo(kit).report_exposure(now=HOUR + timedelta(hours=1, minutes=5))

        # Only team rows leave, never one person's exposure, and none for fewer than 3 people.
        assert rows_of(fake, EXPOSURE, "101") == []
        assert rows_of(fake, EXPOSURE, "102") == []
        # One row for the period, with each worker's latest figure in it: ana 35.5, ben 5, zed 9
        # and gone 9.
        assert (
            rows_of(fake, EXPOSURE, TEAM)
            == reported
            == [
                {
                    "date": HOUR.date().isoformat(),
                    "customRecordedAt": (HOUR + timedelta(hours=1)).isoformat(),
                    "customWorkers": "4",
                    "customExposureMinutes": "14.6",
                    "customBudgetMinutes": "240.0",
                    "customWarmlineEventId": reported[0]["customWarmlineEventId"],
                }
            ]
        )
        assert reported[0]["customWarmlineEventId"] not in {e.id for e in (*updates, ben)}
        day = exceeded.time.date().isoformat()
        assert rows_of(fake, ROTATION, "101") == [
            {"date": day, "customEvent": "budget_exceeded", "customWarmlineEventId": exceeded.id},
            {
                "date": rotated.time.date().isoformat(),
                "customEvent": "rotation_started",
                "customQueues": "grief,crisis",
                "customUntil": until.isoformat(),
                "customWarmlineEventId": rotated.id,
            },
            {
                "date": back.time.date().isoformat(),
                "customEvent": "rotation_ended",
                "customQueues": "grief",
                "customWarmlineEventId": back.id,
            },
        ]
        sent = b"".join(r.body for r in fake.seen())
        assert b"cried" not in sent
        assert b"mood" not in sent
        assert all(r.headers["accept"] == "application/json" for r in fake.seen())


async def test_retries_then_records_and_a_refusal_is_dead_lettered_at_once(
    kafka_bootstrap: str, redis_url: str
) -> None:
    def ended(worker: str) -> DomainEvent:
        return kit.event(EventType.WELLNESS_ROTATION_ENDED, {"queues": ["claims"]}, subject=worker)

    with FakeBambooHR() as fake:
        async with harness(fake, kafka_bootstrap, redis_url) as kit:
            fake.fail_next(2, Fault("error", status=503, method="POST"))
            await emit(kit, ended("w-ana"))
            await kit.wait_handled(1)
            assert [r.status for r in fake.seen("POST")] == [503, 503, 200]
            # Before each POST again, the employee's rows: the 503s had stored nothing.
            assert [(r.method, r.status) for r in fake.seen()] == [
                ("POST", 503),
                ("GET", 200),
                ("POST", 503),
                ("GET", 200),
                ("POST", 200),
            ]
            assert {r.path for r in fake.seen("GET")} == {f"{API}/employees/101/tables/{ROTATION}"}
            assert len(rows_of(fake, ROTATION, "101")) == 1

            # Recorded, but the answer is lost: the retry reads the employee's rows, finds the
            # row with the event's id and does not add it again.
            fake.fail_next(1, Fault("timeout", delay=2.0, method="POST"))
            lost = ended("w-ben")
            await emit(kit, lost)
            await kit.wait_handled(2)
            rows = rows_of(fake, ROTATION, "102")
            assert [r["customWarmlineEventId"] for r in rows] == [lost.id]
            ben = f"{API}/employees/102/tables/{ROTATION}"
            assert [(r.method, r.status) for r in fake.seen(path=ben)] == [
                ("POST", 200),
                ("GET", 200),
            ]

            fake.fail_next(1, Fault("rate_limit", retry_after="1", method="POST"))
            await emit(kit, ended("w-ana"))
            await kit.wait_handled(3)
            limited, retried = fake.seen("POST")[-2:]
            assert (limited.status, retried.status) == (429, 200)
            assert retried.at - limited.at >= 0.95, "Retry-After: 1 was not honoured"

            await emit(kit, ended("w-gone"))
            await kit.wait_for(lambda: kit.runner.stats.dead_lettered >= 1)
            [refused] = kit.dead_letters(expect=1)
            assert "on_rotation failed after 1 attempt(s)" in refused.reason
            assert "HTTP 404: Employee not found" in refused.reason


async def read_shift_events(
    kafka: str, topic: str, *, at_least: int, within: float = 20.0
) -> list[DomainEvent]:
    """Every record on `topic`, decoded, once there are `at_least` (or `within` seconds passed)."""

    def read() -> list[DomainEvent]:
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=kafka,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=500,
        )
        found: list[DomainEvent] = []
        deadline = time.monotonic() + within
        try:
            while len(found) < at_least and time.monotonic() < deadline:
                found.extend(
                    from_record(r.key, list(r.headers or []), r.value or b"") for r in consumer
                )
        finally:
            consumer.close()
        return found

    return await asyncio.to_thread(read)


@asynccontextmanager
async def started(
    fake: FakeBambooHR, *, deployment_min: int = 3, **changes: Any
) -> AsyncIterator[BambooHRConnector]:
    """A started connector; `deployment_min` stands for `wellness.min_group_size`."""
    context = ConnectorContext(
        name="hr", secrets={"api_key": BAMBOOHR_KEY}, min_group_size=deployment_min
    )
    connector = BambooHRConnector(
        BambooHRSettings.model_validate(settings(fake, **changes)), context
    )
    await connector.start()
    try:
        yield connector
    finally:
        await connector.stop()


async def test_a_row_in_doubt_when_its_process_stops_is_looked_up_by_the_next(
    kafka_bootstrap: str, redis_url: str
) -> None:
    name = f"hr-{uuid.uuid4().hex[:10]}"

    def process() -> AbstractAsyncContextManager[ConnectorHarness]:
        """A connector process of the deployment's `hr`: same name, so same dedupe scope."""
        return harness(fake, kafka_bootstrap, redis_url, name=name)

    with FakeBambooHR() as fake:
        async with process() as first:
            # BambooHR stores the row, but its answer is still on the way when the process
            # stops: the event is left undone, to be redelivered.
            fake.fail_next(1, Fault("timeout", delay=2.0, method="POST"))
            ended = first.event(
                EventType.WELLNESS_ROTATION_ENDED, {"queues": ["claims"]}, subject="w-ben"
            )
            await emit(first, ended)
            await first.wait_for(lambda: len(rows_of(fake, ROTATION, "102")) == 1)
        assert first.runner.stats.handled == 0

        # The next process gets the event again; it reads the rows first, and finds its row.
        async with process() as second:
            await emit(second, ended)
            await second.wait_handled(1)
        rows = rows_of(fake, ROTATION, "102")
        assert [r["customWarmlineEventId"] for r in rows] == [ended.id]
        ben = f"{API}/employees/102/tables/{ROTATION}"
        assert [(r.method, r.status) for r in fake.seen(path=ben)] == [("POST", 200), ("GET", 200)]


async def test_shifts_are_pulled_into_inbound_events_without_duplicates(
    kafka_bootstrap: str,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    topic = f"test-inbound-hr-{uuid.uuid4().hex[:10]}"
    with FakeBambooHR() as fake:
        current = fake.add_shift(
            "101", now - timedelta(hours=1), now + timedelta(hours=7), "claims, grief"
        )
        coming = fake.add_shift("102", now + timedelta(days=1), now + timedelta(days=1, hours=8))
        fake.add_shift("101", now - timedelta(hours=10), now - timedelta(hours=2))  # over
        fake.add_shift("103", now, now + timedelta(hours=8))  # not a warmline worker
        fake.add_shift("102", now + timedelta(days=10), now + timedelta(days=10, hours=8))
        fake.add_shift("101", "tomorrow morning", "tomorrow evening")  # unreadable: skipped

        async with started(fake, kafka_bootstrap=kafka_bootstrap, inbound_topic=topic) as hr:
            first = await hr.pull_shifts(now=now)
            assert await hr.pull_shifts(now=now) == []
        assert {(e.subject, e.data["shift_id"]) for e in first} == {
            ("w-ana", f"bamboohr-{current}"),
            ("w-ben", f"bamboohr-{coming}"),
        }
        ana = next(e for e in first if e.subject == "w-ana")
        assert ana.type is EventType.INBOUND_SHIFT_SCHEDULED
        assert ana.data == {
            "worker_id": "w-ana",
            "shift_id": f"bamboohr-{current}",
            "starts_at": (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
            "ends_at": (now + timedelta(hours=7)).isoformat().replace("+00:00", "Z"),
            "queues": ["claims", "grief"],
        }

        # A restarted process sends the same shifts again under the same ids; a moved one is new.
        fake.move_shift(coming, now + timedelta(days=1, hours=1), now + timedelta(days=1, hours=9))
        async with started(fake, kafka_bootstrap=kafka_bootstrap, inbound_topic=topic) as hr:
            again = await hr.pull_shifts(now=now)
        assert len(again) == 2
        assert next(e.id for e in again if e.subject == "w-ana") == ana.id
        moved = next(e for e in again if e.subject == "w-ben")
        assert moved.id not in {e.id for e in first}
        assert moved.data["shift_id"] == f"bamboohr-{coming}"

        events = await read_shift_events(kafka_bootstrap, topic, at_least=4)
        assert len(events) == 4
        assert len({e.id for e in events}) == 3, "consumers drop the re-sent one by its id"
        assert {(e.subject, e.type) for e in events} == {
            ("w-ana", EventType.INBOUND_SHIFT_SCHEDULED),
            ("w-ben", EventType.INBOUND_SHIFT_SCHEDULED),
        }

        async with started(fake, kafka_bootstrap=kafka_bootstrap, inbound_topic=topic) as hr:
            fake.fail_next(1, Fault("garbage", method="GET"))
            with pytest.raises(
                RetryableError, match="HTTP 200 with a body that is not the expected"
            ):
                await hr.fetch_shifts(now=now)
        wrong = ConnectorContext(name="hr", secrets={"api_key": "revoked"})
        stale = BambooHRConnector(BambooHRSettings.model_validate(settings(fake)), wrong)
        await stale.start()
        with pytest.raises(PermanentError, match="HTTP 401: Invalid API key"):
            await stale.fetch_shifts(now=now)
        await stale.stop()


async def test_the_pull_runs_every_interval_while_the_connector_runs(kafka_bootstrap: str) -> None:
    topic = f"test-inbound-hr-{uuid.uuid4().hex[:10]}"
    start = datetime.now(UTC)
    with FakeBambooHR() as fake:
        fake.add_shift("101", start, start + timedelta(hours=8), "claims")
        changes: dict[str, Any] = {
            "kafka_bootstrap": kafka_bootstrap,
            "inbound_topic": topic,
            "pull_interval": "200ms",
        }
        async with started(fake, **changes):
            [event] = await read_shift_events(kafka_bootstrap, topic, at_least=1)
            pulls = len(fake.seen("GET"))
            # Three more pulls, waited for rather than counted after a fixed second a busy machine
            # may not give the connector; then the spacing of the pulls is the interval's.
            for _ in range(200):
                if len(fake.seen("GET")) >= pulls + 3:
                    break
                await asyncio.sleep(0.05)
            arrivals = [r.at for r in fake.seen("GET")]
            assert len(arrivals) >= pulls + 3, "the pulls did not go on while it ran"
            gaps = sorted(b - a for a, b in itertools.pairwise(arrivals))
            assert gaps[0] >= 0.19, f"pulled more often than every 200 ms: {gaps}"
            assert gaps[len(gaps) // 2] < 1.0, f"pulls not every 200 ms: {gaps}"
        assert event.subject == "w-ana"
        assert len(await read_shift_events(kafka_bootstrap, topic, at_least=2, within=2)) == 1
        pulls = len(fake.seen("GET"))
        await asyncio.sleep(0.5)
        assert len(fake.seen("GET")) == pulls, "stop() ends the pulls"


def test_a_pull_interval_needs_a_broker() -> None:
    with pytest.raises(ValidationError, match="pull_interval needs kafka_bootstrap"):
        BambooHRSettings.model_validate({"subdomain": "acme", "pull_interval": "15m"})
    with pytest.raises(ValidationError, match="needs a unit"):
        BambooHRSettings.model_validate({"subdomain": "acme", "pull_interval": 900})
    parsed = BambooHRSettings.model_validate(
        {"subdomain": "acme", "pull_interval": "15m", "kafka_bootstrap": "k:9092"}
    )
    assert parsed.pull_interval == timedelta(minutes=15)


def exposure_event(worker: str, minutes: float, at: datetime | None = None) -> Event[Any]:
    return Event(
        id=str(uuid.uuid4()),
        type=EventType.WELLNESS_EXPOSURE_UPDATED,
        source="/warmline/test",
        subject=worker,
        time=at or datetime.now(UTC),
        data=WellnessExposureUpdated(exposure_minutes=minutes, budget_minutes=240.0),
    )


async def test_the_deployments_min_group_size_applies_whatever_the_setting_says() -> None:
    with FakeBambooHR(employees=(TEAM,)) as fake:
        # The connector asks for 3, the deployment for 5: four workers are too few.
        later = HOUR + timedelta(hours=1)
        async with started(fake, deployment_min=5, min_group_size=3) as hr:
            assert hr.min_group_size == 5
            await hr.on_exposure([exposure_event(f"w-{n}", 10.0 + n, HOUR) for n in range(4)])
            await hr.on_exposure([exposure_event(f"w-{n}", 10.0 + n, later) for n in range(5)])
            await hr.report_exposure(now=HOUR + timedelta(days=1))
            assert [r["customWorkers"] for r in fake.table(EXPOSURE)] == ["5"]
        # The connector may ask for more than the deployment, and then gets it.
        async with started(fake, deployment_min=3, min_group_size=6) as hr:
            assert hr.min_group_size == 6
            await hr.on_exposure([exposure_event(f"w-{n}", 10.0, HOUR) for n in range(5)])
            assert await hr.report_exposure(now=HOUR + timedelta(days=1)) == []
        # Without a setting of its own it follows the deployment.
        async with started(fake, deployment_min=4) as hr:
            assert hr.min_group_size == 4
        assert len(fake.table(EXPOSURE)) == 1


async def test_workers_at_zero_do_not_make_up_the_group_size() -> None:
    """Two shifts starting (each reports 0) beside one worker's figure: the mean times three would
    be that worker's exposure."""
    with FakeBambooHR(employees=(TEAM,)) as fake:
        async with started(fake, deployment_min=3) as hr:
            starting = [exposure_event(f"w-{n}", 0.0, HOUR) for n in (1, 2)]
            await hr.on_exposure([*starting, exposure_event("w-3", 42.0, HOUR)])
            # The next period: three with exposure, and a fourth just starting, who counts.
            later = HOUR + timedelta(hours=1)
            await hr.on_exposure([exposure_event(f"w-{n}", 5.0 * n, later) for n in (1, 2, 3)])
            await hr.on_exposure([exposure_event("w-4", 0.0, later)])
            await hr.report_exposure(now=HOUR + timedelta(days=1))
        rows = fake.table(EXPOSURE)
        assert [(r["customWorkers"], r["customExposureMinutes"]) for r in rows] == [("4", "7.5")]


def test_a_configured_connector_gets_the_deployments_min_group_size() -> None:
    config = load_config(INSURER / "warmline.yaml", resolve_secrets=False)
    stricter = config.wellness.model_copy(update={"min_group_size": 7})
    config = config.model_copy(update={"wellness": stricter})
    [entry] = [c for c in config.connectors if c.type == "bamboohr"]
    assert entry.settings.get("min_group_size") != 7
    env = {ref.name: "key" for ref in entry.secrets.values()}
    connector = build(config, entry, base_dir=INSURER, env=env)
    assert isinstance(connector, BambooHRConnector)
    assert connector.context.min_group_size == 7
    assert connector.min_group_size == 7


async def test_one_row_per_period_so_no_two_rows_differ_by_one_worker(
    kafka_bootstrap: str, redis_url: str
) -> None:
    def update(worker: str, minutes: float, time: datetime) -> DomainEvent:
        event = kit.event(EventType.WELLNESS_EXPOSURE_UPDATED, exposure(minutes), subject=worker)
        return at(event, time)

    with FakeBambooHR(employees=(TEAM,)) as fake:
        async with harness(fake, kafka_bootstrap, redis_url) as kit:
            hr = bamboo(kit)
            minute = timedelta(minutes=1)
            await emit(kit, *(update(w, m, HOUR + minute) for w, m in (("a", 10), ("b", 20))))
            await emit(kit, update("c", 30, HOUR + 2 * minute))
            await kit.wait_handled(3)
            # Dee's update alone in a batch: were rows sent per batch, the means of the rows
            # before and after it would give her figure away.
            await emit(kit, update("dee", 50, HOUR + 3 * minute))
            await kit.wait_handled(4)
            # The next period has one worker only: too few, however many there were before.
            await emit(kit, update("a", 70, HOUR + timedelta(hours=1, minutes=1)))
            await kit.wait_handled(5)
            assert fake.table(EXPOSURE) == []

            # Not due until report_delay (5m) after the period's end.
            assert await hr.report_exposure(now=HOUR + timedelta(hours=1, minutes=4)) == []
            [row] = await hr.report_exposure(now=HOUR + timedelta(hours=2, minutes=5))
            assert row["customWorkers"] == "4"
            assert row["customExposureMinutes"] == "27.5"

            # A late figure for a period whose row is out makes no second row for it.
            await emit(kit, update("eve", 99, HOUR + 4 * minute))
            await kit.wait_handled(6)
            assert await hr.report_exposure(now=HOUR + timedelta(days=1)) == []
        assert rows_of(fake, EXPOSURE, TEAM) == [row]


async def test_a_row_bamboohr_cannot_take_now_goes_out_later_the_same() -> None:
    with FakeBambooHR(employees=(TEAM,)) as fake:
        async with started(fake) as hr:
            await hr.on_exposure([exposure_event(w, 12.0, HOUR) for w in ("a", "b", "c")])
            fake.fail_next(1, Fault("error", status=503))
            due = HOUR + timedelta(hours=1, minutes=5)
            with pytest.raises(RetryableError):
                await hr.report_exposure(now=due)
            # The period is closed even though its row is not out yet.
            await hr.on_exposure([exposure_event("d", 99.0, HOUR)])
            [row] = await hr.report_exposure(now=due + timedelta(minutes=1))
        assert [(s.method, s.status) for s in fake.seen()] == [
            ("POST", 503),
            ("GET", 200),
            ("POST", 200),
        ]
        assert [s.json() for s in fake.seen("POST")] == [row, row]
        assert row["customWorkers"] == "3"


async def test_a_team_row_whose_answer_was_lost_is_not_sent_again() -> None:
    with FakeBambooHR(employees=(TEAM,)) as fake:
        async with started(fake) as hr:
            await hr.on_exposure([exposure_event(w, 12.0, HOUR) for w in ("a", "b", "c")])
            fake.fail_next(1, Fault("timeout", delay=2.0, method="POST"))
            due = HOUR + timedelta(hours=1, minutes=5)
            with pytest.raises(RetryableError, match="timed out"):
                await hr.report_exposure(now=due)
            # BambooHR stored it: the next report finds it among the team's rows.
            [row] = await hr.report_exposure(now=due + timedelta(minutes=1))
            assert await hr.report_exposure(now=due + timedelta(minutes=2)) == []
        assert rows_of(fake, EXPOSURE, TEAM) == [row]
        assert [(s.method, s.path) for s in fake.seen()] == [
            ("POST", f"{API}/employees/{TEAM}/tables/{EXPOSURE}"),
            ("GET", f"{API}/employees/{TEAM}/tables/{EXPOSURE}"),
        ]


async def test_the_rows_go_out_by_themselves_while_the_connector_runs() -> None:
    with FakeBambooHR(employees=(TEAM,)) as fake:
        async with started(fake, report_period="1s", report_delay="100ms") as hr:
            now = datetime.now(UTC)
            await hr.on_exposure([exposure_event(w, 8.0, now) for w in ("a", "b", "c")])
            for _ in range(100):
                if fake.table(EXPOSURE):
                    break
                await asyncio.sleep(0.05)
            # The period's row is out: these figures are too late for it.
            await hr.on_exposure([exposure_event(w, 8.0, now) for w in ("d", "e", "f")])
            await asyncio.sleep(1.5)
        [row] = rows_of(fake, EXPOSURE, TEAM)
        assert row["customWorkers"] == "3"


def test_a_report_period_is_longer_than_nothing() -> None:
    with pytest.raises(ValidationError, match="report_period must be longer than 0s"):
        BambooHRSettings.model_validate({"subdomain": "acme", "report_period": "0s"})
    parsed = BambooHRSettings.model_validate({"subdomain": "acme"})
    assert (parsed.report_period, parsed.report_delay) == (timedelta(hours=1), timedelta(minutes=5))
