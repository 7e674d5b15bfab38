"""HubSpot: a ticket per escalated conversation, a note when a specialist accepts, closed at last.

The subset of HubSpot's CRM v3 API used (Bearer private-app token from the secret `access_token`):

- `GET /crm/v3/objects/tickets/{conversation}?idProperty={conversation_property}`: read the
  conversation's ticket by the custom ticket property `conversation_property` (default
  `warmline_conversation_id`; create it in HubSpot as a single-line text property with unique
  values, `hasUniqueValue: true`). The ticket itself is the memory: a restart, a redelivered event
  or a retry after a lost answer reads it instead of creating a second one. Unlike search, whose
  index trails a new ticket by seconds, this read sees it at once. Should HubSpot refuse the read
  (the property was created without unique values), `POST /crm/v3/objects/tickets/search` with
  the property EQ the conversation id stands in, with that lag.
- `POST /crm/v3/objects/tickets`: create it on `conversation.escalated`, with `hs_pipeline`,
  `hs_pipeline_stage` (the open stage), the conversation property and `ticket_properties`, each a
  jinja2 template rendered in a sandbox with `event` (CloudEvents JSON form) and `data`. A 409
  Conflict (a ticket holds that unique value already) means it exists: it is read instead.
- `POST /crm/v3/objects/notes`: on `handoff.accepted`, a note (`hs_note_body` from `note_template`,
  then an HTML comment marking the event id; `hs_timestamp`, the event's time) associated with
  the ticket (HubSpot-defined association type 228, note → ticket). When an earlier attempt at
  the note failed without a clear refusal (it may have been created), the ticket's notes are
  listed first (`GET /crm/v4/objects/tickets/{id}/associations/notes`, not behind the search
  index) and read (`POST /crm/v3/objects/notes/batch/read`), and a note marked with the event
  is not created again.
- `PATCH /crm/v3/objects/tickets/{id}`: on `handoff.completed` or `conversation.closed`, move it to
  the closed stage.

`HubSpotProfileSource` gives the handoff the customer's facts from HubSpot contacts
(`POST /crm/v3/objects/contacts/search`, and a ticket search by `associations.contact`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, TypeAdapter, field_validator

from connectors.http import (
    check_status,
    compile_template,
    compile_templates,
    excerpt,
    http_url,
    parse_body,
    render,
    request,
    send,
    send_sync,
    template_context,
)
from connectors.sdk.connector import (
    Connector,
    ConnectorContext,
    Event,
    PermanentError,
    RetryableError,
    handles,
)
from warmline.events.catalog import (
    ConversationClosed,
    ConversationEscalated,
    HandoffAccepted,
    HandoffCompleted,
)
from warmline.events.types import EventType

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.hubapi.com"
TICKETS = "/crm/v3/objects/tickets"
NOTES = "/crm/v3/objects/notes"
CONTACTS = "/crm/v3/objects/contacts"
TICKET_NOTES = "/crm/v4/objects/tickets/{ticket}/associations/notes"
NOTE_TO_TICKET = 228
"""HubSpot's own association type id for note → ticket."""
_SET_ELSEWHERE = frozenset({"hs_pipeline", "hs_pipeline_stage"})
_CACHE_SIZE = 10_000
_ASSOCIATIONS_PAGE = 500
_BATCH_READ = 100
"""The most ids one `batch/read` takes."""
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:]+(?:-[A-Za-z0-9_.:]+)*")

DEFAULT_TICKET_PROPERTIES = {
    "subject": "warmline escalation {{ event.subject }} to {{ data.queue }}",
    "content": "{{ data.reason }}",
    "hs_ticket_priority": "{{ 'HIGH' if data.crisis else 'MEDIUM' }}",
}
DEFAULT_NOTE_TEMPLATE = (
    "Handoff accepted by {{ data.specialist }} from queue {{ data.queue }}"
    "{{ ' (crisis lane)' if data.crisis else '' }}"
    " after {{ (data.waited_ms / 1000) | round(1) }} s."
    "{% if data.summary is defined %}\n\n{{ data.summary }}{% endif %}"
)


class HubSpotSettings(BaseModel):
    """The `settings:` of a `type: hubspot` connector."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    base_url: str = DEFAULT_BASE_URL
    pipeline: str = "0"
    """The ticket pipeline's id (`0` is HubSpot's default support pipeline)."""
    open_stage: str = "1"
    """Stage of a new ticket (`1`, "New", in the default pipeline)."""
    closed_stage: str = "4"
    """Stage a completed or closed conversation's ticket moves to (`4`, "Closed")."""
    conversation_property: str = "warmline_conversation_id"
    """The custom ticket property holding the conversation id (unique values): the ticket is read
    by it (`idProperty`) to stay idempotent."""
    ticket_properties: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_TICKET_PROPERTIES)
    )
    """Ticket property → jinja2 template over `event` and `data` (one that does not compile is
    reported at its own key)."""
    note_template: str = DEFAULT_NOTE_TEMPLATE
    """The note body added when a specialist accepts (jinja2, `event` and `data`)."""
    contact_property: str = "warmline_conversation_id"
    """Contact property `HubSpotProfileSource` matches the conversation id against."""
    timeout_seconds: PositiveFloat = 10.0

    @field_validator("ticket_properties")
    @classmethod
    def _compiles(cls, properties: dict[str, str]) -> dict[str, str]:
        clash = sorted(_SET_ELSEWHERE.intersection(properties))
        if clash:
            raise ValueError(
                f"{', '.join(clash)} come from `pipeline` and `open_stage`; remove them here"
            )
        compile_templates(properties, "ticket_properties")
        return properties

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return http_url(
            url, credentials="the private app's token goes in `secrets:` as `access_token`"
        )

    @field_validator("note_template")
    @classmethod
    def _note_compiles(cls, source: str) -> str:
        compile_template(source, "note_template")
        return source


class _Object(BaseModel):
    """A CRM object as HubSpot returns it (only what is read)."""

    id: str
    properties: dict[str, str | None] = Field(default_factory=dict)


class _SearchPage(BaseModel):
    total: int
    results: list[_Object]


class _Associated(BaseModel):
    to_object_id: int | str = Field(alias="toObjectId")


class _After(BaseModel):
    after: str


class _Paging(BaseModel):
    next: _After | None = None


class _AssociationsPage(BaseModel):
    """A page of `GET /crm/v4/objects/{type}/{id}/associations/{toType}`."""

    results: list[_Associated]
    paging: _Paging | None = None


class _BatchRead(BaseModel):
    """`POST .../batch/read`: 200, or 207 with `errors` for ids not found (deleted meanwhile)."""

    results: list[_Object]


_OBJECT = TypeAdapter(_Object)
_SEARCH = TypeAdapter(_SearchPage)
_ASSOCIATIONS = TypeAdapter(_AssociationsPage)
_BATCH = TypeAdapter(_BatchRead)


def _search_body(filters: list[dict[str, str]], properties: list[str]) -> dict[str, Any]:
    return {"filterGroups": [{"filters": filters}], "properties": properties, "limit": 10}


def _bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


class HubSpotConnector(Connector):
    """Keeps a HubSpot ticket in step with each escalated conversation (see the module doc)."""

    type_name: ClassVar[str] = "hubspot"
    Settings: ClassVar[type[BaseModel]] = HubSpotSettings
    template_settings: ClassVar[dict[str, tuple[EventType, ...]]] = {
        "ticket_properties": (EventType.CONVERSATION_ESCALATED,),
        "note_template": (EventType.HANDOFF_ACCEPTED,),
    }
    required_secrets: ClassVar[tuple[str, ...]] = ("access_token",)
    settings: HubSpotSettings

    def __init__(self, settings: BaseModel, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._token = self.header_secret("access_token")
        s = self.settings
        self._properties = {
            name: compile_template(source, f"ticket_properties.{name}")
            for name, source in s.ticket_properties.items()
        }
        self._note = compile_template(s.note_template, "note_template")
        self._client: httpx.AsyncClient | None = None
        # Saves a read when one process sees escalation and accept back to back. The tickets
        # stay the source of truth.
        self._tickets: OrderedDict[str, str] = OrderedDict()
        self._searching_warned = False

    def profile_source(self) -> HubSpotProfileSource:
        """The customer's HubSpot contact for the handoff, with this connector's settings."""
        return HubSpotProfileSource.from_settings(self.settings, self._token)

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            base_url=self.settings.base_url,
            headers=_bearer(self._token),
            timeout=self.settings.timeout_seconds,
        )

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("HubSpotConnector: start() first")
        return self._client

    # --- handlers --------------------------------------------------------------------------------

    @handles(EventType.CONVERSATION_ESCALATED)
    async def on_escalated(self, event: Event[ConversationEscalated]) -> None:
        """Create the conversation's ticket unless it has one already."""
        conversation = event.subject
        existing = await self.find_ticket(conversation)
        if existing is not None:
            log.info("%s: conversation %s already has ticket %s", self.name, conversation, existing)
            return
        context = template_context(event)
        properties = {
            name: render(template, f"ticket_properties.{name}", context)
            for name, template in self._properties.items()
        }
        properties |= {
            "hs_pipeline": self.settings.pipeline,
            "hs_pipeline_stage": self.settings.open_stage,
            self.settings.conversation_property: conversation,
        }
        what = f"create HubSpot ticket for {conversation}"
        response = await self._request(
            "POST", TICKETS, what=what, answered={409}, json={"properties": properties}
        )
        if response.status_code == 409:
            # The unique conversation property is taken: by this conversation's ticket, created
            # by an attempt whose answer was lost or by another process.
            existing = await self.find_ticket(conversation)
            if existing is None:
                raise PermanentError(
                    f"{what}: HTTP 409, yet no ticket reads as {conversation}: {excerpt(response)}"
                )
            log.info("%s: conversation %s already has ticket %s", self.name, conversation, existing)
            return
        ticket = parse_body(response, _OBJECT, what).id
        self._remember(conversation, ticket)
        log.info("%s: ticket %s for conversation %s", self.name, ticket, conversation)

    @handles(EventType.HANDOFF_ACCEPTED)
    async def on_accepted(self, event: Event[HandoffAccepted]) -> None:
        """Note on the ticket who accepted, from which queue, after how long; once per event."""
        ticket = await self._ticket_or_retry(event.subject)
        in_doubt = self.context.in_doubt
        mark = f"note:{event.id}"
        if await in_doubt.holds(mark) and await self._has_note(ticket, event):
            log.info(
                "%s: ticket %s has the note of %s already (an earlier answer was lost)",
                self.name,
                ticket,
                event.id,
            )
            await in_doubt.clear(mark)
            return
        body = render(self._note, "note_template", template_context(event)) + _note_marker(event.id)
        note = {
            "properties": {"hs_note_body": body, "hs_timestamp": _hubspot_time(event)},
            "associations": [
                {
                    "to": {"id": ticket},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": NOTE_TO_TICKET,
                        }
                    ],
                }
            ],
        }
        what = f"add HubSpot note to ticket {ticket}"
        # Marked before the POST and cleared once answered: a POST that failed without a refusal
        # leaves the mark in Redis, so the next attempt, in this process or another, looks first.
        await in_doubt.mark(mark)
        response = await send(self.client, "POST", NOTES, what=what, json=note)
        parse_body(response, _OBJECT, what)
        await in_doubt.clear(mark)

    @handles(EventType.HANDOFF_COMPLETED, EventType.CONVERSATION_CLOSED)
    async def on_ended(self, event: Event[HandoffCompleted | ConversationClosed]) -> None:
        """Move the ticket to the closed stage (a conversation the AI resolved has none)."""
        if event.type is EventType.HANDOFF_COMPLETED:
            ticket: str | None = await self._ticket_or_retry(event.subject)
        else:
            ticket = await self.find_ticket(event.subject)
        if ticket is None:
            return
        what = f"close HubSpot ticket {ticket}"
        body = {"properties": {"hs_pipeline_stage": self.settings.closed_stage}}
        response = await send(self.client, "PATCH", f"{TICKETS}/{ticket}", what=what, json=body)
        parse_body(response, _OBJECT, what)

    # --- tickets ---------------------------------------------------------------------------------

    async def find_ticket(self, conversation: str) -> str | None:
        """The id of the conversation's ticket: from the cache, else read by the unique
        conversation property (HubSpot's search only when HubSpot refuses that read)."""
        if conversation in self._tickets:
            self._tickets.move_to_end(conversation)
            return self._tickets[conversation]
        prop = self.settings.conversation_property
        what = f"read the HubSpot ticket of {conversation}"
        response = await self._request(
            "GET",
            f"{TICKETS}/{quote(conversation, safe='')}",
            what=what,
            answered={400, 404},
            params={"idProperty": prop, "properties": f"{prop},hs_pipeline_stage"},
        )
        if response.status_code == 404:
            return None
        if response.status_code == 400:
            if not self._searching_warned:
                self._searching_warned = True
                log.warning(
                    "%s: HubSpot does not read tickets by %s (%s): create it as a unique-value "
                    "property (hasUniqueValue). Searching instead, whose index trails a new "
                    "ticket by seconds: a retry in that time can create a second ticket",
                    self.name,
                    prop,
                    excerpt(response),
                )
            return await self._search_ticket(conversation)
        ticket = parse_body(response, _OBJECT, what).id
        self._remember(conversation, ticket)
        return ticket

    async def _search_ticket(self, conversation: str) -> str | None:
        what = f"search HubSpot tickets for {conversation}"
        filters = [
            {
                "propertyName": self.settings.conversation_property,
                "operator": "EQ",
                "value": conversation,
            }
        ]
        body = _search_body(filters, [self.settings.conversation_property, "hs_pipeline_stage"])
        response = await send(self.client, "POST", f"{TICKETS}/search", what=what, json=body)
        page = parse_body(response, _SEARCH, what)
        if not page.results:
            return None
        # Two tickets for one conversation can only come from outside warmline; use the oldest.
        ticket = min(page.results, key=lambda found: int(found.id) if found.id.isdigit() else 0).id
        self._remember(conversation, ticket)
        return ticket

    async def _ticket_or_retry(self, conversation: str) -> str:
        ticket = await self.find_ticket(conversation)
        if ticket is None:
            raise RetryableError(
                f"no HubSpot ticket for conversation {conversation} yet (its escalation not "
                "handled yet)"
            )
        return ticket

    def _remember(self, conversation: str, ticket: str) -> None:
        _remember_bounded(self._tickets, conversation, ticket)

    async def _has_note(self, ticket: str, event: Event[Any]) -> bool:
        """Whether the ticket has `event`'s note: one marked with its id (or, should HubSpot have
        dropped the marker, one at its exact time). Reads associations and objects, which see a
        new note at once, unlike search."""
        what = f"list the notes of HubSpot ticket {ticket}"
        url = TICKET_NOTES.format(ticket=quote(ticket, safe=""))
        notes: list[str] = []
        params: dict[str, str | int] = {"limit": _ASSOCIATIONS_PAGE}
        while True:
            response = await send(self.client, "GET", url, what=what, params=params)
            page = parse_body(response, _ASSOCIATIONS, what)
            notes.extend(str(found.to_object_id) for found in page.results)
            if page.paging is None or page.paging.next is None:
                break
            params = {"limit": _ASSOCIATIONS_PAGE, "after": page.paging.next.after}
        marker = _note_marker(event.id)
        what = f"read the notes of HubSpot ticket {ticket}"
        for start in range(0, len(notes), _BATCH_READ):
            body = {
                "inputs": [{"id": note} for note in notes[start : start + _BATCH_READ]],
                "properties": ["hs_note_body", "hs_timestamp"],
                "propertiesWithHistory": [],
            }
            response = await send(self.client, "POST", f"{NOTES}/batch/read", what=what, json=body)
            for note in parse_body(response, _BATCH, what).results:
                if marker in (note.properties.get("hs_note_body") or "") or _same_instant(
                    note.properties.get("hs_timestamp"), event.time
                ):
                    return True
        return False

    async def _request(
        self, method: str, url: str, *, what: str, answered: set[int], **kwargs: Any
    ) -> httpx.Response:
        """`send`, except that a status in `answered` is returned for the caller to read."""
        response = await request(self.client, method, url, what=what, **kwargs)
        if response.status_code not in answered:
            check_status(response, what)
        return response

    @property
    def name(self) -> str:
        return self.context.name


def _hubspot_time(event: Event[Any]) -> str:
    return event.time.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _same_instant(hubspot_time: str | None, moment: datetime) -> bool:
    """Whether a HubSpot datetime (ISO 8601 or epoch milliseconds) is `moment`, to the ms."""
    if not hubspot_time:
        return False
    try:
        if hubspot_time.isdigit():
            return int(hubspot_time) == _epoch_ms(moment)
        return _epoch_ms(datetime.fromisoformat(hubspot_time)) == _epoch_ms(moment)
    except ValueError:
        return False


def _epoch_ms(moment: datetime) -> int:
    return (moment - datetime.fromtimestamp(0, moment.tzinfo)) // timedelta(milliseconds=1)


def _note_marker(event_id: str) -> str:
    """The end of an event's note body: an HTML comment naming the event, unseen in HubSpot."""
    tag = event_id
    if not _PLAIN_ID.fullmatch(event_id):
        # `--` or `>` would end the comment early.
        tag = "sha256-" + hashlib.sha256(event_id.encode()).hexdigest()
    return f"<!-- warmline-event {tag} -->"


def _remember_bounded(memory: OrderedDict[str, Any], key: str, value: Any = None) -> None:
    """Keep `key` as the newest entry of `memory`, dropping the oldest past `_CACHE_SIZE`."""
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > _CACHE_SIZE:
        memory.popitem(last=False)


# --- the customer profile for the handoff --------------------------------------------------------


class HubSpotProfileSource:
    """The handoff's customer facts from HubSpot (a `warmline.handoff.CustomerProfileSource`).

    Finds the contact whose `contact_property` equals the conversation id (set by whatever links
    the customer's channel to HubSpot), then counts that contact's tickets not in the closed stage.
    Blocking (the handoff activity runs in a thread); a short timeout, because a specialist waits.
    """

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        contact_property: str = "warmline_conversation_id",
        closed_stage: str = "4",
        timeout_seconds: float = 3.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._contact_property = contact_property
        self._closed_stage = closed_stage
        self._client = client or httpx.Client(
            base_url=base_url, headers=_bearer(access_token), timeout=timeout_seconds
        )

    @classmethod
    def from_settings(
        cls, settings: HubSpotSettings, access_token: str, *, timeout_seconds: float = 3.0
    ) -> HubSpotProfileSource:
        """One built from the `type: hubspot` connector's settings."""
        return cls(
            access_token,
            base_url=settings.base_url,
            contact_property=settings.contact_property,
            closed_stage=settings.closed_stage,
            timeout_seconds=timeout_seconds,
        )

    def close(self) -> None:
        self._client.close()

    def lookup(
        self, tenant_id: str, conversation_id: str, country: str | None, customer_tier: str
    ) -> dict[str, str]:
        """`name`, `lifecycle_stage`, `open_tickets`, `hubspot_contact_id`; `{}` for no contact."""
        what = f"search HubSpot contacts for {conversation_id}"
        filters = [
            {"propertyName": self._contact_property, "operator": "EQ", "value": conversation_id}
        ]
        wanted = ["firstname", "lastname", "lifecyclestage"]
        response = send_sync(
            self._client,
            "POST",
            f"{CONTACTS}/search",
            what=what,
            json=_search_body(filters, wanted),
        )
        page = parse_body(response, _SEARCH, what)
        if not page.results:
            return {}
        contact = page.results[0]
        facts = {"hubspot_contact_id": contact.id}
        name = " ".join(
            part for part in (contact.properties.get(p) for p in ("firstname", "lastname")) if part
        )
        if name:
            facts["name"] = name
        stage = contact.properties.get("lifecyclestage")
        if stage:
            facts["lifecycle_stage"] = stage
        what = f"count open HubSpot tickets of contact {contact.id}"
        open_filters = [
            {"propertyName": "associations.contact", "operator": "EQ", "value": contact.id},
            {"propertyName": "hs_pipeline_stage", "operator": "NEQ", "value": self._closed_stage},
        ]
        response = send_sync(
            self._client,
            "POST",
            f"{TICKETS}/search",
            what=what,
            json=_search_body(open_filters, ["hs_pipeline_stage"]),
        )
        facts["open_tickets"] = str(parse_body(response, _SEARCH, what).total)
        return facts
