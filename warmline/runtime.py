"""From a validated configuration to the objects the engine runs with."""

from __future__ import annotations

from warmline.config.model import LexiconProvider as LexiconProviderConfig
from warmline.config.model import LlmProvider as LlmProviderConfig
from warmline.config.model import LocalProvider as LocalProviderConfig
from warmline.config.model import Provider, WarmlineConfig
from warmline.conversation import EscalationPolicy, RuleSpec
from warmline.errors import WarmlineError
from warmline.triage import provider as providers
from warmline.triage.llm import LLMSettings
from warmline.triage.provider import TriageProvider


class UnsupportedProviderError(WarmlineError):
    """The configuration names a triage provider this version cannot run."""


def escalation_policy(config: WarmlineConfig) -> EscalationPolicy:
    """The snapshot of rules and limits a new conversation starts with."""
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
        crisis_queue=config.triage.crisis.queue,
        inactivity_timeout=config.routing.inactivity_timeout,
        max_messages_before_continue_as_new=config.routing.max_messages_before_continue_as_new,
    )


def build_provider(provider: Provider) -> TriageProvider:
    """The triage provider the configuration asks for (secrets must have been resolved)."""
    if isinstance(provider, LexiconProviderConfig):
        return providers.build_provider("lexicon", lexicon_extra=provider.lexicon)
    if isinstance(provider, LlmProviderConfig):
        settings = LLMSettings(
            base_url=provider.base_url,
            model=provider.model,
            api_key=provider.api_key.reveal() if provider.api_key else None,
            timeout_s=provider.timeout.total_seconds(),
            max_retries=provider.max_retries,
        )
        return providers.build_provider("llm", llm=settings)
    if isinstance(provider, LocalProviderConfig):
        return providers.build_provider("local", model_path=provider.model_path)
    raise UnsupportedProviderError(
        f"the {provider.type!r} triage provider is not available in this version yet; "
        "use `provider: {type: lexicon}` or `provider: {type: llm, ...}`"
    )
