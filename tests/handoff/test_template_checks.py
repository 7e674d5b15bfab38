"""What `warmline validate` finds in a handoff template that compiles but would fail every render
reaching the mistake, and the time budget stopping loops that print nothing."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from tests.handoff.test_render import EXAMPLE_TEMPLATES, _renderer, _request
from warmline.config.loader import validate_paths

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _validate_with(tmp_path: Path, template: str) -> tuple[Path, list[str]]:
    """Validate a copy of the online-shop example whose handoff template is `template`."""
    shop = tmp_path / "shop"
    shutil.copytree(EXAMPLES / "online-shop", shop)
    path = shop / "templates" / "handoff.md.j2"
    path.write_text(template, encoding="utf-8")
    diagnostics, _ = validate_paths([shop / "warmline.yaml"])
    return path.resolve(), [d.render() for d in diagnostics]


def test_validate_reports_misspelt_names_and_attributes_at_their_lines(tmp_path: Path) -> None:
    template = (
        "## {{ escalation.reason }}\n"
        "{{ escalaton.queue }}\n"
        "{{ escalation.reasn }}\n"
        "{% for message in history | reverse %}{{ message.txt }}{% endfor %}\n"
        "{{ history[-1].tetx }}\n"
    )
    path, messages = _validate_with(tmp_path, template)

    assert len(messages) == 4, messages
    assert messages[0].startswith(f"{path}:2:1: template error: escalaton is not defined")
    assert "did you mean 'escalation'?" in messages[0]
    assert messages[1].startswith(
        f"{path}:3:1: template error: escalation has no attribute 'reasn'"
    )
    assert "'reasn' (it has reason, " in messages[1]
    assert "did you mean 'reason'?" in messages[1]
    assert messages[2].startswith(f"{path}:4:1: template error: message (a history message) has")
    assert "did you mean 'text'?" in messages[2]
    assert messages[3].startswith(f"{path}:5:1: template error: a history message has no")
    assert all("used by handoff.template in" in message for message in messages)


def test_validate_reports_unknown_filters_and_tests_inside_an_if(tmp_path: Path) -> None:
    # jinja2 compiles these (an `if` might guard them) and fails only when the branch runs.
    template = (
        "{% if crisis %}{{ risk_flags | shout }}{% endif %}\n{% if crisis is loud %}!{% endif %}"
    )
    path, messages = _validate_with(tmp_path, template)

    assert messages == [
        f"{path}:1:1: template error: no filter named 'shout' (used by handoff.template in "
        f"{tmp_path / 'shop' / 'warmline.yaml'}:{_template_line(tmp_path)})",
        f"{path}:2:1: template error: no test named 'loud' (used by handoff.template in "
        f"{tmp_path / 'shop' / 'warmline.yaml'}:{_template_line(tmp_path)})",
    ]


def _template_line(tmp_path: Path) -> int:
    lines = (tmp_path / "shop" / "warmline.yaml").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.strip().startswith("template:"))


def test_what_renders_is_not_reported(tmp_path: Path) -> None:
    template = (
        "{% macro line(m) %}{{ m.author }}: {{ m.text }}{% endmacro %}"
        "{% for m in history if m.role == 'customer' %}{{ loop.index }} {{ line(m) }}"
        "{% else %}none{% endfor %}"
        "{% for step in trajectory[-3:] %}{{ step.top_emotion }}{% endfor %}"
        "{{ (referrals | first).name if referrals }}{{ customer.order_id }}{{ profile.x }}"
        "{{ rationale | default('none') }}{{ escalation.reason | upper }}"
        "{% if extra is defined %}{{ extra }}{% endif %}{{ tenant.nickname | default('') }}"
        "{% set ns = namespace(n=0) %}{{ ns.n }}{{ range(2) | list }}{{ notes | join(', ') }}"
        "{{ conversation.waiting }}{{ specialist.id }}{{ crisis }}{{ requires_acknowledgement }}"
    )
    _, messages = _validate_with(tmp_path, template)
    assert messages == []
    package = _renderer(tmp_path, template).render(_request(crisis=True), {})
    assert package.render_error is None


@pytest.mark.parametrize("template", EXAMPLE_TEMPLATES, ids=lambda p: p.parent.parent.name)
def test_the_example_templates_have_no_problems(template: Path) -> None:
    from warmline.handoff import template_problems

    assert template_problems(template.read_text(encoding="utf-8")) == []


def test_the_checked_names_are_the_context(tmp_path: Path) -> None:
    from warmline.handoff import CONTEXT_NAMES

    context = _renderer(tmp_path, "").context(_request(crisis=False), {})
    assert set(context) == CONTEXT_NAMES


def test_nested_loops_that_print_nothing_are_held_to_the_time_budget(tmp_path: Path) -> None:
    # Loops over short lists, nested, print nothing and look nothing up: without a check per
    # loop step they would run past any budget. A budget of 0 is spent at the first step.
    source = (
        "{% for a in history %}{% for b in history %}{% for c in notes %}"
        "{% endfor %}{% endfor %}{% endfor %}"
    )
    renderer = _renderer(tmp_path, source, timeout=timedelta(0))
    package = renderer.render(_request(crisis=False, notes=["n"]), {})

    assert package.render_error is not None
    assert package.render_error.startswith("RenderBudgetError")
    assert "Handoff (built-in summary" in package.rendered


def test_loops_still_render_within_the_budget(tmp_path: Path) -> None:
    source = (
        "{% for m in history %}{{ loop.index }}/{{ loop.length }}{% if loop.last %}.{% endif %}"
        "{% endfor %}{% for x in [] %}x{% else %}empty{% endfor %}"
    )
    package = _renderer(tmp_path, source).render(_request(crisis=False), {})
    assert package.render_error is None
    assert package.rendered == "1/32/33/3.empty"
