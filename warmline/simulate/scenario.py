"""The scenario format of `warmline simulate`: specialists, timed steps and expectations.

A scenario is parsed with the configuration's line-aware YAML loader and validated with pydantic;
every problem becomes a `Diagnostic` (FILE:LINE:COL: message) inside a `ConfigError`, so a bad
scenario is reported the way a bad configuration is, never with a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Protocol, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from rapidfuzz import process

from warmline.config.durations import Duration, format_duration
from warmline.config.loader import (
    SCALAR_TYPES,
    allowed_keys,
    data_path,
    dotted,
    not_a_file,
    string_expected,
    suggest,
)
from warmline.config.model import WarmlineConfig
from warmline.config.paths import unusable_path
from warmline.config.yamlsource import PathKey, SourceDocument, YamlSourceError, load_document
from warmline.errors import ConfigError, Diagnostic
from warmline.events import EventType
from warmline.events.catalog import data_model
from warmline.wellness.policy import MAX_NOTE_CHARACTERS

API_VERSION = "warmline/v1"
KIND = "Scenario"

MAX_SCENARIO_TIME = timedelta(hours=24)
"""The latest a step, a wellness check or a `within` may be. Time skipping is not free: the
runner skips in steps of at most two minutes and lets the worker settle after each, so a quiet
hour still costs seconds of real time (`within: 12h` took two minutes), and a scenario of days
would run for many minutes."""


def _within_the_bound(value: timedelta) -> timedelta:
    if value > MAX_SCENARIO_TIME:
        raise PydanticCustomError(
            "scenario_too_long",
            "{value} is past {bound}, the longest a scenario may run: every simulated hour costs "
            "real time (a quiet 12h takes about two minutes); split a longer story into "
            "several scenarios",
            {"value": _hours(value), "bound": _hours(MAX_SCENARIO_TIME)},
        )
    return value


def _hours(value: timedelta) -> str:
    """A duration of a day or more in hours, as `at` and `within` are mostly written: `24h1s`,
    `48h` (`format_duration` says `1d1s`, `2d`)."""
    hours, rest = divmod(value, timedelta(hours=1))
    return f"{hours}h{format_duration(rest) if rest else ''}"


ScenarioTime = Annotated[Duration, AfterValidator(_within_the_bound)]
"""A moment of the scenario, from its start: at most `MAX_SCENARIO_TIME`."""


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError(
            "boolean_for_number",
            "expected a number, found the boolean {value}",
            {"value": str(value).lower()},
        )
    return value


NOT_A_BOOLEAN = BeforeValidator(_not_a_boolean)
"""For a number: pydantic reads `true` as 1, so `mood: true` would check in at mood 1 and
`minutes: true` take a one-minute break, neither what the line says."""


class _Model(BaseModel):
    # `.nan` would fail a range check with a message about the range, `.inf` pass `ge=0`.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Metadata(_Model):
    name: str
    description: str = ""


class AnnotatorSpec(_Model):
    """An annotator of the simulated annotation loop (the scenario's replace the config's)."""

    id: str
    senior: bool = False
    skills: list[str] = Field(default_factory=lambda: ["emotions", "tone"])
    languages: list[str] = Field(default_factory=lambda: ["en"])


class SpecialistSpec(_Model):
    """A specialist of the simulated roster (the scenario's roster replaces the config's)."""

    id: str
    skills: list[str] = Field(default_factory=list)
    capacity: Annotated[int, Field(ge=1), NOT_A_BOOLEAN] = 2
    crisis_trained: bool = False
    available: bool = True


def _country_code(value: str) -> str:
    """As a tenant's `country` is written: the crisis helplines are looked up by the code, so
    `gb` or `Ireland` would silently get the `default` ones instead of the country's."""
    if not _COUNTRY_CODE.fullmatch(value):
        upper = value.upper()
        hint = f"; did you mean {upper!r}?" if _COUNTRY_CODE.fullmatch(upper) else ""
        raise PydanticCustomError(
            "country_code",
            "{value} is not a country code: write the ISO 3166-1 alpha-2 code in capitals, as "
            "the configuration's tenants do (e.g. 'GB', 'US'); the crisis helplines are looked "
            "up by it{hint}",
            {"value": repr(value), "hint": hint},
        )
    return value


_COUNTRY_CODE = re.compile(r"[A-Z]{2}")


class MessageStep(_Model):
    """A customer message; the conversation starts with its first message."""

    conversation: str
    text: str
    country: Annotated[str, AfterValidator(_country_code)] | None = None


class OfferStep(_Model):
    """Accept the specialist's open offer of the conversation."""

    specialist: str
    conversation: str


class DeclineStep(OfferStep):
    reason: str = ""


class CompleteStep(OfferStep):
    outcome: str = "resolved"
    summary: str = ""


class TransferStep(OfferStep):
    queue: str
    note: str = ""


class ReplyStep(OfferStep):
    text: str


class HandBackStep(OfferStep):
    note: str


class AvailabilityStep(_Model):
    specialist: str
    available: bool


class AssignStep(_Model):
    """A paged supervisor assigns the conversation's escalation to a specialist of their choosing
    (the escalation's `assign` update), overriding the wellness filter but never a break."""

    conversation: str
    specialist: str
    supervisor: str
    reason: str = ""


class CloseStep(_Model):
    conversation: str
    reason: str = "resolved"


class CheckInStep(_Model):
    """A worker answers a check-in: a mood on the configured scale, optionally a break now."""

    worker: str
    mood: Annotated[int, NOT_A_BOOLEAN]
    note: str = Field(default="", max_length=MAX_NOTE_CHARACTERS)
    break_now: bool = False


class BreakStep(_Model):
    """ "I need a break now": no new offers or tasks until it ends."""

    worker: str
    minutes: Annotated[float, Field(gt=0, le=240), NOT_A_BOOLEAN] | None = None
    """How long; the configuration's `wellness.breaks.duration` when unset."""


class EndBreakStep(_Model):
    """The worker ends a break they asked for (a mandatory break cannot be cut short)."""

    worker: str


class AnnotateStep(_Model):
    """An annotator takes their next task from the annotation loop, labels it and spends
    `minutes` on it, which counts toward their exposure with the task's distress."""

    annotator: str
    text: str | None = None
    """A new item to annotate, submitted to the loop first (redacted like any other)."""
    distress: Annotated[float, Field(ge=0.0, le=1.0), NOT_A_BOOLEAN] = 0.0
    crisis: bool = False
    labels: Annotated[list[str], Field(min_length=1)]
    minutes: Annotated[float, Field(gt=0, le=240), NOT_A_BOOLEAN] = 5.0


StepAction = (
    MessageStep
    | OfferStep
    | DeclineStep
    | CompleteStep
    | TransferStep
    | ReplyStep
    | HandBackStep
    | AvailabilityStep
    | AssignStep
    | CloseStep
    | CheckInStep
    | BreakStep
    | EndBreakStep
    | AnnotateStep
)

STEP_KINDS = (
    "message",
    "accept",
    "decline",
    "complete",
    "transfer",
    "reply",
    "acknowledge",
    "hand_back",
    "availability",
    "assign",
    "close",
    "checkin",
    "break_now",
    "end_break",
    "annotate",
)


class Step(_Model):
    """At `at` after the scenario starts, exactly one action happens."""

    at: ScenarioTime
    message: MessageStep | None = None
    accept: OfferStep | None = None
    decline: DeclineStep | None = None
    complete: CompleteStep | None = None
    transfer: TransferStep | None = None
    reply: ReplyStep | None = None
    acknowledge: OfferStep | None = None
    hand_back: HandBackStep | None = None
    availability: AvailabilityStep | None = None
    assign: AssignStep | None = None
    close: CloseStep | None = None
    checkin: CheckInStep | None = None
    break_now: BreakStep | None = None
    end_break: EndBreakStep | None = None
    annotate: AnnotateStep | None = None
    refused: str | None = None
    """The step must be refused, with a reason containing this text ("" for any reason)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        given = [kind for kind in STEP_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise PydanticCustomError(
                "step_kind",
                "a step needs exactly one of {kinds}; found {found}",
                {"kinds": ", ".join(STEP_KINDS), "found": found},
            )
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in STEP_KINDS if getattr(self, kind) is not None)

    @property
    def action(self) -> StepAction:
        action: StepAction = getattr(self, self.kind)
        return action


def _event_type(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        # pydantic would list all the event types as the values it expected.
        raise PydanticCustomError(
            "event_type",
            "expected an event type such as 'io.warmline.offer.created.v1', found {value}",
            {"value": repr(value)},
        )
    if isinstance(value, str) and value not in EventType._value2member_map_:
        known = [e.value for e in EventType]
        match = process.extractOne(value, known, score_cutoff=60)
        hint = f"; did you mean {match[0]!r}?" if match else ""
        raise PydanticCustomError(
            "event_type", "unknown event type {value}{hint}", {"value": repr(value), "hint": hint}
        )
    return value


class WellnessCheck(_Model):
    """A worker's wellness state (their Redis view, what routing reads) at `at`."""

    worker: str
    at: ScenarioTime
    """From the scenario's start; the state after the steps at that moment."""
    in_shift: bool | None = None
    on_break: bool | None = None
    over_budget: bool | None = None
    rotated_off: bool | None = None
    """Off the intense queues (rotation or over budget)."""
    crisis_blocked: bool | None = None
    checkin_pending: bool | None = None
    exposure_at_least: Annotated[float, Field(ge=0.0), NOT_A_BOOLEAN] | None = None
    """Intensity-weighted minutes this shift, at least."""
    exposure_below: Annotated[float, Field(gt=0.0), NOT_A_BOOLEAN] | None = None
    breaks_taken: Annotated[int, Field(ge=0), NOT_A_BOOLEAN] | None = None

    @model_validator(mode="after")
    def _something(self) -> WellnessCheck:
        if not self.wanted():
            raise PydanticCustomError(
                "wellness_check", "say what to check: {fields}", {"fields": ", ".join(CHECKED)}
            )
        return self

    def wanted(self) -> dict[str, Any]:
        """The fields to check, with the values asked for."""
        return {name: getattr(self, name) for name in CHECKED if getattr(self, name) is not None}


CHECKED = (
    "in_shift",
    "on_break",
    "over_budget",
    "rotated_off",
    "crisis_blocked",
    "checkin_pending",
    "exposure_at_least",
    "exposure_below",
    "breaks_taken",
)


class Expectation(_Model):
    """`event: TYPE` must happen (by `within`), `not_event: TYPE` must not, or a worker's
    `wellness` state must be as given at a moment."""

    event: EventType | None = None
    not_event: EventType | None = None
    wellness: WellnessCheck | None = None
    subject: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    """A subset the event's data must contain (nested mappings match as subsets too)."""
    within: ScenarioTime | None = None
    """Measured from the scenario's start."""

    _check_types = field_validator("event", "not_event", mode="before")(_event_type)

    @model_validator(mode="after")
    def _exactly_one(self) -> Expectation:
        kinds = [self.event, self.not_event, self.wellness]
        if sum(kind is not None for kind in kinds) != 1:
            raise PydanticCustomError(
                "expectation_kind", "an expectation needs exactly one of event, not_event, wellness"
            )
        # Given at all, even empty (`data: {}`, `within: 0s`): a wellness check has no use for them.
        if self.wellness is not None and self.model_fields_set & {"subject", "data", "within"}:
            raise PydanticCustomError(
                "expectation_kind",
                "a wellness expectation takes worker, at and the state to check "
                "(subject, data and within are for events)",
            )
        return self

    @property
    def type(self) -> EventType | None:
        """The event type, for `event` and `not_event` expectations."""
        return self.event or self.not_event

    @property
    def negated(self) -> bool:
        return self.not_event is not None

    def describe(self) -> str:
        if self.wellness is not None:
            check = self.wellness
            wanted = ", ".join(f"{name}={value}" for name, value in check.wanted().items())
            return f"wellness {check.worker} at {format_duration(check.at)}: {wanted}"
        kind = self.type.value if self.type is not None else ""
        parts = [f"{'not_event' if self.negated else 'event'} {kind}"]
        if self.subject is not None:
            parts.append(f"subject={self.subject}")
        if self.data:
            parts.append(f"data={self.data}")
        if self.within is not None:
            parts.append(f"within {format_duration(self.within)}")
        return " ".join(parts)


class Scenario(_Model):
    api_version: Literal["warmline/v1"] = Field(alias="apiVersion")
    kind: Literal["Scenario"]
    metadata: Metadata
    config: str | None = None
    """The configuration, relative to the scenario file; the `--config` option overrides it."""
    specialists: list[SpecialistSpec] | None = None
    """The roster; default: the configuration's specialists."""
    annotators: list[AnnotatorSpec] | None = None
    """The annotation loop's annotators; default: the configuration's."""
    steps: list[Step]
    """What happens, in time order: at least one step (a scenario without any tests nothing)."""
    expect: list[Expectation] = Field(default_factory=list)

    @field_validator("steps")
    @classmethod
    def _something_happens(cls, steps: list[Step]) -> list[Step]:
        if not steps:
            raise ValueError("give at least one step: a scenario without steps tests nothing")
        return steps

    @property
    def horizon(self) -> timedelta:
        """How long the scenario runs: past its last step and its longest `within`."""
        last_step = max(
            [step.at for step in self.steps] + [check.at for check in self.wellness_checks],
            default=timedelta(),
        )
        longest = max((e.within for e in self.expect if e.within is not None), default=None)
        if longest is not None:
            return max(longest, last_step)
        return last_step + timedelta(minutes=10)

    @property
    def wellness_checks(self) -> list[WellnessCheck]:
        return [e.wellness for e in self.expect if e.wellness is not None]

    @property
    def annotates(self) -> bool:
        """Whether the scenario needs the annotation loop."""
        return any(step.annotate is not None for step in self.steps)


class LoadedScenario:
    """A valid scenario with its document (for positions) and the configuration it runs with."""

    def __init__(self, scenario: Scenario, document: SourceDocument, config: WarmlineConfig):
        self.scenario = scenario
        self.document = document
        self.config = config
        self.path = document.path


def load_scenario(path: Path, *, config_path: Path | None = None) -> LoadedScenario:
    """Load, validate and cross-check a scenario; raise `ConfigError` with every problem."""
    from warmline.config.loader import load_config

    if unusable_path(path) is not None or not path.is_file():
        raise ConfigError([not_a_file(path)])
    try:
        document = load_document(path)
    except YamlSourceError as error:
        raise ConfigError([Diagnostic(path, error.line, error.column, error.message)]) from None
    if not isinstance(document.data, dict):
        raise ConfigError([Diagnostic(path, 1, 1, "a scenario is a mapping with apiVersion")])
    if document.data.get("kind") == "WarmlineConfig":
        line, column = document.locate(("kind",))
        message = (
            "kind: this is a configuration, not a scenario; give it with --config, or in a "
            "scenario's config: key"
        )
        raise ConfigError([Diagnostic(path, line, column, message)])
    try:
        scenario = Scenario.model_validate(document.data)
    except ValidationError as error:
        diagnostics = [_diagnostic(document, detail) for detail in error.errors()]
        raise ConfigError(sorted(diagnostics, key=lambda d: (d.line, d.column))) from None
    if scenario.config is not None and config_path is None:
        config_path = path.parent / scenario.config
        if unusable_path(config_path) is not None or not config_path.is_file():
            line, column = document.locate(("config",))
            problem = not_a_file(config_path).message
            message = f"config: {str(config_path)!r}: {problem}"
            raise ConfigError([Diagnostic(path, line, column, message)])
    if config_path is None:
        raise ConfigError(
            [Diagnostic(path, 1, 1, "no configuration: add `config:` or pass --config")]
        )
    config = load_config(config_path, resolve_secrets=False)
    problems = _cross_check(scenario, document, config)
    if problems:
        raise ConfigError(problems)
    return LoadedScenario(scenario, document, config)


class Report(Protocol):
    def __call__(self, loc: PathKey, message: str, *, key: bool = False) -> None:
        """Record a problem at `loc`; with `key`, `loc` ends with a key that should not be there:
        the position is the key's and the message names the mapping holding it."""


def _cross_check(
    scenario: Scenario, document: SourceDocument, config: WarmlineConfig
) -> list[Diagnostic]:
    """What only the configuration or the scenario as a whole can tell: known people (the
    supervisors are always the configuration's), queues and labels, moods on the scale, steps in
    time order about conversations already started, expectations about those conversations and
    people with data keys their event has."""
    problems: list[Diagnostic] = []

    def report(loc: PathKey, message: str, *, key: bool = False) -> None:
        line, column = document.locate(loc, at_key=key)
        where = loc[:-1] if key else loc
        problems.append(Diagnostic(document.path, line, column, f"{dotted(where)}: {message}"))

    specialists = _unique(
        "specialist", "specialists", scenario.specialists, config.routing.specialists, report
    )
    annotators = _unique(
        "annotator", "annotators", scenario.annotators, config.annotation.annotators, report
    )
    queues = [q.name for q in config.routing.queues]
    if config.triage.crisis.queue not in queues:
        queues.append(config.triage.crisis.queue)
    # Each conversation's first message: the step that starts it.
    firsts: dict[str, int] = {}
    for index, step in enumerate(scenario.steps):
        if isinstance(step.action, MessageStep):
            firsts.setdefault(step.action.conversation, index)
    # Steps may be out of order (reported below); a conversation starts at its earliest message.
    started_at = {
        conversation: min(
            step.at
            for step in scenario.steps
            if isinstance(step.action, MessageStep) and step.action.conversation == conversation
        )
        for conversation in firsts
    }
    known = _Known(
        specialists=specialists,
        annotators=annotators,
        supervisors=[s.id for s in config.routing.supervisors],
        queues=queues,
        labels=list(config.annotation.taxonomy.label_set),
        scale=(config.wellness.checkins.scale.min, config.wellness.checkins.scale.max),
        conversations=list(firsts),
        started_at=started_at,
        deployment=config.metadata.name,
    )
    previous = timedelta()
    for index, step in enumerate(scenario.steps):
        if step.at < previous:
            report(("steps", index, "at"), "steps must be in time order")
        previous = max(previous, step.at)
        where: PathKey = ("steps", index, step.kind)
        _check_step(where, step.action, known, report)
        _check_started(where, index, step.action, firsts, report)
    for index, expectation in enumerate(scenario.expect):
        check = expectation.wellness
        if check is not None:
            _check_wellness(("expect", index, "wellness"), check, known, report)
        elif expectation.type is not None:
            _check_event(("expect", index), expectation, expectation.type, known, report)
    return problems


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


def _unique(
    what: str,
    key: str,
    declared: Sequence[_HasId] | None,
    configured: Sequence[_HasId],
    report: Report,
) -> list[str]:
    """The ids the scenario declares (each once), else the configuration's."""
    if declared is None:
        return [person.id for person in configured]
    ids = [person.id for person in declared]
    for index, person in enumerate(declared):
        if ids.index(person.id) != index:
            report((key, index, "id"), f"duplicate {what} {person.id!r}")
    return ids


@dataclass(frozen=True)
class _Known:
    specialists: list[str]
    annotators: list[str]
    supervisors: list[str]
    queues: list[str]
    labels: list[str]
    scale: tuple[int, int]
    conversations: list[str]
    """The conversations the scenario's `message` steps start."""
    started_at: dict[str, timedelta]
    """When each of them starts: its earliest `message` step."""
    deployment: str
    """The configuration's name: the subject of the annotation loop's own events."""

    @property
    def workers(self) -> list[str]:
        return [*self.specialists, *self.annotators]

    def worker(self, loc: PathKey, worker: str, report: Report) -> None:
        if worker not in self.workers:
            report(loc, f"unknown worker {worker!r}{suggest(worker, self.workers)}")

    def ids(self, kind: str) -> list[str]:
        """The ids of a kind of `_REFERENCES`."""
        return {
            "specialist": self.specialists,
            "supervisor": self.supervisors,
            "queue": self.queues,
            "worker": self.workers,
        }[kind]


def _check_step(where: PathKey, action: StepAction, known: _Known, report: Report) -> None:
    who = getattr(action, "specialist", None)
    if isinstance(who, str) and who not in known.specialists:
        hint = suggest(who, known.specialists)
        report((*where, "specialist"), f"unknown specialist {who!r}{hint}")
    if isinstance(action, CheckInStep | BreakStep | EndBreakStep):
        known.worker((*where, "worker"), action.worker, report)
    if isinstance(action, AssignStep) and action.supervisor not in known.supervisors:
        hint = suggest(action.supervisor, known.supervisors)
        report((*where, "supervisor"), f"unknown supervisor {action.supervisor!r}{hint}")
    if isinstance(action, TransferStep) and action.queue not in known.queues:
        hint = suggest(action.queue, known.queues)
        report((*where, "queue"), f"unknown queue {action.queue!r}{hint}")
    low, high = known.scale
    if isinstance(action, CheckInStep) and not low <= action.mood <= high:
        message = f"mood {action.mood} is off the configured scale ({low} to {high})"
        report((*where, "mood"), message)
    if isinstance(action, AnnotateStep):
        if action.annotator not in known.annotators:
            hint = suggest(action.annotator, known.annotators)
            report((*where, "annotator"), f"unknown annotator {action.annotator!r}{hint}")
        for position, label in enumerate(action.labels):
            if label not in known.labels:
                hint = suggest(label, known.labels)
                message = f"label {label!r} is not in the taxonomy{hint}"
                report((*where, "labels", position), message)


def _check_started(
    where: PathKey, index: int, action: StepAction, firsts: dict[str, int], report: Report
) -> None:
    """A step about a conversation comes after the `message` step that starts it: the runner
    could only fail it, after playing everything before it."""
    conversation = getattr(action, "conversation", None)
    if isinstance(action, MessageStep) or not isinstance(conversation, str):
        return
    first = firsts.get(conversation)
    if first is None:
        hint = suggest(conversation, list(firsts))
        message = f"conversation {conversation!r} is never started (no message step names it){hint}"
        report((*where, "conversation"), message)
    elif first > index:
        message = (
            f"conversation {conversation!r} starts only at steps[{first}], its first message; "
            "a step about it must come after that"
        )
        report((*where, "conversation"), message)


def _check_wellness(where: PathKey, check: WellnessCheck, known: _Known, report: Report) -> None:
    known.worker((*where, "worker"), check.worker, report)
    low, high = check.exposure_at_least, check.exposure_below
    if low is not None and high is not None and low >= high:
        message = (
            f"must be above exposure_at_least ({low:g}): no exposure is at least {low:g} "
            f"and below {high:g}"
        )
        report((*where, "exposure_below"), message)


_REFERENCES: dict[str, str] = {
    "specialist": "specialist",
    "specialist_id": "specialist",
    "supervisor": "supervisor",
    "supervisor_id": "supervisor",
    "assigned_by": "supervisor",
    "wellness_leads": "supervisor",
    "queue": "queue",
    "from_queue": "queue",
    "to_queue": "queue",
    "off_queues": "queue",
    "queues": "queue",
    "worker_id": "worker",
}
"""Event data keys whose values (or list items) name someone or a queue of the configuration or
the scenario's roster, and what they name."""

_NEVER_PUBLISHED: dict[EventType, str] = {
    EventType.TRIAGE_CORRECTED: "a reviewer's triage correction, which no step makes",
    EventType.SATISFACTION_RECORDED: "a customer's rating, which no step gives",
    EventType.MODEL_PROMOTED: "retraining, which a scenario does not run",
    EventType.MODEL_REJECTED: "retraining, which a scenario does not run",
    EventType.ANNOTATION_REPLY_AUDITED: (
        "a tone audit of an AI reply, and `annotate` steps submit messages, not replies"
    ),
    EventType.WELLNESS_ITEM_FLAGGED: "an annotator's flag on a task, which no step raises",
    EventType.INBOUND_MESSAGE_RECEIVED: "the bridge, which a scenario does not run",
    EventType.INBOUND_AVAILABILITY_CHANGED: "the bridge, which a scenario does not run",
    EventType.INBOUND_SHIFT_SCHEDULED: "the bridge, which a scenario does not run",
}
"""Event types a scenario cannot produce, and what would: `not_event` about one could never
fail, and `event` never pass."""

_NOT_ABOUT_CONVERSATIONS = frozenset({"wellness", "annotation", "model", "inbound"})
"""Event families whose events need no conversation (the rest happen only in one)."""


def _check_event(
    where: PathKey,
    expectation: Expectation,
    event_type: EventType,
    known: _Known,
    report: Report,
) -> None:
    """An event expectation names a subject the scenario can produce and only data keys of the
    event type's model, with the values of references known: a typo would otherwise match no
    event, and a `not_event` would pass whatever happened."""
    never = _NEVER_PUBLISHED.get(event_type)
    if never is not None:
        key = "not_event" if expectation.negated else "event"
        outcome = "could never fail" if expectation.negated else "could never hold"
        message = (
            f"no scenario produces {event_type.value}: it comes from {never}, so this "
            f"expectation {outcome}"
        )
        report((*where, key), message)
        return
    subject = expectation.subject
    if subject is not None:
        _check_subject((*where, "subject"), subject, event_type, known, report)
    _check_window(where, expectation, event_type, known, report)
    fields = list(data_model(event_type).model_fields)
    for name, value in expectation.data.items():
        if name not in fields:
            hint = suggest(name, fields)
            message = f"unknown key {name!r}: {event_type.value} has no such data{hint}"
            report((*where, "data", name), message, key=True)
            continue
        annotation = data_model(event_type).model_fields[name].annotation
        if _fits(annotation, value) is False:
            message = (
                f"{event_type.value} has {_type_name(annotation)} here; {value!r} would match "
                "no event"
            )
            report((*where, "data", name), message)
            continue
        kind = _REFERENCES.get(name)
        if kind is not None:
            _check_reference((*where, "data", name), kind, value, known, report)


_SCALARS: dict[Any, str] = {
    bool: "a boolean",
    int: "a whole number",
    float: "a number",
    str: "a string",
    type(None): "null",
}


def _fits(annotation: Any, value: Any) -> bool | None:
    """Whether `value` could equal a value of the field's type (`1` is not a boolean, `"yes"`
    not a number); None where the type is not one checked here (a model, a mapping)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _fits(get_args(annotation)[0], value)
    verdicts: list[bool | None]
    if origin in {Union, UnionType}:
        verdicts = [_fits(option, value) for option in get_args(annotation)]
        return None if None in verdicts else any(verdicts)
    if origin is list:
        if not isinstance(value, list):
            return False
        [item] = get_args(annotation)
        verdicts = [_fits(item, element) for element in value]
        return None if None in verdicts else all(verdicts)
    check = _SCALAR_CHECKS.get(annotation)
    return None if check is None else check(value)


_SCALAR_CHECKS: dict[Any, Callable[[Any], bool]] = {
    bool: lambda value: isinstance(value, bool),
    int: lambda value: isinstance(value, int) and not isinstance(value, bool),
    float: lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    str: lambda value: isinstance(value, str),
    type(None): lambda value: value is None,
}
"""Whether a YAML value can equal an event's value of the type (a boolean is no number in an
event's data, though Python counts `True == 1`)."""


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _type_name(get_args(annotation)[0])
    if origin in {Union, UnionType}:
        return " or ".join(_type_name(option) for option in get_args(annotation))
    if origin is list:
        return f"a list of {_type_name(get_args(annotation)[0]).removeprefix('a ')}s"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _family(event_type: EventType) -> str:
    return event_type.value.removeprefix("io.warmline.").split(".")[0]


def _check_window(
    where: PathKey,
    expectation: Expectation,
    event_type: EventType,
    known: _Known,
    report: Report,
) -> None:
    """A conversation's events happen from its first message on: a window that closes before
    then (`within` counts from the scenario's start, not the conversation's) makes a `not_event`
    that cannot fail and an `event` that cannot hold."""
    if _family(event_type) in _NOT_ABOUT_CONVERSATIONS:
        return
    subject = expectation.subject
    if subject is not None:
        start = known.started_at.get(subject)
        if start is None:
            return  # an unknown subject is reported on its own
        what = f"{subject}'s first message"
    elif known.started_at:
        start = min(known.started_at.values())
        what = "the first message of any conversation"
    else:
        start = None
        what = "no message step starts a conversation"
    outcome = "could never fail" if expectation.negated else "could never hold"
    if start is None:
        kind = "not_event" if expectation.negated else "event"
        message = f"{what}, so no {event_type.value} can happen: this expectation {outcome}"
        report((*where, kind), message)
        return
    within = expectation.within
    if within is not None and within < start:
        message = (
            f"{format_duration(within)} ends before {what} (at {format_duration(start)}), "
            f"so this expectation {outcome}; `within` counts from the scenario's start"
        )
        report((*where, "within"), message)


def _check_subject(
    loc: PathKey, subject: str, event_type: EventType, known: _Known, report: Report
) -> None:
    family = _family(event_type)
    if family == "wellness":
        if subject not in known.workers:
            hint = suggest(subject, known.workers)
            message = f"unknown worker {subject!r} (a wellness event's subject is a worker){hint}"
            report(loc, message)
        return
    subjects = known.conversations
    what = "a conversation a message step starts"
    if family == "annotation":
        subjects = [*subjects, known.deployment]
        what += f" or the deployment {known.deployment!r}"
    if subject not in subjects:
        report(loc, f"{subject!r} is not {what}{suggest(subject, subjects)}")


def _check_reference(loc: PathKey, kind: str, value: Any, known: _Known, report: Report) -> None:
    """A name of a specialist, supervisor, queue or worker, or a list of them; null is left to
    the match (an event may hold none)."""
    ids = known.ids(kind)
    if isinstance(value, list):
        for position, item in enumerate(value):
            _check_reference((*loc, position), kind, item, known, report)
    elif isinstance(value, str) and value not in ids:
        report(loc, f"unknown {kind} {value!r}{suggest(value, ids)}")


# --- diagnostics ---------------------------------------------------------------------------------


def _diagnostic(document: SourceDocument, detail: ErrorDetails) -> Diagnostic:
    loc = data_path(document, detail["loc"])
    kind = detail["type"]
    message = detail["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        name = str(loc[-1])
        line, column = document.locate(loc, at_key=True)
        hint = suggest(name, allowed_keys(detail["loc"][:-1], Scenario))
        return Diagnostic(
            document.path, line, column, f"{dotted(loc[:-1])}: unknown key {name!r}{hint}"
        )
    if kind == "missing":
        line, column = document.locate(loc[:-1], at_key=True)
        message = f"missing required key {loc[-1]!r}"
        return Diagnostic(document.path, line, column, f"{dotted(loc[:-1])}: {message}")
    if kind == "literal_error" and loc and loc[-1] in {"apiVersion", "kind"}:
        wanted = API_VERSION if loc[-1] == "apiVersion" else KIND
        message = f"must be {wanted!r}, found {detail['input']!r}"
    elif kind in {"model_type", "dict_type"}:
        message = "expected a mapping"
    elif kind == "list_type":
        message = "expected a list"
    elif kind == "string_type":
        message = string_expected(detail["input"]) or message
    if detail["input"] is None and kind in SCALAR_TYPES:
        message = f"expected {SCALAR_TYPES[kind]}, found no value"
    line, column = document.locate(loc)
    return Diagnostic(document.path, line, column, f"{dotted(loc)}: {message}")
