"""The escalation rules read the triage verdicts the deployment configured.

The time-skipping server with the real triage activity (lexicon) and real Kafka, as
`test_conversation`.
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from tests.workflows.test_conversation import POLICY, say, start
from tests.workflows.test_replay import patch_markers
from warmline.conversation import RuleSpec
from warmline.triage.types import RiskFlag
from workflows.conversation import ConversationWorkflow

THREAT = "My husband is going to kill me when he sees the bill"
"""Raises `abuse` alone, at distress 0.9."""
NO_ABUSE = [
    RiskFlag.SUICIDAL_IDEATION,
    RiskFlag.SELF_HARM,
    RiskFlag.HARM_TO_OTHERS,
    RiskFlag.MEDICAL_EMERGENCY,
]
"""`triage.crisis.flags` with `abuse` left out, to route it by a rule (docs/triage.md)."""
DISTRESSED = RuleSpec(
    name="distressed",
    when="distress >= 0.8 and not crisis",
    queue="care",
    priority=80,
    reason="The customer is very distressed.",
)


async def test_a_rule_reads_crisis_by_the_configured_crisis_flags(
    workflow_env: WorkflowEnvironment, worker: str
) -> None:
    """Abuse is not a crisis of this deployment, so `not crisis` holds for it and the rule sends
    the distressed customer to `care`. The rules read every flag but `hostile` as a crisis
    whatever `triage.crisis.flags` said: the message, neither a crisis nor `not crisis`,
    escalated nowhere."""
    policy = POLICY.model_copy(update={"rules": [DISTRESSED], "crisis_flags": NO_ABUSE})
    handle, _ = await start(workflow_env, worker, policy)
    await say(handle, THREAT)
    view = await handle.query(ConversationWorkflow.view)
    assert [(p.risk_flags, p.crisis) for p in view.trajectory] == [([RiskFlag.ABUSE], False)]
    assert view.escalation is not None, "an abuse message escalated nowhere"
    assert (view.escalation.rule, view.escalation.queue) == ("distressed", "care")
    assert not view.escalation.crisis
    assert "rules-read-the-configured-crisis-flags" in patch_markers(await handle.fetch_history())
