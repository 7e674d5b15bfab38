"""From a validated configuration to the objects the engine runs with."""

from __future__ import annotations

from pathlib import Path

from warmline.annotation.redact import Redactor
from warmline.config.model import LLM_CALL_DEADLINE, Provider, WarmlineConfig
from warmline.config.model import LexiconProvider as LexiconProviderConfig
from warmline.config.model import LlmProvider as LlmProviderConfig
from warmline.config.model import LocalProvider as LocalProviderConfig
from warmline.conversation import EscalationPolicy, RuleSpec
from warmline.errors import WarmlineError
from warmline.escalation import CrisisLane, QueueSpec, Referral, RoutingPolicy
from warmline.retraining.settings import CRISIS_LABELS
from warmline.retraining.shadow import RegistryProvider, ShadowLog
from warmline.roster import RosterMember, RosterSettings, roster_workflow_id
from warmline.triage import provider as providers
from warmline.triage.llm import LLMSettings
from warmline.triage.local import CURRENT, TAXONOMIES
from warmline.triage.provider import TriageProvider
from warmline.triage.types import RiskFlag
from warmline.wellness.policy import WellnessPolicy, WorkerKind

DEFAULT_TASK_QUEUE = "warmline"
"""The task queue workers serve unless told otherwise."""


class UnsupportedProviderError(WarmlineError):
    """The configuration names a triage provider this version cannot run."""


def escalation_policy(
    config: WarmlineConfig, *, task_queue: str = DEFAULT_TASK_QUEUE
) -> EscalationPolicy:
    """The snapshot of rules and limits a new conversation on `task_queue` starts with."""
    return EscalationPolicy(
        rules=[
            RuleSpec(
                name=rule.name,
                when=str(rule.when),
                queue=rule.queue,
                priority=rule.priority,
                reason=rule.reason,
            )
            for rule in config.triage.rules
        ],
        routing=routing_policy(config, task_queue=task_queue),
        crisis_queue=config.triage.crisis.queue,
        crisis_flags=[RiskFlag(flag) for flag in config.triage.crisis.flags],
        inactivity_timeout=config.routing.inactivity_timeout,
        max_messages_before_continue_as_new=config.routing.max_messages_before_continue_as_new,
        require_risk_acknowledgement=config.handoff.require_risk_acknowledgement,
        satisfaction_survey=config.handoff.satisfaction_survey,
        triage_as_local_activity=config.triage.provider.type != "llm",
    )


def routing_policy(
    config: WarmlineConfig, *, task_queue: str = DEFAULT_TASK_QUEUE
) -> RoutingPolicy:
    """The queues, crisis lane and roster an escalation on `task_queue` routes with."""
    crisis = config.triage.crisis
    return RoutingPolicy(
        roster_id=roster_workflow_id(config.metadata.name, task_queue),
        queues=[
            QueueSpec(
                name=queue.name,
                skills=queue.skills,
                priority=queue.priority,
                accept_within=queue.accept_within,
                escalation_chain=queue.escalation_chain,
                supervisor=queue.supervisor,
                intense=queue.intense,
            )
            for queue in config.routing.queues
        ],
        crisis=CrisisLane(
            queue=crisis.queue,
            offer_to=crisis.offer_to,
            accept_within=crisis.accept_within,
            widen_after=crisis.widen_after,
            supervisor=crisis.supervisor,
            referrals={
                country: [Referral(**line.model_dump()) for line in lines]
                for country, lines in crisis.referrals.items()
            },
        ),
    )


def roster_settings(config: WarmlineConfig) -> RosterSettings:
    """The specialists the roster knows and the strategy it ranks them by."""
    strategy = config.routing.strategy
    return RosterSettings(
        members=[
            RosterMember(
                id=s.id, skills=s.skills, capacity=s.capacity, crisis_trained=s.crisis_trained
            )
            for s in config.routing.specialists
        ],
        strategy=strategy,
    )


def wellness_policy(config: WarmlineConfig) -> WellnessPolicy:
    """The snapshot of the `wellness` section a worker's wellness workflow starts with."""
    wellness = config.wellness
    weights = wellness.exposure.weights
    return WellnessPolicy(
        elevated_at=wellness.exposure.bands.elevated,
        high_at=wellness.exposure.bands.high,
        weight_calm=weights.calm,
        weight_elevated=weights.elevated,
        weight_high=weights.high,
        weight_crisis=weights.crisis,
        weight_hostile=weights.hostile,
        budget_per_shift=wellness.budget.per_shift,
        shift_length=wellness.budget.shift_length,
        budget_pro_rata=wellness.budget.pro_rata,
        break_after_crisis=wellness.breaks.after_crisis,
        break_after_intense=wellness.breaks.after_intense,
        break_duration=wellness.breaks.duration,
        max_consecutive_crisis=wellness.max_consecutive_crisis,
        checkin_cadence=wellness.checkins.cadence,
        checkin_triggers=[trigger.value for trigger in wellness.checkins.triggers],
        scale_min=wellness.checkins.scale.min,
        scale_max=wellness.checkins.scale.max,
        note_visibility=wellness.checkins.note_visibility,
        checkin_nudge_after=wellness.checkins.nudge_after,
        rotate_at_budget=wellness.rotation.off_intense_at_budget,
        rotation_cooldown=wellness.rotation.cooldown,
        intense_queues=[queue.name for queue in config.routing.queues if queue.intense],
        wellness_leads=[s.id for s in config.routing.supervisors if s.wellness_lead],
    )


def redactor_for(config: WarmlineConfig) -> Redactor:
    """A redactor that looks for the phone numbers (and postcodes and other regional formats) of
    every configured tenant's locale and country, as a number is only recognised in its region's
    format, and that knows the names of the configured people (specialists, supervisors,
    annotators), which the census name lists often miss."""
    return Redactor(
        regions=[
            region
            for tenant in config.tenants
            # A locale's region ("en-US") may differ from the country ("GB"): both are looked for.
            for region in (tenant.country, tenant.locale.partition("-")[2])
            if region
        ],
        known_names=[
            *(s.name for s in config.routing.specialists),
            *(s.name for s in config.routing.supervisors),
            *(a.name for a in config.annotation.annotators),
        ],
    )


def worker_kinds(config: WarmlineConfig) -> dict[str, WorkerKind]:
    """Every worker the wellness policy covers: the specialists and the annotators."""
    kinds = {s.id: WorkerKind.SPECIALIST for s in config.routing.specialists}
    kinds |= {a.id: WorkerKind.ANNOTATOR for a in config.annotation.annotators}
    return kinds


def _registry_of(path: Path | None) -> tuple[Path, str] | None:
    """The registry root and taxonomy a model path serves from, or None for a plain model."""
    if path is None:
        return None
    if (path / "original" / CURRENT).is_file():
        return path, "original"
    if (path / CURRENT).is_file() and path.name in TAXONOMIES:
        return path.parent, path.name
    return None


def build_provider(provider: Provider, *, shadow_log: ShadowLog | None = None) -> TriageProvider:
    """The triage provider the configuration asks for (secrets must have been resolved).

    A local provider whose `model_path` is a registry serves its current version and follows
    promotions and rollbacks (`RegistryProvider`); `shadow_log` keeps the shadow results.
    """
    if isinstance(provider, LexiconProviderConfig):
        return providers.build_provider("lexicon", lexicon_extra=provider.lexicon)
    if isinstance(provider, LlmProviderConfig):
        settings = LLMSettings(
            base_url=provider.base_url,
            model=provider.model,
            api_key=provider.api_key.reveal() if provider.api_key else None,
            timeout_s=provider.timeout.total_seconds(),
            max_retries=provider.max_retries,
            deadline_s=LLM_CALL_DEADLINE.total_seconds(),
        )
        return providers.build_provider("llm", llm=settings)
    if isinstance(provider, LocalProviderConfig):
        served = _registry_of(provider.model_path)
        if served is not None:
            root, taxonomy = served
            return RegistryProvider(
                root, taxonomy, shadow_log=shadow_log, crisis_labels=CRISIS_LABELS[taxonomy]
            )
        return providers.build_provider("local", model_path=provider.model_path)
    raise UnsupportedProviderError(
        f"the {provider.type!r} triage provider is not available in this version yet; "
        "use `provider: {type: lexicon}` or `provider: {type: llm, ...}`"
    )
