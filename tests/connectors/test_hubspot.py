"""The HubSpot connector through the test kit: the real broker and Redis, a fake HubSpot."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from connectors.http import check_status, retry_after_seconds
from connectors.hubspot import HubSpotConnector, HubSpotProfileSource, HubSpotSettings
from connectors.sdk.connector import ConnectorContext, PermanentError, RetryableError
from connectors.sdk.testkit import FAST_RETRIES, ConnectorHarness, DeadLetter
from tests.connectors.fakes import HUBSPOT_TOKEN, FakeHubSpot, Fault, consuming
from warmline.events.envelope import DomainEvent
from warmline.events.types import EventType
from warmline.handoff import CustomerProfileSource

TICKETS = "/crm/v3/objects/tickets"
SEARCH = "/crm/v3/objects/tickets/search"
NOTES = "/crm/v3/objects/notes"
READ_NOTES = "/crm/v3/objects/notes/batch/read"
# Room for a Retry-After of a second; backoff without one stays in the tens of milliseconds.
RUNNER = replace(FAST_RETRIES, max_backoff=timedelta(seconds=3))


def escalated(**changes: Any) -> dict[str, Any]:
    return {
        "queue": "claims",
        "reason": "grief after a bereavement claim",
        "priority": 5,
        "rule": "grief",
        "crisis": False,
        "message_id": "m1",
    } | changes


ACCEPTED = {
    "specialist": "sam",
    "queue": "claims",
    "offer_id": "o1",
    "crisis": True,
    "waited_ms": 1500,
}
COMPLETED = {"specialist": "sam", "queue": "claims", "outcome": "resolved"}
CLOSED = {"reason": "completed", "messages": 7}


def settings(hub: FakeHubSpot, **changes: Any) -> dict[str, Any]:
    return {
        "base_url": hub.url,
        "timeout_seconds": 1.0,
        "ticket_properties": {
            "subject": "Escalation {{ event.subject }} to {{ data.queue }}",
            "content": "{{ data.reason }}",
            "hs_ticket_priority": (
                "{{ data.priority_label | default('HIGH' if data.crisis else 'MEDIUM') }}"
            ),
        },
    } | changes


def harness(
    hub: FakeHubSpot, kafka: str, redis: str, *, name: str | None = None, **changes: Any
) -> AbstractAsyncContextManager[ConnectorHarness]:
    return consuming(
        lambda: ConnectorHarness(
            HubSpotConnector,
            settings(hub, **changes),
            kafka=kafka,
            redis=redis,
            secrets={"access_token": HUBSPOT_TOKEN},
            runner=RUNNER,
            name=name,
        )
    )


def tickets_of(hub: FakeHubSpot, conversation: str) -> list[Mapping[str, str]]:
    return [
        t.properties
        for t in hub.tickets.values()
        if t.properties.get("warmline_conversation_id") == conversation
    ]


def creates_of(hub: FakeHubSpot, conversation: str) -> list[int]:
    """Statuses of the ticket creations sent for `conversation`."""
    return [
        r.status
        for r in hub.seen("POST", TICKETS)
        if r.json()["properties"]["warmline_conversation_id"] == conversation
    ]


def searches_of(hub: FakeHubSpot, conversation: str) -> list[tuple[float, int]]:
    return [
        (r.at, r.status)
        for r in hub.seen("POST", SEARCH)
        if r.json()["filterGroups"][0]["filters"][0]["value"] == conversation
    ]


def reads_of(hub: FakeHubSpot, conversation: str) -> list[tuple[float, int]]:
    """When the conversation's ticket was read by its unique property, and the statuses."""
    reads = hub.seen("GET", f"{TICKETS}/{conversation}")
    assert all(r.query["idProperty"] == ["warmline_conversation_id"] for r in reads)
    return [(r.at, r.status) for r in reads]


def ticket_notes(ticket: str) -> str:
    return f"/crm/v4/objects/tickets/{ticket}/associations/notes"


def marker(event: DomainEvent) -> str:
    return f"<!-- warmline-event {event.id} -->"


async def dead_letters(kit: ConnectorHarness, count: int) -> dict[str, DeadLetter]:
    """Once the runner dead-lettered `count` events, the dead letters by conversation.

    (`kit.dead_letters` blocks: waiting in it would stall the runner on this same event loop.)
    """
    await kit.wait_for(lambda: kit.runner.stats.dead_lettered >= count)
    letters = kit.dead_letters(expect=count)
    assert len(letters) == count
    return {(letter.key or b"").decode(): letter for letter in letters}


async def test_one_ticket_per_conversation_with_a_note_then_closed(
    kafka_bootstrap: str, redis_url: str
) -> None:
    with FakeHubSpot() as hub:
        async with harness(hub, kafka_bootstrap, redis_url) as kit:
            escalation = kit.event(
                EventType.CONVERSATION_ESCALATED, escalated(crisis=True), subject="conv-a"
            )
            accepted = kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="conv-a")
            completed = kit.event(EventType.HANDOFF_COMPLETED, COMPLETED, subject="conv-a")
            closed = kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="conv-a")
            ai_only = kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="conv-ai-only")
            await kit.emit(escalation, escalation, accepted, completed, closed, ai_only)
            await kit.wait_handled(5)
            assert kit.runner.stats.duplicates == 1
            assert kit.dead_letters() == []

        [ticket] = hub.tickets.values()
        assert ticket.properties == {
            "subject": "Escalation conv-a to claims",
            "content": "grief after a bereavement claim",
            "hs_ticket_priority": "HIGH",
            "hs_pipeline": "0",
            "hs_pipeline_stage": "4",
            "warmline_conversation_id": "conv-a",
        }
        [note] = hub.notes.values()
        assert note.associations == {ticket.id}
        body = note.properties["hs_note_body"]
        accept_text = "Handoff accepted by sam from queue claims (crisis lane) after 1.5 s."
        assert body == accept_text + marker(accepted)
        assert note.properties["hs_timestamp"] == accepted.time.isoformat(
            timespec="milliseconds"
        ).replace("+00:00", "Z")
        # Closed twice (completed, then closed); the AI-only conversation had no ticket to close.
        assert [r.path for r in hub.seen("PATCH")] == [f"{TICKETS}/{ticket.id}"] * 2
        # Only the reads of tickets not there yet (before the escalation's create, and the
        # AI-only conversation's) find nothing; HubSpot's lagging search is not used.
        assert [r.status for r in hub.seen() if r.status >= 300] == [404, 404]
        assert reads_of(hub, "conv-a")[0][1] == 404
        assert reads_of(hub, "conv-ai-only")[0][1] == 404
        assert hub.seen("POST", SEARCH) == []

        # A restarted connector whose dedupe forgot the event, and a second escalation of the
        # same conversation: the ticket is read by its conversation property, so no second one.
        async with harness(hub, kafka_bootstrap, redis_url) as kit:
            again = kit.event(
                EventType.CONVERSATION_ESCALATED, escalated(queue="grief"), subject="conv-a"
            )
            await kit.emit(escalation, again)
            await kit.wait_handled(2)
        assert len(hub.tickets) == 1
        assert creates_of(hub, "conv-a") == [201]


async def test_retries_500s_timeouts_and_429_then_succeeds(
    kafka_bootstrap: str, redis_url: str
) -> None:
    with FakeHubSpot() as hub:
        async with harness(hub, kafka_bootstrap, redis_url) as kit:
            hub.fail_next(2, Fault("error", status=503, method="POST", path=TICKETS))
            await kit.emit(
                kit.event(EventType.CONVERSATION_ESCALATED, escalated(), subject="c-5xx")
            )
            await kit.wait_handled(1)
            assert creates_of(hub, "c-5xx") == [503, 503, 201]
            assert len(tickets_of(hub, "c-5xx")) == 1

            # The ticket is created but the answer never arrives, and HubSpot's search does not
            # show it for seconds yet: the retry reads it by its conversation property.
            hub.fail_next(1, Fault("timeout", delay=2.0, method="POST", path=TICKETS))
            await kit.emit(
                kit.event(EventType.CONVERSATION_ESCALATED, escalated(), subject="c-slow")
            )
            await kit.wait_handled(2)
            assert creates_of(hub, "c-slow") == [201]
            assert len(tickets_of(hub, "c-slow")) == 1
            assert [status for _, status in reads_of(hub, "c-slow")] == [404, 200]
            assert searches_of(hub, "c-slow") == []

            hub.fail_next(
                1, Fault("rate_limit", retry_after="1", method="GET", path=f"{TICKETS}/c-429")
            )
            await kit.emit(
                kit.event(EventType.CONVERSATION_ESCALATED, escalated(), subject="c-429")
            )
            await kit.wait_handled(3)
            (limited_at, limited), (retried_at, ok) = reads_of(hub, "c-429")
            assert (limited, ok) == (429, 404)
            assert retried_at - limited_at >= 0.95, "Retry-After: 1 was not honoured"

            retries = kit.runner.stats.retries
            hub.fail_next(1, Fault("slow", delay=0.3, method="GET", path=f"{TICKETS}/c-lag"))
            started = time.monotonic()
            await kit.emit(
                kit.event(EventType.CONVERSATION_ESCALATED, escalated(), subject="c-lag")
            )
            await kit.wait_handled(4)
            assert time.monotonic() - started >= 0.3
            assert kit.runner.stats.retries == retries, "a slow answer within the timeout is fine"
            assert len(tickets_of(hub, "c-lag")) == 1
            assert kit.dead_letters() == []


async def test_garbage_refusals_and_missing_tickets_end_in_the_dead_letter(
    kafka_bootstrap: str, redis_url: str
) -> None:
    with FakeHubSpot() as hub:
        async with harness(hub, kafka_bootstrap, redis_url) as kit:
            hub.fail_next(5, Fault("garbage", method="GET", path=f"{TICKETS}/c-junk"))
            await kit.emit(
                kit.event(EventType.CONVERSATION_ESCALATED, escalated(), subject="c-junk")
            )
            junk = (await dead_letters(kit, 1))["c-junk"]
            assert "on_escalated failed after 5 attempt(s)" in junk.reason
            assert "HTTP 200 with a body that is not the expected JSON" in junk.reason
            assert "502 Bad Gateway" in junk.reason
            assert hub.faults_left() == 0

            # The template maps a value this portal does not allow: HubSpot says 400, no retry.
            refused = escalated(priority_label="SEVERE")
            await kit.emit(kit.event(EventType.CONVERSATION_ESCALATED, refused, subject="c-400"))
            invalid = (await dead_letters(kit, 2))["c-400"]
            assert "on_escalated failed after 1 attempt(s)" in invalid.reason
            assert "HTTP 400" in invalid.reason
            assert "SEVERE was not one of the allowed options" in invalid.reason
            assert creates_of(hub, "c-400") == [400]

            # Accepted for a conversation HubSpot has no ticket for: retried, then dead-lettered.
            await kit.emit(kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="c-none"))
            orphan = (await dead_letters(kit, 3))["c-none"]
            assert "on_accepted failed after 5 attempt(s)" in orphan.reason
            assert "no HubSpot ticket for conversation c-none" in orphan.reason
            assert hub.tickets == {}
            assert kit.runner.stats.handled == 0


async def test_a_note_whose_answer_was_lost_is_not_added_again(
    kafka_bootstrap: str, redis_url: str
) -> None:
    with FakeHubSpot() as hub:
        async with harness(hub, kafka_bootstrap, redis_url) as kit:
            escalation = kit.event(EventType.CONVERSATION_ESCALATED, escalated(), subject="c-n")
            await kit.emit(escalation)
            await kit.wait_handled(1)
            [ticket] = hub.tickets

            # The note is created but the answer never arrives: before posting it again, the
            # retry reads the ticket's notes (not through the lagging search) and finds it.
            hub.fail_next(1, Fault("timeout", delay=2.0, method="POST", path=NOTES))
            lost = kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="c-n")
            await kit.emit(lost)
            await kit.wait_handled(2)
            [note] = hub.notes.values()
            assert note.properties["hs_note_body"].endswith(marker(lost))
            assert [r.status for r in hub.seen("POST", NOTES)] == [201]
            [listed] = hub.seen("GET", ticket_notes(ticket))
            assert (listed.status, listed.query["limit"]) == (200, ["500"])
            [read] = hub.seen("POST", READ_NOTES)
            assert read.status == 200
            assert read.json() == {
                "inputs": [{"id": note.id}],
                "properties": ["hs_note_body", "hs_timestamp"],
                "propertiesWithHistory": [],
            }

            # A later handoff's note, refused with a 503 (nothing created): the retry finds no
            # note of this event among the ticket's notes and adds it.
            hub.fail_next(1, Fault("error", status=503, method="POST", path=NOTES))
            later = kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="c-n")
            later = later.model_copy(update={"time": lost.time + timedelta(minutes=20)})
            await kit.emit(later)
            await kit.wait_handled(3)
            assert [r.status for r in hub.seen("POST", NOTES)] == [201, 503, 201]
            assert len(hub.seen("POST", READ_NOTES)) == 2
            bodies = [n.properties["hs_note_body"] for n in hub.notes.values()]
            assert sorted(b[b.index("<!--") :] for b in bodies) == sorted(
                [marker(lost), marker(later)]
            )
            assert all(n.associations == {ticket} for n in hub.notes.values())
            assert kit.dead_letters() == []


async def test_a_note_in_doubt_when_its_process_stops_is_looked_up_by_the_next(
    kafka_bootstrap: str, redis_url: str
) -> None:
    name = f"crm-{uuid.uuid4().hex[:10]}"

    def process() -> AbstractAsyncContextManager[ConnectorHarness]:
        """A connector process of the deployment's `crm`: same name, so same dedupe scope."""
        return harness(hub, kafka_bootstrap, redis_url, name=name)

    with FakeHubSpot() as hub:
        async with process() as first:
            await first.emit(
                first.event(EventType.CONVERSATION_ESCALATED, escalated(), subject="c-restart")
            )
            await first.wait_handled(1)
            [ticket] = hub.tickets
            # HubSpot creates the note, but its answer is still on the way when the process
            # stops (a deploy, a crash): the accept is left undone, to be redelivered.
            hub.fail_next(1, Fault("timeout", delay=2.0, method="POST", path=NOTES))
            accept = first.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="c-restart")
            await first.emit(accept)
            await first.wait_for(lambda: len(hub.notes) == 1)
        assert first.runner.stats.handled == 1

        # The next process gets the accept again; it looks before posting, and finds the note.
        async with process() as second:
            await second.emit(accept)
            await second.wait_handled(1)
            assert second.dead_letters() == []
        [note] = hub.notes.values()
        assert note.properties["hs_note_body"].endswith(marker(accept))
        assert [r.status for r in hub.seen("POST", NOTES)] == [201]
        assert [r.status for r in hub.seen("GET", ticket_notes(ticket))] == [200]


async def test_a_conflict_on_create_is_the_ticket_created_meanwhile(
    kafka_bootstrap: str, redis_url: str
) -> None:
    with FakeHubSpot() as hub:
        # Another process creates the ticket between this one's read (a 404) and its create.
        created = hub.add_ticket(
            {"hs_pipeline": "0", "hs_pipeline_stage": "1", "warmline_conversation_id": "c-race"}
        )
        hub.fail_next(1, Fault("error", status=404, method="GET", path=f"{TICKETS}/c-race"))
        async with harness(hub, kafka_bootstrap, redis_url) as kit:
            await kit.emit(
                kit.event(EventType.CONVERSATION_ESCALATED, escalated(), subject="c-race")
            )
            await kit.emit(kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="c-race"))
            await kit.wait_handled(2)
            assert kit.dead_letters() == []
        assert creates_of(hub, "c-race") == [409]
        assert [status for _, status in reads_of(hub, "c-race")] == [404, 200]
        assert list(hub.tickets) == [created]
        [note] = hub.notes.values()
        assert note.associations == {created}


async def test_without_a_unique_property_the_ticket_is_searched(
    kafka_bootstrap: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A portal whose conversation property was created without unique values: HubSpot refuses
    to read by it, and search stands in (with its index's lag, warned about once)."""
    with FakeHubSpot(unique_properties=frozenset(), search_lag=0.0) as hub:
        async with harness(hub, kafka_bootstrap, redis_url) as kit:
            await kit.emit(
                kit.event(EventType.CONVERSATION_ESCALATED, escalated(), subject="c-plain")
            )
            await kit.wait_handled(1)
        async with harness(hub, kafka_bootstrap, redis_url) as kit:
            await kit.emit(
                kit.event(EventType.CONVERSATION_ESCALATED, escalated(), subject="c-plain"),
                kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="c-plain"),
            )
            await kit.wait_handled(2)
            assert kit.dead_letters() == []
        assert creates_of(hub, "c-plain") == [201]
        assert [status for _, status in reads_of(hub, "c-plain")] == [400, 400]
        assert [status for _, status in searches_of(hub, "c-plain")] == [200, 200]
        assert len(hub.notes) == 1
        warnings = [r for r in caplog.records if "unique-value property" in r.getMessage()]
        assert len(warnings) == 2, "once per connector process"


def test_profile_lookup_gives_the_contact_facts() -> None:
    with FakeHubSpot() as hub:
        open_ticket = hub.add_ticket({"hs_pipeline": "0", "hs_pipeline_stage": "2"})
        closed_ticket = hub.add_ticket({"hs_pipeline": "0", "hs_pipeline_stage": "4"})
        contact = hub.add_contact(
            {
                "firstname": "Ada",
                "lastname": "Okafor",
                "lifecyclestage": "customer",
                "warmline_conversation_id": "conv-p",
            },
            tickets=(open_ticket, closed_ticket),
        )
        source: CustomerProfileSource = HubSpotProfileSource(
            HUBSPOT_TOKEN, base_url=hub.url, timeout_seconds=1.0
        )
        assert source.lookup("harbour", "conv-p", "GB", "gold") == {
            "hubspot_contact_id": contact,
            "name": "Ada Okafor",
            "lifecycle_stage": "customer",
            "open_tickets": "1",
        }
        assert source.lookup("harbour", "conv-unknown", None, "") == {}

        hub.fail_next(1, Fault("error", status=503))
        with pytest.raises(RetryableError, match="HTTP 503"):
            source.lookup("harbour", "conv-p", None, "")
        hub.fail_next(1, Fault("timeout", delay=2.0))
        with pytest.raises(RetryableError, match="timed out after 1s"):
            source.lookup("harbour", "conv-p", None, "")

        wrong = HubSpotProfileSource("pat-revoked", base_url=hub.url, timeout_seconds=1.0)
        with pytest.raises(PermanentError, match=r"HTTP 401.*INVALID_AUTHENTICATION"):
            wrong.lookup("harbour", "conv-p", None, "")
        wrong.close()
        assert isinstance(source, HubSpotProfileSource)
        source.close()


def test_settings_are_checked_when_the_configuration_is() -> None:
    with pytest.raises(ValidationError, match="come from `pipeline` and `open_stage`"):
        HubSpotSettings.model_validate({"ticket_properties": {"hs_pipeline_stage": "2"}})
    with pytest.raises(ValidationError, match=r"ticket_properties\.subject: line 1"):
        HubSpotSettings.model_validate({"ticket_properties": {"subject": "{{ data.queue "}})
    with pytest.raises(ValidationError, match="note_template: line 2"):
        HubSpotSettings.model_validate({"note_template": "ok\n{% if %}"})
    with pytest.raises(ValidationError, match="extra"):
        HubSpotSettings.model_validate({"portal": 1})
    with pytest.raises(Exception, match="needs the secret access_token"):
        HubSpotConnector(HubSpotSettings(), ConnectorContext(name="crm", secrets={}))


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(later, now=now) == 30.0
    assert retry_after_seconds(format_datetime(now - timedelta(hours=1), usegmt=True), now=now) == 0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_a_retry_after_in_other_digits_is_ignored_not_a_crash() -> None:
    """`str.isdigit` holds for "²" (and "٣"), which `float` refused: a 429 or 503 carrying one
    raised `ValueError` from the status check instead of `RetryableError`, so the dead letter
    said "ValueError: could not convert string to float" rather than what HubSpot answered."""
    assert retry_after_seconds("²") is None
    assert retry_after_seconds("٣") is None
    # As received: one byte, which httpx reads as Latin-1 "²".
    response = httpx.Response(429, headers=[(b"Retry-After", b"\xb2")], text="slow down")
    with pytest.raises(RetryableError, match="HTTP 429: slow down") as raised:
        check_status(response, "create HubSpot ticket")
    assert raised.value.retry_after is None
