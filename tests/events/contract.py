"""The emitting side of the event contract, for tests that read what the workflows published."""

from __future__ import annotations

from warmline.events.catalog import EventData, parse_data
from warmline.events.envelope import DomainEvent


def in_catalog(event: DomainEvent) -> EventData:
    """The event's data as its catalog model; fails on a field the catalog does not declare.

    Consumers keep undeclared fields (a later release may add some), so parsing alone would let
    an emitter send a field that no doc, schema or privacy list mentions.
    """
    data = parse_data(event.type, event.data)
    assert not data.model_extra, (
        f"{event.type} carries undeclared fields {sorted(data.model_extra)}"
    )
    return data
