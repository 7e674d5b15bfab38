"""`warmline services up/down`: services that outlive the command, remembered in a state file."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ValidationError

from warmline.errors import ServiceError
from warmline.services.base import ServiceName
from warmline.services.local import Endpoints, start_service
from warmline.services.process import pid_alive, started_at, stop_pid

STATE_FILE = "services.json"
LOCK_FILE = "services.lock"


class _Entry(BaseModel):
    pid: int
    address: str
    log: str
    started: int | None = None
    """The process's start time (`started_at`); None in state files written before it was kept."""

    def running(self) -> bool:
        """Whether the recorded process still runs: after a crash or a reboot its pid may belong
        to another process, which must be neither reported as the service nor stopped."""
        if not pid_alive(self.pid):
            return False
        return self.started is None or started_at(self.pid) == self.started


class _State(BaseModel):
    services: dict[ServiceName, _Entry]


def default_state_dir() -> Path:
    """$WARMLINE_STATE_DIR, else `.warmline/services` in the current directory."""
    configured = os.environ.get("WARMLINE_STATE_DIR")
    return Path(configured) if configured else Path.cwd() / ".warmline" / "services"


def _read(state_dir: Path) -> _State:
    """The services recorded in the state directory; none when it has no state file.

    A state file that is there but unreadable (edited by hand, or not UTF-8) is an error, not
    "no services": `down` would delete it while the services it recorded ran on, and `up` would
    start a second set beside them."""
    path = state_dir / STATE_FILE
    try:
        text = path.read_bytes().decode()
    except FileNotFoundError:
        return _State(services={})
    except UnicodeDecodeError as error:
        raise _unreadable(path, f"not UTF-8: {error.reason}") from None
    try:
        return _State.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        raise _unreadable(path, first["msg"]) from None


def _unreadable(path: Path, reason: str) -> ServiceError:
    return ServiceError(
        f"{path}: not a state file `warmline services up` wrote ({reason}); the services it "
        "recorded may still be running: stop them (their pids are in it, or see `ps`), then "
        "delete it"
    )


def _write(state_dir: Path, state: _State) -> None:
    """Replace the state file whole, or leave it as it was.

    Rewritten in place, a write that failed (a full disk) left it cut short: `_read` then found
    no services, so `down` said nothing was running and the next `up` started a second set beside
    the ones still running. The callers hold the state directory's lock, so one name will do."""
    path = state_dir / STATE_FILE
    partial = state_dir / f".{STATE_FILE}.partial"
    try:
        partial.write_text(json.dumps(state.model_dump(mode="json"), indent=2))
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """One `up` or `down` at a time per state directory. Two at once each started their own
    services and the last to write the state file hid the other's from `down` for good; the
    second now waits, then reuses what the first started (or finds it stopped)."""
    with (state_dir / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start_detached(
    only: frozenset[ServiceName], *, embedded: bool, state_dir: Path | None
) -> Endpoints:
    """Start the services not already running; their processes keep running after we return.

    Temporal keeps its state in a database file in the state directory, so a restart resumes it.
    """
    state_dir = state_dir or default_state_dir()
    state_dir.mkdir(parents=True, exist_ok=True)
    with _locked(state_dir):
        return _start_detached(only, embedded=embedded, state_dir=state_dir)


def _start_detached(only: frozenset[ServiceName], *, embedded: bool, state_dir: Path) -> Endpoints:
    """All or nothing: when one service fails to start (or Ctrl-C comes), those this call had
    already started are stopped again, so a failed `up` leaves running only what ran before it;
    a script that stops at the failure would otherwise leave a broker running for good."""
    state = _read(state_dir)
    live = {name: e for name, e in state.services.items() if e.running()}
    started: list[ServiceName] = []
    try:
        for name in sorted(only - set(live)):
            service = start_service(
                name, state_dir, embedded=embedded, persist=True, outlives_parent=True
            )
            live[name] = _Entry(
                pid=service.process.pid,
                address=service.address,
                log=str(service.process.log_path),
                started=started_at(service.process.pid),
            )
            started.append(name)
            # Recorded at once: should this process be SIGKILLed, `down` still finds it.
            _write(state_dir, _State(services=live))
        _write(state_dir, _State(services=live))
        if ServiceName.KAFKA in only:
            _ensure_topics(live[ServiceName.KAFKA])
    except BaseException:
        for name in started:
            stop_pid(live.pop(name).pid)
        _write(state_dir, _State(services=live))
        raise
    return Endpoints(**{name.value: live[name].address for name in only})


def _ensure_topics(kafka: _Entry) -> None:
    """Create warmline's default topics on the local broker: a production cluster has its topics
    provisioned, and the bridge and the connectors need not wait for someone to create them.

    A broker recorded as running may no longer answer (hung, out of heap): that is said in one
    line within seconds, rather than kafka-python's traceback after half a minute."""
    from kafka.errors import KafkaError

    from warmline.events.admin import ensure_topics
    from warmline.events.types import WARMLINE_TOPICS
    from warmline.reach import check_kafka

    try:
        check_kafka(kafka.address)
        ensure_topics(kafka.address, WARMLINE_TOPICS)
    except (ServiceError, KafkaError) as error:
        raise ServiceError(
            f"the running Kafka (pid {kafka.pid}) cannot create warmline's topics: {error}; "
            "`warmline services down` stops it, then `up` starts a new one"
        ) from None


def stop_detached(*, state_dir: Path | None) -> list[str]:
    """Stop every service recorded in the state directory; returns the names stopped."""
    state_dir = state_dir or default_state_dir()
    if not state_dir.is_dir():
        return []
    with _locked(state_dir):
        state = _read(state_dir)
        stopped = []
        for name, entry in sorted(state.services.items()):
            if entry.running():
                stop_pid(entry.pid)
                stopped.append(name.value)
        (state_dir / STATE_FILE).unlink(missing_ok=True)
    return stopped
