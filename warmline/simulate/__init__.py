"""`warmline simulate`: deterministic scenarios on Temporal's time-skipping test server.

`run_scenario` loads a scenario (raising `ConfigError` with FILE:LINE:COL diagnostics when it is
invalid), starts the embedded Kafka broker and Redis unless given addresses, runs it and returns
the `Report`.
"""

from __future__ import annotations

import asyncio

from warmline.simulate.report import Report, evaluate
from warmline.simulate.scenario import LoadedScenario, Scenario, load_scenario

__all__ = ["LoadedScenario", "Report", "Scenario", "load_scenario", "run_scenario"]


def run_scenario(
    loaded: LoadedScenario, *, kafka: str | None = None, redis: str | None = None
) -> Report:
    """Run a loaded scenario; without `kafka`/`redis`, embedded ones live for the run."""
    from warmline.reach import check_kafka, check_redis
    from warmline.services import LocalServices, ServiceName
    from warmline.simulate.runner import simulate

    # A service given by address is checked before anything starts: a Kafka that is not there
    # would otherwise cost kafka-python's whole bootstrap wait and end in its own words.
    if kafka is not None:
        check_kafka(kafka)
    if redis is not None:
        check_redis(redis)
    needed = {ServiceName.KAFKA} if kafka is None else set()
    if redis is None:
        needed.add(ServiceName.REDIS)
    local = LocalServices(only=needed, embedded=True) if needed else None
    try:
        if local is not None:
            endpoints = local.start()
            kafka = kafka or endpoints.kafka
            redis = redis or endpoints.redis
        if kafka is None or redis is None:
            raise RuntimeError("Kafka and Redis are needed to simulate")
        run = asyncio.run(simulate(loaded.scenario, loaded.config, kafka=kafka, redis=redis))
    finally:
        if local is not None:
            local.stop()
            local.cleanup()
    return evaluate(loaded.scenario, run, loaded.document)
