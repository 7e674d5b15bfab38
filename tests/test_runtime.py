"""A validated configuration becomes the engine's provider and escalation policy."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.worker_process import dummy_secrets
from warmline.config.loader import load_config
from warmline.runtime import build_provider, escalation_policy
from warmline.triage.lexicon import LexiconProvider
from warmline.triage.llm import LLMProvider

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_shop_runs_the_lexicon_and_its_rules() -> None:
    path = EXAMPLES / "online-shop" / "warmline.yaml"
    config = load_config(path, env=dummy_secrets(path))
    assert isinstance(build_provider(config.triage.provider), LexiconProvider)
    policy = escalation_policy(config)
    assert [rule.name for rule in policy.rules] == [rule.name for rule in config.triage.rules]
    assert policy.rules[0].when == "distress >= 0.7 for 2 messages"
    assert policy.crisis_queue == config.triage.crisis.queue
    assert policy.inactivity_timeout == config.routing.inactivity_timeout > timedelta(0)
    assert policy.triage_as_local_activity, "an in-process provider triages in a local activity"


def test_the_insurer_runs_its_llm() -> None:
    path = EXAMPLES / "insurer-claims" / "warmline.yaml"
    config = load_config(path, env=dummy_secrets(path))
    provider = build_provider(config.triage.provider)
    assert isinstance(provider, LLMProvider)
    assert provider.model_version == "llm:triage-small-2026-10"
    assert not escalation_policy(config).triage_as_local_activity, "a network call is an activity"
