"""The scenario format of `warmline simulate`: specialists, timed steps and expectations.

A scenario is parsed with the configuration's line-aware YAML loader and validated with pydantic;
every problem becomes a `Diagnostic` (FILE:LINE:COL: message) inside a `ConfigError`, so a bad
scenario is reported the way a bad configuration is, never with a traceback.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError
from rapidfuzz import process

from warmline.config.durations import Duration, format_duration
from warmline.config.loader import allowed_keys, data_path, dotted, suggest
from warmline.config.model import WarmlineConfig
from warmline.config.yamlsource import PathKey, SourceDocument, YamlSourceError, load_document
from warmline.errors import ConfigError, Diagnostic
from warmline.events import EventType

API_VERSION = "warmline/v1"
KIND = "Scenario"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Metadata(_Model):
    name: str
    description: str = ""


class SpecialistSpec(_Model):
    """A specialist of the simulated roster (the scenario's roster replaces the config's)."""

    id: str
    skills: list[str] = Field(default_factory=list)
    capacity: Annotated[int, Field(ge=1)] = 2
    crisis_trained: bool = False
    available: bool = True


class MessageStep(_Model):
    """A customer message; the conversation starts with its first message."""

    conversation: str
    text: str
    country: str | None = None


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


class CloseStep(_Model):
    conversation: str
    reason: str = "resolved"


StepAction = (
    MessageStep
    | OfferStep
    | DeclineStep
    | CompleteStep
    | TransferStep
    | ReplyStep
    | HandBackStep
    | AvailabilityStep
    | CloseStep
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
    "close",
)


class Step(_Model):
    """At `at` after the scenario starts, exactly one action happens."""

    at: Duration
    message: MessageStep | None = None
    accept: OfferStep | None = None
    decline: DeclineStep | None = None
    complete: CompleteStep | None = None
    transfer: TransferStep | None = None
    reply: ReplyStep | None = None
    acknowledge: OfferStep | None = None
    hand_back: HandBackStep | None = None
    availability: AvailabilityStep | None = None
    close: CloseStep | None = None

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
    if isinstance(value, str) and value not in EventType._value2member_map_:
        known = [e.value for e in EventType]
        match = process.extractOne(value, known, score_cutoff=60)
        hint = f"; did you mean {match[0]!r}?" if match else ""
        raise PydanticCustomError(
            "event_type", "unknown event type {value}{hint}", {"value": repr(value), "hint": hint}
        )
    return value


class Expectation(_Model):
    """`event: TYPE` must happen (by `within`), or `not_event: TYPE` must not."""

    event: EventType | None = None
    not_event: EventType | None = None
    subject: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    """A subset the event's data must contain (nested mappings match as subsets too)."""
    within: Duration | None = None
    """Measured from the scenario's start."""

    _check_types = field_validator("event", "not_event", mode="before")(_event_type)

    @model_validator(mode="after")
    def _exactly_one(self) -> Expectation:
        if (self.event is None) == (self.not_event is None):
            raise PydanticCustomError(
                "expectation_kind", "an expectation needs exactly one of event, not_event"
            )
        return self

    @property
    def type(self) -> EventType:
        found = self.event or self.not_event
        if found is None:
            raise ValueError("validated expectations have a type")
        return found

    @property
    def negated(self) -> bool:
        return self.not_event is not None

    def describe(self) -> str:
        parts = [f"{'not_event' if self.negated else 'event'} {self.type.value}"]
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
    """The configuration, relative to the scenario file; default: the `--config` option."""
    specialists: list[SpecialistSpec] | None = None
    """The roster; default: the configuration's specialists."""
    steps: list[Step] = Field(default_factory=list)
    expect: list[Expectation] = Field(default_factory=list)

    @property
    def horizon(self) -> timedelta:
        """How long the scenario runs: past its last step and its longest `within`."""
        last_step = max((step.at for step in self.steps), default=timedelta())
        longest = max((e.within for e in self.expect if e.within is not None), default=None)
        if longest is not None:
            return max(longest, last_step)
        return last_step + timedelta(minutes=10)


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

    if not path.is_file():
        raise ConfigError([Diagnostic(path, 1, 1, "no such file or directory")])
    try:
        document = load_document(path)
    except YamlSourceError as error:
        raise ConfigError([Diagnostic(path, error.line, error.column, error.message)]) from None
    if not isinstance(document.data, dict):
        raise ConfigError([Diagnostic(path, 1, 1, "a scenario is a mapping with apiVersion")])
    try:
        scenario = Scenario.model_validate(document.data)
    except ValidationError as error:
        diagnostics = [_diagnostic(document, detail) for detail in error.errors()]
        raise ConfigError(sorted(diagnostics, key=lambda d: (d.line, d.column))) from None
    if scenario.config is not None:
        config_path = path.parent / scenario.config
        if not config_path.is_file():
            line, column = document.locate(("config",))
            message = f"config: no such file {str(config_path)!r}"
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


def _cross_check(
    scenario: Scenario, document: SourceDocument, config: WarmlineConfig
) -> list[Diagnostic]:
    """What only the configuration can tell: known specialists and queues, steps in time order."""
    problems: list[Diagnostic] = []

    def report(loc: PathKey, message: str) -> None:
        line, column = document.locate(loc)
        problems.append(Diagnostic(document.path, line, column, f"{dotted(loc)}: {message}"))

    if scenario.specialists is not None:
        ids = [s.id for s in scenario.specialists]
        for index, specialist in enumerate(scenario.specialists):
            if ids.index(specialist.id) != index:
                report(("specialists", index, "id"), f"duplicate specialist {specialist.id!r}")
    else:
        ids = [s.id for s in config.routing.specialists]
    queues = [q.name for q in config.routing.queues]
    previous = timedelta()
    for index, step in enumerate(scenario.steps):
        if step.at < previous:
            report(("steps", index, "at"), "steps must be in time order")
        previous = max(previous, step.at)
        action = step.action
        who = getattr(action, "specialist", None)
        if isinstance(who, str) and who not in ids:
            report(
                ("steps", index, step.kind, "specialist"),
                f"unknown specialist {who!r}{suggest(who, ids)}",
            )
        if isinstance(action, TransferStep) and action.queue not in queues:
            report(
                ("steps", index, step.kind, "queue"),
                f"unknown queue {action.queue!r}{suggest(action.queue, queues)}",
            )
    return problems


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
    line, column = document.locate(loc)
    return Diagnostic(document.path, line, column, f"{dotted(loc)}: {message}")
