"""The base class of every connector: typed handlers per event type, and the errors they raise.

A connector subclasses `Connector`, names itself, declares its settings as a pydantic model, and
marks async methods with `@handles(EventType....)`. The runner (`connectors.sdk.runner`) does the
rest: consuming, decoding, dropping duplicates, retrying with backoff and jitter, dead-lettering,
committing offsets and shutting down cleanly.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from connectors.sdk.state import InDoubt
from warmline.config.model import Wellness
from warmline.errors import WarmlineError
from warmline.events.catalog import EventData, parse_data
from warmline.events.envelope import DomainEvent
from warmline.events.types import EventType
from warmline.handoff import CustomerProfileSource

DataT = TypeVar("DataT", bound=EventData)
_HANDLES = "__warmline_handles__"
_BATCH = "__warmline_batch__"
DEFAULT_MIN_GROUP_SIZE = Wellness().min_group_size


@dataclass(frozen=True)
class Event(Generic[DataT]):
    """One event as a handler receives it: the CloudEvents attributes and the typed data."""

    id: str
    type: EventType
    source: str
    subject: str
    """The conversation id, or the worker id for wellness and HR events."""
    time: datetime
    data: DataT

    @classmethod
    def of(cls, event: DomainEvent) -> Event[EventData]:
        """Type an envelope's data by the catalog; raises `EventDataError` when it does not fit."""
        return Event(
            id=event.id,
            type=event.type,
            source=event.source,
            subject=event.subject,
            time=event.time,
            data=parse_data(event.type, event.data),
        )


class ConnectorError(WarmlineError):
    """Base of the errors a handler raises to tell the runner what to do."""


class RetryableError(ConnectorError):
    """Try again later (a 5xx, a timeout, a 429); `retry_after` in seconds, when the API said."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """Retrying cannot help (the API refused the request as invalid): dead-letter at once."""


class MissingSecretError(ConnectorError):
    """The configuration lacks a secret the connector cannot work without."""


class InvalidSecretError(ConnectorError):
    """A secret's value cannot be used as it is; the message says why, never what the value is."""

    def __init__(self, connector: str, secret: str, problem: str) -> None:
        super().__init__(f"connector {connector!r}: the secret {secret} {problem}")
        self.secret = secret
        self.problem = problem


def header_value_problem(value: str) -> str | None:
    """Why `value` cannot be sent as a credential in an HTTP header, or None.

    Says where the offending character is, never the value: the caller's message may reach a
    log. A line break at the end (the file or variable the secret came from) is the usual one.
    """
    if value != value.strip():
        return (
            "begins or ends with whitespace or a line break (a newline at the end of the file "
            "or variable it was set from?): remove it"
        )
    for index, char in enumerate(value):
        if not char.isascii():
            return f"has a non-ASCII character at position {index + 1}, which no header can carry"
        if not char.isprintable() or char.isspace():
            return (
                f"has whitespace or a control character at position {index + 1}, which no "
                "credential in a header can carry"
            )
    return None


class NoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ConnectorContext:
    """What the runner hands a connector besides its settings."""

    name: str
    """The connector's name in the configuration (also its consumer group and dedupe scope)."""
    secrets: Mapping[str, str] = field(repr=False)
    """Resolved secrets from the configuration's `secrets:` (API keys, signing keys); left out
    of the repr, so a logged or printed context shows none."""
    base_dir: str = "."
    """Directory of the configuration file, for relative template paths."""
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE
    """The deployment's `wellness.min_group_size`: the fewest people an aggregate this connector
    sends out may describe. `build` (so `warmline connector run`) fills it from the
    configuration; a connector may ask for more, never for less."""
    in_doubt: InDoubt = field(default_factory=InDoubt, repr=False, compare=False)
    """Writes whose outcome is unknown, to look up before making again: in the connector's
    Redis (`warmline connector run`, the test kit), so a restarted process sees them too."""


Handler = Callable[[Any], Awaitable[None]]


def handles(*types: EventType, batch: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """Mark a connector method as the handler of these event types.

    The method takes one `Event[...]`, or with `batch=True` a list of them (every event of those
    types in one poll, in partition order). It returns when the effect is done; it raises
    `RetryableError` or `PermanentError` (anything else counts as retryable).
    """
    if not types:
        raise TypeError("@handles needs at least one event type")

    def mark(method: Callable[..., Any]) -> Any:
        if not inspect.iscoroutinefunction(method):
            raise TypeError(f"{method.__qualname__}: a handler must be `async def`")
        setattr(method, _HANDLES, tuple(types))
        setattr(method, _BATCH, batch)
        return method

    return mark


class Connector:
    """Subclass it, set `type_name` and `Settings`, and write `@handles` methods.

    Annotate `settings: MySettings` in the subclass to have `self.settings` typed as your model.
    """

    type_name: ClassVar[str] = ""
    """The `type:` a configuration uses to pick this connector (e.g. `hubspot`)."""
    Settings: ClassVar[type[BaseModel]] = NoSettings
    """The connector's `settings:` block, validated when the runner starts."""
    template_settings: ClassVar[Mapping[str, tuple[EventType, ...]]] = {}
    """Settings that are jinja2 templates over `event` and `data` (a template, a mapping of
    them, or `payload_template`, a template file's path) → the event types each renders.
    `warmline validate` reports a field one reads that none of those events has."""

    required_secrets: ClassVar[tuple[str, ...]] = ()
    """The names under `secrets:` the connector cannot run without; `warmline validate` reports
    one that is missing (with a did-you-mean for a misspelt one)."""

    def __init__(self, settings: BaseModel, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    @classmethod
    def secrets_problem(cls, names: Collection[str]) -> str | None:
        """Why a configuration's secret `names` cannot run this connector, or None; override it
        for a rule `required_secrets` cannot say."""
        from warmline.config.loader import suggest

        missing = [name for name in cls.required_secrets if name not in names]
        if not missing:
            return None
        hint = suggest(missing[0], sorted(set(names) - set(cls.required_secrets)))
        close = hint if hint.startswith("; did you mean") else ""
        return f"needs the secret {missing[0]} under `secrets:`{close}"

    def secret(self, name: str) -> str:
        """A secret from the configuration's `secrets:`; `MissingSecretError` when it is absent."""
        value = self.context.secrets.get(name)
        if not value:
            raise MissingSecretError(f"connector {self.context.name!r} needs the secret {name}")
        return value

    def header_secret(self, name: str) -> str:
        """`secret(name)` for a credential sent in an HTTP header (an access token, an API key);
        `InvalidSecretError` when no header can carry it, so the connector refuses to start
        rather than fail every request (httpx's error for a token ending in a line break quotes
        the token, which would then reach the log and the dead letters)."""
        value = self.secret(name)
        problem = header_value_problem(value)
        if problem is not None:
            raise InvalidSecretError(self.context.name, name, problem)
        return value

    def profile_source(self) -> CustomerProfileSource | None:
        """What this connector knows about customers, for the handoff (`handoff.context.
        customer_profile_from`); CRM connectors override it, the default knows nothing."""
        return None

    async def start(self) -> None:
        """Open clients before the first event (override; the default does nothing)."""

    async def stop(self) -> None:
        """Close clients after the last event (override; the default does nothing)."""

    @classmethod
    def handler_table(cls) -> dict[EventType, tuple[str, bool]]:
        """Event type → (method name, batch?) for every `@handles` method."""
        table: dict[EventType, tuple[str, bool]] = {}
        for name, member in inspect.getmembers(cls, inspect.isfunction):
            for event_type in getattr(member, _HANDLES, ()):
                if event_type in table:
                    raise TypeError(
                        f"{cls.__name__}: {event_type.value} is handled by both "
                        f"{table[event_type][0]} and {name}"
                    )
                table[event_type] = (name, bool(getattr(member, _BATCH, False)))
        return table
