"""Rendering the warm handoff: the example templates, customer text as data, failing templates."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.handoff import HandoffActivities
from tests.worker_process import dummy_secrets
from warmline.config.loader import load_config
from warmline.config.model import Handoff, HandoffContext
from warmline.errors import ConfigError
from warmline.escalation import Escalation, Referral
from warmline.handoff import (
    HandoffPoint,
    HandoffRenderer,
    HandoffRequest,
    HandoffTurn,
    RequestProfileSource,
    TenantFacts,
    human_duration,
    renderer_from_config,
)
from warmline.triage.types import RiskFlag, Role

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_TEMPLATES = sorted(EXAMPLES.glob("*/templates/handoff.md.j2"))
LAST_CUSTOMER_MESSAGE = "I just can't see a way through this any more."
ONLINE_SHOP_ENV = dummy_secrets(EXAMPLES / "online-shop/warmline.yaml")


def _request(
    *, crisis: bool, history: list[HandoffTurn] | None = None, **extra: object
) -> HandoffRequest:
    referrals = (
        [
            Referral(name="Samaritans", phone="116 123", url="https://www.samaritans.org"),
            Referral(name="Shout", text="85258"),
        ]
        if crisis
        else []
    )
    fields: dict[str, object] = {
        "tenant_id": "acme",
        "conversation_id": "conv-42",
        "specialist_id": "spec-7",
        "queue": "crisis" if crisis else "billing",
        "escalation": Escalation(
            queue="crisis" if crisis else "billing",
            reason="crisis screen: suicidal ideation" if crisis else "repeated anger over a refund",
            priority=100 if crisis else 60,
            rule="crisis" if crisis else "angry_twice",
            crisis=crisis,
            message_id="m3",
        ),
        "history": history
        if history is not None
        else [
            HandoffTurn(role=Role.CUSTOMER, text="Hello, my refund still has not arrived."),
            HandoffTurn(role=Role.AI, text="I am sorry to hear that. Let me look."),
            HandoffTurn(role=Role.CUSTOMER, text=LAST_CUSTOMER_MESSAGE),
        ],
        "trajectory": [
            HandoffPoint(
                message_id="m1", distress=0.2, emotions={"annoyance": 0.6, "sadness": 0.1}
            ),
            HandoffPoint(
                message_id="m3",
                distress=0.9,
                emotions={"sadness": 0.8, "fear": 0.3},
                risk_flags=[RiskFlag.SUICIDAL_IDEATION] if crisis else [],
            ),
        ],
        "rationale": "Hopelessness with explicit intent." if crisis else "Anger rising.",
        "risk_flags": [RiskFlag.SUICIDAL_IDEATION] if crisis else [],
        "referrals": referrals,
        "country": "GB",
        "customer_tier": "gold",
        "waited": timedelta(minutes=2, seconds=10),
        "tenant_name": "Acme Ltd",
    }
    fields.update(extra)
    return HandoffRequest.model_validate(fields)


def _renderer(tmp_path: Path, source: str, **knobs: object) -> HandoffRenderer:
    path = tmp_path / "handoff.md.j2"
    path.write_text(source, encoding="utf-8")
    return HandoffRenderer.from_file(path, **knobs)  # type: ignore[arg-type]  # knobs are typed per test


def test_every_example_is_found() -> None:
    assert {p.parent.parent.name for p in EXAMPLE_TEMPLATES} == {
        "insurer-claims",
        "online-shop",
        "peer-support",
    }


@pytest.mark.parametrize("template", EXAMPLE_TEMPLATES, ids=lambda p: p.parent.parent.name)
@pytest.mark.parametrize("crisis", [True, False], ids=["crisis", "routine"])
def test_example_templates_render(template: Path, crisis: bool) -> None:
    renderer = HandoffRenderer.from_file(template, history_messages=20)
    request = _request(crisis=crisis)
    package = renderer.render(request, {"name": "Ada Lovelace"})

    assert package.render_error is None, package.render_error
    assert request.escalation.reason in package.rendered
    assert LAST_CUSTOMER_MESSAGE in package.rendered
    assert "conv-42" in package.rendered
    assert "Ada Lovelace" in package.rendered or template.parent.parent.name == "peer-support"
    assert "Hopelessness" in package.rendered if crisis else "Anger rising." in package.rendered
    if crisis:
        assert "suicidal_ideation" in package.rendered
        assert package.requires_acknowledgement
        assert [r.name for r in package.referrals] == ["Samaritans", "Shout"]
    else:
        assert "suicidal_ideation" not in package.rendered
        assert not package.requires_acknowledgement
    assert package.specialist_id == "spec-7"
    assert package.customer_profile == {"name": "Ada Lovelace"}


def test_peer_support_shows_helplines_and_waiting_time() -> None:
    renderer = HandoffRenderer.from_file(EXAMPLES / "peer-support/templates/handoff.md.j2")
    rendered = renderer.render(_request(crisis=True), {}).rendered

    assert "CRISIS HANDOFF" in rendered
    assert "call 116 123" in rendered
    assert "text 85258" in rendered
    assert "Helplines for GB" in rendered
    assert "waiting 2m 10s" in rendered
    assert "1. distress 0.20 — annoyance" in rendered
    assert "2. distress 0.90 — sadness" in rendered


@pytest.mark.parametrize("template", EXAMPLE_TEMPLATES, ids=lambda p: p.parent.parent.name)
def test_referrals_already_sent_are_in_the_history(template: Path) -> None:
    # A crisis nobody accepted in time gets the helplines as a system turn; whoever accepts
    # later must still get a handoff (this used to fail the render activity for ever).
    referrals = "You can reach someone right now:\nSamaritans · call 116 123"
    history = [
        HandoffTurn(role=Role.CUSTOMER, text=LAST_CUSTOMER_MESSAGE),
        HandoffTurn(role=Role.SYSTEM, text=referrals),
    ]
    renderer = HandoffRenderer.from_file(template, history_messages=20)
    package = renderer.render(_request(crisis=True, history=history), {})

    assert package.render_error is None, package.render_error
    assert "call 116 123" in package.rendered
    assert LAST_CUSTOMER_MESSAGE in package.rendered


def test_missing_crm_facts_fall_back_to_the_templates_defaults() -> None:
    renderer = HandoffRenderer.from_file(EXAMPLES / "insurer-claims/templates/handoff.md.j2")
    rendered = renderer.render(_request(crisis=False), {}).rendered

    assert "| Policyholder | not found in CRM |" in rendered
    assert "| Open claim | none |" in rendered


def test_unknown_tenant_name_and_country_fall_back() -> None:
    renderer = HandoffRenderer.from_file(EXAMPLES / "peer-support/templates/handoff.md.j2")
    request = _request(crisis=True, tenant_name=None, country=None)
    rendered = renderer.render(request, {}).rendered

    assert "Conversation conv-42 · acme ·" in rendered
    assert "Helplines for unknown" in rendered


@pytest.mark.parametrize(
    "text",
    [
        "{{ 7*7 }}",
        "{% for x in range(3) %}loop{% endfor %}",
        "{{ ''.__class__.__mro__ }}",
        "{# hidden #} {%raw%}",
    ],
)
def test_customer_text_is_data(tmp_path: Path, text: str) -> None:
    renderer = _renderer(tmp_path, "{% for m in history %}[{{ m.text }}]{% endfor %}")
    request = _request(crisis=False, history=[HandoffTurn(role=Role.CUSTOMER, text=text)])
    package = renderer.render(request, {"name": text})

    assert package.render_error is None
    assert package.rendered == f"[{text}]"


def test_customer_text_is_data_in_the_examples() -> None:
    renderer = HandoffRenderer.from_file(EXAMPLES / "online-shop/templates/handoff.md.j2")
    history = [HandoffTurn(role=Role.CUSTOMER, text="{{ 7*7 }} and {% if true %}x{% endif %}")]
    rendered = renderer.render(_request(crisis=False, history=history), {}).rendered

    assert "{{ 7*7 }} and {% if true %}x{% endif %}" in rendered
    assert "49" not in rendered


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("line one\n{{ 1/0 }}", "ZeroDivisionError: division by zero (template line 2)"),
        ("{{ escalaton.reason }}", "UndefinedError: 'escalaton' is undefined (template line 1)"),
        ("\n\n{{ escalation.reasn }}", "UndefinedError:"),
        ("{{ conversation.id.upper().nope }}", "UndefinedError:"),
    ],
)
def test_a_failing_template_falls_back(tmp_path: Path, source: str, expected: str) -> None:
    renderer = _renderer(tmp_path, source)
    package = renderer.render(_request(crisis=True), {})

    assert package.render_error is not None
    assert package.render_error.startswith(expected)
    assert "built-in summary" in package.rendered
    assert "crisis screen: suicidal ideation" in package.rendered
    assert LAST_CUSTOMER_MESSAGE in package.rendered
    assert "call 116 123" in package.rendered
    assert "suicidal_ideation" in package.rendered
    assert package.requires_acknowledgement


def test_undefined_attribute_names_its_line(tmp_path: Path) -> None:
    renderer = _renderer(tmp_path, "ok\nok\n{{ escalation.reasn }}\n")
    error = renderer.render(_request(crisis=False), {}).render_error

    assert error is not None
    assert "reasn" in error
    assert error.endswith("(template line 3)")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ conversation.__class__.__init__.__globals__ }}",
        "{{ history.append(1) }}",
        "{{ customer.clear() }}",
        "{{ range.__globals__ }}",
    ],
)
def test_sandbox_escapes_fail_safely(tmp_path: Path, source: str) -> None:
    package = _renderer(tmp_path, source).render(_request(crisis=False), {"name": "x"})

    assert package.render_error is not None
    assert package.render_error.startswith(("SecurityError", "UndefinedError"))
    assert "object" not in package.rendered.split("Template error:")[0]
    assert "repeated anger over a refund" in package.rendered


def test_sandbox_limits_repetition_and_power(tmp_path: Path) -> None:
    repeat = _renderer(tmp_path, "{{ 'x' * 1000000000 }}").render(_request(crisis=False), {})
    power = _renderer(tmp_path, "{{ 2 ** 100000 }}").render(_request(crisis=False), {})

    assert repeat.render_error is not None
    assert repeat.render_error.startswith("SecurityError: repetition")
    assert power.render_error is not None
    assert power.render_error.startswith("SecurityError: power too large")
    small = _renderer(tmp_path, "{{ '-' * 3 }}{{ 2 ** 8 }}").render(_request(crisis=False), {})
    assert small.rendered == "---256"


def test_runaway_template_times_out(tmp_path: Path) -> None:
    source = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    renderer = _renderer(tmp_path, source, timeout=timedelta(milliseconds=200))
    package = renderer.render(_request(crisis=False), {})

    assert package.render_error is not None
    assert package.render_error.startswith("RenderBudgetError")
    assert LAST_CUSTOMER_MESSAGE in package.rendered


def test_output_is_cut_at_the_size_limit(tmp_path: Path) -> None:
    source = "{% for i in range(20000) %}{{ history[-1].text }}\n{% endfor %}"
    package = _renderer(tmp_path, source).render(_request(crisis=False), {})

    assert package.render_error is None
    assert package.truncated
    body, _, note = package.rendered.rpartition("\n\n[… cut here")
    assert len(body.encode("utf-8")) == 64 * 1024
    assert "longer than 65536 bytes" in note
    assert body.startswith(LAST_CUSTOMER_MESSAGE)


def test_output_under_the_limit_is_whole(tmp_path: Path) -> None:
    source = "{% for i in range(10) %}{{ i }}{% endfor %}"
    package = _renderer(tmp_path, source, max_bytes=10).render(_request(crisis=False), {})

    assert package.rendered == "0123456789"
    assert not package.truncated


@pytest.mark.parametrize(
    ("limit", "expected"), [(0, []), (1, ["C"]), (2, ["A", "C"]), (50, ["C", "A", "C"])]
)
def test_history_is_limited_to_the_last_messages(
    tmp_path: Path, limit: int, expected: list[str]
) -> None:
    source = "{% for m in history %}{{ m.author[0] }}{% endfor %}|{{ history | length }}"
    renderer = _renderer(tmp_path, source, history_messages=limit)
    rendered = renderer.render(_request(crisis=False), {}).rendered

    assert rendered == "".join(expected) + f"|{len(expected)}"


def test_fallback_honours_the_history_limit(tmp_path: Path) -> None:
    renderer = _renderer(tmp_path, "{{ 1/0 }}", history_messages=1)
    rendered = renderer.render(_request(crisis=False), {}).rendered

    assert LAST_CUSTOMER_MESSAGE in rendered
    assert "my refund still has not arrived" not in rendered


@pytest.mark.parametrize(
    ("required", "crisis", "expected"),
    [(True, True, True), (True, False, False), (False, True, False), (False, False, False)],
)
def test_requires_acknowledgement(
    tmp_path: Path, required: bool, crisis: bool, expected: bool
) -> None:
    renderer = _renderer(
        tmp_path, "{{ requires_acknowledgement }}", require_risk_acknowledgement=required
    )
    package = renderer.render(_request(crisis=crisis), {})

    assert package.requires_acknowledgement is expected
    assert package.rendered == str(expected)


def test_hostile_flag_alone_still_needs_acknowledgement(tmp_path: Path) -> None:
    request = _request(crisis=False, risk_flags=[RiskFlag.HOSTILE])
    package = _renderer(tmp_path, "{{ crisis }}").render(request, {})

    assert package.requires_acknowledgement
    assert package.rendered == "False"


def test_trajectory_and_rationale_can_be_switched_off(tmp_path: Path) -> None:
    source = "{{ trajectory | length }}|{{ rationale | default('off') }}|{{ rationale }}."
    on = _renderer(tmp_path, source).render(_request(crisis=False), {}).rendered
    off = _renderer(tmp_path, source, trajectory=False, rationale=False)
    rendered = off.render(_request(crisis=False), {}).rendered

    assert on == "2|Anger rising.|Anger rising.."
    assert rendered == "0|off|."


def test_customer_merges_profile_with_request_facts(tmp_path: Path) -> None:
    source = "{{ customer.name }}/{{ customer.country }}/{{ customer.tier }}/{{ profile.country }}"
    renderer = _renderer(tmp_path, source)
    profile = {"name": "Ada", "country": "FR"}

    assert renderer.render(_request(crisis=False), profile).rendered == "Ada/GB/gold/FR"
    bare = _request(crisis=False, country=None, customer_tier="")
    assert renderer.render(bare, profile).rendered == "Ada/FR//FR"


def test_syntax_error_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _renderer(tmp_path, "fine\n{% if %}\n")

    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.line == 2
    assert diagnostic.path == tmp_path / "handoff.md.j2"


def test_html_templates_are_escaped_markdown_is_not(tmp_path: Path) -> None:
    history = [HandoffTurn(role=Role.CUSTOMER, text="<b>R&D</b>")]
    request = _request(crisis=False, history=history)
    source = "{{ history[0].text }}"
    markdown = _renderer(tmp_path, source).render(request, {}).rendered
    (tmp_path / "handoff.html.j2").write_text(source, encoding="utf-8")
    html = HandoffRenderer.from_file(tmp_path / "handoff.html.j2").render(request, {}).rendered

    assert markdown == "<b>R&D</b>"
    assert html == "&lt;b&gt;R&amp;D&lt;/b&gt;"


@pytest.mark.parametrize(
    ("seconds", "expected"), [(0, "0s"), (59, "59s"), (130, "2m 10s"), (120, "2m"), (3605, "1h 5s")]
)
def test_human_duration(seconds: int, expected: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == expected


def test_renderer_from_config() -> None:
    handoff = Handoff(
        template=EXAMPLES / "online-shop/templates/handoff.md.j2",
        context=HandoffContext(history_messages=1, trajectory=False),
        require_risk_acknowledgement=False,
    )
    config = load_config(EXAMPLES / "online-shop/warmline.yaml", env=ONLINE_SHOP_ENV)
    renderer = renderer_from_config(config.model_copy(update={"handoff": handoff}))

    assert renderer.history_messages == 1
    assert not renderer.trajectory
    assert renderer.rationale
    package = renderer.render(_request(crisis=True), {})
    assert not package.requires_acknowledgement
    assert "distress" not in package.rendered
    assert "my refund still has not arrived" not in package.rendered


def test_the_tenant_and_message_times_come_from_the_configuration() -> None:
    """The conversation carries only the tenant's id; its name, locale, country and time zone
    are the configuration's."""
    config = load_config(EXAMPLES / "online-shop/warmline.yaml", env=ONLINE_SHOP_ENV)
    renderer = renderer_from_config(config)
    winter, summer = (
        datetime(2026, 12, 7, 14, 3, tzinfo=UTC),
        datetime(2026, 7, 1, 9, 30, tzinfo=UTC),
    )
    history = [
        HandoffTurn(role=Role.CUSTOMER, text="Where is my parcel?", at=winter),
        HandoffTurn(role=Role.AI, text="Let me look.", at=summer),
        HandoffTurn(role=Role.CUSTOMER, text=LAST_CUSTOMER_MESSAGE),
    ]
    request = _request(crisis=False, history=history, tenant_id="fernhill-goods", tenant_name=None)
    context = renderer.context(request, {})
    assert context["tenant"] == TenantFacts(
        id="fernhill-goods",
        name="Fernhill Goods",
        country="GB",
        locale="en-GB",
        timezone="Europe/London",
    )
    assert [m.time for m in context["history"]] == ["14:03", "10:30", ""]
    assert context["history"][1].at == summer
    package = renderer.render(request, {})
    assert "(Fernhill Goods)" in package.rendered
    assert "locale en-GB" in package.rendered
    assert "- 14:03 **Customer**: Where is my parcel?" in package.rendered
    # The fallback summary shows the times too; a tenant not configured reads in UTC.
    broken = HandoffRenderer("{{ nope }}", tenants=renderer.tenants)
    assert "- 10:30 AI: Let me look." in broken.render(request, {}).rendered
    other = renderer.context(request.model_copy(update={"tenant_id": "elsewhere"}), {})
    assert (other["tenant"].name, other["tenant"].timezone) == ("elsewhere", "UTC")
    assert [m.time for m in other["history"]] == ["14:03", "09:30", ""]


class _BrokenCrm:
    def lookup(
        self, tenant_id: str, conversation_id: str, country: str | None, customer_tier: str
    ) -> dict[str, str]:
        raise TimeoutError("CRM did not answer")


def test_activity_renders_with_the_profile_source() -> None:
    renderer = HandoffRenderer.from_file(EXAMPLES / "peer-support/templates/handoff.md.j2")
    activities = HandoffActivities(renderer, RequestProfileSource())
    package = ActivityEnvironment().run(activities.render_handoff, _request(crisis=True))

    assert package.customer_profile == {"country": "GB", "tier": "gold"}
    assert "call 116 123" in package.rendered


def test_activity_survives_a_failing_profile_source(caplog: pytest.LogCaptureFixture) -> None:
    renderer = HandoffRenderer.from_file(EXAMPLES / "insurer-claims/templates/handoff.md.j2")
    activities = HandoffActivities(renderer, _BrokenCrm())
    with caplog.at_level(logging.WARNING, logger="activities.handoff"):
        package = ActivityEnvironment().run(activities.render_handoff, _request(crisis=False))

    assert package.render_error is None
    assert package.customer_profile == {}
    assert "not found in CRM" in package.rendered
    assert any("profile lookup failed" in r.getMessage() for r in caplog.records)
