"""Tell the team's chat channel when a conversation needs people fast."""

import httpx
from pydantic import BaseModel, ConfigDict

from connectors.http import retry_after_seconds
from connectors.sdk import Connector, Event, PermanentError, RetryableError, handles
from warmline.events.catalog import CrisisDetected, SupervisorPaged
from warmline.events.types import EventType


class TeamChatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    webhook_url: str
    """A Slack-compatible incoming webhook: it takes `{"text": ...}`."""


class TeamChatAlerts(Connector):
    type_name = "team-chat"
    Settings = TeamChatSettings
    settings: TeamChatSettings

    @handles(EventType.CRISIS_DETECTED)
    async def on_crisis(self, event: Event[CrisisDetected]) -> None:
        flags = ", ".join(event.data.risk_flags)
        await self.post(f":rotating_light: crisis in {event.subject} ({flags})")

    @handles(EventType.SUPERVISOR_PAGED)
    async def on_page(self, event: Event[SupervisorPaged]) -> None:
        await self.post(f":pager: {event.data.queue} needs a supervisor: {event.data.reason}")

    async def post(self, text: str) -> None:
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.post(self.settings.webhook_url, json={"text": text})
        except httpx.TransportError as error:
            raise RetryableError(f"chat unreachable: {error}") from error
        if response.status_code >= 500 or response.status_code == 429:
            # A rate limit says when to try again: the runner waits that long.
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise RetryableError(f"chat answered {response.status_code}", retry_after=wait)
        if response.is_error:
            raise PermanentError(f"chat refused the message: {response.status_code}")
