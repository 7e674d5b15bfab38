"""`message.triaged` carries a rationale built from the reading, never the customer's words.

Events reach every subscribed connector (a webhook, the gRPC gateway) as they are, while a
provider's own rationale may quote the message: the lexicon its cue phrases, the crisis screen its
matches. The specialist's handoff keeps the provider's own rationale.
"""

from __future__ import annotations

from datetime import UTC, datetime

from activities.triage import EventStamp, triage_events
from warmline.events import EventType
from warmline.triage.crisis import apply_screen, screen
from warmline.triage.lexicon import LexiconProvider
from warmline.triage.types import TriageRequest

TEXT = "i cant go on, i want to end my life tonight, he said you are worthless"
STAMP = EventStamp(scope="conversation/c-1", source="/warmline/test", time=datetime.now(UTC))


def words_of(text: str) -> list[str]:
    return [w.strip(",.") for w in text.split()]


def test_the_event_quotes_no_phrase_of_the_message() -> None:
    request = TriageRequest(tenant_id="t", conversation_id="c-1", message_id="m-1", text=TEXT)
    reading = apply_screen(LexiconProvider().triage(request), screen(TEXT))
    assert "end my life" in reading.rationale, "the provider's own rationale quotes the message"

    triaged, crisis = triage_events(reading, "m-1", STAMP, "c-1")

    assert (triaged.type, crisis.type) == (EventType.MESSAGE_TRIAGED, EventType.CRISIS_DETECTED)
    published = str(triaged.data["rationale"])
    words = words_of(TEXT)
    pairs = {" ".join(words[i : i + 2]) for i in range(len(words) - 1)}
    assert not [p for p in pairs if p in published], published
    top = reading.emotions[0]
    assert published.startswith(f"lexicon reads {top.label} {top.score:.2f}")
    assert "risks: suicidal_ideation" in published
    assert published.endswith("a crisis.")
    assert {k: v for k, v in triaged.data.items() if k != "rationale"} == {
        "message_id": "m-1",
        **reading.model_dump(mode="json", exclude={"provider", "rationale"}),
    }
