"""A signed webhook: every delivered event POSTed as JSON to one URL, retried until it lands.

The body is the event in CloudEvents 1.0 structured JSON form (`application/cloudevents+json`), or
the rendered `payload_template` when the settings name one (a jinja2 file relative to the
configuration, rendered in a sandbox with `event` and `data`). Each request carries:

- `X-Warmline-Signature: sha256=<hex>`: HMAC-SHA256 with the secret `signing_secret` over
  `<timestamp>.<body>`;
- `X-Warmline-Timestamp`: unix seconds when it was signed (a receiver rejects old ones: replay);
- `X-Warmline-Event-Id` and `X-Warmline-Event-Type` (a receiver drops an id it has seen: a retry
  after a lost response delivers the same event again).

A receiver checks the first two with `verify_signature`. Any 2xx is success; timeouts, connection
failures, 5xx and 429 are retried; other answers dead-letter the event at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

import httpx
from jinja2 import Template
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveFloat, field_validator

from connectors.http import (
    TemplateSourceError,
    compile_template,
    http_url,
    is_json,
    render,
    send,
    structured_event,
    template_context,
)
from connectors.sdk.connector import (
    Connector,
    ConnectorContext,
    Event,
    PermanentError,
    handles,
)
from warmline.errors import ConfigError, Diagnostic
from warmline.events.types import EventType

SIGNATURE_HEADER = "X-Warmline-Signature"
TIMESTAMP_HEADER = "X-Warmline-Timestamp"
EVENT_ID_HEADER = "X-Warmline-Event-Id"
EVENT_TYPE_HEADER = "X-Warmline-Event-Type"
CLOUDEVENTS_JSON = "application/cloudevents+json; charset=utf-8"
DEFAULT_TOLERANCE = 300.0
"""Seconds a signature stays acceptable, either side of the receiver's clock."""
_MAX_TIMESTAMP_DIGITS = 20
"""Unix seconds need 10 digits until the year 2286: a longer `X-Warmline-Timestamp` is forged."""
_OUTBOUND = tuple(t for t in EventType if not t.inbound)
_OWN_HEADERS = frozenset(
    h.lower()
    for h in (
        "Content-Type",
        SIGNATURE_HEADER,
        TIMESTAMP_HEADER,
        EVENT_ID_HEADER,
        EVENT_TYPE_HEADER,
    )
)
_TRANSPORT_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)
"""Headers the HTTP client sets from the URL and the body, or that govern the connection."""
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(r"[\x00-\x08\n-\x1f\x7f]")


def _extra_header(name: str) -> str:
    """An extra header's name, unless it is not one or would collide (case-insensitively, as
    HTTP compares them) with a header the connector or the HTTP client sets: sent beside it, a
    `content-type` or `x-warmline-signature` would contradict or forge the real one."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"{name!r} is not an HTTP header name")
    if name.lower() in _OWN_HEADERS:
        raise ValueError(
            f"header {name!r} is set by the webhook itself (Content-Type from `content_type`, "
            "the X-Warmline-* headers when it signs): remove it here"
        )
    if name.lower() in _TRANSPORT_HEADERS:
        raise ValueError(
            f"header {name!r} is the HTTP client's to set (from `url` and the body, or for the "
            "connection): remove it here"
        )
    return name


def _header_value(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("a header value cannot hold line breaks or control characters")
    if not value.isascii():
        # httpx encodes header values as ASCII: every request would fail, not only the first.
        first = next(c for c in value if not c.isascii())
        raise ValueError(
            f"a header value must be ASCII ({first!r} is not): percent-encode it or leave it out"
        )
    return value


def _media_type(value: str) -> str:
    """`content_type`: a header value naming a `type/subtype`, which picks the escaping."""
    _header_value(value)
    media = value.partition(";")[0].strip()
    kind, slash, subtype = media.partition("/")
    if not (slash and _TOKEN.fullmatch(kind) and _TOKEN.fullmatch(subtype)):
        raise ValueError(
            f"{value!r} is not a media type (type/subtype, e.g. application/json or text/plain)"
        )
    return value


HeaderName = Annotated[str, AfterValidator(_extra_header)]
HeaderValue = Annotated[str, AfterValidator(_header_value)]
MediaType = Annotated[str, AfterValidator(_media_type)]


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The `X-Warmline-Signature` value for `body` signed at `timestamp`."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes | str,
    signature: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether a request is warmline's, signed within `tolerance` seconds of `now` (replay).

    `timestamp` and `signature` are the `X-Warmline-Timestamp` and `X-Warmline-Signature`
    headers, `body` the raw request body, byte for byte as received.
    """
    # Whatever a request carries answers False, never raises: a timestamp of hundreds of digits
    # cannot meet the float clock, and `compare_digest` refuses non-ASCII strings.
    text = str(timestamp).strip()
    if not (text.isascii() and text.isdigit() and len(text) <= _MAX_TIMESTAMP_DIGITS):
        return False
    signed_at = int(text)
    current = time.time() if now is None else now
    if abs(current - signed_at) > tolerance:
        return False
    claimed = signature.strip()
    if not claimed.isascii():
        return False
    raw = body.encode() if isinstance(body, str) else body
    return hmac.compare_digest(sign(secret, signed_at, raw), claimed)


class WebhookSettings(BaseModel):
    """The `settings:` of a `type: webhook` connector."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    url: str
    """Where every event is POSTed (`https://` in production)."""
    timeout_seconds: PositiveFloat = 10.0
    payload_template: str | None = None
    """A jinja2 file, relative to the configuration file, rendering the body instead of the
    CloudEvents JSON form."""
    content_type: MediaType = "application/json"
    """The body's media type when `payload_template` renders it. For JSON, every `{{ }}` output
    that is a string is escaped as JSON string content and the body is checked to parse; for
    HTML and XML, outputs are HTML-escaped."""
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    """Extra fixed request headers (not secrets: those belong in `secrets`), none of the
    connector's own nor of those the HTTP client sets."""

    @field_validator("url")
    @classmethod
    def _absolute(cls, url: str) -> str:
        return http_url(
            url,
            credentials="have the receiver check the X-Warmline-Signature instead, made with "
            "the `signing_secret` from `secrets:`",
        )


class WebhookConnector(Connector):
    """POSTs each event, signed, to `settings.url` (see the module docstring)."""

    type_name: ClassVar[str] = "webhook"
    Settings: ClassVar[type[BaseModel]] = WebhookSettings
    template_settings: ClassVar[Mapping[str, tuple[EventType, ...]]] = {
        "payload_template": _OUTBOUND
    }
    required_secrets: ClassVar[tuple[str, ...]] = ("signing_secret",)
    settings: WebhookSettings

    def __init__(self, settings: BaseModel, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._secret = self.secret("signing_secret")
        self._template: Template | None = None
        self._template_name = ""
        if self.settings.payload_template is not None:
            path = Path(context.base_dir) / self.settings.payload_template
            self._template_name = path.name
            self._template = _load(path, self.settings.content_type)
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=self.settings.timeout_seconds, follow_redirects=False
        )

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @handles(*_OUTBOUND)
    async def deliver(self, event: Event[Any]) -> None:
        """POST the event; return once the receiver answered 2xx."""
        if self._client is None:
            raise RuntimeError("WebhookConnector: start() first")
        body, content_type = self.body(event)
        timestamp = int(time.time())
        # Case-insensitive, so the connector's own headers replace any extra one of that name.
        headers = httpx.Headers(self.settings.headers)
        headers.update(
            {
                "Content-Type": content_type,
                SIGNATURE_HEADER: sign(self._secret, timestamp, body),
                TIMESTAMP_HEADER: str(timestamp),
                EVENT_ID_HEADER: event.id,
                EVENT_TYPE_HEADER: event.type.value,
            }
        )
        what = f"POST {event.type.value} {event.id} to the webhook"
        await send(
            self._client, "POST", self.settings.url, what=what, content=body, headers=headers
        )

    def body(self, event: Event[Any]) -> tuple[bytes, str]:
        """The request body and its content type."""
        if self._template is None:
            structured = json.dumps(structured_event(event), separators=(",", ":"))
            return structured.encode(), CLOUDEVENTS_JSON
        rendered = render(self._template, self._template_name, template_context(event))
        if is_json(self.settings.content_type):
            try:
                json.loads(rendered)
            except json.JSONDecodeError as error:
                raise PermanentError(
                    f"template {self._template_name} rendered invalid JSON for {event.type.value}:"
                    f" {error.msg} at line {error.lineno} column {error.colno}"
                ) from None
        return rendered.encode(), self.settings.content_type


def _load(path: Path, content_type: str) -> Template:
    """Read and compile the payload template, escaping for `content_type`; a problem is a
    `ConfigError` naming the file."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            [Diagnostic(path, 1, 1, f"cannot read payload template: {error}")]
        ) from None
    try:
        return compile_template(source, path.name, content_type=content_type)
    except TemplateSourceError as error:
        raise ConfigError([Diagnostic(path, error.line, 1, str(error))]) from None
