"""The sampling policy: which domain events become annotation items, and why.

Pure and deterministic: a random share is drawn from a hash of the event id, so a redelivered
event makes the same decision and a replayed stream samples the same items. The workflow merges
requests for one message (sampled for low confidence and as a crisis, say) into one item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from warmline.annotation.model import ItemKind, ItemRequest, Source
from warmline.config.model import Sampling, WarmlineConfig
from warmline.events import DomainEvent, EventType
from warmline.events.catalog import (
    ConversationEscalated,
    CrisisDetected,
    HandoffCompleted,
    MessageTriaged,
    TriageCorrected,
    parse_data,
)

SAMPLED_TYPES = frozenset(
    {
        EventType.MESSAGE_TRIAGED,
        EventType.CRISIS_DETECTED,
        EventType.CONVERSATION_ESCALATED,
        EventType.TRIAGE_CORRECTED,
        EventType.HANDOFF_COMPLETED,
        EventType.CONVERSATION_CLOSED,
    }
)
TENANT_SOURCE_PREFIX = "/warmline/tenants/"
DEFAULT_LANGUAGE = "en"
"""The language of an item whose tenant the sampler does not know."""


def draw(key: str, purpose: str) -> float:
    """A uniform number in [0, 1) fixed by `key` and `purpose`."""
    digest = hashlib.sha256(f"{key}/{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def picked(key: str, purpose: str, fraction: float) -> bool:
    return fraction > 0 and draw(key, purpose) < fraction


def tenant_of(event: DomainEvent) -> str:
    return event.source.removeprefix(TENANT_SOURCE_PREFIX).strip("/")


def tenant_languages(config: WarmlineConfig) -> dict[str, str]:
    """Each configured tenant's language: its `locale` (`de-DE`), which the inbound bridge gives
    every conversation it starts for the tenant."""
    return {tenant.id: tenant.locale for tenant in config.tenants}


def decide(  # noqa: PLR0911 - one return per event type reads plainer than a dispatch table
    event: DomainEvent,
    sampling: Sampling,
    *,
    tone_audit_fraction: float,
    languages: Mapping[str, str] | None = None,
) -> ItemRequest | None:
    """The item this event asks to annotate, or None. Raises `EventDataError` for bad data.

    `languages` maps tenant ids to the language their conversations are held in (the tenant's
    `locale`, see `tenant_languages`): the item carries it, so it goes to annotators who read it.
    A tenant it does not name is taken to write English, the item's default."""
    if event.type not in SAMPLED_TYPES:
        return None
    data = parse_data(event.type, event.data)
    tenant = tenant_of(event)
    base = ItemRequest(
        tenant_id=tenant,
        conversation_id=event.subject,
        sources=[Source.RANDOM],
        language=(languages or {}).get(tenant, DEFAULT_LANGUAGE),
    )
    if isinstance(data, MessageTriaged):
        return _triaged(event, data, sampling, base)
    if isinstance(data, CrisisDetected):
        return _copy(
            base,
            sampling.all_crisis_flags,
            message_id=data.message_id,
            sources=[Source.CRISIS],
            crisis=True,
        )
    if isinstance(data, ConversationEscalated):
        return _copy(
            base,
            picked(event.id, "escalation", sampling.escalation_fraction),
            message_id=data.message_id,
            sources=[Source.ESCALATION],
            crisis=data.crisis,
        )
    if isinstance(data, TriageCorrected):
        sources = [Source.CORRECTION]
        if sampling.disagreements and set(data.labels) != set(data.ai_labels):
            sources.append(Source.DISAGREEMENT)
        return _copy(
            base,
            True,
            message_id=data.message_id,
            sources=sources,
            model_version=data.model_version,
            ai_labels=data.ai_labels,
            candidate_labels=data.labels,
        )
    if isinstance(data, HandoffCompleted):
        wanted = sampling.disagreements and data.outcome in sampling.disagreeing_outcomes
        return _copy(base, wanted, sources=[Source.DISAGREEMENT])
    return _copy(
        base,
        event.type is EventType.CONVERSATION_CLOSED and tone_audit_fraction > 0,
        kind=ItemKind.TONE,
        sources=[Source.TONE_AUDIT],
    )


def _copy(base: ItemRequest, wanted: bool, **changes: Any) -> ItemRequest | None:
    return base.model_copy(update=changes) if wanted else None


def _triaged(
    event: DomainEvent, data: MessageTriaged, sampling: Sampling, base: ItemRequest
) -> ItemRequest | None:
    sources: list[Source] = []
    if data.confidence < sampling.confidence_below:
        sources.append(Source.LOW_CONFIDENCE)
    if sampling.all_crisis_flags and (data.crisis or data.risk_flags):
        sources.append(Source.CRISIS)
    if picked(event.id, "random", sampling.random_fraction):
        sources.append(Source.RANDOM)
    return _copy(
        base,
        bool(sources),
        message_id=data.message_id,
        sources=sources,
        distress=data.distress,
        crisis=data.crisis,
        model_version=data.model_version,
        ai_labels=[emotion.label for emotion in data.emotions[:3]],
    )
