"""A service process: run in its own session, logging to a file, stopped with its children."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from warmline.errors import ServiceError

LOG_TAIL_LINES = 30


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


@dataclass
class ServiceProcess:
    """A running service process whose output goes to `log_path`."""

    name: str
    command: list[str]
    log_path: Path
    pid: int
    outlives_parent: bool = False
    _popen: subprocess.Popen[bytes] | None = None

    @classmethod
    def spawn(
        cls,
        name: str,
        command: list[str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        outlives_parent: bool = False,
    ) -> ServiceProcess:
        """Start `command` in a new session so stopping it also stops whatever it forks.

        The new session also takes it out of reach of whatever kills this process's group (a CI
        job's cancel, `timeout`), and a SIGKILL leaves no `finally` to stop it: unless it
        `outlives_parent` (`warmline services up`), it is killed when this process dies."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        launched = command if outlives_parent else killed_with_parent(command)
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                launched,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        return cls(
            name=name,
            command=command,
            log_path=log_path,
            pid=popen.pid,
            outlives_parent=outlives_parent,
            _popen=popen,
        )

    def alive(self) -> bool:
        return pid_alive(self.pid) if self._popen is None else self._popen.poll() is None

    def wait_ready(self, check: Callable[[], bool], timeout: float) -> None:
        """Poll `check` until True; fail with the log tail if the process dies or stalls.

        Whatever ends the wait early (a death, a stall, Ctrl-C, the SIGTERM the CLI turns into
        SystemExit) stops the process group first: nobody has recorded this process yet, so
        nothing else would ever stop it or what it forked."""
        try:
            self._wait_ready(check, timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServiceError(
                    f"{self.name} exited during start-up\n  command: {' '.join(self.command)}\n"
                    f"  log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            if check():
                return
            time.sleep(0.2)
        raise ServiceError(
            f"{self.name} was not ready within {timeout:.0f}s\n"
            f"  command: {' '.join(self.command)}\n"
            f"  log {self.log_path}:\n{log_tail(self.log_path)}"
        )

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, wait up to `grace` seconds, then SIGKILL it."""
        stop_pid(self.pid, grace)
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=1)


@functools.cache
def _setpriv_with_pdeathsig() -> str | None:
    """util-linux's `setpriv`, when it can set the parent-death signal (2.33 and later)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    try:
        usage = subprocess.run(
            [setpriv, "--help"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return setpriv if "--pdeathsig" in usage else None


def killed_with_parent(command: list[str]) -> list[str]:
    """`command` run so that the kernel SIGKILLs it when this process dies, however it dies.

    `setpriv --pdeathsig KILL` sets the signal and execs the command in place, so the pid stays
    the service's. Linux sends it when the *thread* that started the child ends, so only a start
    on the main thread (which ends with the process) is wrapped; elsewhere, and where setpriv
    cannot do it, the command runs as given and only `stop` ends it."""
    setpriv = _setpriv_with_pdeathsig()
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return command
    return [setpriv, "--pdeathsig", "KILL", "--", *command]


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def started_at(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (`/proc/<pid>/stat`, field 22); None
    when it is gone or the system has no /proc. With the pid it names one process: a pid is
    reused, a pid and its start time are not (until a reboot resets the ticks, a reused pid
    starting at the very same tick is all but impossible)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def group_alive(pgid: int) -> bool:
    """Whether any process of the group `pgid` still runs (zombies do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return pid_alive(pgid)
    for entry in entries:
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def stop_pid(pid: int, grace: float = 10.0) -> None:
    """Stop the session led by `pid`: SIGTERM, then SIGKILL after `grace` seconds.

    Done when no process of the group runs, the leader's children included: a leader that has
    already exited (a launcher that died during start-up) may have left them behind."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not pid_alive(pid) and not group_alive(pid):
                return
            time.sleep(0.1)
