"""A second writer of a registry, let in at a moment the test chooses.

Tests of writers at once force the interleaving rather than hope for it: the first writer, at a
known point (a patched function), lets the rival in and goes on only once the rival has finished
or is about to wait for the registry's lock (seen through a patched `fcntl.flock`).
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Callable

import pytest


class Rival:
    def __init__(self, write: Callable[[], object], monkeypatch: pytest.MonkeyPatch) -> None:
        self.errors: list[BaseException] = []
        """What the rival raised (a test asserts there is nothing)."""
        self._ready = threading.Event()
        """Set when the rival has finished, or is about to wait for the lock."""
        self._thread = threading.Thread(target=self._run, args=(write,))
        flock = fcntl.flock

        def flock_seen(fd: int, operation: int) -> None:
            if threading.current_thread() is self._thread:
                self._ready.set()
            flock(fd, operation)

        monkeypatch.setattr(fcntl, "flock", flock_seen)

    def _run(self, write: Callable[[], object]) -> None:
        try:
            write()
        except BaseException as error:  # noqa: BLE001 - reported by the test's assertion
            self.errors.append(error)
        finally:
            self._ready.set()

    def let_in(self) -> None:
        """Start the rival (the first call only) and wait until it finished or waits for the
        lock."""
        if self._thread.ident is None:
            self._thread.start()
            assert self._ready.wait(5)

    def finished(self) -> bool:
        """Whether the rival has ended (waiting for it a little)."""
        self._thread.join(5)
        return not self._thread.is_alive()
