"""The runner's memory of what it handled stays bounded however long the connector runs. Real
broker and Redis."""

from __future__ import annotations

import asyncio

from tests.connectors.test_runner_delivery import Line, until
from tests.connectors.test_runner_redis_outage import recording, runner_for

KEPT = 1_000
"""`connectors.sdk.runner.HANDLED_IDS_KEPT`."""
EVENTS = KEPT + 50


async def test_the_handled_ids_kept_are_the_latest_ones_only(
    kafka_bootstrap: str, redis_url: str
) -> None:
    line = Line(kafka_bootstrap, redis_url)
    line.publish(*[f"s{n % 40}" for n in range(EVENTS)])
    runner = runner_for(line)
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.stats.handled >= EVENTS, task)
    finally:
        runner.stop()
        await asyncio.wait_for(task, timeout=30)
    assert len(recording(runner).done) == EVENTS
    assert len(runner.stats.handled_ids) == KEPT
    assert len(set(runner.stats.handled_ids)) == KEPT
