"""The pure parts of the loop: sampling decisions, redaction, agreement and label mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from tests.api.conftest import load_peer_support
from warmline.annotation.agreement import alpha, majority, unanimous
from warmline.annotation.model import ItemKind, Source, policy_from_config
from warmline.annotation.redact import Redactor
from warmline.annotation.sampling import decide, draw
from warmline.config.model import Sampling
from warmline.events import DomainEvent, EventType
from warmline.events.catalog import EventDataError

SAMPLING = Sampling(
    confidence_below=0.5,
    escalation_fraction=0.5,
    all_crisis_flags=True,
    random_fraction=0.0,
    disagreements=True,
)


def event(event_type: EventType, data: dict[str, Any], event_id: str = "e-1") -> DomainEvent:
    return DomainEvent(
        id=event_id,
        type=event_type,
        source="/warmline/tenants/open-door",
        subject="c-1",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        data=data,
    )


def triaged(**changes: Any) -> DomainEvent:
    data: dict[str, Any] = {
        "message_id": "m1",
        "emotions": [{"label": "sadness", "score": 0.7}, {"label": "fear", "score": 0.2}],
        "distress": 0.6,
        "confidence": 0.9,
        "rationale": "reads sad",
        "model_version": "local:goemotions-ekman",
    }
    data.update(changes)
    return event(EventType.MESSAGE_TRIAGED, data)


def test_confident_routine_triage_is_not_sampled() -> None:
    assert decide(triaged(), SAMPLING, tone_audit_fraction=0.0) is None


def test_low_confidence_and_crisis_are_sampled_with_their_reasons() -> None:
    item = decide(
        triaged(confidence=0.3, crisis=True, risk_flags=["self_harm"]),
        SAMPLING,
        tone_audit_fraction=0.0,
    )
    assert item is not None
    assert item.sources == [Source.LOW_CONFIDENCE, Source.CRISIS]
    assert (item.tenant_id, item.conversation_id, item.message_id) == ("open-door", "c-1", "m1")
    assert item.ai_labels == ["sadness", "fear"]
    assert item.crisis
    off = SAMPLING.model_copy(update={"all_crisis_flags": False})
    assert decide(triaged(crisis=True), off, tone_audit_fraction=0.0) is None


def test_random_share_is_deterministic_per_event() -> None:
    everything = SAMPLING.model_copy(update={"random_fraction": 0.3})
    picks = [
        decide(
            event(EventType.MESSAGE_TRIAGED, triaged().data, f"e-{i}"),
            everything,
            tone_audit_fraction=0.0,
        )
        is not None
        for i in range(2000)
    ]
    assert 0.25 < sum(picks) / len(picks) < 0.35
    again = decide(
        event(EventType.MESSAGE_TRIAGED, triaged().data, "e-7"), everything, tone_audit_fraction=0
    )
    assert (again is not None) == picks[7]
    assert draw("e-7", "random") == draw("e-7", "random")


def test_escalation_fraction() -> None:
    data = {
        "queue": "care",
        "reason": "r",
        "priority": 50,
        "rule": "sustained",
        "crisis": False,
        "message_id": "m2",
    }
    picked = [
        decide(
            event(EventType.CONVERSATION_ESCALATED, data, f"x-{i}"), SAMPLING, tone_audit_fraction=0
        )
        for i in range(400)
    ]
    kept = [p for p in picked if p is not None]
    assert 0.4 < len(kept) / len(picked) < 0.6
    assert kept[0].sources == [Source.ESCALATION]
    assert kept[0].message_id == "m2"


def test_correction_enters_as_candidate_and_disagreement() -> None:
    data = {
        "specialist_id": "sp-1",
        "message_id": "m3",
        "labels": ["grief"],
        "note": "",
        "ai_labels": ["sadness"],
        "model_version": "v1",
    }
    item = decide(event(EventType.TRIAGE_CORRECTED, data), SAMPLING, tone_audit_fraction=0)
    assert item is not None
    assert item.sources == [Source.CORRECTION, Source.DISAGREEMENT]
    assert item.candidate_labels == ["grief"]
    same = data | {"labels": ["sadness"]}
    agreeing = decide(event(EventType.TRIAGE_CORRECTED, same), SAMPLING, tone_audit_fraction=0)
    assert agreeing is not None
    assert agreeing.sources == [Source.CORRECTION]


def test_handoff_outcome_disagreement_and_tone_audit() -> None:
    done = {"specialist": "sp-1", "queue": "care", "outcome": "false_alarm"}
    item = decide(event(EventType.HANDOFF_COMPLETED, done), SAMPLING, tone_audit_fraction=0)
    assert item is not None
    assert item.sources == [Source.DISAGREEMENT]
    assert item.message_id is None
    resolved = done | {"outcome": "resolved"}
    assert (
        decide(event(EventType.HANDOFF_COMPLETED, resolved), SAMPLING, tone_audit_fraction=0)
        is None
    )
    closed = {"reason": "resolved", "messages": 3}
    audit = decide(event(EventType.CONVERSATION_CLOSED, closed), SAMPLING, tone_audit_fraction=0.1)
    assert audit is not None
    assert audit.kind is ItemKind.TONE
    assert (
        decide(event(EventType.CONVERSATION_CLOSED, closed), SAMPLING, tone_audit_fraction=0)
        is None
    )


def test_the_outcomes_that_disagree_are_configured() -> None:
    done = {"specialist": "sp-1", "queue": "care", "outcome": "not_for_us"}
    handoff = event(EventType.HANDOFF_COMPLETED, done)
    assert decide(handoff, SAMPLING, tone_audit_fraction=0) is None
    own = SAMPLING.model_copy(update={"disagreeing_outcomes": ["not_for_us"]})
    item = decide(handoff, own, tone_audit_fraction=0)
    assert item is not None
    assert item.sources == [Source.DISAGREEMENT]
    shipped = event(EventType.HANDOFF_COMPLETED, done | {"outcome": "false_alarm"})
    assert decide(shipped, own, tone_audit_fraction=0) is None
    off = own.model_copy(update={"disagreements": False})
    assert decide(handoff, off, tone_audit_fraction=0) is None


@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        (["misrouted", "misrouted"], "disagreeing outcome 'misrouted' is defined twice"),
        (["False Alarm"], "String should match pattern"),
    ],
)
def test_disagreeing_outcomes_are_checked_at_load(outcomes: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Sampling.model_validate({"disagreeing_outcomes": outcomes})


def test_bad_event_data_is_an_error() -> None:
    with pytest.raises(EventDataError):
        decide(triaged(confidence="very"), SAMPLING, tone_audit_fraction=0)


@pytest.mark.parametrize(
    ("text", "secrets"),
    [
        ("I'm Margaret Thompson and you can call 07911 123456", ["Margaret", "Thompson", "07911"]),
        ("write to john.smith@example.org please", ["john.smith", "example.org"]),
        ("my number is +44 20 7946 0958, ask for David", ["7946", "David"]),
        ("my postcode is SW1A 1AA", ["SW1A"]),
    ],
)
def test_redaction_removes_personal_data(text: str, secrets: list[str]) -> None:
    redacted, count = Redactor().redact(text)
    assert count >= 1
    for secret in secrets:
        assert secret not in redacted


def test_redaction_keeps_the_feeling_and_known_names() -> None:
    redactor = Redactor(known_names=["Kit Lawson"])
    redacted, count = redactor.redact("kit lawson said I'm so scared and alone tonight")
    assert redacted == "{{NAME}} said I'm so scared and alone tonight"
    assert count == 1
    assert redactor.redact("I am so scared and alone tonight") == (
        "I am so scared and alone tonight",
        0,
    )


def test_alpha_majority_and_unanimity() -> None:
    labels = ["joy", "sadness", "fear"]
    agree = [{"a": ["joy"], "b": ["joy"]}, {"a": ["fear"], "b": ["fear"]}]
    disagree = [{"a": ["joy"], "b": ["sadness"]}, {"a": ["fear"], "b": ["joy"]}]
    assert alpha(agree, labels) == pytest.approx(1.0)
    low = alpha(disagree, labels)
    assert low is not None
    assert low < 0
    assert alpha([{"a": ["joy"], "b": ["joy"]}], ["joy"]) is None, "no variation: undefined"
    assert alpha([{"a": ["joy"]}], labels) is None, "one annotator: undefined"
    assert majority({"a": ["joy"], "b": ["joy", "fear"], "c": ["fear", "joy"]}) == ["joy", "fear"]
    assert majority({"a": ["joy"], "b": ["fear"]}) == []
    assert unanimous({"a": ["joy", "fear"], "b": ["fear", "joy"]})


def test_policy_from_config_maps_labels_to_the_model_taxonomy() -> None:
    config = load_peer_support()
    policy = policy_from_config(config)
    assert policy.model_taxonomy == "original"
    assert policy.overlap == 3
    assert {a.id for a in policy.annotators if a.senior} == {"an-kit", "an-yu"}
    custom = policy.model_copy(
        update={"label_map": {"shocked": "fear", "grieving": "sadness", "anxious": "fear"}}
    )
    assert custom.to_model_labels(["shocked", "anxious", "calm"]) == ["fear", "calm"]
