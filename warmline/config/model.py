"""The typed, frozen model of a warmline configuration file (`apiVersion: warmline/v1`).

Field docstrings become JSON Schema descriptions, so editors with a YAML language server can
complete and explain every key.
"""

from __future__ import annotations

import fnmatch
import functools
import zoneinfo
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import CoreSchema, PydanticCustomError, core_schema
from rapidfuzz import fuzz, process

from warmline.config.cron import CronSchedule
from warmline.config.durations import (
    Duration,
    MinuteDuration,
    PositiveDuration,
    at_least,
    format_duration,
)
from warmline.config.expressions import Condition, ExpressionError, parse_condition
from warmline.config.paths import unusable_path
from warmline.config.secrets import Secret
from warmline.events.types import EventType
from warmline.triage.llm import MAX_RETRIES, check_base_url

API_VERSION = "warmline/v1"
SUPPORTED_API_VERSIONS = (API_VERSION,)
KIND = "WarmlineConfig"

BUILTIN_TAXONOMIES: dict[str, tuple[str, ...]] = {
    "goemotions/original": (
        "admiration",
        "amusement",
        "anger",
        "annoyance",
        "approval",
        "caring",
        "confusion",
        "curiosity",
        "desire",
        "disappointment",
        "disapproval",
        "disgust",
        "embarrassment",
        "excitement",
        "fear",
        "gratitude",
        "grief",
        "joy",
        "love",
        "nervousness",
        "optimism",
        "pride",
        "realization",
        "relief",
        "remorse",
        "sadness",
        "surprise",
        "neutral",
    ),
    "goemotions/group": ("positive", "negative", "ambiguous", "neutral"),
    "goemotions/ekman": ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"),
}
"""Label sets of the taxonomies annotation can reference by name."""


class _NotABoolean:
    """Refuses `true` and `false` for the number it annotates: pydantic reads `True` as 1, so
    `capacity: true`, or `overlap: yes` under a `%YAML 1.1` directive, would silently be 1.

    Put it last in the `Annotated`, after any `Field(ge=..., le=...)`: bounds given after it
    cannot reach the number's own schema, and the JSON Schema would lose its `minimum` and
    `maximum`. (A model-wide `field_validator("*", mode="before")` would do the same for every
    field, but pydantic refuses one on a union's discriminator field.)"""

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        expected = "a whole number" if source is int else "a number"

        def refuse(value: Any) -> Any:
            if isinstance(value, bool):
                raise PydanticCustomError(
                    "boolean_for_number",
                    "expected {expected}, but YAML reads this value as a boolean ({value})",
                    {"expected": expected, "value": str(value).lower()},
                )
            return value

        return core_schema.no_info_before_validator_function(refuse, handler(source))


NOT_A_BOOLEAN = _NotABoolean()
"""The last annotation of every `int` and `float` setting (see `_NotABoolean`)."""


class Model(BaseModel):
    """Base of every configuration model: immutable, strict about unknown keys, finite numbers
    (an exposure weight of `.inf` times a calm minute's 0 would make a worker's exposure NaN,
    which is never over any budget)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False
    )


Identifier = Annotated[
    str,
    Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$", examples=["billing", "crisis-line"]),
]
"""A lower-case name: letters, digits, `-`, `_` and `.`; used for ids, queues and skills."""
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", examples=["GB", "US", "DE"])]
Locale = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$", examples=["en-GB", "de"])]
Fraction = Annotated[float, Field(ge=0.0, le=1.0), NOT_A_BOOLEAN]


def _parse_condition(value: Any) -> Any:
    if isinstance(value, Condition):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("condition_type", "a condition must be a string")
    try:
        return parse_condition(value)
    except ExpressionError as error:
        raise PydanticCustomError(
            "condition", "{message}", {"message": error.message, "column": error.column}
        ) from None


ConditionText = Annotated[
    Condition,
    PlainValidator(_parse_condition),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": "A condition in the safe expression language.",
            "examples": ["distress >= 0.7 for 2 messages", '"self_harm" in risk_flags'],
        }
    ),
]


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    context = info.context if isinstance(info.context, Mapping) else {}
    base = context.get("base_dir")
    if not value.is_absolute() and isinstance(base, Path):
        value = base / value
    value = value.absolute()
    problem = unusable_path(value)
    if problem is not None:
        # Checked here, at the value: the checks of templates, lexicons and retraining paths
        # after validation would otherwise raise where they ask whether the file exists.
        raise PydanticCustomError("unusable_path", "this path {problem}", {"problem": problem})
    return value


RelativePath = Annotated[
    Path,
    AfterValidator(_resolve_path),
    WithJsonSchema({"type": "string", "description": "A path relative to the config file."}),
]
"""A file path written relative to the configuration file, resolved to an absolute path."""


def _known_time_zone(name: str) -> str:
    known = _time_zones()
    if not known:
        # No time zone database on this machine (neither the system's nor `tzdata`): nothing
        # to check against, and refusing every name would refuse every file.
        return name
    if name in known:
        return name
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    else:
        return name
    match = process.extractOne(name, sorted(known), scorer=fuzz.ratio, score_cutoff=80)
    hint = f"did you mean {match[0]!r}?" if match else "e.g. Europe/London, America/New_York, UTC"
    raise PydanticCustomError(
        "time_zone", "unknown IANA time zone {name}; {hint}", {"name": repr(name), "hint": hint}
    )


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


TimeZoneName = Annotated[
    str,
    AfterValidator(_known_time_zone),
    Field(examples=["Europe/London", "America/New_York", "UTC"]),
]
"""An IANA time zone name that `zoneinfo.ZoneInfo` can load."""


# --- tenants ------------------------------------------------------------------------------------


class Tenant(Model):
    """A business (or brand) whose customers this configuration serves."""

    id: Identifier
    """Stable tenant id used in events and on the wire."""
    name: str
    """Display name."""
    locale: Locale = "en-GB"
    """Default locale for customer-facing text."""
    country: CountryCode = "GB"
    """Default ISO 3166-1 alpha-2 country, used to pick crisis helplines."""
    timezone: TimeZoneName = "UTC"
    """IANA time zone of the tenant's operations, e.g. `Europe/London`: the handoff shows message
    times in it. Shifts come from HR with their own offsets, and the retraining schedule and
    reports are in UTC."""


# --- triage -------------------------------------------------------------------------------------


class LexiconProvider(Model):
    """The built-in lexicon scorer: no model files, no network."""

    type: Literal["lexicon"]
    """Selects this provider: `lexicon`."""
    lexicon: RelativePath | None = None
    """Optional extra lexicon file (one `word<TAB>emotion<TAB>weight` a line)."""


class LocalProvider(Model):
    """A locally trained classifier (TF-IDF + logistic regression) loaded from disk."""

    type: Literal["local"]
    """Selects this provider: `local`."""
    model_path: RelativePath | None = None
    """Model directory (`model.json` + `weights.npz`); omit it for the model warmline ships."""


LLM_CALL_DEADLINE = timedelta(seconds=25)
"""All of one triage call to a model, its retries and their waits together: under the triage
activity's 30 s start-to-close timeout, so the provider's own error reaches Temporal rather than a
timeout that abandons the attempt while its request still runs."""


class LlmProvider(Model):
    """An OpenAI-compatible chat-completions endpoint."""

    type: Literal["llm"]
    """Selects this provider: `llm`."""
    base_url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    """Base URL of the API up to and including its version, e.g. `https://api.example.com/v1`
    (`/chat/completions` is appended): a host, an optional port from 1 to 65535, no query."""
    model: str
    """Model name sent with each request."""
    api_key: Secret | None = None
    """API key, as an `${ENV}` reference."""
    timeout: Duration = timedelta(seconds=10)
    """Per-request timeout; at most 25s, the time one triage call has for all its attempts."""
    max_retries: Annotated[int, Field(ge=0, le=MAX_RETRIES), NOT_A_BOOLEAN] = 2
    """Attempts after the first (at most 5), made by the provider itself on timeouts,
    408/409/429 and every 5xx (honouring `Retry-After`), as long as they fit in the call's 25s;
    what still fails is then retried by Temporal's triage retry policy (5 attempts)."""

    @field_validator("base_url")
    @classmethod
    def _sendable(cls, value: str) -> str:
        return check_base_url(value)

    @field_validator("timeout")
    @classmethod
    def _fits_in_the_call(cls, value: timedelta) -> timedelta:
        if not value or value > LLM_CALL_DEADLINE:
            raise ValueError(
                f"timeout ({format_duration(value)}) must be between 1ms and "
                f"{format_duration(LLM_CALL_DEADLINE)}: one triage call has "
                f"{format_duration(LLM_CALL_DEADLINE)} for every attempt and wait together"
            )
        return value


Provider = Annotated[LexiconProvider | LocalProvider | LlmProvider, Field(discriminator="type")]


class Helpline(Model):
    """A referral resource offered to a customer in crisis."""

    name: str
    """Name the customer is given, e.g. `Samaritans`."""
    phone: str | None = None
    """Phone number as dialled in the country."""
    text: str | None = None
    """SMS / text-line short code or number."""
    url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None
    """Web page or chat of the helpline."""
    hours: str = "24/7"
    """Opening hours as shown to the customer."""

    @model_validator(mode="after")
    def _reachable(self) -> Helpline:
        if not (self.phone or self.text or self.url):
            raise ValueError("a helpline needs at least one of phone, text or url")
        return self


CrisisFlag = Literal[
    "suicidal_ideation", "self_harm", "harm_to_others", "abuse", "medical_emergency"
]
"""A risk flag that may put a conversation in the crisis lane (every one but `hostile`)."""
CRISIS_FLAGS: tuple[CrisisFlag, ...] = (
    "suicidal_ideation",
    "self_harm",
    "harm_to_others",
    "abuse",
    "medical_emergency",
)


class CrisisPolicy(Model):
    """The crisis lane. The crisis screen runs on every message and cannot be switched off."""

    queue: Identifier
    """Queue crisis conversations go to; its specialists must be crisis-trained."""
    flags: list[CrisisFlag] = Field(default_factory=lambda: list(CRISIS_FLAGS), min_length=1)
    """Risk flags that put a conversation in the crisis lane (all five unless listed). A flag
    left out is still raised, shown in the handoff and usable in rules (`"abuse" in risk_flags`);
    it just does not send the conversation to the crisis lane by itself."""
    offer_to: Annotated[int, Field(ge=1, le=20), NOT_A_BOOLEAN] = 3
    """How many crisis-trained specialists are offered a crisis conversation at once."""
    accept_within: PositiveDuration = timedelta(seconds=30)
    """If nobody accepts within this time, the supervisor is paged; at least 1s."""
    widen_after: Duration = timedelta(0)
    """Stagger the offers: the best-ranked specialist alone gets the first look, and only once this
    has passed with nobody accepting does the lane offer to `offer_to` at once; `0s` offers to
    `offer_to` at once from the start. Must be shorter than `accept_within`."""
    supervisor: Identifier
    """Supervisor paged when no specialist accepts in time."""
    referrals: dict[Annotated[str, Field(pattern=r"^([A-Z]{2}|default)$")], list[Helpline]] = Field(
        default_factory=dict
    )
    """Helplines by ISO country code (`default` for everywhere else)."""

    @field_validator("widen_after")
    @classmethod
    def _widens_before_the_deadline(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        within = info.data.get("accept_within")
        if value and isinstance(within, timedelta) and value >= within:
            raise ValueError(
                f"widen_after ({format_duration(value)}) must be shorter than accept_within "
                f"({format_duration(within)}), or the lane never widens before the supervisor "
                "is paged; use 0s to offer to offer_to specialists at once"
            )
        return value


class EscalationRule(Model):
    """When a condition holds, the conversation is escalated to a queue."""

    name: Identifier
    """Unique rule name, shown in the handoff as the rule that fired."""
    when: ConditionText
    """Condition in the safe expression language, e.g. `distress >= 0.7 for 2 messages`."""
    queue: Identifier
    """Queue to escalate to."""
    priority: Annotated[int, Field(ge=0, le=100), NOT_A_BOOLEAN] = 50
    """Higher is offered first."""
    reason: str
    """Why, shown to the specialist in the handoff."""


class Triage(Model):
    """How customer messages are scored and when they escalate."""

    provider: Provider = Field(default_factory=lambda: LexiconProvider(type="lexicon"))
    """The triage model."""
    crisis: CrisisPolicy
    """The crisis screen, run on every message: where crises go and who is paged."""
    rules: list[EscalationRule] = Field(default_factory=list)
    """Evaluated in order on every message; the first that holds escalates."""

    @model_validator(mode="after")
    def _unique_rules(self) -> Triage:
        _unique(self, "rules", "rule", "name")
        return self


# --- routing ------------------------------------------------------------------------------------


class Specialist(Model):
    """A trained person who takes over escalated conversations."""

    id: Identifier
    """Stable id, used in events, offers and the specialist API."""
    name: str
    """Display name."""
    skills: list[Identifier] = Field(default_factory=list)
    """Skills offered; a queue only offers to specialists with all its skills."""
    capacity: Annotated[int, Field(ge=1, le=20), NOT_A_BOOLEAN] = 2
    """Conversations at once."""
    languages: list[Locale] = Field(default_factory=lambda: ["en"])
    """Languages the specialist works in."""
    crisis_trained: bool = False
    """Only crisis-trained specialists receive crisis offers."""
    token: Secret
    """Bearer token the specialist client authenticates with."""


class Supervisor(Model):
    """A person paged when offers are not accepted in time; also a wellness lead if flagged."""

    id: Identifier
    """Stable id, named by queues and the crisis lane as the one paged."""
    name: str
    """Display name."""
    wellness_lead: bool = False
    """May see team-level wellness and, if the policy allows, check-in notes."""
    token: Secret
    """Bearer token the supervisor client authenticates with."""


class Queue(Model):
    """A handoff queue specialists work from."""

    name: Identifier
    """Queue name."""
    description: str = ""
    """Shown to specialists and supervisors."""
    skills: list[Identifier] = Field(default_factory=list)
    """Skills a specialist needs to receive offers from this queue."""
    priority: Annotated[int, Field(ge=0, le=100), NOT_A_BOOLEAN] = 50
    """Higher-priority queues are offered first."""
    accept_within: PositiveDuration = timedelta(minutes=2)
    """SLA: an offer not accepted within this time moves along the escalation chain; at least
    1s."""
    intense: bool = False
    """Counts as intense exposure; rotation moves people off intense queues."""
    escalation_chain: list[Identifier] = Field(default_factory=list)
    """Queues tried in order after the SLA is missed."""
    supervisor: Identifier | None = None
    """Paged once the escalation chain is exhausted."""


class Routing(Model):
    """Who works which queue, and how offers are made."""

    strategy: Literal["round_robin", "least_busy", "longest_idle", "wellness_aware"] = (
        "wellness_aware"
    )
    """How a specialist is chosen; `wellness_aware` prefers people with exposure budget left."""
    specialists: list[Specialist]
    """People who receive offers."""
    supervisors: list[Supervisor] = Field(default_factory=list)
    """People paged when offers go unaccepted."""
    queues: list[Queue]
    """Handoff queues, referenced by rules, chains and the crisis lane."""
    inactivity_timeout: MinuteDuration = timedelta(hours=24)
    """A conversation with no message for this long is closed; at least 1m."""
    max_messages_before_continue_as_new: Annotated[int, Field(ge=10, le=10_000), NOT_A_BOOLEAN] = (
        500
    )
    """Keeps workflow histories bounded."""

    @model_validator(mode="after")
    def _unique_ids(self) -> Routing:
        _unique(self, "specialists", "specialist", "id")
        _unique(self, "supervisors", "supervisor", "id")
        _unique(self, "queues", "queue", "name")
        return self


# --- handoff ------------------------------------------------------------------------------------


class HandoffContext(Model):
    """What the handoff package carries to the specialist."""

    history_messages: Annotated[int, Field(ge=0, le=200), NOT_A_BOOLEAN] = 20
    """How many recent messages are included."""
    trajectory: bool = True
    """Distress and emotion over the conversation."""
    rationale: bool = True
    """The triage rationale and the rule that escalated."""
    customer_profile_from: list[Identifier] = Field(default_factory=list)
    """Connectors asked for the customer's profile (CRM)."""


class Handoff(Model):
    """The warm handoff: a rendered summary and the context behind it."""

    template: RelativePath
    """Jinja2 template (rendered sandboxed; customer text is passed as data)."""
    context: HandoffContext = Field(default_factory=HandoffContext)
    """What the handoff package carries besides the rendered summary."""
    require_risk_acknowledgement: bool = True
    """The specialist must acknowledge risk flags before replying."""
    satisfaction_survey: bool = False
    """Ask the customer a one-question survey when the conversation closes."""


# --- annotation ---------------------------------------------------------------------------------


class Taxonomy(Model):
    """The label set annotators use: a built-in name, or a custom name and labels."""

    builtin: Literal["goemotions/original", "goemotions/group", "goemotions/ekman"] | None = None
    """A built-in GoEmotions taxonomy."""
    name: str | None = None
    """Name of a custom taxonomy."""
    labels: list[Identifier] | None = None
    """Labels of a custom taxonomy."""

    @model_validator(mode="after")
    def _one_source(self) -> Taxonomy:
        if (self.builtin is None) == (self.labels is None):
            raise ValueError("give either 'builtin' or 'name' and 'labels'")
        if self.labels is not None:
            _unique(self, "labels", "label")
        return self

    @property
    def label_set(self) -> tuple[str, ...]:
        """The labels, whichever way they were given."""
        if self.builtin is not None:
            return BUILTIN_TAXONOMIES[self.builtin]
        return tuple(self.labels or ())


class Sampling(Model):
    """Which AI triage decisions become annotation tasks."""

    confidence_below: Fraction = 0.6
    """Every decision with lower confidence."""
    escalation_fraction: Fraction = 0.2
    """Share of escalations sampled."""
    all_crisis_flags: bool = True
    """Every decision that raised a crisis flag."""
    random_fraction: Fraction = 0.02
    """Share of everything else."""
    disagreements: bool = True
    """Every case where a specialist disagreed with triage: a triage correction with other labels,
    or a handoff completed with one of `disagreeing_outcomes`."""
    disagreeing_outcomes: list[Identifier] = Field(
        default_factory=lambda: ["false_alarm", "not_needed", "no_action_needed", "misrouted"]
    )
    """Handoff outcomes by which a specialist says the AI should not have escalated. The outcome
    is whatever word the specialist's client sends, so a deployment names its own here."""

    @model_validator(mode="after")
    def _unique_outcomes(self) -> Sampling:
        _unique(self, "disagreeing_outcomes", "disagreeing outcome")
        return self


class Agreement(Model):
    """Inter-annotator agreement required before labels become gold."""

    metric: Literal["krippendorff_alpha"] = "krippendorff_alpha"
    """Agreement statistic."""
    threshold: Fraction = 0.667
    """Minimum agreement for labels to become gold without adjudication."""


class Adjudication(Model):
    """What happens when annotators disagree."""

    by: Literal["senior_annotator", "supervisor", "majority"] = "senior_annotator"
    """Who settles disagreements."""
    max_rounds: Annotated[int, Field(ge=1, le=5), NOT_A_BOOLEAN] = 1
    """Adjudication rounds before a task is dropped."""


class ContentWarnings(Model):
    """Protection for annotators reading distressing text."""

    enabled: bool = True
    """Show a content warning on distressing items before the text."""
    blur_above_distress: Fraction = 0.7
    """Text is blurred until revealed when triage distress is above this."""


class Retraining(Model):
    """When a new triage model version is trained and when it may be promoted."""

    schedule: CronSchedule | None = None
    """Five-field cron expression in UTC (minute hour day-of-month month day-of-week), e.g.
    `0 3 * * 1`: numbers, `*`, ranges `a-b`, lists `a,b`, steps `*/n` and `a-b/n`, month names
    (`JAN`) and weekday names (`MON`)."""
    after_gold_labels: Annotated[int, Field(ge=1), NOT_A_BOOLEAN] | None = None
    """Retrain once this many new gold labels exist."""
    promotion_margin: Annotated[float, Field(ge=0.0, le=1.0), NOT_A_BOOLEAN] = 0.01
    """A candidate must beat the current macro-F1 by at least this much."""
    crisis_recall_must_not_drop: Literal[True] = True
    """A candidate with lower crisis recall is never promoted (fixed)."""
    taxonomy: Literal["original", "group", "ekman"] | None = None
    """The model taxonomy retrained; default: the one `annotation.taxonomy.builtin` names, else
    `original` (the taxonomy the conversation engine reads)."""
    registry: RelativePath | None = None
    """Model registry directory (`DIR/<taxonomy>/<version>/`, `CURRENT`); retraining is off
    without it. Point `triage.provider.model_path` at it so a promotion changes what serves."""
    base_data: RelativePath | None = None
    """GoEmotions-format TSV every candidate is trained on besides the gold labels; omit it to
    train on gold labels only."""
    dev_data: RelativePath | None = None
    """TSV the candidate's per-label thresholds are tuned on; default: `dev.tsv` beside
    `base_data`."""
    holdout_data: RelativePath | None = None
    """TSV added to the held-out slice both the current model and the candidate are scored on."""
    holdout_fraction: Annotated[float, Field(ge=0.0, le=0.9), NOT_A_BOOLEAN] = 0.2
    """Share of gold labels kept out of training for the held-out slice (chosen by item id, so
    a gold label stays on its side in every round)."""
    crisis_labels: list[str] | None = None
    """Labels whose recall is crisis recall; default per taxonomy: grief, fear, sadness and
    nervousness (`original`), fear and sadness (`ekman`), negative (`group`)."""
    check_interval: MinuteDuration = timedelta(hours=1)
    """How often the retraining workflow counts new gold labels without being told of any; at
    least 1m."""
    shadow: bool = False
    """A candidate that passes evaluation first scores live traffic beside the current model,
    without acting, for `shadow_period`; it is promoted after."""
    shadow_period: Duration = timedelta(hours=24)
    """How long a candidate stays in shadow before it is promoted."""

    @model_validator(mode="after")
    def _trigger(self) -> Retraining:
        if self.schedule is None and self.after_gold_labels is None:
            raise ValueError("give 'schedule', 'after_gold_labels' or both")
        return self


class Annotator(Model):
    """A person labelling AI decisions."""

    id: Identifier
    """Stable id, used in tasks, agreement reports and the annotator API."""
    name: str
    """Display name."""
    senior: bool = False
    """Senior annotators adjudicate."""
    skills: list[Identifier] = Field(default_factory=lambda: ["emotions", "tone"])
    """Task kinds they take: `emotions` (label messages), `tone` (audit AI replies), `crisis`
    (crisis items; when no annotator has it, crisis items go to anyone)."""
    languages: list[Locale] = Field(default_factory=lambda: ["en"])
    """Languages they read; items in other languages are not assigned to them."""
    token: Secret
    """Bearer token the annotator client authenticates with."""


class Annotation(Model):
    """The human feedback loop that keeps teaching the triage model."""

    taxonomy: Taxonomy
    """The labels annotators choose from: a GoEmotions taxonomy or one of your own."""
    label_map: dict[str, str] = Field(default_factory=dict)
    """Taxonomy label -> model label, where they differ; an unmapped label is kept as it is.
    Every label must end up a label of the model taxonomy gold labels are recorded in."""
    annotators: list[Annotator] = Field(default_factory=list)
    """People labelling sampled decisions."""
    sampling: Sampling = Field(default_factory=Sampling)
    """Which AI decisions become annotation tasks."""
    overlap: Annotated[int, Field(ge=1, le=10), NOT_A_BOOLEAN] = 3
    """Annotators labelling each task (k)."""
    agreement: Agreement = Field(default_factory=Agreement)
    """How agreement is measured per batch, and the threshold below which items are adjudicated."""
    adjudication: Adjudication = Field(default_factory=Adjudication)
    """Who settles items whose annotators disagree."""
    content_warnings: ContentWarnings = Field(default_factory=ContentWarnings)
    """Warnings and blur for high-distress items."""
    tone_audit_fraction: Fraction = 0.05
    """Share of AI replies audited for tone."""
    batch_size: Annotated[int, Field(ge=2, le=1000), NOT_A_BOOLEAN] = 20
    """Labelled items per agreement batch (Krippendorff's alpha is measured per batch)."""
    retraining: Retraining = Field(default_factory=lambda: Retraining(after_gold_labels=500))
    """When gold labels retrain the triage model, and what a candidate must beat."""

    @model_validator(mode="after")
    def _unique_annotators(self) -> Annotation:
        _unique(self, "annotators", "annotator", "id")
        return self

    @property
    def model_taxonomy(self) -> str:
        """The model taxonomy retraining trains: its own setting, the built-in annotation
        taxonomy's, or `original`."""
        if self.retraining.taxonomy is not None:
            return self.retraining.taxonomy
        if self.taxonomy.builtin is not None:
            return self.taxonomy.builtin.removeprefix("goemotions/")
        return "original"

    @property
    def gold_taxonomy(self) -> str:
        """The model taxonomy gold labels are recorded in: the built-in annotation taxonomy's,
        else the smallest one holding every mapped label, else `original`."""
        if self.taxonomy.builtin is not None:
            return self.taxonomy.builtin.removeprefix("goemotions/")
        mapped = {self.label_map.get(label, label) for label in self.taxonomy.label_set}
        for name in ("ekman", "group", "original"):
            if mapped <= set(BUILTIN_TAXONOMIES[f"goemotions/{name}"]):
                return name
        return "original"

    @model_validator(mode="after")
    def _crisis_labels(self) -> Annotation:
        labels = BUILTIN_TAXONOMIES[f"goemotions/{self.model_taxonomy}"]
        unknown = [x for x in self.retraining.crisis_labels or [] if x not in labels]
        if unknown:
            raise ValueError(
                f"retraining.crisis_labels {unknown} are not labels of the "
                f"{self.model_taxonomy!r} model taxonomy ({', '.join(labels)})"
            )
        return self


# --- wellness -----------------------------------------------------------------------------------


class ExposureWeights(Model):
    """Multipliers turning minutes of work into intensity-weighted minutes."""

    calm: Annotated[float, Field(ge=0.0), NOT_A_BOOLEAN] = 0.5
    """Weight of a minute with distress below the elevated band."""
    elevated: Annotated[float, Field(ge=0.0), NOT_A_BOOLEAN] = 1.0
    """Weight of a minute in the elevated band."""
    high: Annotated[float, Field(ge=0.0), NOT_A_BOOLEAN] = 2.0
    """Weight of a minute in the high band."""
    crisis: Annotated[float, Field(ge=0.0), NOT_A_BOOLEAN] = 3.0
    """Weight of a minute in a crisis conversation."""
    hostile: Annotated[float, Field(ge=0.0), NOT_A_BOOLEAN] = 1.5
    """Extra multiplier when the customer is hostile."""


class DistressBands(Model):
    """Distress thresholds separating calm, elevated and high."""

    elevated: Fraction = 0.4
    """Distress at or above this is elevated."""
    high: Fraction = 0.7
    """Distress at or above this is high."""

    @model_validator(mode="after")
    def _ordered(self) -> DistressBands:
        if self.elevated >= self.high:
            raise ValueError("'elevated' must be below 'high'")
        return self


class Exposure(Model):
    """How emotional exposure is measured."""

    bands: DistressBands = Field(default_factory=DistressBands)
    """Distress levels that make a message elevated or high."""
    weights: ExposureWeights = Field(default_factory=ExposureWeights)
    """Weight per minute of each kind of work, for intensity-weighted exposure."""


class Budget(Model):
    """Exposure allowed per shift."""

    per_shift: PositiveDuration = timedelta(hours=4)
    """Intensity-weighted time per shift (of `shift_length`); at least 1s."""
    shift_length: MinuteDuration = timedelta(hours=8)
    """The shift `per_shift` is written for, and the length of a shift started by availability;
    at least 1m."""
    pro_rata: bool = True
    """A shift of another length (from HR) gets the budget in proportion to its length."""


class Breaks(Model):
    """Breaks that are scheduled, not merely suggested."""

    after_crisis: Duration = timedelta(minutes=15)
    """Length of the break that follows every crisis conversation; `0s` gives no time off (the
    break ends as it starts)."""
    after_intense: PositiveDuration = timedelta(minutes=90)
    """A break is due after this much intense (weighted) time; at least 1s."""
    duration: PositiveDuration = timedelta(minutes=10)
    """Length of the break due after `after_intense` of intense work, and of a break the worker
    asks for ("I need a break now") without naming its length; at least 1s."""


class CheckInScale(Model):
    """The answer scale of a check-in."""

    min: Annotated[int, NOT_A_BOOLEAN] = 1
    """Lowest answer."""
    max: Annotated[int, NOT_A_BOOLEAN] = 5
    """Highest answer."""
    labels: dict[Annotated[int, NOT_A_BOOLEAN], str] = Field(default_factory=dict)
    """Words shown for some answers, e.g. `1: struggling`."""


class CheckInTrigger(StrEnum):
    """Events that prompt a check-in outside the regular cadence."""

    AFTER_CRISIS = "after_crisis"
    BUDGET_80 = "budget_80"
    """The worker reached 80% of the exposure budget."""
    AFTER_HOSTILE = "after_hostile"
    END_OF_SHIFT = "end_of_shift"


CHECKIN_CADENCE_MINIMUM = timedelta(seconds=10)
"""The shortest check-in cadence: each one is a timer in the worker's wellness workflow."""


class CheckIns(Model):
    """Short wellbeing check-ins."""

    cadence: Annotated[Duration, at_least(CHECKIN_CADENCE_MINIMUM)] = timedelta(hours=2)
    """Time between regular check-ins during a shift; at least 10s (the demo scales a shift down
    to minutes; a real one asks every hour or two)."""
    triggers: list[CheckInTrigger] = Field(
        default_factory=lambda: [CheckInTrigger.AFTER_CRISIS, CheckInTrigger.END_OF_SHIFT]
    )
    """Events that prompt a check-in besides the regular cadence."""
    scale: CheckInScale = Field(default_factory=CheckInScale)
    """The self-report scale a check-in asks for."""
    note_visibility: Literal["worker_only", "wellness_lead"] = "worker_only"
    """Who may read free-text notes; aggregates never show individuals."""
    nudge_after: Duration = timedelta(minutes=15)
    """An unanswered check-in nudges the worker after this long, and the supervisors with
    `wellness_lead: true` after twice that."""

    @field_validator("nudge_after")
    @classmethod
    def _nudge_later(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("nudge_after must be longer than 0s")
        return value


class Rotation(Model):
    """Moving people off intense queues."""

    off_intense_at_budget: Fraction = 1.0
    """Share of the budget at which a worker leaves intense queues."""
    cooldown: PositiveDuration = timedelta(minutes=45)
    """How long a rotated worker stays off intense queues; at least 1s."""


MAX_GROUP_SIZE = 1000
"""The largest `wellness.min_group_size`: a larger one would suppress every figure all the same,
and it must fit the int32 `GetTeamWellness` answers it in."""


class Wellness(Model):
    """The emotional-labour policy for specialists and annotators."""

    exposure: Exposure = Field(default_factory=Exposure)
    """How exposure is measured."""
    budget: Budget = Field(default_factory=Budget)
    """The exposure budget: how much intensity-weighted time a shift allows."""
    breaks: Breaks = Field(default_factory=Breaks)
    """Mandatory breaks after a crisis and after intense work."""
    max_consecutive_crisis: Annotated[int, Field(ge=1, le=10), NOT_A_BOOLEAN] = 2
    """Crisis conversations in a row before a worker gets no more crisis offers until they handle a
    non-crisis conversation or a new shift starts (a break does not lift it)."""
    checkins: CheckIns = Field(default_factory=CheckIns)
    """Check-in cadence, triggers, scale and who may read notes."""
    rotation: Rotation = Field(default_factory=Rotation)
    """Moving people off intense queues as their budget runs low."""
    min_group_size: Annotated[int, Field(ge=3, le=MAX_GROUP_SIZE), NOT_A_BOOLEAN] = 5
    """Aggregates over fewer people than this are suppressed; 3 to 1000."""


# --- connectors ---------------------------------------------------------------------------------

Scalar = str | int | float | bool
SettingValue = Scalar | list[Scalar] | dict[str, Scalar]
"""A connector setting; a mapping (e.g. CRM field → template) is one level deep."""
ConnectorType = Annotated[str, Field(pattern=r"^([a-z][a-z0-9_-]*|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")]


class Connector(Model):
    """Turns warmline events into CRM / HR records and feeds inbound events back in."""

    name: Identifier
    """Unique connector name, named by `handoff.context.customer_profile_from`."""
    type: ConnectorType
    """Connector implementation: `hubspot`, `webhook`, `bamboohr`, `grpc`, a type registered by a
    package under the `warmline.connectors` entry points, or `package.module:Class`."""
    events: list[str] = Field(default_factory=lambda: ["*"])
    """CloudEvents types delivered to the connector (`*` wildcards, e.g.
    `io.warmline.handoff.*`)."""
    settings: dict[str, SettingValue] = Field(default_factory=dict)
    """Non-secret settings; credentials go in `secrets`."""
    secrets: dict[str, Secret] = Field(default_factory=dict)
    """Credentials, each an `${ENV}` reference."""
    payload_template: RelativePath | None = None
    """Optional Jinja2 template for the outgoing payload."""

    @field_validator("events")
    @classmethod
    def _known_events(cls, patterns: list[str]) -> list[str]:
        known = [t.value for t in EventType if not t.inbound]
        for pattern in patterns:
            if not any(fnmatch.fnmatchcase(name, pattern) for name in known):
                raise ValueError(
                    f"{pattern!r} matches no event type warmline emits "
                    "(they look like io.warmline.handoff.accepted.v1; see docs/events.md)"
                )
        return patterns


# --- top level ----------------------------------------------------------------------------------


class Metadata(Model):
    """Descriptive information about this configuration."""

    name: Identifier
    """Deployment name: keys its Redis views, event sources and model registry entries."""
    description: str = ""
    """Free text for people reading the file."""


class WarmlineConfig(Model):
    """A complete warmline configuration: one file describes one deployment."""

    model_config = ConfigDict(title="warmline configuration")

    api_version: Literal["warmline/v1"] = Field(alias="apiVersion")
    """Format version; `warmline/v1`."""
    kind: Literal["WarmlineConfig"]
    """Document kind; `WarmlineConfig`."""
    metadata: Metadata
    """The deployment's name and description."""
    tenants: Annotated[list[Tenant], Field(min_length=1)]
    """Businesses this deployment serves (at least one)."""
    triage: Triage
    """How messages are scored, the crisis screen and escalation rules."""
    routing: Routing
    """Specialists, supervisors and the queues that offer them escalations."""
    handoff: Handoff
    """The warm handoff's template and context."""
    annotation: Annotation
    """Annotators, sampling, agreement and retraining: the feedback loop."""
    wellness: Wellness = Field(default_factory=Wellness)
    """Exposure budgets, breaks, check-ins and rotation."""
    connectors: list[Connector] = Field(default_factory=list)
    """Connectors that carry events to CRM and HR systems and back."""

    @model_validator(mode="after")
    def _unique_names(self) -> WarmlineConfig:
        _unique(self, "tenants", "tenant", "id")
        _unique(self, "connectors", "connector", "name")
        return self


def _unique(model: BaseModel, field: str, what: str, key: str | None = None) -> None:
    """Refuse a name given twice in the list `field` of `model` (each item's `key`, or the item
    itself). The error is raised by the model's validator, so it belongs to the model; its
    context says where below the model the second name (`at`) and the first (`first`) are, for
    the loader to point at the second and name the line of the first."""
    items: list[Any] = getattr(model, field) or []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        name = str(item if key is None else getattr(item, key))
        if name in seen:
            place: tuple[str, ...] = () if key is None else (key,)
            raise PydanticCustomError(
                "duplicate_name",
                "{what} {name} is defined twice",
                {
                    "what": what,
                    "name": repr(name),
                    "at": (field, index, *place),
                    "first": (field, seen[name], *place),
                },
            )
        seen[name] = index


class _ConfigJsonSchema(GenerateJsonSchema):
    """Defaults as they would be written in the file: a duration as `4h`, not pydantic's `PT4H`
    (which the schema's own pattern, and validation, refuse)."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the configuration file, for YAML language servers."""
    schema = WarmlineConfig.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_ConfigJsonSchema
    )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
