"""The warm handoff: what the specialist receives before the first reply.

`HandoffRequest` is everything the conversation knows when a specialist accepts; the admin's jinja2
template renders it (sandboxed; customer text is only ever data) into a `HandoffPackage`. A template
that fails never loses the context: the package then carries a plain built-in summary and the error.
"""

from __future__ import annotations

import logging
import traceback
import unicodedata
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from jinja2 import (
    Environment,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    Undefined,
    meta,
    nodes,
)
from pydantic import BaseModel, ConfigDict, Field

from warmline.config.model import Tenant, WarmlineConfig
from warmline.errors import ConfigError, Diagnostic
from warmline.escalation import Escalation, Referral
from warmline.sandbox import BudgetedSandbox, check_deadline, render_budget
from warmline.triage.types import RiskFlag, Role

logger = logging.getLogger(__name__)

MAX_RENDERED_BYTES = 64 * 1024
"""A rendered summary longer than this (UTF-8) is cut, with a note saying so."""
RENDER_TIMEOUT = timedelta(seconds=2)
"""How long one render may run before it is abandoned for the fallback summary."""
CUT_MARK = " […]"
"""Ends a history message shortened to fit the history's share of the size limit."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class HandoffTurn(_Model):
    role: Role
    text: str
    at: datetime | None = None
    """When the conversation recorded it; None for turns recorded before times were kept."""


class HandoffPoint(_Model):
    """One step of the emotional trajectory, as the template sees it."""

    message_id: str
    distress: float
    emotions: dict[str, float]
    risk_flags: list[RiskFlag] = Field(default_factory=list)
    confidence: float = 0.0


class HandoffRequest(_Model):
    tenant_id: str
    conversation_id: str
    specialist_id: str
    queue: str
    escalation: Escalation
    history: list[HandoffTurn]
    trajectory: list[HandoffPoint]
    rationale: str = ""
    """The triage rationale of the message that escalated."""
    risk_flags: list[RiskFlag] = Field(default_factory=list)
    """Every risk flag raised in the conversation so far."""
    referrals: list[Referral] = Field(default_factory=list)
    country: str | None = None
    customer_tier: str = ""
    waited: timedelta = timedelta(0)
    notes: list[str] = Field(default_factory=list)
    """Notes from earlier specialists (a transfer or a hand-back)."""
    tenant_name: str | None = None
    """The tenant's display name; the template sees the tenant id when it is not known."""
    tenant_country: str | None = None
    """The tenant's default country; `unknown` in the template when it is not known."""
    tenant_locale: str | None = None
    """The tenant's default locale; `unknown` in the template when it is not known."""


class HandoffPackage(_Model):
    """The context package: the rendered summary plus the facts it was rendered from."""

    specialist_id: str
    queue: str
    rendered: str
    """The admin's template rendered with the conversation's context."""
    risk_flags: list[RiskFlag] = Field(default_factory=list)
    requires_acknowledgement: bool = False
    """The specialist must acknowledge the risk flags before the first reply."""
    referrals: list[Referral] = Field(default_factory=list)
    customer_profile: dict[str, str] = Field(default_factory=dict)
    """What connectors know about the customer (e.g. the CRM's profile)."""
    render_error: str | None = None
    """Set when the template failed; `rendered` then holds a plain fallback summary."""
    truncated: bool = False
    """The rendered summary was longer than the size limit and was cut (a note says so)."""
    profile_unavailable: bool = False
    """The customer profile source could not be read (it failed, did not answer in time,
    answered something other than a mapping, or was not asked because too many lookups hang), so
    `customer_profile` is empty for want of an answer, not because the customer is unknown.
    Defaults to False so packages recorded before it existed still validate."""


# --- the customer's profile --------------------------------------------------------------------


class CustomerProfileSource(Protocol):
    """Where the handoff gets what is known about the customer (a CRM connector implements it)."""

    def lookup(
        self, tenant_id: str, conversation_id: str, country: str | None, customer_tier: str
    ) -> dict[str, str]:
        """The customer's profile as flat string facts; raise when the source cannot answer."""
        ...


class RequestProfileSource:
    """The default source: only the facts the handoff request already carries."""

    def lookup(
        self, tenant_id: str, conversation_id: str, country: str | None, customer_tier: str
    ) -> dict[str, str]:
        profile: dict[str, str] = {}
        if country:
            profile["country"] = country
        if customer_tier:
            profile["tier"] = customer_tier
        return profile


class ProfileIncompleteError(Exception):
    """Some sources of a `CombinedProfileSource` failed: the facts of those that answered, and the
    names of those that did not (each failure is logged where it happened)."""

    def __init__(self, facts: dict[str, str], failed: list[str]) -> None:
        super().__init__(f"customer profile source(s) {', '.join(failed)} failed")
        self.facts = facts
        self.failed = failed


class CombinedProfileSource:
    """Facts from several sources, earlier ones first. A source that fails is logged and skipped,
    so one CRM outage does not take the others' facts away from the specialist; the lookup then
    raises `ProfileIncompleteError` with those facts, so the handoff can say the profile could not
    be read (an empty or partial profile alone would read as a customer the CRM does not know)."""

    def __init__(self, sources: list[CustomerProfileSource]) -> None:
        self.sources = sources

    def lookup(
        self, tenant_id: str, conversation_id: str, country: str | None, customer_tier: str
    ) -> dict[str, str]:
        profile: dict[str, str] = {}
        failed: list[str] = []
        for source in self.sources:
            try:
                found = source.lookup(tenant_id, conversation_id, country, customer_tier)
            except Exception:
                logger.warning(
                    "customer profile source %s failed for %s/%s",
                    type(source).__name__,
                    tenant_id,
                    conversation_id,
                    exc_info=True,
                )
                failed.append(type(source).__name__)
                continue
            for key, value in found.items():
                profile.setdefault(key, value)
        if failed:
            raise ProfileIncompleteError(profile, failed)
        return profile


# --- what the template sees --------------------------------------------------------------------
# Plain frozen dataclasses rather than the pydantic models: the template gets a small, documented
# surface (docs/handoff.md) and nothing else to call.


class Facts(dict[str, str]):
    """Open-ended string facts (`customer`, `profile`): a missing key is empty, not an error.

    Which facts exist depends on the tenant's CRM, so `customer.order_id` must be usable in an
    `if` or with `default(...)` when the CRM does not know it. Everything else in the context is
    strict: a misspelt variable or attribute fails the render.
    """

    def __missing__(self, key: str) -> Undefined:
        return Undefined(name=key)


@dataclass(frozen=True, slots=True)
class ConversationFacts:
    id: str
    waiting: str
    """How long the customer waited for a person, e.g. `2m 10s`."""
    waited_seconds: int


@dataclass(frozen=True, slots=True)
class TenantFacts:
    id: str
    name: str
    country: str
    locale: str
    timezone: str
    """The IANA zone history times are shown in: the tenant's `timezone`, else `UTC`."""


@dataclass(frozen=True, slots=True)
class EscalationFacts:
    reason: str
    queue: str
    """The queue the specialist accepted from."""
    first_queue: str
    """The queue the escalation was first routed to (differs after a reroute along the chain)."""
    priority: int
    rule: str
    crisis: bool
    message_id: str


@dataclass(frozen=True, slots=True)
class ReferralLine:
    name: str
    phone: str | None
    text: str | None
    url: str | None
    hours: str


@dataclass(frozen=True, slots=True)
class TrajectoryStep:
    index: int
    """1-based position in the conversation's trajectory."""
    message_id: str
    distress: float
    top_emotion: str
    """The strongest emotion, or `""` when none was scored."""
    emotions: dict[str, float]
    risk_flags: list[str]
    confidence: float


@dataclass(frozen=True, slots=True)
class HistoryMessage:
    author: str
    """`Customer`, `AI` or `Specialist`."""
    role: str
    text: str
    at: datetime | None
    """When it was written, in the tenant's time zone; None when the transcript has no time."""
    time: str
    """`at` as `HH:MM`, or `""` when it is not known."""


@dataclass(frozen=True, slots=True)
class SpecialistFacts:
    id: str


_AUTHORS = {
    Role.CUSTOMER: "Customer",
    Role.AI: "AI",
    Role.SPECIALIST: "Specialist",
    Role.SYSTEM: "warmline",
}
_ESCAPED_SUFFIXES = frozenset({".html", ".htm", ".xml"})
_TEMPLATE_SUFFIXES = frozenset({".j2", ".jinja", ".jinja2"})


def is_crisis(request: HandoffRequest) -> bool:
    """A crisis escalation, or any crisis risk flag so far (a transfer after a crisis stays one)."""
    return crisis_by(request.escalation, request.risk_flags)


def crisis_by(escalation: Escalation, risk_flags: list[RiskFlag]) -> bool:
    """A crisis escalation, or any crisis risk flag among `risk_flags`: `is_crisis` of a request
    not built yet, so the conversation gives every crisis handoff its helplines."""
    return escalation.crisis or any(flag.is_crisis for flag in risk_flags)


def human_duration(duration: timedelta) -> str:
    """`2m 10s`, `1h 5m`, `0s`: whole seconds, zero units left out."""
    seconds = max(int(duration.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return " ".join(parts) or "0s"


# --- the sandbox -------------------------------------------------------------------------------


class _HandoffSandbox(BudgetedSandbox):
    """`BudgetedSandbox` with the handoff's undefined values and whitespace."""

    def __init__(self, *, autoescape: bool, max_bytes: int) -> None:
        super().__init__(
            max_size=max_bytes,
            autoescape=autoescape,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )


# --- rendering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandoffRenderer:
    """Renders handoff requests with one compiled template; build once, share between threads.

    Customer text only ever reaches the template as variable values, so `{{ 7*7 }}` written by a
    customer stays literal. The template itself runs in jinja2's immutable sandbox.
    """

    source: str
    name: str = "handoff.md.j2"
    history_messages: int = 20
    trajectory: bool = True
    rationale: bool = True
    require_risk_acknowledgement: bool = True
    max_bytes: int = MAX_RENDERED_BYTES
    timeout: timedelta = RENDER_TIMEOUT
    filename: str | None = None
    """Where the template came from, to name its lines in errors; defaults to `name`."""
    tenants: Mapping[str, Tenant] = field(default_factory=dict)
    """The configured tenants by id: their name, country, locale and time zone fill `tenant`
    where the request does not carry them."""
    _environment: _HandoffSandbox = field(init=False, repr=False, compare=False)
    _template: Template = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        environment = _HandoffSandbox(autoescape=_escapes(self.name), max_bytes=self.max_bytes)
        filename = self.filename or self.name
        try:
            code = environment.compile(self.source, name=self.name, filename=filename)
        except TemplateSyntaxError as error:
            message = f"handoff template syntax error: {error.message}"
            raise ConfigError([Diagnostic(Path(filename), error.lineno, 1, message)]) from error
        template = environment.template_class.from_code(
            environment, code, environment.make_globals(None)
        )
        object.__setattr__(self, "_environment", environment)
        object.__setattr__(self, "_template", template)

    @classmethod
    def from_file(
        cls,
        path: Path,
        *,
        history_messages: int = 20,
        trajectory: bool = True,
        rationale: bool = True,
        require_risk_acknowledgement: bool = True,
        max_bytes: int = MAX_RENDERED_BYTES,
        timeout: timedelta = RENDER_TIMEOUT,
        tenants: Mapping[str, Tenant] | None = None,
    ) -> HandoffRenderer:
        """Compile the template at `path`; a syntax error raises `ConfigError` with its line."""
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            message = f"cannot read handoff template: {error}"
            raise ConfigError([Diagnostic(path, 1, 1, message)]) from error
        return cls(
            source,
            name=path.name,
            filename=str(path),
            history_messages=history_messages,
            trajectory=trajectory,
            rationale=rationale,
            require_risk_acknowledgement=require_risk_acknowledgement,
            max_bytes=max_bytes,
            timeout=timeout,
            tenants=dict(tenants or {}),
        )

    def render(self, request: HandoffRequest, customer_profile: dict[str, str]) -> HandoffPackage:
        """The package for `request`; a failing template gives the fallback summary, no error."""
        context = self.context(request, customer_profile)
        render_error: str | None = None
        truncated = False
        try:
            rendered, truncated = self._render(context)
        except Exception as error:  # noqa: BLE001 - any template failure falls back, see docstring
            render_error = self._describe(error)
            # The log gets the error's type and line only: its message may quote a value the
            # template read, the customer's words among them (docs/privacy.md: no log line holds
            # a customer message). The package, for the owning specialist, keeps it whole.
            logger.warning(
                "handoff template failed for %s/%s: %s",
                request.tenant_id,
                request.conversation_id,
                self._describe(error, quoting=False),
            )
            rendered = fallback_summary(request, self._history(request), render_error)
            # Notes and helplines are not bounded by the history's budget: cut the summary too.
            if len(rendered.encode("utf-8")) > self.max_bytes:
                rendered = cut_utf8(rendered, self.max_bytes) + _cut_note(self.max_bytes)
                truncated = True
        if truncated:
            logger.warning(
                "handoff for %s/%s cut at %d bytes",
                request.tenant_id,
                request.conversation_id,
                self.max_bytes,
            )
        return HandoffPackage(
            specialist_id=request.specialist_id,
            queue=request.queue,
            rendered=rendered,
            risk_flags=list(request.risk_flags),
            requires_acknowledgement=self.require_risk_acknowledgement and bool(request.risk_flags),
            referrals=list(request.referrals),
            customer_profile=dict(customer_profile),
            render_error=render_error,
            truncated=truncated,
        )

    def context(
        self, request: HandoffRequest, customer_profile: Mapping[str, str]
    ) -> dict[str, Any]:
        """The variables the template sees (documented in docs/handoff.md)."""
        customer = Facts(customer_profile)
        # The request's country and tier drove routing and the helplines, so they win over the CRM.
        if request.country:
            customer["country"] = request.country
        if request.customer_tier:
            customer["tier"] = request.customer_tier
        escalation = request.escalation
        risk_flags = [str(flag) for flag in request.risk_flags]
        requires = self.require_risk_acknowledgement and bool(request.risk_flags)
        rationale: str | Undefined = request.rationale
        if not (self.rationale and request.rationale):
            # Undefined but lenient, so `rationale | default("none")` shows the template's text.
            rationale = Undefined(name="rationale")
        return {
            "conversation": ConversationFacts(
                id=request.conversation_id,
                waiting=human_duration(request.waited),
                waited_seconds=max(int(request.waited.total_seconds()), 0),
            ),
            "tenant": self._tenant(request),
            "escalation": EscalationFacts(
                reason=escalation.reason,
                queue=request.queue,
                first_queue=escalation.queue,
                priority=escalation.priority,
                rule=escalation.rule,
                crisis=escalation.crisis,
                message_id=escalation.message_id,
            ),
            "crisis": is_crisis(request),
            "risk_flags": risk_flags,
            "requires_acknowledgement": requires,
            "referrals": [
                ReferralLine(name=r.name, phone=r.phone, text=r.text, url=r.url, hours=r.hours)
                for r in request.referrals
            ],
            "customer": customer,
            "profile": Facts(customer_profile),
            "trajectory": self._trajectory(request) if self.trajectory else [],
            "rationale": rationale,
            "history": self._history(request),
            "notes": list(request.notes),
            "specialist": SpecialistFacts(id=request.specialist_id),
        }

    def _tenant(self, request: HandoffRequest) -> TenantFacts:
        known = self.tenants.get(request.tenant_id)
        return TenantFacts(
            id=request.tenant_id,
            name=request.tenant_name or (known.name if known else request.tenant_id),
            country=request.tenant_country or (known.country if known else "unknown"),
            locale=request.tenant_locale or (known.locale if known else "unknown"),
            timezone=known.timezone if known else "UTC",
        )

    def _history(self, request: HandoffRequest) -> list[HistoryMessage]:
        turns = request.history[-self.history_messages :] if self.history_messages else []
        zone = ZoneInfo(self._tenant(request).timezone)
        messages = []
        for turn, text in newest_within(turns, self.max_bytes // 2):
            at = turn.at.astimezone(zone) if turn.at is not None else None
            messages.append(
                HistoryMessage(
                    author=_AUTHORS[turn.role],
                    role=str(turn.role),
                    text=text,
                    at=at,
                    time=at.strftime("%H:%M") if at is not None else "",
                )
            )
        return messages

    @staticmethod
    def _trajectory(request: HandoffRequest) -> list[TrajectoryStep]:
        return [
            TrajectoryStep(
                index=index,
                message_id=point.message_id,
                distress=point.distress,
                top_emotion=max(point.emotions, key=point.emotions.__getitem__, default=""),
                emotions=dict(point.emotions),
                risk_flags=[str(flag) for flag in point.risk_flags],
                confidence=point.confidence,
            )
            for index, point in enumerate(request.trajectory, start=1)
        ]

    def _render(self, context: dict[str, Any]) -> tuple[str, bool]:
        """The rendered text and whether it was cut at `max_bytes`."""
        chunks: list[str] = []
        size = 0
        with render_budget(self.timeout.total_seconds()):
            stream = self._template.generate(context)
            try:
                for chunk in stream:
                    check_deadline()
                    text = str(chunk)
                    chunks.append(text)
                    size += len(text.encode("utf-8"))
                    if size > self.max_bytes:
                        cut = cut_utf8("".join(chunks), self.max_bytes)
                        return cut + _cut_note(self.max_bytes), True
            finally:
                if isinstance(stream, Generator):
                    stream.close()
        return "".join(chunks), False

    def _describe(self, error: Exception, *, quoting: bool = True) -> str:
        """`Type: message (template line N)`, the line when the traceback passes through it;
        without `quoting`, the type and line only."""
        described = f"{type(error).__name__}: {error}" if quoting else type(error).__name__
        line = getattr(error, "lineno", None)
        filename = self.filename or self.name
        for frame in traceback.extract_tb(error.__traceback__):
            if frame.filename == filename:
                line = frame.lineno
        return f"{described} (template line {line})" if line else described


def _escapes(name: str) -> bool:
    """Autoescape HTML and XML templates only: in markdown the specialist would read `&amp;`."""
    path = Path(name)
    if path.suffix in _TEMPLATE_SUFFIXES:
        path = path.with_suffix("")
    return path.suffix.lower() in _ESCAPED_SUFFIXES


def newest_within(turns: list[HandoffTurn], budget: int) -> list[tuple[HandoffTurn, str]]:
    """The newest of `turns` whose text fits in `budget` UTF-8 bytes, oldest first, each with the
    text to show: the oldest one kept (the latest, when it alone is too long) is shortened to what
    is left, ending in `CUT_MARK`. The rendered summary is cut at the size limit from its end, so
    without this a long, wordy conversation would lose its newest messages, the ones that
    escalated, and keep the oldest."""
    kept: list[tuple[HandoffTurn, str]] = []
    left = budget
    for turn in reversed(turns):
        size = len(turn.text.encode("utf-8"))
        if size <= left:
            kept.append((turn, turn.text))
            left -= size
            continue
        room = left - len(CUT_MARK.encode("utf-8"))
        if room > 0:
            kept.append((turn, cut_utf8(turn.text, room) + CUT_MARK))
        break
    kept.reverse()
    return kept


_JOINERS = frozenset({"\u200d", "\u034f"})
"""Zero-width and combining grapheme joiners: a cut right after one would leave it dangling."""


def cut_utf8(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` of UTF-8, never inside a character, nor between a
    character and the combining marks, joiners, variation selectors or skin tones that belong to
    it (so an emoji sequence or an accented letter is kept whole or left out whole)."""
    if len(text.encode("utf-8")) <= max_bytes:
        return text
    end = len(text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore"))
    while end > 0 and (_continues(text[end]) or text[end - 1] in _JOINERS):
        end -= 1
    # A flag is a pair of regional indicators: an odd run before the cut ends in half of one.
    run = end
    while run > 0 and _is_regional_indicator(text[run - 1]):
        run -= 1
    if (end - run) % 2 and _is_regional_indicator(text[end]):
        end -= 1
    return text[:end]


def _is_regional_indicator(character: str) -> bool:
    return "\U0001f1e6" <= character <= "\U0001f1ff"


def _continues(character: str) -> bool:
    """Whether `character` belongs to the one before it (it cannot start a grapheme)."""
    return (
        unicodedata.category(character) in ("Mn", "Mc", "Me")
        or character in _JOINERS
        or "\ufe00" <= character <= "\ufe0f"
        or "\U0001f3fb" <= character <= "\U0001f3ff"
        or "\U000e0020" <= character <= "\U000e007f"
    )


def _cut_note(max_bytes: int) -> str:
    return f"\n\n[… cut here: the handoff summary is longer than {max_bytes} bytes]\n"


def fallback_summary(
    request: HandoffRequest, history: list[HistoryMessage], render_error: str
) -> str:
    """A plain summary built without the template, so a broken template still hands over."""
    escalation = request.escalation
    lines = [
        "# Handoff (built-in summary: the handoff template failed)",
        "",
        f"Template error: {render_error}",
        "",
        f"Conversation: {request.conversation_id} · tenant "
        f"{request.tenant_name or request.tenant_id} · queue {request.queue}",
        f"Why: {escalation.reason} (rule {escalation.rule}, priority {escalation.priority})",
        f"Waiting: {human_duration(request.waited)}",
    ]
    if is_crisis(request):
        lines.append("CRISIS: yes")
    if request.risk_flags:
        flags = ", ".join(str(flag) for flag in request.risk_flags)
        lines.append(f"Risk flags (acknowledge before replying): {flags}")
    if request.referrals:
        lines += ["", "Helplines:"]
        for referral in request.referrals:
            ways = [
                f"call {referral.phone}" if referral.phone else "",
                f"text {referral.text}" if referral.text else "",
                referral.url or "",
            ]
            reach = " · ".join(way for way in ways if way)
            lines.append(f"- {referral.name} · {reach} ({referral.hours})")
    if request.notes:
        lines += ["", "Notes from earlier specialists:"]
        lines += [f"- {note}" for note in request.notes]
    if history:
        lines += ["", "Last messages:"]
        lines += [
            f"- {message.time + ' ' if message.time else ''}{message.author}: {message.text}"
            for message in history
        ]
    return "\n".join(lines) + "\n"


# --- checking a template before it is deployed -----------------------------------------------

_OBJECTS: dict[str, type] = {
    "conversation": ConversationFacts,
    "tenant": TenantFacts,
    "escalation": EscalationFacts,
    "specialist": SpecialistFacts,
}
"""Context variables that are objects with fixed attributes."""
_LISTS: dict[str, tuple[str, type]] = {
    "history": ("a history message", HistoryMessage),
    "trajectory": ("a trajectory step", TrajectoryStep),
    "referrals": ("a referral", ReferralLine),
}
"""Context variables that are lists of objects with fixed attributes, and what one is called."""
CONTEXT_NAMES = frozenset(
    {
        *_OBJECTS,
        *_LISTS,
        "crisis",
        "risk_flags",
        "requires_acknowledgement",
        "customer",
        "profile",
        "rationale",
        "notes",
    }
)
"""Every variable a handoff template sees (`HandoffRenderer.context`)."""
_GUARD_TESTS = frozenset({"defined", "undefined"})
_GUARD_FILTERS = frozenset({"default", "d"})
_SAME_ITEMS = frozenset(
    {"reverse", "sort", "list", "unique", "select", "reject", "selectattr", "rejectattr"}
)
"""Filters whose result holds items of the list they are given."""
_ONE_ITEM = frozenset({"first", "last", "random"})


def template_problems(source: str) -> list[tuple[int, str]]:
    """(line, problem) for each mistake in a handoff template that compiles but fails whenever
    the render reaches it: a variable the context lacks (`escalaton`), an attribute its object
    lacks (`escalation.reasn`, `message.txt` in a loop over `history`), an unknown filter or test
    inside an `if` (which jinja2 reports only at run time). A read guarded by `is defined` or
    `default(...)` is left alone, as are `customer` and `profile`, whose facts vary by CRM.
    A template that does not parse gives none (its syntax error is reported elsewhere)."""
    environment = _HandoffSandbox(autoescape=False, max_bytes=MAX_RENDERED_BYTES)
    try:
        tree = Environment().parse(source)  # noqa: S701 - parsed to be read, never rendered
    except TemplateSyntaxError:
        return []
    guarded = {
        id(node.node)
        for node in tree.find_all((nodes.Test, nodes.Filter))
        if node.name in (_GUARD_TESTS if isinstance(node, nodes.Test) else _GUARD_FILTERS)
    }
    guarded_names = {
        node.node.name
        for node in tree.find_all((nodes.Test, nodes.Filter))
        if isinstance(node.node, nodes.Name) and id(node.node) in guarded
    }
    rebound = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    rebound |= {n.name for n in tree.find_all(nodes.Macro)}
    problems: list[tuple[int, str]] = []
    for name in sorted(meta.find_undeclared_variables(tree) - CONTEXT_NAMES - guarded_names):
        line = next(
            n.lineno for n in tree.find_all(nodes.Name) if n.name == name and n.ctx == "load"
        )
        known = ", ".join(sorted(CONTEXT_NAMES))
        hint = _close(name, CONTEXT_NAMES)
        problems.append((line, f"{name} is not defined: a handoff template sees {known}{hint}"))
    for node in tree.find_all(nodes.Filter):
        if node.name not in environment.filters:
            problems.append((node.lineno, f"no filter named {node.name!r}"))
    for test in tree.find_all(nodes.Test):
        if test.name not in environment.tests:
            problems.append((test.lineno, f"no test named {test.name!r}"))
    for read, what, kind in _attribute_reads(tree, rebound):
        if id(read) in guarded:
            continue
        fields = [f.name for f in dataclass_fields(kind)]
        if read.attr not in fields:
            problems.append(
                (
                    read.lineno,
                    f"{what} has no attribute {read.attr!r} (it has {', '.join(fields)})"
                    f"{_close(read.attr, fields)}",
                )
            )
    return sorted(problems, key=lambda problem: problem[0])


def _attribute_reads(
    tree: nodes.Template, rebound: set[str]
) -> Iterator[tuple[nodes.Getattr, str, type]]:
    """Each `.attr` read of an object whose attributes are fixed, with what the object is."""
    loops: dict[int, tuple[str, type]] = {}
    for loop in tree.find_all(nodes.For):
        item = _item_of(loop.iter, rebound)
        if item is None or not isinstance(loop.target, nodes.Name):
            continue
        target = loop.target.name
        scope = [*loop.body, *([loop.test] if loop.test is not None else [])]
        if any(
            n.name == target and n.ctx in ("store", "param")
            for part in scope
            for n in part.find_all(nodes.Name)
        ):
            continue  # rebound inside the loop: not worth following
        for part in scope:
            for name in part.find_all(nodes.Name):
                if name.name == target:
                    loops[id(name)] = (f"{target} ({item[0]})", item[1])
    for read in tree.find_all(nodes.Getattr):
        inner = read.node
        if isinstance(inner, nodes.Name) and id(inner) in loops:
            what, kind = loops[id(inner)]
            yield read, what, kind
        elif isinstance(inner, nodes.Name) and inner.name in _OBJECTS:
            if inner.name not in rebound:
                yield read, inner.name, _OBJECTS[inner.name]
        else:
            item = _one_item_of(inner, rebound)
            if item is not None:
                yield read, item[0], item[1]


def _item_of(node: nodes.Node, rebound: set[str]) -> tuple[str, type] | None:
    """What the items of the list `node` evaluates to are, when it is one of the context's."""
    if isinstance(node, nodes.Name) and node.name in _LISTS and node.name not in rebound:
        return _LISTS[node.name]
    if isinstance(node, nodes.Filter) and node.name in _SAME_ITEMS and node.node is not None:
        return _item_of(node.node, rebound)
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Slice):
        return _item_of(node.node, rebound)
    return None


def _one_item_of(node: nodes.Node, rebound: set[str]) -> tuple[str, type] | None:
    """What `node` is when it picks one item of a context list (`history[-1]`, `history | last`)."""
    if isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Slice):
        if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            return None
        return _item_of(node.node, rebound)
    if isinstance(node, nodes.Filter) and node.name in _ONE_ITEM and node.node is not None:
        return _item_of(node.node, rebound)
    return None


def _close(name: str, known: Iterable[str]) -> str:
    match = get_close_matches(name, sorted(known), n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


def renderer_from_config(config: WarmlineConfig) -> HandoffRenderer:
    """The renderer for the configuration's `handoff:` section (its template path is absolute),
    knowing its tenants."""
    handoff = config.handoff
    context = handoff.context
    return HandoffRenderer.from_file(
        handoff.template,
        history_messages=context.history_messages,
        trajectory=context.trajectory,
        rationale=context.rationale,
        require_risk_acknowledgement=handoff.require_risk_acknowledgement,
        tenants={tenant.id: tenant for tenant in config.tenants},
    )
