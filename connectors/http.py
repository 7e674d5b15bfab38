"""What the reference connectors (HubSpot, webhook, BambooHR) share about talking HTTP.

An API's answer becomes the SDK's verdict here, once: timeouts, connection failures and 5xx are
`RetryableError`; a 429 is retryable after its `Retry-After`; any other 4xx is a `PermanentError`
naming the status and the start of the body; a 2xx whose body is not the JSON expected is retryable
with the reason, so after the runner's attempts it lands in the dead letter saying why. Request
bodies written by admins as jinja2 templates render here too, in jinja2's immutable sandbox with a
time budget (`warmline.sandbox`), escaped for the body's media type, and URLs from settings are
checked here.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError
from markupsafe import Markup, escape
from pydantic import TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from connectors.sdk.connector import Event, PermanentError, RetryableError
from warmline.sandbox import BudgetedSandbox, check_deadline, render_budget

T = TypeVar("T")

EXCERPT_CHARS = 200
"""How much of an error body goes into the error message (and so into the dead letter)."""
MAX_RENDERED_CHARS = 256 * 1024
"""A rendered template longer than this is a template bug, not a payload."""
RENDER_TIMEOUT_SECONDS = 2.0
"""How long one render may run: a template that loops longer is a template bug, and must not
hold the connector's event loop."""


# --- URLs from settings --------------------------------------------------------------------------


def http_url(url: str, *, credentials: str) -> str:
    """`url` when it is an absolute `http://` or `https://` URL with a host and no user-info;
    otherwise a `ValueError` saying what to write (a settings validator turns it into a
    FILE:LINE:COL configuration error). `credentials` says where the service's credentials go
    instead of `user:password@`: a URL is logged and shown in errors, a secret is not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        hint = f"; did you mean 'https://{url}'?" if "://" not in url and url else ""
        raise ValueError(
            f"{url!r} is not an http:// or https:// URL with a host "
            f"(e.g. https://api.example.com){hint}"
        )
    if "@" in parts.netloc:
        raise ValueError(
            "the URL carries credentials (user:password@), and URLs are written to logs and "
            f"error messages: remove them; {credentials}"
        )
    try:
        parts.port  # noqa: B018 - reading it checks the port's range
    except ValueError as error:
        raise ValueError(f"{url!r}: {error}") from None
    return url


# --- answers and failures ----------------------------------------------------------------------


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: either form RFC 9110 allows (seconds or HTTP-date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    # RFC 9110's DIGIT is ASCII; `str.isdigit` also takes "²", which `float` then refuses.
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def excerpt(response: httpx.Response, *, error_header: str | None = None) -> str:
    """The start of the body on one line, or the API's error header when the body is empty."""
    text = " ".join(response.text.split())
    if not text and error_header:
        text = response.headers.get(error_header, "")
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS] + "…"
    return text or "(empty body)"


def check_status(response: httpx.Response, what: str, *, error_header: str | None = None) -> None:
    """Return for a 2xx; otherwise raise the SDK error the status calls for."""
    status = response.status_code
    if 200 <= status < 300:
        return
    said = f"{what}: HTTP {status}: {excerpt(response, error_header=error_header)}"
    location = response.headers.get("Location")
    if 300 <= status < 400 and location:
        # Redirects are not followed (a POST would be re-sent as a GET, or to a host the
        # configuration never named): say where to point the URL instead.
        said = f"{what}: HTTP {status} redirecting to {location} (not followed: use that URL)"
    if status == 429 or status >= 500 or status == 408:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        raise RetryableError(said, retry_after=wait)
    raise PermanentError(said)


_QUOTED_BYTES = re.compile(r"""b(['"]).*\1""")
"""A bytes literal in an HTTP library's message: the header name or value it refused."""


def transport_error(error: httpx.TransportError, what: str, timeout: float | None) -> Exception:
    """The SDK error for a request that got no answer."""
    if isinstance(error, httpx.UnsupportedProtocol):
        return PermanentError(f"{what}: {error}")
    if isinstance(error, httpx.LocalProtocolError):
        # The request itself is not valid HTTP (a header value with a line break), so every
        # retry fails alike; and h11 quotes the value it refused, which may be a credential.
        said = _QUOTED_BYTES.sub("(not shown)", str(error))
        return PermanentError(f"{what}: the request is not valid HTTP: {said}")
    if isinstance(error, httpx.TimeoutException):
        limit = f" after {timeout:g}s" if timeout is not None else ""
        return RetryableError(f"{what}: timed out{limit} ({type(error).__name__})")
    return RetryableError(f"{what}: {type(error).__name__}: {error or 'no answer'}")


def _timeout_of(client: httpx.AsyncClient | httpx.Client) -> float | None:
    return client.timeout.read


async def request(
    client: httpx.AsyncClient, method: str, url: str, *, what: str, **kwargs: Any
) -> httpx.Response:
    """One request, answered in full within the client's timeout, whatever its status; the SDK
    error when it got no (complete) answer.

    httpx's timeouts bound each step (connecting, each read), not the request: an answer that
    trickles in, a byte now and then, never trips them, and would hold the event, its batch and
    the connector's shutdown for as long as the server likes. So the client's timeout bounds the
    whole request here too (the `timeout_seconds` setting is documented as per request).
    """
    timeout = _timeout_of(client)
    try:
        async with asyncio.timeout(timeout):
            return await client.request(method, url, **kwargs)
    except httpx.TransportError as error:
        raise transport_error(error, what, timeout) from error
    except TimeoutError:
        raise RetryableError(_trickled(what, timeout)) from None


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    error_header: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One request (see `request`); a 2xx response, or the SDK error saying whether a retry can
    help."""
    response = await request(client, method, url, what=what, **kwargs)
    check_status(response, what, error_header=error_header)
    return response


def send_sync(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    what: str,
    error_header: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """`send` for blocking callers (the handoff activity's customer-profile lookup), the whole
    request bounded by the client's timeout too (see `request`): the body is read a chunk at a
    time, and one still arriving past the timeout ends the request."""
    timeout = _timeout_of(client)
    deadline = None if timeout is None else time.monotonic() + timeout
    raw = bytearray()
    try:
        with client.stream(method, url, **kwargs) as streamed:
            for chunk in streamed.iter_raw():
                raw += chunk
                if deadline is not None and time.monotonic() > deadline:
                    raise RetryableError(_trickled(what, timeout))
        response = httpx.Response(
            streamed.status_code,
            headers=streamed.headers,
            stream=httpx.ByteStream(bytes(raw)),
            request=streamed.request,
        )
        response.read()
    except httpx.TransportError as error:
        raise transport_error(error, what, timeout) from error
    check_status(response, what, error_header=error_header)
    return response


def _trickled(what: str, timeout: float | None) -> str:
    return f"{what}: timed out after {timeout:g}s (the answer did not arrive in full)"


def parse_body(response: httpx.Response, shape: TypeAdapter[T], what: str) -> T:
    """The 2xx body as `shape`; a body that is not that JSON is a retryable, named failure.

    An API that answers 200 with an HTML error page or half a document is misbehaving, usually
    briefly (a proxy, a deploy): retrying is right, and the reason travels to the dead letter.
    """
    try:
        return shape.validate_json(response.content)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise RetryableError(
            f"{what}: HTTP {response.status_code} with a body that is not the expected JSON "
            f"({where}: {first['msg']}): {excerpt(response)}"
        ) from None


# --- events as JSON ------------------------------------------------------------------------------


def structured_event(event: Event[Any]) -> dict[str, Any]:
    """The event in CloudEvents 1.0 structured JSON form (what a webhook gets by default)."""
    return {
        "specversion": "1.0",
        "id": event.id,
        "type": event.type.value,
        "source": event.source,
        "subject": event.subject,
        "time": event.time.isoformat(),
        "datacontenttype": "application/json",
        "data": event.data.model_dump(mode="json"),
    }


def template_context(event: Event[Any]) -> dict[str, Any]:
    """What a connector template sees: `event` (structured form) and `data` (its data)."""
    structured = structured_event(event)
    return {"event": structured, "data": structured["data"]}


# --- templates -----------------------------------------------------------------------------------


class TemplateSourceError(ValueError):
    """A template does not compile; `line` is where, within the template.

    A `ValueError`, so that a settings validator turns it into a FILE:LINE:COL configuration error.
    """

    def __init__(self, name: str, line: int, message: str) -> None:
        super().__init__(f"template {name}: line {line}: {message}")
        self.line = line


def _undefined_in_json(value: object) -> object:
    """`tojson` of a missing value: say which one, as printing it would, not "not serializable"."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def is_json(content_type: str) -> bool:
    """Whether a body of `content_type` is JSON (`application/json`, `...+json`)."""
    media = _media_type(content_type)
    return media.endswith(("/json", "+json"))


def _is_markup(content_type: str) -> bool:
    media = _media_type(content_type)
    return media in ("text/html", "text/xml", "application/xml") or media.endswith("+xml")


def _json_string_content(value: object) -> object:
    """The `finalize` of JSON templates: what a `{{ }}` prints, when a plain string, is escaped
    as JSON string content (quotes, backslashes, control characters), so free text inside
    `"{{ data.summary }}"` stays that one string however it is quoted. What is already marked
    safe (`tojson`'s output, `| safe`) and other values (numbers) print as they are."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return json.dumps(value, ensure_ascii=False)[1:-1]
    return value


def _escape_in_json(value: object) -> object:
    """`| e` (`| escape`) in a JSON template: HTML-escaped, as the admin asked (a HubSpot note's
    body is HTML), but left a plain string so `finalize` escapes it as JSON string content too.
    jinja2's own filter marks its output safe, which skipped the JSON escaping: a customer's line
    break then made the body invalid JSON, and a backslash changed the text."""
    if isinstance(value, Markup):
        return value
    return str(escape(value))


def compile_template(source: str, name: str, *, content_type: str | None = None) -> Template:
    """Compile an admin-written template in the sandbox, or raise `TemplateSourceError`.

    `content_type` is the media type of what it renders, and picks how every `{{ }}` output is
    escaped: as JSON string content for JSON (see `_json_string_content`), as HTML for HTML and
    XML; not at all for anything else or without one (text sent on as a value, such as a
    HubSpot property, which the JSON encoder of the request escapes).
    """
    finalize: Callable[[object], object] | None = None
    if content_type is not None and is_json(content_type):
        finalize = _json_string_content
    autoescape = content_type is not None and _is_markup(content_type)
    environment = BudgetedSandbox(
        max_size=MAX_RENDERED_CHARS,
        undefined=StrictUndefined,
        autoescape=autoescape,
        finalize=finalize,
    )
    environment.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _undefined_in_json}
    if finalize is not None:
        environment.filters["e"] = environment.filters["escape"] = _escape_in_json
    try:
        return environment.from_string(source)
    except TemplateSyntaxError as error:
        raise TemplateSourceError(name, error.lineno, error.message or "syntax error") from None


def compile_templates(templates: Mapping[str, str], setting: str) -> None:
    """Compile a setting that maps keys to templates, for the setting's validator.

    Raises a `ValidationError` with an error at the key of each template that does not compile:
    raised in a validator, its errors keep their keys below the setting's location, so each is
    reported at its own line rather than all at the setting's first key.
    """
    errors: list[InitErrorDetails] = []
    for key, source in templates.items():
        try:
            compile_template(source, f"{setting}.{key}")
        except TemplateSourceError as error:
            problem = PydanticCustomError("template", "{message}", {"message": str(error)})
            errors.append(InitErrorDetails(type=problem, loc=(key,), input=source))
    if errors:
        raise ValidationError.from_exception_data(setting, errors)


def render(
    template: Template,
    name: str,
    context: Mapping[str, Any],
    *,
    timeout_seconds: float | None = None,
) -> str:
    """Render in the sandbox within `timeout_seconds` (default `RENDER_TIMEOUT_SECONDS`); a
    template that cannot render this event, or runs longer, is a permanent failure."""
    limit = RENDER_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds
    try:
        with render_budget(limit):
            return "".join(_bounded(template.generate(dict(context))))
    # Whatever the admin's template raises (an undefined value, `"{x}".format()`'s KeyError, a
    # macro that recurses) fails every retry alike: dead-letter it at once, naming the template.
    except Exception as error:  # noqa: BLE001 - the template is the admin's code
        raise PermanentError(f"template {name} failed: {type(error).__name__}: {error}") from None


def _bounded(chunks: Iterator[str]) -> Iterator[str]:
    size = 0
    for chunk in chunks:
        check_deadline()
        size += len(chunk)
        if size > MAX_RENDERED_CHARS:
            raise SecurityError(f"rendered output over {MAX_RENDERED_CHARS} characters")
        yield chunk
