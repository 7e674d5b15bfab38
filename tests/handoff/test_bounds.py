"""The handoff within its bounds: long, wordy conversations keep their newest messages, the size
limit never cuts a character apart, and a slow or odd profile source does not hold the handoff."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.handoff import LOOKUPS_HANGING_MAX, HandoffActivities
from tests.handoff.test_render import EXAMPLES, _renderer, _request
from warmline.handoff import (
    MAX_RENDERED_BYTES,
    HandoffRenderer,
    HandoffTurn,
    RequestProfileSource,
    cut_utf8,
)
from warmline.triage.types import Role

PEER_SUPPORT = EXAMPLES / "peer-support/templates/handoff.md.j2"
NEWEST = "Please, I need someone to talk to right now."
CUT_NOTE_START = "\n\n[… cut here"


def _wordy_history(messages: int, chars: int) -> list[HandoffTurn]:
    """Long messages mixing emoji, right-to-left text and control characters, then `NEWEST`."""
    filler = "Ich fühle mich 😔 so allein. אני לא יודעת מה לעשות.\t\x07 👨‍👩‍👧 "
    turns = [
        HandoffTurn(
            role=Role.CUSTOMER if index % 2 == 0 else Role.AI,
            text=f"[{index}] " + (filler * (chars // len(filler) + 1))[:chars],
        )
        for index in range(messages)
    ]
    return [*turns, HandoffTurn(role=Role.CUSTOMER, text=NEWEST)]


def test_a_wordy_conversation_keeps_its_newest_messages_and_the_whole_template() -> None:
    """The last 20 messages, of 6,000 characters each, are over the size limit: the oldest give
    way, not the message that escalated nor the template's text after the history."""
    renderer = HandoffRenderer.from_file(PEER_SUPPORT)
    request = _request(crisis=True, history=_wordy_history(40, 6_000))

    package = renderer.render(request, {})

    assert package.render_error is None
    assert len(package.rendered.encode("utf-8")) <= MAX_RENDERED_BYTES
    assert NEWEST in package.rendered
    assert "[38] " in package.rendered  # the newest long message, too
    assert "[0] " not in package.rendered
    assert "Take your time." in package.rendered
    assert "call 116 123" in package.rendered
    assert not package.truncated


def test_one_huge_newest_message_is_shortened_not_lost(tmp_path: Path) -> None:
    renderer = _renderer(
        tmp_path, "{% for m in history %}{{ m.author }}: {{ m.text }}\n{% endfor %}end\n"
    )
    huge = "😔" * 19_000  # 76 KB of UTF-8 in one message, under the 20,000-character limit
    history = [
        HandoffTurn(role=Role.CUSTOMER, text="older"),
        HandoffTurn(role=Role.CUSTOMER, text=huge),
    ]

    package = renderer.render(_request(crisis=False, history=history), {})

    assert package.rendered.endswith("😔 […]\nend\n")
    assert "older" not in package.rendered
    assert len(package.rendered.encode("utf-8")) <= MAX_RENDERED_BYTES
    assert not package.truncated


def test_the_fallback_summary_is_bounded_too(tmp_path: Path) -> None:
    renderer = _renderer(tmp_path, "{{ 1 / 0 }}")
    notes = [f"spec-{index} transferred from billing: " + "n" * 2_000 for index in range(40)]
    request = _request(crisis=True, history=_wordy_history(40, 6_000), notes=notes)

    package = renderer.render(request, {})

    assert package.render_error is not None
    assert package.truncated
    head, _, _ = package.rendered.partition(CUT_NOTE_START)
    assert len(head.encode("utf-8")) <= MAX_RENDERED_BYTES
    assert "Samaritans" in package.rendered


def test_the_size_limit_never_cuts_an_emoji_sequence_apart(tmp_path: Path) -> None:
    family = "👨‍👩‍👧"  # 18 bytes of UTF-8: 65,536 is not a multiple of it
    renderer = _renderer(tmp_path, "{{ '" + family + "' * 10000 }}")

    package = renderer.render(_request(crisis=False), {})

    assert package.truncated
    head, _, _ = package.rendered.partition(CUT_NOTE_START)
    assert head
    assert head.replace(family, "") == ""


@pytest.mark.parametrize(
    ("text", "max_bytes", "expected"),
    [
        ("abcd", 3, "abc"),
        ("aé", 2, "a"),  # é is two bytes: never half of it
        ("ae\u0301x", 3, "a"),  # e + combining acute: the accent stays with its letter
        ("a👍🏽b", 5, "a"),  # a thumb without its skin tone is not what was written
        ("🇬🇧🇫🇷", 12, "🇬🇧"),  # a flag is two regional indicators
        ("שלום עולם", 5, "של"),
        ("x👨\u200d👩", 9, "x"),  # no dangling zero-width joiner, nor half a sequence
        ("whole", 5, "whole"),
    ],
)
def test_cut_utf8(text: str, max_bytes: int, expected: str) -> None:
    assert cut_utf8(text, max_bytes) == expected


class _HangingCrm:
    """A CRM that answers only when released (or after a long while)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.answered = threading.Event()
        self.calls = 0

    def lookup(
        self, tenant_id: str, conversation_id: str, country: str | None, customer_tier: str
    ) -> dict[str, str]:
        self.calls += 1
        self.release.wait(60)
        self.answered.set()
        return {"name": "Late Answer"}


def test_a_hanging_profile_source_does_not_hold_the_handoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The activity's own timeout is 30 s and it is retried without end: a lookup that never
    answers must not keep the specialist waiting for the package."""
    crm = _HangingCrm()
    activities = HandoffActivities(HandoffRenderer.from_file(PEER_SUPPORT), crm)
    try:
        with caplog.at_level(logging.WARNING, logger="activities.handoff"):
            package = ActivityEnvironment().run(activities.render_handoff, _request(crisis=True))

        assert not crm.answered.is_set()
        assert package.customer_profile == {}
        assert package.render_error is None
        assert "call 116 123" in package.rendered
        assert any("did not answer within" in str(r.exc_info) for r in caplog.records)
    finally:
        crm.release.set()


def test_sources_hanging_for_ever_are_not_asked_again_and_again() -> None:
    crm = _HangingCrm()
    activities = HandoffActivities(
        HandoffRenderer.from_file(PEER_SUPPORT), crm, profile_timeout=timedelta(seconds=0.05)
    )
    try:
        for _ in range(LOOKUPS_HANGING_MAX + 3):
            package = ActivityEnvironment().run(activities.render_handoff, _request(crisis=False))
            assert package.customer_profile == {}
        assert crm.calls == LOOKUPS_HANGING_MAX
    finally:
        crm.release.set()
    crm.answered.wait(30)


class _NumbersCrm:
    def lookup(
        self, tenant_id: str, conversation_id: str, country: str | None, customer_tier: str
    ) -> dict[str, object]:
        return {"name": "Ada", "open_tickets": 3}


def test_a_profile_with_numbers_is_shown_not_a_failed_activity() -> None:
    """A CRM connector answering `3` rather than `"3"` would otherwise fail the activity on
    every attempt (the package's profile is string facts)."""
    activities = HandoffActivities(
        HandoffRenderer.from_file(PEER_SUPPORT),
        _NumbersCrm(),  # type: ignore[arg-type]  # the mistake under test
    )
    package = ActivityEnvironment().run(activities.render_handoff, _request(crisis=False))

    assert package.customer_profile == {"name": "Ada", "open_tickets": "3"}


@pytest.mark.parametrize("template", sorted(EXAMPLES.glob("*/templates/handoff.md.j2")))
def test_a_retried_handoff_renders_the_same_package(template: Path) -> None:
    """A retry after a lost answer renders the package again: it must be the same one."""
    activities = HandoffActivities(HandoffRenderer.from_file(template), RequestProfileSource())
    request = _request(crisis=True, history=_wordy_history(30, 4_000))

    first = ActivityEnvironment().run(activities.render_handoff, request)
    again = ActivityEnvironment().run(activities.render_handoff, request)

    assert first == again
