"""A failing handoff template's log line names the error and the line, never what it quoted.

A template error's message may quote a value the template read: the customer's words, used as a
key. The package keeps it whole for the specialist who owns the conversation (who reads those
words anyway); the log, which operators and log shippers read, gets the type and line only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.handoff.test_render import _renderer, _request
from warmline.handoff import HandoffTurn
from warmline.triage.types import Role

WORDS = "my name is Jane Doe and my number is 07700 900123"


def test_the_log_line_quotes_no_customer_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    renderer = _renderer(tmp_path, "ok\n{{ escalation[history[0].text] }}\n")
    request = _request(crisis=False, history=[HandoffTurn(role=Role.CUSTOMER, text=WORDS)])

    with caplog.at_level(logging.WARNING, logger="warmline.handoff"):
        package = renderer.render(request, {})

    assert package.render_error is not None
    assert WORDS in package.render_error, "the specialist's package says what failed"
    [line] = [r.getMessage() for r in caplog.records if "template failed" in r.getMessage()]
    assert "Jane Doe" not in line
    assert line.endswith("UndefinedError (template line 2)"), line
