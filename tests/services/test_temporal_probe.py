"""The dev server's readiness probe gives up after its own timeout, not Temporal's client's."""

from __future__ import annotations

import socket
import time

import pytest

from warmline.services import temporal


def test_a_port_that_listens_but_never_answers_is_given_up_on_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The probe waited up to its timeout for an answer, but then for the client's connect to
    end all the same (30 s): each probe of a start could take three times as long as meant, and
    the start's own deadline (and a Ctrl-C) waited for it."""
    monkeypatch.setattr(temporal, "_PROBE_TIMEOUT_S", 1.0)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        began = time.monotonic()
        assert not temporal.answers_clients(address)
        took = time.monotonic() - began
    # Temporal's client gives up on a connection after 30 s: well beyond this, even when slow.
    assert took < 20, f"the probe took {took:.1f} s"
