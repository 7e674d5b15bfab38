"""The CloudEvents 1.0 envelope of a domain event, in Kafka's binary content mode.

Attributes travel as `ce_` headers and the data as a JSON value; the record key is the event's
subject (a conversation or worker id), so per-conversation and per-worker order holds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from warmline.errors import WarmlineError
from warmline.events.types import EventType

# Fixed namespace: the same workflow step always yields the same event id, across retries.
_EVENT_ID_NAMESPACE = uuid.UUID("5b0f5a8e-2f7e-4c57-9a38-6f1d3c1f7a10")
_JSON = JSONFormat()
CONTENT_TYPE = "application/json"
CONTENT_TYPE_HEADER = "content-type"
STRUCTURED_CONTENT_TYPE = "application/cloudevents"
"""The content type of CloudEvents' structured content mode (`application/cloudevents+json`)."""
MAX_DATA_DEPTH = 32
"""The deepest an event's data may nest (objects and arrays). warmline's own types nest three
levels; a deeper value is refused with a reason rather than left to exhaust the stack of
whatever reads it next."""


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


def from_record(
    key: bytes | None, headers: Sequence[tuple[str, bytes | None]], value: bytes | None
) -> DomainEvent:
    """Decode a record into an event, or raise `EventDecodeError` saying what is wrong with it.

    Nothing else escapes, whatever the bytes: the bridge, the annotation sampler and the wellness
    tracker dead-letter or skip what this refuses, and any other exception would stop them on one
    record and, redelivered, on every restart. The CloudEvents SDK reads the attributes; the data
    is read here, because the SDK hands JSON it cannot read on as text and lets some failures
    (nesting too deep) through.
    """
    names = {name.lower() for name, _ in headers}
    missing = [h for h in ("ce_id", "ce_type", "ce_source", "ce_specversion") if h not in names]
    if missing:
        raise EventDecodeError(
            f"not a CloudEvent: missing header(s) {', '.join(missing)}{_structured(headers)}"
        )
    texts = _header_texts(headers)
    if "ce_time" not in names:
        # CloudEvents makes `time` optional, and the SDK fills one in: the moment of reading,
        # different at every read. warmline orders HR events by their time (the latest wins) and
        # reports when things happened, so an invented time would let a stale event win.
        raise EventDecodeError(
            "the event has no time (header ce_time): warmline needs when it happened, as an "
            "RFC 3339 timestamp with a zone (e.g. 2026-11-24T09:30:00Z)"
        )
    if key is not None:
        try:
            key.decode("utf-8")
        except UnicodeDecodeError as error:
            raise EventDecodeError(
                f"the record key is not UTF-8: {error.reason} at byte {error.start} (the key is "
                "the event's subject, a conversation or worker id)"
            ) from None
    try:
        # The key is checked above and not passed on: the SDK would only make it a
        # `partitionkey` extension, which warmline does not use.
        message = ce_kafka.KafkaMessage(
            headers={name: text.encode() for name, text in texts.items()}, key=None, value=b""
        )
        cloud_event = ce_kafka.from_binary(message, _JSON, CloudEvent)
    except (BaseCloudEventException, ValueError, OverflowError) as error:
        raise EventDecodeError(f"invalid CloudEvent: {error}") from None
    type_name = cloud_event.get_type()
    try:
        event_type = EventType(type_name)
    except ValueError:
        raise EventDecodeError(_unknown_type(type_name)) from None
    content_type = next(
        (text for name, text in texts.items() if name.lower() == CONTENT_TYPE_HEADER), None
    )
    if value is None:
        raise EventDecodeError(
            "data must be a JSON object; the record's value is null (a tombstone, Kafka's delete "
            "of its key): warmline events carry their data as the value"
        )
    data = _read_data(value, content_type)
    time = cloud_event.get_time()
    if not isinstance(time, datetime) or time.tzinfo is None:
        raise EventDecodeError("time must be an RFC 3339 timestamp with a zone")
    try:
        return DomainEvent(
            id=cloud_event.get_id(),
            type=event_type,
            source=cloud_event.get_source(),
            subject=cloud_event.get_subject() or "",
            time=time,
            data=data,
        )
    except ValidationError as error:
        raise EventDecodeError(f"invalid CloudEvent: {error}") from None


def _structured(headers: Sequence[tuple[str, bytes | None]]) -> str:
    """What to add to the reason when the record looks like a CloudEvent in structured content
    mode (the whole event as the value): a valid CloudEvent, but not the binary mode warmline
    reads, which an integrator would not guess from "not a CloudEvent"."""
    for name, raw in headers:
        if name.lower() != CONTENT_TYPE_HEADER or raw is None:
            continue
        content_type = raw.decode("utf-8", "replace").strip()
        if content_type.lower().startswith(STRUCTURED_CONTENT_TYPE):
            return (
                f"; its content-type {content_type!r} is CloudEvents' structured content mode "
                "(the whole event as the value), and warmline reads binary content mode: send "
                "the attributes as ce_ headers (ce_id, ce_type, ...) and the data alone as the "
                "value, with content-type application/json"
            )
    return ""


def _header_texts(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    """Every header's value as text (the last one of a repeated name), or why one is not."""
    texts: dict[str, str] = {}
    for name, raw in headers:
        if raw is None:
            # Kafka allows a header without a value (Java and librdkafka producers send them);
            # warmline's headers, `ce_` attributes and the rest, are all text.
            raise EventDecodeError(f"header {name!r} has no value (null); headers must be text")
        try:
            texts[name] = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise EventDecodeError(
                f"header {name!r} is not UTF-8: {error.reason} at byte {error.start}"
            ) from None
    return texts


def _read_data(value: bytes, content_type: str | None) -> dict[str, Any]:
    """The record's value as the event's data: a JSON object of valid Unicode, not too deep."""
    if content_type is not None and not _JSON.JSON_CONTENT_TYPE_PATTERN.match(
        content_type.strip().lower()
    ):
        raise EventDecodeError(
            f"content-type {content_type!r} is not JSON: warmline events carry their data as "
            f"{CONTENT_TYPE}"
        )
    if not value:
        raise EventDecodeError("data must be a JSON object; the record's value is empty")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise EventDecodeError(f"data is not UTF-8: {error.reason} at byte {error.start}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise EventDecodeError(
            f"data is not a JSON object: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise EventDecodeError(
            f"data is not a JSON object: nested too deeply to read (the limit is "
            f"{MAX_DATA_DEPTH} levels)"
        ) from None
    except ValueError as error:
        # An integer of more digits than Python converts (4,300): drop its advice to the reader.
        raise EventDecodeError(
            f"data is not a JSON object: {str(error).split(';', 1)[0]}"
        ) from None
    if not isinstance(data, dict):
        raise EventDecodeError(f"data must be a JSON object, not a JSON {_json_kind(data)}")
    problem = _unusable(data)
    if problem is not None:
        raise EventDecodeError(problem)
    return data


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


_Path: TypeAlias = "tuple[_Path, str | int] | None"
"""Where a value sits in the data, built only when a problem must be named (`_render`)."""


def _unusable(data: dict[str, Any]) -> str | None:
    """What makes parsed data unusable, or None: nesting deeper than `MAX_DATA_DEPTH`, or a
    string (or an object key) that is not valid Unicode.

    JSON's `\\uXXXX` escapes can spell half a surrogate pair, which `json.loads` keeps as a lone
    surrogate: JavaScript's `JSON.stringify` writes one for a string cut in the middle of an emoji.
    Such a string cannot be encoded as UTF-8, so it would fail wherever it is sent on (Temporal's
    payloads, Kafka, Redis). Iterative, so no depth of data can exhaust the stack here.
    """
    stack: list[tuple[object, int, _Path]] = [(data, 1, None)]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, str):
            problem = _surrogate(value)
            if problem is not None:
                return f"{_render(path)} is not valid Unicode: {problem}"
            continue
        if isinstance(value, dict | list) and depth > MAX_DATA_DEPTH:
            where = _render(path)
            return f"data is nested {depth} levels deep at {where}; the limit is {MAX_DATA_DEPTH}"
        if isinstance(value, dict):
            for name, item in value.items():
                problem = _surrogate(name)
                if problem is not None:
                    return f"a key of {_render(path)} is not valid Unicode: {problem}"
                stack.append((item, depth + 1, (path, name)))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, (path, i)) for i, item in enumerate(value))
    return None


def _surrogate(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        return (
            f"a lone surrogate \\u{code:04x} at character {error.start} (a string cut inside "
            "a surrogate pair, e.g. in the middle of an emoji)"
        )
    return None


def _render(path: _Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, step = path
        parts.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return "data" + "".join(reversed(parts))


def _unknown_type(type_name: str) -> str:
    """Name what is known when only the version differs, so the fix is obvious."""
    family = type_name.rsplit(".v", 1)[0]
    versions = sorted(
        t.value.rsplit(".", 1)[1] for t in EventType if t.value.startswith(family + ".v")
    )
    if versions:
        return f"unknown event type {type_name!r}: this consumer knows {', '.join(versions)}"
    return f"unknown event type {type_name!r}"
