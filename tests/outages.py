"""Real outages for tests: a service of one test's own that goes down and comes back.

Tests use the real services; an outage is one too, never a client method replaced by one that
raises (see docs/development.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from warmline.services.base import RunningService, ServiceName
from warmline.services.local import start_service
from warmline.services.process import ServiceProcess
from warmline.services.redis import READY_TIMEOUT_S, answers_ping


@dataclass
class RestartableRedis:
    """A Redis of one test's own that goes down and comes back on the same address."""

    service: RunningService

    @property
    def url(self) -> str:
        return self.service.address

    def go_down(self) -> None:
        """Shut down as for a restart: what it holds is saved first (`SHUTDOWN SAVE`, though it
        runs without save points), as a persisted Redis keeps it; until `come_back` every
        connection is refused."""
        client = redis.Redis.from_url(self.url, socket_timeout=READY_TIMEOUT_S)
        try:
            client.shutdown(save=True)
        finally:
            client.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while self.service.process.alive():
            if time.monotonic() > deadline:
                raise AssertionError("Redis did not shut down")
            time.sleep(0.05)

    def come_back(self) -> None:
        """Start Redis again with its command, address and directory: it loads what it saved."""
        stopped = self.service.process
        process = ServiceProcess.spawn(stopped.name, stopped.command, stopped.log_path)
        process.wait_ready(lambda: answers_ping(self.url), READY_TIMEOUT_S)
        self.service = RunningService(ServiceName.REDIS, self.url, process)


def own_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    """A `RestartableRedis` in `tmp_path`, stopped when the caller is done (the
    `restartable_redis` fixture)."""
    own = RestartableRedis(
        start_service(ServiceName.REDIS, tmp_path, embedded=False, persist=False)
    )
    try:
        yield own
    finally:
        own.service.process.stop()
