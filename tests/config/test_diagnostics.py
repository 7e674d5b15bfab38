"""Semantic diagnostics: unknown keys with suggestions, cross-references, templates, secrets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from warmline.config.loader import Validation, check_paths, suggest, validate_paths

Edit = Callable[[Path, str, str], Path]


def _messages(path: Path) -> list[str]:
    diagnostics, _ = validate_paths([path])
    return [d.render() for d in diagnostics]


def _line_of(path: Path, text: str) -> int:
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


def with_retraining(shop: Path, edit: Edit) -> None:
    """Give the shop (which has no retraining: it triages with the lexicon) a weekly round."""
    edit(
        shop,
        "  tone_audit_fraction: 0.05\n",
        '  tone_audit_fraction: 0.05\n  retraining:\n    schedule: "0 3 * * 1"\n'
        "    promotion_margin: 0.01\n",
    )


def test_unknown_key_suggests_the_known_one(shop: Path, edit: Edit) -> None:
    edit(shop, "    offer_to: 2\n", "    ofer_to: 2\n")
    line = _line_of(shop, "    ofer_to: 2")
    assert _messages(shop) == [
        f"{shop}:{line}:5: triage.crisis: unknown key 'ofer_to'; did you mean 'offer_to'?"
    ]


def test_unknown_key_inside_a_list_item(shop: Path, edit: Edit) -> None:
    edit(shop, "      capacity: 4\n", "      capacty: 4\n")
    [message] = _messages(shop)
    assert "routing.specialists[1]: unknown key 'capacty'; did you mean 'capacity'?" in message


def test_unknown_key_inside_a_discriminated_union(shop: Path, edit: Edit) -> None:
    edit(
        shop,
        "  provider:\n    type: lexicon\n",
        "  provider:\n    type: llm\n    base_url: https://x.example/v1\n    model: m\n"
        "    timout: 5s\n",
    )
    [message] = _messages(shop)
    assert "unknown key 'timout'; did you mean 'timeout'?" in message


def test_a_model_timeout_past_the_call_deadline_is_refused(shop: Path, edit: Edit) -> None:
    edit(
        shop,
        "  provider:\n    type: lexicon\n",
        "  provider:\n    type: llm\n    base_url: https://x.example/v1\n    model: m\n"
        "    timeout: 40s\n",
    )
    line = _line_of(shop, "    timeout: 40s")
    assert _messages(shop) == [
        f"{shop}:{line}:14: triage.provider.timeout: timeout (40s) must be between 1ms and "
        "25s: one triage call has 25s for every attempt and wait together"
    ]


def test_unknown_top_level_key_lists_nothing_silly(shop: Path, edit: Edit) -> None:
    edit(shop, "\ntenants:\n", "\ntennants:\n")
    messages = _messages(shop)
    assert any("unknown key 'tennants'; did you mean 'tenants'?" in m for m in messages)
    assert any("(top level): missing required key 'tenants'" in m for m in messages)


def test_missing_required_key_points_at_the_parent(shop: Path, edit: Edit) -> None:
    edit(shop, "    queue: crisis\n    offer_to: 2\n", "    offer_to: 2\n")
    line = _line_of(shop, "  crisis:")
    assert _messages(shop) == [f"{shop}:{line}:3: triage.crisis: missing required key 'queue'"]


def test_bad_value_points_at_the_value(shop: Path, edit: Edit) -> None:
    edit(shop, "    per_shift: 4h\n", "    per_shift: 4 hours\n")
    line = _line_of(shop, "    per_shift: 4 hours")
    [message] = _messages(shop)
    assert message.startswith(f"{shop}:{line}:16: wellness.budget.per_shift: invalid duration")


def test_condition_error_points_inside_the_condition(shop: Path, edit: Edit) -> None:
    edit(shop, "      when: confidence < 0.4\n", "      when: confidence < 0.4 and distres > 1\n")
    line = _line_of(shop, "      when: confidence < 0.4 and distres > 1")
    column = len("      when: confidence < 0.4 and ") + 1
    assert _messages(shop) == [
        f"{shop}:{line}:{column}: triage.rules[3].when: unknown name 'distres'; "
        "did you mean 'distress'?"
    ]


def test_condition_error_in_a_quoted_string_accounts_for_the_quote(shop: Path, edit: Edit) -> None:
    edit(shop, "      when: confidence < 0.4\n", "      when: \"confidence < 'low'\"\n")
    line = _line_of(shop, "      when: \"confidence < 'low'\"")
    [message] = _messages(shop)
    assert message.startswith(f"{shop}:{line}:27: triage.rules[3].when: '<' compares numbers")


def test_unknown_queue_in_rule_and_chain(shop: Path, edit: Edit) -> None:
    edit(
        shop, "      queue: care\n      priority: 80\n", "      queue: cares\n      priority: 80\n"
    )
    edit(shop, "      escalation_chain: [care]\n", "      escalation_chain: [care, vip]\n")
    messages = _messages(shop)
    assert len(messages) == 2
    assert "triage.rules[0].queue: unknown queue 'cares'; did you mean 'care'?" in messages[0]
    chain_line = _line_of(shop, "      escalation_chain: [care, vip]")
    assert messages[1].startswith(f"{shop}:{chain_line}:32: routing.queues[0].escalation_chain[1]")
    assert "unknown queue 'vip'" in messages[1]


def test_queue_skill_nobody_holds(shop: Path, edit: Edit) -> None:
    edit(shop, "      skills: [orders]\n", "      skills: [orders, refunds]\n")
    [message] = _messages(shop)
    assert "no specialist has skill 'refunds', so queue 'orders' can never be served" in message


def test_unknown_supervisor_and_too_few_crisis_specialists(shop: Path, edit: Edit) -> None:
    edit(
        shop, "    supervisor: sup-amara\n    referrals", "    supervisor: sup-amra\n    referrals"
    )
    edit(shop, "    offer_to: 2\n", "    offer_to: 5\n")
    messages = _messages(shop)
    assert any("unknown supervisor 'sup-amra'; did you mean 'sup-amara'?" in m for m in messages)
    assert any("offer_to is 5 but only 2 crisis_trained" in m for m in messages)


def test_the_crisis_lane_must_widen_before_its_deadline(shop: Path, edit: Edit) -> None:
    edit(shop, "    accept_within: 45s\n", "    accept_within: 45s\n    widen_after: 45s\n")
    line = _line_of(shop, "    widen_after: 45s")
    assert _messages(shop) == [
        f"{shop}:{line}:18: triage.crisis.widen_after: widen_after (45s) must be shorter than "
        "accept_within (45s), or the lane never widens before the supervisor is paged; "
        "use 0s to offer to offer_to specialists at once"
    ]
    edit(shop, "    widen_after: 45s\n", "    widen_after: 44s\n")
    assert _messages(shop) == []


def test_duplicate_queue_names(shop: Path, edit: Edit) -> None:
    edit(shop, "    - name: crisis\n", "    - name: care\n")
    messages = _messages(shop)
    assert any("queue 'care' is defined twice" in m for m in messages)


def test_template_compile_error_points_into_the_template(shop: Path) -> None:
    template = shop.parent / "templates" / "handoff.md.j2"
    template.write_text("line one\n{% for x in items %}\n{{ x }\n", encoding="utf-8")
    [message] = _messages(shop)
    assert message.startswith(f"{template.resolve()}:3:1: template syntax error")
    assert f"used by handoff.template in {shop}:" in message


def test_template_unknown_filter_is_a_compile_error(shop: Path) -> None:
    template = shop.parent / "templates" / "handoff.md.j2"
    template.write_text("{{ customer.name | shout }}\n", encoding="utf-8")
    [message] = _messages(shop)
    assert ":1:1: template syntax error: No filter named 'shout'" in message


def test_missing_template_points_at_the_key(shop: Path, edit: Edit) -> None:
    edit(shop, "  template: templates/handoff.md.j2\n", "  template: templates/nope.j2\n")
    line = _line_of(shop, "  template: templates/nope.j2")
    [message] = _messages(shop)
    assert message.startswith(f"{shop}:{line}:13: handoff.template: template file not found")


def test_a_template_that_is_a_directory_is_named_as_one(shop: Path, edit: Edit) -> None:
    edit(shop, "  template: templates/handoff.md.j2\n", "  template: templates\n")
    line = _line_of(shop, "  template: templates")
    [message] = _messages(shop)
    assert message.startswith(f"{shop}:{line}:13: handoff.template: template ")
    assert message.endswith("templates is a directory; name the file in it")


def test_literal_secret_is_an_error(shop: Path, edit: Edit) -> None:
    edit(shop, "      token: ${WARMLINE_TOKEN_SP_OLU}\n", "      token: sk-123\n")
    line = _line_of(shop, "      token: sk-123")
    assert _messages(shop) == [
        f"{shop}:{line}:14: routing.specialists[2].token: secrets must be ${{ENV}} references "
        "such as '${WARMLINE_API_KEY}', not literal values"
    ]


def test_a_secret_inside_a_setting_mapping_is_an_error(shop: Path) -> None:
    with shop.open("a", encoding="utf-8") as config:
        config.write(
            "connectors:\n"
            "  - name: hook\n"
            "    type: webhook\n"
            "    settings:\n"
            "      url: https://hooks.example/warmline\n"
            '      headers: {X-Team: care, X-Api-Key: "${HOOK_KEY}"}\n'
            '    secrets: {signing_secret: "${HOOK_SECRET}"}\n'
        )
    line = _line_of(shop, '      headers: {X-Team: care, X-Api-Key: "${HOOK_KEY}"}')
    assert _messages(shop) == [
        f"{shop}:{line}:42: connectors[0].settings.headers.X-Api-Key: setting "
        "'headers.X-Api-Key' looks like a secret: secrets must be ${ENV} references under "
        "'secrets:', not plain settings"
    ]


def test_missing_secret_is_fine_at_validation_time(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WARMLINE_TOKEN_SP_OLU", raising=False)
    assert _messages(shop) == []


def test_secret_like_connector_setting_must_be_a_reference(shop: Path) -> None:
    with shop.open("a", encoding="utf-8") as handle:
        handle.write(
            "\nconnectors:\n  - name: desk\n    type: webhook\n    settings:\n"
            "      url: https://desk.example/hook\n      api_token: abc123\n"
        )
    line = _line_of(shop, "      api_token: abc123")
    [message] = _messages(shop)
    assert message.startswith(f"{shop}:{line}:18: connectors[0].settings.api_token: setting")
    assert "secrets must be ${ENV} references" in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"fuming\tanger\tlots\n", "extra.tsv:1: weight 'lots' is not a number"),
        (b"fuming\trage\t1.0\n", "extra.tsv:1: unknown emotion label 'rage'"),
        (b"w\xfctend\tanger\t1.0\n", "extra.tsv:1: byte 0xfc is not UTF-8"),
    ],
)
def test_a_lexicon_the_worker_would_refuse_fails_validation(
    shop: Path, edit: Edit, content: bytes, problem: str
) -> None:
    edit(shop, "    type: lexicon\n", "    type: lexicon\n    lexicon: extra.tsv\n")
    (shop.parent / "extra.tsv").write_bytes(content)
    line = _line_of(shop, "    lexicon: extra.tsv")
    [message] = _messages(shop)
    assert message.startswith(f"{shop}:{line}:14: triage.provider.lexicon: invalid lexicon: ")
    assert problem in message


@pytest.mark.parametrize(
    ("name", "known", "hint"),
    [
        ("capacty", ["id", "skills", "capacity"], "; did you mean 'capacity'?"),
        ("stpes", ["steps", "expect"], "; did you mean 'steps'?"),
        ("identifier", ["id", "skills"], "; expected one of: id, skills"),
        ("escalate", ["at", "message", "close"], "; expected one of: at, message, close"),
    ],
)
def test_a_suggestion_is_a_near_spelling_not_a_word_inside_the_key(
    name: str, known: list[str], hint: str
) -> None:
    assert suggest(name, known) == hint


def test_a_payload_template_under_settings_is_checked_by_validate(
    shop: Path, validate: Callable[..., Result]
) -> None:
    with shop.open("a", encoding="utf-8") as handle:
        handle.write(
            "\nconnectors:\n  - name: desk\n    type: webhook\n    settings:\n"
            "      url: https://desk.example/hook\n"
            "      payload_template: templates/desk.json.j2\n"
            "    secrets:\n      signing_secret: ${DESK_SECRET}\n"
        )
    line = _line_of(shop, "      payload_template: templates/desk.json.j2")
    template = shop.parent / "templates" / "desk.json.j2"
    missing = validate(shop)
    assert missing.exit_code == 2, missing.output
    expected = f"{shop}:{line}:25: connectors[0].settings.payload_template: payload template"
    assert f"{expected} file not found: {template}" in missing.stdout

    template.mkdir(parents=True)
    directory = validate(shop)
    assert directory.exit_code == 2, directory.output
    assert f"{expected} {template} is a directory; name the file in it" in directory.stdout
    template.rmdir()

    template.write_text('{"queue": {{ data.queue | tojson }\n', encoding="utf-8")
    broken = validate(shop)
    assert broken.exit_code == 2, broken.output
    assert f"{template}:1:1: template desk.json.j2: line 1: unexpected '}}'" in broken.stdout

    template.write_bytes(b'{"queue": "caf\xe9"}\n')
    unreadable = validate(shop)
    assert unreadable.exit_code == 2, unreadable.output
    assert f"cannot read payload template {template}" in unreadable.stdout

    template.write_text('{"queue": {{ data.queue | tojson }}}\n', encoding="utf-8")
    assert validate(shop).exit_code == 0


def test_unknown_taxonomy_label_in_label_map(shop: Path, edit: Edit) -> None:
    edit(
        shop,
        "    builtin: goemotions/ekman\n",
        "    builtin: goemotions/ekman\n  label_map:\n    angry: anger\n",
    )
    [message] = _messages(shop)
    assert "annotation.label_map.angry: unknown taxonomy label 'angry'; did you mean 'anger'?" in (
        message
    )


def test_label_map_target_outside_the_model_taxonomy(shop: Path, edit: Edit) -> None:
    edit(
        shop,
        "    builtin: goemotions/ekman\n",
        "    builtin: goemotions/ekman\n  label_map:\n    anger: rage\n",
    )
    line = _line_of(shop, "    anger: rage")
    assert _messages(shop) == [
        f"{shop}:{line}:12: annotation.label_map.anger: unknown 'ekman' model label 'rage'; "
        "known: anger, disgust, fear, joy, sadness, surprise, neutral"
    ]


def test_unmapped_custom_label_outside_the_model_taxonomy(shop: Path, edit: Edit) -> None:
    edit(
        shop,
        "    builtin: goemotions/ekman\n",
        "    name: shop-emotions\n    labels: [calm, angry]\n  label_map:\n    calm: neutral\n",
    )
    line = _line_of(shop, "    labels: [calm, angry]")
    assert _messages(shop) == [
        f"{shop}:{line}:20: annotation.taxonomy.labels[1]: unknown 'original' model label "
        "'angry' (not in label_map, so it is kept as is); did you mean 'anger'?"
    ]


def test_labels_are_checked_in_the_taxonomy_gold_labels_are_recorded_in(
    shop: Path, edit: Edit
) -> None:
    # Gold labels of the ekman annotation taxonomy are recorded in ekman whatever retraining
    # trains (the worker warns about that mismatch); their labels are all ekman labels.
    with_retraining(shop, edit)
    edit(shop, '    schedule: "0 3 * * 1"\n', '    schedule: "0 3 * * 1"\n    taxonomy: group\n')
    assert _messages(shop) == []


def test_retraining_triggers_without_a_registry_are_a_warning(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    with_retraining(shop, edit)
    line = _line_of(shop, '    schedule: "0 3 * * 1"')
    found = check_paths([shop])
    assert (found.errors, found.checked) == ([], 1)
    assert [w.render() for w in found.warnings] == [
        f"{shop}:{line}:15: warning: annotation.retraining.schedule: retraining is off without "
        "annotation.retraining.registry (the model registry directory rounds promote into), so "
        "schedule never starts a round"
    ]
    result = validate(shop)
    assert result.exit_code == 0
    assert result.stdout == found.warnings[0].render() + "\n"
    assert "1 file(s) valid, 1 warning(s)" in result.stderr


def test_retraining_with_a_registry_but_no_data_is_a_warning(shop: Path, edit: Edit) -> None:
    with_retraining(shop, edit)
    edit(shop, '    schedule: "0 3 * * 1"\n', '    schedule: "0 3 * * 1"\n    registry: models/\n')
    line = _line_of(shop, "    registry: models/")
    [warning] = check_paths([shop]).warnings
    assert warning.render().startswith(
        f"{shop}:{line}:15: warning: annotation.retraining.registry: retraining is off without "
        "dev_data"
    )
    edit(shop, "    registry: models/\n", "    registry: models/\n    dev_data: dev.tsv\n")
    assert check_paths([shop]).warnings == []


def test_no_retraining_section_is_no_warning(shop: Path) -> None:
    assert check_paths([shop]) == Validation(errors=[], warnings=[], checked=1)


def test_every_problem_is_reported_not_only_the_first(shop: Path, edit: Edit) -> None:
    edit(shop, "    offer_to: 2\n", "    offer_to: many\n")
    edit(shop, "    per_shift: 4h\n", "    per_shift: soon\n")
    edit(shop, "      capacity: 3\n", "      capacity: 0\n")
    assert len(_messages(shop)) == 3


def test_cli_prints_diagnostics_and_exits_2(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    edit(shop, "    offer_to: 2\n", "    ofer_to: 2\n")
    result = validate(shop)
    assert result.exit_code == 2
    assert "did you mean 'offer_to'?" in result.stdout
    assert "1 problem(s) in 1 file(s)" in result.stderr


def test_directory_walk_skips_scenarios_but_explicit_files_are_checked(
    tmp_path: Path, validate: Callable[..., Result]
) -> None:
    scenarios = tmp_path / "examples" / "scenarios"
    scenarios.mkdir(parents=True)
    scenario = scenarios / "crisis-night.yaml"
    scenario.write_text("conversations: []\n", encoding="utf-8")
    (tmp_path / "examples" / "notes.txt").write_text("not yaml", encoding="utf-8")
    # The scenario is skipped, which leaves the walk with no configuration at all: an error.
    [nothing], checked = validate_paths([tmp_path])
    assert (nothing.path, checked) == (tmp_path, 0)
    assert nothing.message.startswith("is a directory with no configuration file")
    diagnostics, checked = validate_paths([scenario])
    assert checked == 1
    assert diagnostics[0].message.startswith("missing apiVersion")
    assert validate(tmp_path).exit_code == 2
