"""Local HTTP servers answering like HubSpot, BambooHR and a webhook receiver, for connector tests.

Each is a real HTTP server on 127.0.0.1 (stdlib `ThreadingHTTPServer` in a thread) implementing
the documented subset its connector uses. It checks requests the way the real API does (auth,
content type, required and known properties, pipelines and stages, employees and tables), answers
refusals with the real API's error shapes, and records every request and what it accepted.

Failure injection: `fail_next(n, Fault(...))` makes the next `n` requests (optionally only those
matching a method and path) answer 5xx, time out, answer 429 with `Retry-After`, answer slowly, or
answer 200 with a body that is not JSON.

`FakeHubSpot` models its search index's lag: a ticket or note created through the API is found by
`.../search` only `search_lag` seconds later, while reading it by id or by a unique-value property
(`GET .../tickets/{value}?idProperty=...`), the v4 associations and batch read see it at once.

`consuming` starts the test kit and returns once its runner holds the topic's partitions.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from connectors.sdk.testkit import ConnectorHarness
from connectors.webhook import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)

HUBSPOT_TOKEN = "pat-na1-test-token"
WEBHOOK_SECRET = "whsec-test"
BAMBOOHR_KEY = "bamboo-test-key"
FaultKind = Literal["error", "timeout", "rate_limit", "slow", "garbage"]
GARBAGE = b"<html><body><h1>502 Bad Gateway</h1><p>upstream reset</p></body></html>"


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour.

    - `error`: answer `status` (500 by default) with the API's error body; nothing is applied.
    - `timeout`: apply the request, then hold the answer `delay` seconds (past the client's
      timeout): the effect happened, the caller never learns it.
    - `rate_limit`: 429 with `Retry-After: retry_after`; nothing is applied.
    - `slow`: wait `delay` seconds, then answer normally.
    - `garbage`: 200 with an HTML page instead of JSON (a misbehaving proxy); nothing is applied.
    """

    kind: FaultKind
    status: int = 500
    delay: float = 0.0
    retry_after: str = "1"
    method: str | None = None
    path: str | None = None
    """Only requests with exactly this path (no query) take the fault."""

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path == path
        )


@dataclass(frozen=True)
class Seen:
    """One request as the server received it, and the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    at: float
    """`time.monotonic()` when it arrived."""
    status: int
    fault: FaultKind | None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, **headers: str) -> Reply:
        return cls(
            status, json.dumps(payload).encode(), {"Content-Type": "application/json"} | headers
        )


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.api.handle(self, body)

    # The stdlib dispatches on these names.
    def do_GET(self) -> None:
        self._any()

    def do_POST(self) -> None:
        self._any()

    def do_PATCH(self) -> None:
        self._any()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `requests` instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: FakeAPI) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api


class FakeAPI:
    """A running fake; use it as a context manager. Subclasses implement `answer`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[Seen] = []
        self._faults: list[Fault] = []
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeAPI:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int, fault: Fault) -> None:
        with self.lock:
            self._faults.extend([fault] * count)

    def faults_left(self) -> int:
        with self.lock:
            return len(self._faults)

    def seen(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    # --- serving ---------------------------------------------------------------------------------

    def handle(self, request: _Handler, body: bytes) -> None:
        parts = urlsplit(request.path)
        method, path = request.command, parts.path
        headers = {k.lower(): v for k, v in request.headers.items()}
        fault = self._take_fault(method, path)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        arrived = time.monotonic()
        if fault is None or fault.kind in ("slow", "timeout"):
            with self.lock:
                reply = self.answer(method, path, parse_qs(parts.query), headers, body)
        elif fault.kind == "error":
            reply = self.server_error(fault.status)
        elif fault.kind == "rate_limit":
            reply = self.rate_limited(fault.retry_after)
        else:
            reply = Reply(200, GARBAGE, {"Content-Type": "text/html"})
        with self.lock:
            self.requests.append(
                Seen(
                    method=method,
                    path=path,
                    query=parse_qs(parts.query),
                    headers=headers,
                    body=body,
                    at=arrived,
                    status=reply.status,
                    fault=fault.kind if fault else None,
                )
            )
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.delay)
        try:
            request.send_response(reply.status)
            for name, value in reply.headers.items():
                request.send_header(name, value)
            request.send_header("Content-Length", str(len(reply.body)))
            request.end_headers()
            request.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout fault); that is the point

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    return self._faults.pop(index)
        return None

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        raise NotImplementedError

    def server_error(self, status: int) -> Reply:
        return Reply.json(status, {"error": "internal error"})

    def rate_limited(self, retry_after: str) -> Reply:
        return Reply.json(429, {"error": "rate limited"}, **{"Retry-After": retry_after})


def _is_json(headers: dict[str, str]) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() in (
        "application/json",
        "application/cloudevents+json",
    )


# --- HubSpot -------------------------------------------------------------------------------------

TICKET_PROPERTIES = frozenset(
    {
        "subject",
        "content",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hs_ticket_priority",
        "hs_ticket_category",
        "hubspot_owner_id",
        "source_type",
        "warmline_conversation_id",
    }
)
NOTE_PROPERTIES = frozenset({"hs_note_body", "hs_timestamp", "hubspot_owner_id"})
PRIORITIES = frozenset({"LOW", "MEDIUM", "HIGH", "URGENT"})
_OBJECT_PATH = re.compile(r"^/crm/v3/objects/(tickets|notes|contacts)(?:/(search|[^/]+))?$")
_BATCH_READ_PATH = re.compile(r"^/crm/v3/objects/(tickets|notes|contacts)/batch/read$")
_ASSOCIATIONS_PATH = re.compile(
    r"^/crm/v4/objects/(tickets|notes|contacts)/([^/]+)/associations/(tickets|notes|contacts)$"
)
ASSOCIATION_TYPES = {
    ("notes", "tickets"): 228,
    ("tickets", "notes"): 227,
    ("contacts", "tickets"): 15,
    ("tickets", "contacts"): 16,
}
"""HubSpot-defined association type ids, by (from, to) object type."""
BATCH_READ_LIMIT = 100
ASSOCIATIONS_PAGE_LIMIT = 500


@dataclass
class CrmObject:
    id: str
    properties: dict[str, str]
    associations: set[str] = field(default_factory=set)
    """Ids of associated objects (a note's ticket, a contact's tickets)."""
    created: str = field(default_factory=lambda: datetime.now().astimezone().isoformat())
    indexed_at: float = 0.0
    """`time.monotonic()` from which search finds it (0: indexed already)."""

    def view(self, wanted: list[str] | None = None) -> dict[str, Any]:
        properties = dict(self.properties)
        if wanted is not None:
            properties = {k: v for k, v in properties.items() if k in wanted}
        properties["hs_object_id"] = self.id
        return {
            "id": self.id,
            "properties": properties,
            "createdAt": self.created,
            "updatedAt": self.created,
            "archived": False,
        }


class FakeHubSpot(FakeAPI):
    """CRM v3 tickets (create, read, search, update), notes (create, batch read), contacts
    (search), and v4 associations (list).

    `unique_properties` are the ticket properties created with `hasUniqueValue: true`: a ticket can
    be read by one (`idProperty`), and a create repeating a value is refused with 409 Conflict.
    """

    def __init__(
        self,
        *,
        token: str = HUBSPOT_TOKEN,
        pipelines: dict[str, list[str]] | None = None,
        search_lag: float = 3.0,
        unique_properties: frozenset[str] = frozenset({"warmline_conversation_id"}),
    ) -> None:
        super().__init__()
        self.token = token
        self.pipelines = pipelines or {"0": ["1", "2", "3", "4"]}
        self.search_lag = search_lag
        self.unique_properties = unique_properties
        self.objects: dict[str, dict[str, CrmObject]] = {"tickets": {}, "notes": {}, "contacts": {}}
        self._ids = iter(range(5_001, 10**9))

    def __enter__(self) -> FakeHubSpot:
        super().__enter__()
        return self

    @property
    def tickets(self) -> dict[str, CrmObject]:
        with self.lock:
            return dict(self.objects["tickets"])

    @property
    def notes(self) -> dict[str, CrmObject]:
        with self.lock:
            return dict(self.objects["notes"])

    def add_contact(self, properties: dict[str, str], tickets: tuple[str, ...] = ()) -> str:
        with self.lock:
            contact = CrmObject(str(next(self._ids)), dict(properties), set(tickets))
            self.objects["contacts"][contact.id] = contact
            return contact.id

    def add_ticket(self, properties: dict[str, str]) -> str:
        with self.lock:
            ticket = CrmObject(str(next(self._ids)), dict(properties))
            self.objects["tickets"][ticket.id] = ticket
            return ticket.id

    # --- the API ---------------------------------------------------------------------------------

    # One early answer per refusal the real API gives, in the order it checks.
    def answer(  # noqa: PLR0911, PLR0912
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        authorization = headers.get("authorization", "")
        if not authorization:
            return _hubspot_error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        if authorization != f"Bearer {self.token}":
            return _hubspot_error(
                401, "INVALID_AUTHENTICATION", "Authentication credentials are invalid"
            )
        associations = _ASSOCIATIONS_PATH.match(path)
        if associations is not None:
            if method != "GET":
                return _hubspot_error(405, "VALIDATION_ERROR", f"{method} is not supported here")
            kind, object_id, to_kind = associations.groups()
            return self._associations(kind, unquote(object_id), to_kind, query)
        batch_read = _BATCH_READ_PATH.match(path)
        match = _OBJECT_PATH.match(path)
        if batch_read is not None:
            kind, rest = batch_read.group(1), "batch/read"
        elif match is not None:
            kind, rest = match.group(1), match.group(2)
        else:
            return Reply(404, b"", {"Content-Type": "text/html"})
        if method in ("POST", "PATCH"):
            if not _is_json(headers):
                return _hubspot_error(415, "VALIDATION_ERROR", "Unsupported Media Type")
            try:
                payload = json.loads(body)
            except json.JSONDecodeError as error:
                return _hubspot_error(
                    400,
                    "VALIDATION_ERROR",
                    f"Invalid input JSON on line {error.lineno}, column {error.colno}: {error.msg}",
                )
            if not isinstance(payload, dict):
                return _hubspot_error(400, "VALIDATION_ERROR", "Invalid input JSON: not an object")
        else:
            payload = {}
        if method == "POST" and rest == "search":
            return self._search(kind, payload)
        if method == "POST" and rest == "batch/read":
            return self._batch_read(kind, payload)
        if method == "GET" and kind == "tickets" and rest is not None:
            return self._read_ticket(unquote(rest), query)
        if method == "POST" and rest is None and kind == "tickets":
            return self._create_ticket(payload)
        if method == "POST" and rest is None and kind == "notes":
            return self._create_note(payload)
        if method == "PATCH" and kind == "tickets" and rest is not None:
            return self._update_ticket(rest, payload)
        return _hubspot_error(405, "VALIDATION_ERROR", f"{method} is not supported here")

    def _properties(self, payload: dict[str, Any]) -> dict[str, str] | Reply:
        properties = payload.get("properties")
        if not isinstance(properties, dict) or not all(
            isinstance(v, str | int | float) for v in properties.values()
        ):
            return _hubspot_error(400, "VALIDATION_ERROR", "properties must be an object of values")
        return {str(k): str(v) for k, v in properties.items()}

    def _check_ticket(self, properties: dict[str, str], pipeline: str | None) -> Reply | None:
        problems = [
            {
                "isValid": False,
                "message": f'Property "{name}" does not exist',
                "error": "PROPERTY_DOESNT_EXIST",
                "name": name,
            }
            for name in properties
            if name not in TICKET_PROPERTIES
        ]
        priority = properties.get("hs_ticket_priority")
        if priority is not None and priority not in PRIORITIES:
            problems.append(
                {
                    "isValid": False,
                    "message": f"{priority} was not one of the allowed options: "
                    + ", ".join(sorted(PRIORITIES)),
                    "error": "INVALID_OPTION",
                    "name": "hs_ticket_priority",
                }
            )
        pipeline = properties.get("hs_pipeline", pipeline)
        stage = properties.get("hs_pipeline_stage")
        if pipeline is not None and pipeline not in self.pipelines:
            problems.append(
                {
                    "isValid": False,
                    "message": f"{pipeline} is not a valid pipeline",
                    "error": "INVALID_OPTION",
                    "name": "hs_pipeline",
                }
            )
        elif stage is not None and pipeline is not None and stage not in self.pipelines[pipeline]:
            problems.append(
                {
                    "isValid": False,
                    "message": f"{stage} is not a valid stage of pipeline {pipeline}",
                    "error": "INVALID_OPTION",
                    "name": "hs_pipeline_stage",
                }
            )
        if problems:
            return _hubspot_error(
                400, "VALIDATION_ERROR", f"Property values were not valid: {json.dumps(problems)}"
            )
        return None

    def _create_ticket(self, payload: dict[str, Any]) -> Reply:
        properties = self._properties(payload)
        if isinstance(properties, Reply):
            return properties
        missing = [
            p for p in ("subject", "hs_pipeline", "hs_pipeline_stage") if p not in properties
        ]
        if missing:
            return _hubspot_error(
                400, "VALIDATION_ERROR", f"Required properties are missing: {', '.join(missing)}"
            )
        refused = self._check_ticket(properties, None)
        if refused is not None:
            return refused
        for name in sorted(self.unique_properties.intersection(properties)):
            for other in self.objects["tickets"].values():
                if other.properties.get(name) == properties[name]:
                    return _hubspot_error(
                        409,
                        "CONFLICT",
                        f"A ticket with {name} {properties[name]} already exists. "
                        f"Existing ID: {other.id}",
                    )
        ticket = CrmObject(
            str(next(self._ids)), properties, indexed_at=time.monotonic() + self.search_lag
        )
        self.objects["tickets"][ticket.id] = ticket
        return Reply.json(201, ticket.view())

    def _read_ticket(self, value: str, query: dict[str, list[str]]) -> Reply:
        """`GET /crm/v3/objects/tickets/{ticketId}`, by id or by a unique-value `idProperty`."""
        id_property = query.get("idProperty", [""])[0] or None
        if id_property is not None and id_property not in self.unique_properties:
            return _hubspot_error(
                400,
                "VALIDATION_ERROR",
                f"{id_property} is not a unique identifier property for tickets",
            )
        found = next(
            (
                ticket
                for ticket in self.objects["tickets"].values()
                if (ticket.properties.get(id_property) if id_property else ticket.id) == value
            ),
            None,
        )
        if found is None:
            return _hubspot_error(
                404,
                "OBJECT_NOT_FOUND",
                "Object not found.  objectId are usually numeric.",
                context={"id": [value]},
            )
        wanted = [p for ps in query.get("properties", []) for p in ps.split(",") if p]
        return Reply.json(200, found.view(wanted or None))

    def _update_ticket(self, ticket_id: str, payload: dict[str, Any]) -> Reply:
        ticket = self.objects["tickets"].get(ticket_id)
        if ticket is None:
            return _hubspot_error(
                404,
                "OBJECT_NOT_FOUND",
                "Object not found.  objectId are usually numeric.",
                context={"id": [ticket_id]},
            )
        properties = self._properties(payload)
        if isinstance(properties, Reply):
            return properties
        refused = self._check_ticket(properties, ticket.properties.get("hs_pipeline"))
        if refused is not None:
            return refused
        ticket.properties.update(properties)
        return Reply.json(200, ticket.view())

    def _create_note(self, payload: dict[str, Any]) -> Reply:  # noqa: PLR0911
        properties = self._properties(payload)
        if isinstance(properties, Reply):
            return properties
        unknown = sorted(set(properties) - NOTE_PROPERTIES)
        if unknown:
            return _hubspot_error(
                400, "VALIDATION_ERROR", f'Property "{unknown[0]}" does not exist'
            )
        if "hs_timestamp" not in properties:
            return _hubspot_error(400, "VALIDATION_ERROR", "hs_timestamp is required")
        stamp = properties["hs_timestamp"]
        if not stamp.isdigit():
            try:
                datetime.fromisoformat(stamp)
            except ValueError:
                return _hubspot_error(400, "VALIDATION_ERROR", f"{stamp} is not a valid timestamp")
        targets: set[str] = set()
        for association in payload.get("associations") or []:
            to = (association.get("to") or {}).get("id")
            types = association.get("types") or []
            if to not in self.objects["tickets"]:
                return _hubspot_error(
                    400, "VALIDATION_ERROR", f"One or more associations are invalid: {to}"
                )
            if types != [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 228}]:
                return _hubspot_error(400, "VALIDATION_ERROR", f"invalid association types {types}")
            targets.add(str(to))
        note = CrmObject(
            str(next(self._ids)),
            properties,
            targets,
            indexed_at=time.monotonic() + self.search_lag,
        )
        self.objects["notes"][note.id] = note
        return Reply.json(201, note.view())

    def _search(self, kind: str, payload: dict[str, Any]) -> Reply:
        groups = payload.get("filterGroups") or []
        wanted = payload.get("properties")
        limit = int(payload.get("limit", 10))
        if not 1 <= limit <= 200:
            return _hubspot_error(400, "VALIDATION_ERROR", "limit must be between 1 and 200")
        found: list[CrmObject] = []
        now = time.monotonic()
        for item in self.objects[kind].values():
            if item.indexed_at > now:
                continue  # not in the search index yet
            if not groups or any(
                self._group_holds(kind, item, g.get("filters") or []) for g in groups
            ):
                found.append(item)
        found.sort(key=lambda o: int(o.id))
        results = [o.view(wanted if isinstance(wanted, list) else None) for o in found[:limit]]
        return Reply.json(200, {"total": len(found), "results": results})

    def _batch_read(self, kind: str, payload: dict[str, Any]) -> Reply:
        """`POST /crm/v3/objects/{kind}/batch/read`: 200, or 207 naming the ids not found."""
        required = ("inputs", "properties", "propertiesWithHistory")
        missing = [name for name in required if name not in payload]
        if missing:
            return _hubspot_error(
                400,
                "VALIDATION_ERROR",
                "Invalid input JSON: Cannot build BatchReadInputSimplePublicObjectId, some of "
                f"required attributes are not set [{', '.join(missing)}]",
            )
        inputs, wanted = payload["inputs"], payload["properties"]
        if (
            not isinstance(inputs, list)
            or not isinstance(wanted, list)
            or not all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in inputs)
        ):
            return _hubspot_error(
                400, "VALIDATION_ERROR", "inputs must be [{id}] and properties a list of names"
            )
        if len(inputs) > BATCH_READ_LIMIT:
            return _hubspot_error(
                400, "VALIDATION_ERROR", f"Batch input limit is {BATCH_READ_LIMIT} inputs"
            )
        if payload.get("idProperty") not in (None, "hs_object_id"):
            return _hubspot_error(400, "VALIDATION_ERROR", "idProperty is not supported here")
        ids = [i["id"] for i in inputs]
        found = [self.objects[kind][i].view(wanted) for i in ids if i in self.objects[kind]]
        absent = [i for i in ids if i not in self.objects[kind]]
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": found,
            "startedAt": now,
            "completedAt": now,
        }
        if not absent:
            return Reply.json(200, body)
        body["numErrors"] = 1
        body["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {kind[:-1].upper()} objects, they may be deleted "
                "or not exist. Check that ids are valid.",
                "context": {"ids": absent},
            }
        ]
        return Reply.json(207, body)

    def _associations(
        self, kind: str, object_id: str, to_kind: str, query: dict[str, list[str]]
    ) -> Reply:
        """`GET /crm/v4/objects/{kind}/{id}/associations/{to_kind}`, a page at a time."""
        type_id = ASSOCIATION_TYPES.get((kind, to_kind))
        if type_id is None:
            return _hubspot_error(
                400, "VALIDATION_ERROR", f"No association types from {kind} to {to_kind}"
            )
        source = self.objects[kind].get(object_id)
        if source is None:
            return _hubspot_error(
                404,
                "OBJECT_NOT_FOUND",
                f"No {kind[:-1]} with id {object_id}",
                context={"id": [object_id]},
            )
        try:
            limit = int((query.get("limit") or [str(ASSOCIATIONS_PAGE_LIMIT)])[0])
            start = int((query.get("after") or ["0"])[0])
        except ValueError:
            return _hubspot_error(400, "VALIDATION_ERROR", "limit and after must be integers")
        if not 1 <= limit <= ASSOCIATIONS_PAGE_LIMIT or start < 0:
            return _hubspot_error(
                400, "VALIDATION_ERROR", f"limit must be between 1 and {ASSOCIATIONS_PAGE_LIMIT}"
            )
        linked = sorted(
            (
                other.id
                for other in self.objects[to_kind].values()
                if object_id in other.associations or other.id in source.associations
            ),
            key=int,
        )
        page = linked[start : start + limit]
        body: dict[str, Any] = {
            "results": [
                {
                    "toObjectId": int(other),
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}
                    ],
                }
                for other in page
            ]
        }
        if start + limit < len(linked):
            after = str(start + limit)
            link = f"{self.url}/crm/v4/objects/{kind}/{object_id}/associations/{to_kind}"
            body["paging"] = {"next": {"after": after, "link": f"{link}?after={after}"}}
        return Reply.json(200, body)

    def _group_holds(self, kind: str, item: CrmObject, filters: list[dict[str, Any]]) -> bool:
        for condition in filters:
            name, operator, value = (
                condition.get("propertyName"),
                condition.get("operator"),
                condition.get("value"),
            )
            if name == "associations.contact" and kind == "tickets":
                contact = self.objects["contacts"].get(str(value))
                actual: str | None = (
                    str(value) if contact and item.id in contact.associations else None
                )
                if operator == "EQ" and actual is None:
                    return False
                continue
            actual = item.properties.get(str(name))
            if operator == "EQ" and actual != value:
                return False
            if operator == "NEQ" and actual == value:
                return False
        return True


def _hubspot_error(status: int, category: str, message: str, **extra: Any) -> Reply:
    return Reply.json(
        status,
        {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
            **extra,
        },
    )


# --- the webhook receiver ------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str
    timestamp: str
    signature: str
    body: bytes
    content_type: str

    def json(self) -> Any:
        return json.loads(self.body)


def documented_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`X-Warmline-Signature` as docs/connectors-reference.md defines it on the wire: `sha256=`
    and the hex HMAC-SHA256, keyed with the secret, of `<timestamp>.<body>`. Written here from
    the docs, not taken from `connectors.webhook`: a receiver in another language implements
    the docs, so signing code that drifted from them must fail the tests, not pass its own check."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class FakeReceiver(FakeAPI):
    """A webhook receiver at `/hooks/warmline` that checks each request as the docs tell a
    receiver to: the documented signature over the raw body, a timestamp within `tolerance`."""

    PATH = "/hooks/warmline"

    def __init__(self, *, secret: str = WEBHOOK_SECRET, tolerance: float = 300.0) -> None:
        super().__init__()
        self.secret = secret
        self.tolerance = tolerance
        self.clock_offset = 0.0
        """Seconds the receiver's clock runs ahead: a replay arrives this much later."""
        self.deliveries: list[Delivery] = []

    def __enter__(self) -> FakeReceiver:
        super().__enter__()
        return self

    @property
    def hook_url(self) -> str:
        return self.url + self.PATH

    def delivered(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)

    # One early answer per refusal the real API gives, in the order it checks.
    def answer(  # noqa: PLR0911
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if path != self.PATH:
            return Reply.json(404, {"error": "not found"})
        if method != "POST":
            return Reply.json(405, {"error": "method not allowed"})
        timestamp = headers.get(TIMESTAMP_HEADER.lower(), "")
        signature = headers.get(SIGNATURE_HEADER.lower(), "")
        event_id = headers.get(EVENT_ID_HEADER.lower(), "")
        event_type = headers.get(EVENT_TYPE_HEADER.lower(), "")
        if not (timestamp and signature and event_id and event_type):
            return Reply.json(400, {"error": "missing X-Warmline-* headers"})
        now = time.time() + self.clock_offset
        fresh = timestamp.isdigit() and abs(now - int(timestamp)) <= self.tolerance
        expected = documented_signature(self.secret, timestamp, body)
        if not (fresh and hmac.compare_digest(expected, signature)):
            return Reply.json(401, {"error": "invalid or stale signature"})
        if not _is_json(headers):
            return Reply.json(415, {"error": "expected a JSON body"})
        try:
            json.loads(body)
        except json.JSONDecodeError:
            return Reply.json(400, {"error": "body is not JSON"})
        self.deliveries.append(
            Delivery(
                event_id=event_id,
                event_type=event_type,
                timestamp=timestamp,
                signature=signature,
                body=body,
                content_type=headers.get("content-type", ""),
            )
        )
        return Reply.json(200, {"received": True})


# --- BambooHR ------------------------------------------------------------------------------------

ERROR_HEADER = "X-BambooHR-Error-Message"
_TABLE_PATH = re.compile(r"^/api/gateway\.php/([^/]+)/v1/employees/([^/]+)/tables/([^/]+)$")
EXPOSURE_FIELDS = frozenset(
    {
        "date",
        "customRecordedAt",
        "customWorkers",
        "customExposureMinutes",
        "customBudgetMinutes",
        "customWarmlineEventId",
    }
)
ROTATION_FIELDS = frozenset(
    {
        "date",
        "customEvent",
        "customQueues",
        "customUntil",
        "customExposureMinutes",
        "customBudgetMinutes",
        "customWarmlineEventId",
    }
)
SHIFT_FIELDS = frozenset({"customStartsAt", "customEndsAt", "customQueues"})


class FakeBambooHR(FakeAPI):
    """Employee table rows: add (`POST .../employees/{id}/tables/{t}`), read (`.../all/...`)."""

    def __init__(
        self,
        *,
        subdomain: str = "harbourmutual",
        api_key: str = BAMBOOHR_KEY,
        employees: tuple[str, ...] = ("101", "102", "103"),
    ) -> None:
        super().__init__()
        self.subdomain = subdomain
        self.api_key = api_key
        self.employees = set(employees)
        self.tables: dict[str, frozenset[str]] = {
            "customWarmlineExposure": EXPOSURE_FIELDS,
            "customWarmlineRotation": ROTATION_FIELDS,
            "customWarmlineShifts": SHIFT_FIELDS,
        }
        self.rows: dict[str, list[dict[str, str]]] = {name: [] for name in self.tables}
        self._ids = iter(range(1, 10**9))

    def __enter__(self) -> FakeBambooHR:
        super().__enter__()
        return self

    def table(self, name: str) -> list[dict[str, str]]:
        with self.lock:
            return [dict(row) for row in self.rows[name]]

    def add_shift(
        self, employee: str, starts: datetime | str, ends: datetime | str, queues: str = ""
    ) -> str:
        with self.lock:
            row = {
                "id": str(next(self._ids)),
                "employeeId": employee,
                "customStartsAt": starts if isinstance(starts, str) else starts.isoformat(),
                "customEndsAt": ends if isinstance(ends, str) else ends.isoformat(),
                "customQueues": queues,
            }
            self.rows["customWarmlineShifts"].append(row)
            return row["id"]

    def move_shift(self, row_id: str, starts: datetime, ends: datetime) -> None:
        with self.lock:
            for row in self.rows["customWarmlineShifts"]:
                if row["id"] == row_id:
                    row["customStartsAt"], row["customEndsAt"] = (
                        starts.isoformat(),
                        ends.isoformat(),
                    )

    def _authorized(self, headers: dict[str, str]) -> bool:
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, _password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return user == self.api_key

    def server_error(self, status: int) -> Reply:
        return Reply(status, b"", {ERROR_HEADER: "Service temporarily unavailable"})

    def rate_limited(self, retry_after: str) -> Reply:
        return Reply(429, b"", {"Retry-After": retry_after, ERROR_HEADER: "Too many requests"})

    # One early answer per refusal the real API gives, in the order it checks.
    def answer(  # noqa: PLR0911, PLR0912
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if not self._authorized(headers):
            return Reply(401, b"", {ERROR_HEADER: "Invalid API key", "WWW-Authenticate": "Basic"})
        match = _TABLE_PATH.match(path)
        if match is None or match.group(1) != self.subdomain:
            return _bamboo_error(404, "Not found")
        employee, table = match.group(2), match.group(3)
        if table not in self.tables:
            return _bamboo_error(404, f"Table {table} not found")
        if method == "GET":
            if employee != "all" and employee not in self.employees:
                return _bamboo_error(404, "Employee not found")
            rows = [r for r in self.rows[table] if employee in ("all", r["employeeId"])]
            if "application/json" not in headers.get("accept", ""):
                # BambooHR answers XML unless asked for JSON.
                xml = "<table>" + "".join(f'<row id="{r["id"]}"/>' for r in rows) + "</table>"
                return Reply(200, xml.encode(), {"Content-Type": "text/xml"})
            return Reply.json(200, rows)
        if method != "POST":
            return _bamboo_error(405, "Method not allowed")
        if employee not in self.employees:
            return _bamboo_error(404, "Employee not found")
        if not _is_json(headers):
            return _bamboo_error(400, "Content-Type must be application/json or text/xml")
        try:
            row = json.loads(body)
        except json.JSONDecodeError:
            return _bamboo_error(400, "Malformed JSON")
        if not isinstance(row, dict) or not all(isinstance(v, str) for v in row.values()):
            return _bamboo_error(400, "A row is an object of field values (strings)")
        unknown = sorted(set(row) - self.tables[table])
        if unknown:
            return _bamboo_error(400, f"Invalid field: {unknown[0]}")
        if "date" in self.tables[table] and not re.fullmatch(
            r"\d{4}-\d{2}-\d{2}", row.get("date", "")
        ):
            return _bamboo_error(400, "date is required as YYYY-MM-DD")
        self.rows[table].append({"id": str(next(self._ids)), "employeeId": employee, **row})
        return Reply(200, b"")


def _bamboo_error(status: int, message: str) -> Reply:
    return Reply(status, b"", {ERROR_HEADER: message})


# --- the test kit, ready to consume --------------------------------------------------------------

GROUP_JOIN_TRIES = 4


@asynccontextmanager
async def consuming(
    make: Callable[[], ConnectorHarness], *, within: float = 8.0
) -> AsyncIterator[ConnectorHarness]:
    """A started harness whose runner already holds its topic's partitions.

    So what a test emits is consumed at once, and a test's timings measure the connector, not the
    group join. Should a fresh group still not get its partitions in `within` seconds (kafka-python
    3.0 rebalances, see warmline/events/admin.py), a fresh harness is started instead.
    """
    for _ in range(GROUP_JOIN_TRIES):
        async with make() as kit:
            try:
                await asyncio.wait_for(kit.runner.assigned.wait(), timeout=within)
            except TimeoutError:
                continue
            yield kit
            return
    pytest.fail(f"the runner's consumer got no partitions in {GROUP_JOIN_TRIES} fresh groups")
