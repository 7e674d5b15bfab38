"""The CloudEvents 1.0 envelope of a domain event, in Kafka's binary content mode.

Attributes travel as `ce_` headers and the data as a JSON value; the record key is the event's
subject (a conversation or worker id), so per-conversation and per-worker order holds.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import AwareDatetime, BaseModel, ConfigDict

from warmline.errors import WarmlineError
from warmline.events.types import EventType

# Fixed namespace: the same workflow step always yields the same event id, across retries.
_EVENT_ID_NAMESPACE = uuid.UUID("5b0f5a8e-2f7e-4c57-9a38-6f1d3c1f7a10")
_JSON = JSONFormat()
CONTENT_TYPE = "application/json"


class EventDecodeError(WarmlineError):
    """A Kafka record is not a warmline event; `reason` says why (it goes to the dead letter)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def execution_scope(workflow_id: str, first_execution_run_id: str) -> str:
    """The scope of the events of one workflow execution (continue-as-new keeps it).

    The workflow id alone repeats: a customer who writes after their conversation closed starts
    it again under the same id, and its steps again from the first, so connectors that drop an
    id they have seen would drop the new conversation's events as duplicates.
    """
    return f"{workflow_id}@{first_execution_run_id}"


def event_id(scope: str, step: str) -> str:
    """A deterministic event id: a retried activity re-sends the same event, not a new one.

    `scope` is usually the workflow id and `step` names the step within it (e.g. `msg-7/triaged`).
    """
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{scope}/{step}"))


class DomainEvent(BaseModel):
    """One domain event; `subject` is the conversation id, or the worker id for wellness events."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    type: EventType
    source: str
    subject: str
    time: AwareDatetime
    data: dict[str, Any]


@dataclass(frozen=True)
class KafkaRecord:
    """What goes on the wire: key, headers as kafka-python takes them, and the value."""

    key: bytes
    headers: list[tuple[str, bytes]]
    value: bytes


def to_record(event: DomainEvent) -> KafkaRecord:
    """Encode an event in binary content mode, keyed by its subject."""
    cloud_event = CloudEvent(
        attributes={
            "id": event.id,
            "type": event.type.value,
            "source": event.source,
            "subject": event.subject,
            "time": event.time,
            "datacontenttype": CONTENT_TYPE,
        },
        data=event.data,
    )
    message = ce_kafka.to_binary(cloud_event, _JSON, key_mapper=lambda _: event.subject)
    return KafkaRecord(
        key=event.subject.encode(),
        headers=sorted(message.headers.items()),
        value=message.value,
    )


def from_record(key: bytes | None, headers: list[tuple[str, bytes]], value: bytes) -> DomainEvent:
    """Decode a record into an event, or raise `EventDecodeError` saying what is wrong with it."""
    names = {name.lower() for name, _ in headers}
    missing = [h for h in ("ce_id", "ce_type", "ce_source", "ce_specversion") if h not in names]
    if missing:
        raise EventDecodeError(f"not a CloudEvent: missing header(s) {', '.join(missing)}")
    try:
        message = ce_kafka.KafkaMessage(headers=dict(headers), key=key, value=value)
        cloud_event = ce_kafka.from_binary(message, _JSON, CloudEvent)
    except UnicodeDecodeError as error:
        raise EventDecodeError(
            f"a header is not UTF-8: {error.reason} at byte {error.start}"
        ) from None
    except (BaseCloudEventException, ValueError) as error:
        raise EventDecodeError(f"invalid CloudEvent: {error}") from None
    type_name = cloud_event.get_type()
    try:
        event_type = EventType(type_name)
    except ValueError:
        raise EventDecodeError(_unknown_type(type_name)) from None
    data = cloud_event.get_data()
    if isinstance(data, bytes):
        raise EventDecodeError("data is not UTF-8")
    if isinstance(data, str):
        raise EventDecodeError(f"data is not a JSON object: {_json_problem(value)}")
    if not isinstance(data, dict):
        raise EventDecodeError("data must be a JSON object")
    time = cloud_event.get_time()
    if not isinstance(time, datetime) or time.tzinfo is None:
        raise EventDecodeError("time must be an RFC 3339 timestamp with a zone")
    return DomainEvent(
        id=cloud_event.get_id(),
        type=event_type,
        source=cloud_event.get_source(),
        subject=cloud_event.get_subject() or "",
        time=time,
        data=data,
    )


def _json_problem(value: bytes) -> str:
    """Why the record's value, which the CloudEvents SDK could not read as an object, is not
    one: where its JSON breaks, or which JSON it is instead (the SDK hands both on as text)."""
    try:
        found = json.loads(value)
    except json.JSONDecodeError as error:
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    return f"found a JSON {type(found).__name__.replace('str', 'string')}"


def _unknown_type(type_name: str) -> str:
    """Name what is known when only the version differs, so the fix is obvious."""
    family = type_name.rsplit(".v", 1)[0]
    versions = sorted(
        t.value.rsplit(".", 1)[1] for t in EventType if t.value.startswith(family + ".v")
    )
    if versions:
        return f"unknown event type {type_name!r}: this consumer knows {', '.join(versions)}"
    return f"unknown event type {type_name!r}"
