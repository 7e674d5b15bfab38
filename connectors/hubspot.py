"""HubSpot: a ticket per escalated conversation, a note when a specialist accepts, closed at last.

The subset of HubSpot's CRM v3 API used (Bearer private-app token from the secret `access_token`):

- `POST /crm/v3/objects/tickets/search`: find the conversation's ticket by the custom ticket
  property `conversation_property` (default `warmline_conversation_id`; create it in HubSpot as a
  single-line text property). The ticket itself is the memory: a restart or a redelivered event
  finds it instead of creating a second one.
- `POST /crm/v3/objects/tickets`: create it on `conversation.escalated`, with `hs_pipeline`,
  `hs_pipeline_stage` (the open stage), the conversation property and `ticket_properties`, each a
  jinja2 template rendered in a sandbox with `event` (CloudEvents JSON form) and `data`.
- `POST /crm/v3/objects/notes`: on `handoff.accepted`, a note (`hs_note_body` from `note_template`,
  `hs_timestamp`) associated with the ticket (HubSpot-defined association type 228, note → ticket).
- `PATCH /crm/v3/objects/tickets/{id}`: on `handoff.completed` or `conversation.closed`, move it to
  the closed stage.

`HubSpotProfileSource` gives the handoff the customer's facts from HubSpot contacts
(`POST /crm/v3/objects/contacts/search`, and a ticket search by `associations.contact`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, TypeAdapter, field_validator

from connectors.http import (
    compile_template,
    parse_body,
    render,
    send,
    send_sync,
    template_context,
)
from connectors.sdk.connector import (
    Connector,
    ConnectorContext,
    Event,
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
NOTE_TO_TICKET = 228
"""HubSpot's own association type id for note → ticket."""
_SET_ELSEWHERE = frozenset({"hs_pipeline", "hs_pipeline_stage"})
_CACHE_SIZE = 10_000

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
    """The custom ticket property holding the conversation id; searched to stay idempotent."""
    ticket_properties: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_TICKET_PROPERTIES)
    )
    """Ticket property → jinja2 template over `event` and `data`."""
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
        for name, source in properties.items():
            compile_template(source, f"ticket_properties.{name}")
        return properties

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


_OBJECT = TypeAdapter(_Object)
_SEARCH = TypeAdapter(_SearchPage)


def _search_body(filters: list[dict[str, str]], properties: list[str]) -> dict[str, Any]:
    return {"filterGroups": [{"filters": filters}], "properties": properties, "limit": 10}


def _bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


class HubSpotConnector(Connector):
    """Keeps a HubSpot ticket in step with each escalated conversation (see the module doc)."""

    type_name: ClassVar[str] = "hubspot"
    Settings: ClassVar[type[BaseModel]] = HubSpotSettings
    settings: HubSpotSettings

    def __init__(self, settings: BaseModel, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._token = self.secret("access_token")
        s = self.settings
        self._properties = {
            name: compile_template(source, f"ticket_properties.{name}")
            for name, source in s.ticket_properties.items()
        }
        self._note = compile_template(s.note_template, "note_template")
        self._client: httpx.AsyncClient | None = None
        # Saves a search when one process sees escalation and accept back to back; HubSpot's
        # search index can lag a new ticket by seconds. The tickets stay the source of truth.
        self._tickets: OrderedDict[str, str] = OrderedDict()

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
        response = await send(
            self.client, "POST", TICKETS, what=what, json={"properties": properties}
        )
        ticket = parse_body(response, _OBJECT, what).id
        self._remember(conversation, ticket)
        log.info("%s: ticket %s for conversation %s", self.name, ticket, conversation)

    @handles(EventType.HANDOFF_ACCEPTED)
    async def on_accepted(self, event: Event[HandoffAccepted]) -> None:
        """Note on the ticket who accepted, from which queue, after how long."""
        ticket = await self._ticket_or_retry(event.subject)
        body = render(self._note, "note_template", template_context(event))
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
        response = await send(self.client, "POST", NOTES, what=what, json=note)
        parse_body(response, _OBJECT, what)

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
        """The id of the conversation's ticket, from the cache or HubSpot's search."""
        if conversation in self._tickets:
            self._tickets.move_to_end(conversation)
            return self._tickets[conversation]
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
                "handled, or HubSpot's search not yet showing the new ticket)"
            )
        return ticket

    def _remember(self, conversation: str, ticket: str) -> None:
        self._tickets[conversation] = ticket
        self._tickets.move_to_end(conversation)
        while len(self._tickets) > _CACHE_SIZE:
            self._tickets.popitem(last=False)

    @property
    def name(self) -> str:
        return self.context.name


def _hubspot_time(event: Event[Any]) -> str:
    return event.time.isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
