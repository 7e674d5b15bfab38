"""Semantic diagnostics: unknown keys with suggestions, cross-references, templates, secrets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from connectors.sdk.check import check_connectors
from tests.config.conftest import ROOT
from tests.worker_process import secret_names
from warmline.config.loader import (
    Validation,
    check_paths,
    load_config,
    suggest,
    validate_paths,
)
from warmline.errors import ConfigError

Edit = Callable[[Path, str, str], Path]


def _messages(path: Path) -> list[str]:
    diagnostics, _ = validate_paths([path])
    return [d.render() for d in diagnostics]


def _line_of(path: Path, text: str, occurrence: int = 1) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [n for n, line in enumerate(lines, 1) if line == text][occurrence - 1]


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


def test_retries_the_provider_would_refuse_are_refused_by_validate(shop: Path, edit: Edit) -> None:
    """The worker builds `LLMSettings` from the file: the bound must be the same in both."""
    edit(
        shop,
        "  provider:\n    type: lexicon\n",
        "  provider:\n    type: llm\n    base_url: https://x.example/v1\n    model: m\n"
        "    max_retries: 6\n",
    )
    line = _line_of(shop, "    max_retries: 6")
    assert _messages(shop) == [
        f"{shop}:{line}:18: triage.provider.max_retries: Input should be less than or equal to 5"
    ]
    edit(shop, "    max_retries: 6\n", "    max_retries: 5\n")
    assert _messages(shop) == []


@pytest.mark.parametrize(
    ("base_url", "problem"),
    [
        ("https://llm.example:8443:/v1", "is not a valid URL: Invalid port: '8443:'"),
        ("https://:8443/v1", "has no host"),
        ("https://llm.example:70000/v1", "has port 70000; a port is 1 to 65535"),
        ("https://llm.example/v1?version=2", "has a query or fragment"),
    ],
)
def test_a_base_url_no_request_could_use_is_refused_at_its_position(
    shop: Path, edit: Edit, base_url: str, problem: str
) -> None:
    edit(
        shop,
        "  provider:\n    type: lexicon\n",
        f"  provider:\n    type: llm\n    base_url: {base_url}\n    model: m\n",
    )
    line = _line_of(shop, f"    base_url: {base_url}")
    [message] = _messages(shop)
    assert message.startswith(
        f"{shop}:{line}:15: triage.provider.base_url: base_url {base_url!r} {problem}"
    )


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


def test_crisis_flags_are_risk_flags_that_make_a_crisis(shop: Path, edit: Edit) -> None:
    edit(
        shop, "    offer_to: 2\n", "    offer_to: 2\n    flags: [self_harm, self_harmm, hostile]\n"
    )
    line = _line_of(shop, "    flags: [self_harm, self_harmm, hostile]")
    messages = _messages(shop)
    assert [m.split(": ")[0] for m in messages] == [f"{shop}:{line}:24", f"{shop}:{line}:36"]
    assert all("triage.crisis.flags" in m and "'medical_emergency'" in m for m in messages)
    edit(shop, "    flags: [self_harm, self_harmm, hostile]\n", "    flags: [self_harm]\n")
    assert _messages(shop) == []
    assert load_config(shop, resolve_secrets=False).triage.crisis.flags == ["self_harm"]


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


def test_a_token_two_people_share_is_an_error(shop: Path, edit: Edit) -> None:
    edit(
        shop,
        "      token: ${WARMLINE_TOKEN_SUP_AMARA}\n",
        "      token: ${WARMLINE_TOKEN_SP_OLU}\n",
    )
    line = _line_of(shop, "      token: ${WARMLINE_TOKEN_SP_OLU}", occurrence=2)
    assert _messages(shop) == [
        f"{shop}:{line}:14: routing.supervisors[0].token: sup-amara's token is sp-olu's too: "
        "every person needs a token of their own, or one could act as the other"
    ]


def test_two_token_variables_with_one_value_are_an_error_at_start_up(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A specialist's token given to a wellness lead too let the specialist read check-in notes."""
    for name in secret_names(shop):
        monkeypatch.setenv(name, f"token-of-{name}")
    monkeypatch.setenv("WARMLINE_TOKEN_SUP_AMARA", "token-of-WARMLINE_TOKEN_SP_OLU")
    with pytest.raises(ConfigError) as raised:
        load_config(shop)
    [problem] = [d.render() for d in raised.value.diagnostics]
    assert problem.endswith(
        "routing.supervisors[0].token: sup-amara's token is sp-olu's too: every person needs a "
        "token of their own, or one could act as the other"
    )
    assert "token-of" not in problem, "the secret itself is never shown"


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
    (shop.parent / "dev.tsv").write_text("text\tlabels\tid\n", encoding="utf-8")
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


def _at(path: Path, line_text: str, value: str) -> str:
    """`FILE:LINE:COL` of `value` on the (unique) line `line_text`."""
    return f"{path}:{_line_of(path, line_text)}:{line_text.index(value) + 1}"


@pytest.mark.parametrize(
    ("old", "new", "where", "minimum"),
    [
        ("    shift_length: 8h", "    shift_length: 0s", "wellness.budget.shift_length", "1m"),
        ("    per_shift: 4h", "    per_shift: 0s", "wellness.budget.per_shift", "1s"),
        ("    cadence: 2h", "    cadence: 0s", "wellness.checkins.cadence", "10s"),
        ("    duration: 10m", "    duration: 0s", "wellness.breaks.duration", "1s"),
        (
            "    after_intense: 1h30m",
            "    after_intense: 0s",
            "wellness.breaks.after_intense",
            "1s",
        ),
        ("    cooldown: 45m", "    cooldown: 0s", "wellness.rotation.cooldown", "1s"),
        ("    accept_within: 45s", "    accept_within: 0s", "triage.crisis.accept_within", "1s"),
        (
            "      accept_within: 5m",
            "      accept_within: 0s",
            "routing.queues[0].accept_within",
            "1s",
        ),
        (
            "  inactivity_timeout: 48h",
            "  inactivity_timeout: 0s",
            "routing.inactivity_timeout",
            "1m",
        ),
    ],
    ids=lambda value: str(value).strip(),
)
def test_a_duration_that_must_be_positive_refuses_0s(
    shop: Path, edit: Edit, old: str, new: str, where: str, minimum: str
) -> None:
    edit(shop, f"{old}\n", f"{new}\n")
    assert _messages(shop) == [
        f"{_at(shop, new, '0s')}: {where}: must be at least {minimum} (got 0s)"
    ]


def test_a_checkin_cadence_below_its_floor_names_value_and_minimum(shop: Path, edit: Edit) -> None:
    edit(shop, "    cadence: 2h\n", "    cadence: 500ms\n")
    assert _messages(shop) == [
        f"{_at(shop, '    cadence: 500ms', '500ms')}: wellness.checkins.cadence: must be at least "
        "10s (got 500ms)"
    ]
    edit(shop, "    cadence: 500ms\n", "    cadence: 10s\n")
    assert _messages(shop) == []


def test_the_retraining_check_interval_must_be_at_least_a_minute(shop: Path, edit: Edit) -> None:
    with_retraining(shop, edit)
    edit(
        shop, "    promotion_margin: 0.01\n", "    promotion_margin: 0.01\n    check_interval: 0s\n"
    )
    assert _messages(shop) == [
        f"{_at(shop, '    check_interval: 0s', '0s')}: annotation.retraining.check_interval: "
        "must be at least 1m (got 0s)"
    ]


def test_0s_stays_valid_where_it_means_none(shop: Path, edit: Edit) -> None:
    edit(shop, "    after_crisis: 15m\n", "    after_crisis: 0s\n")
    edit(shop, "    accept_within: 45s\n", "    accept_within: 45s\n    widen_after: 0s\n")
    assert _messages(shop) == []


def test_the_demo_configuration_fits_the_duration_floors() -> None:
    # The demo scales a shift down to two minutes (check-ins every 20s, breaks of 3s).
    assert _messages(ROOT / "warmline" / "demo" / "demo.yaml") == []


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("0 25 * * *", "hour 25 is out of range 0-23"),
        ("99 * * * *", "minute 99 is out of range 0-59"),
        (
            "0 3 * * MON-SUNDAY",
            "day of week 'MON-SUNDAY': the range 'MON-SUNDAY' ends before it starts",
        ),
        (
            "0 3 * * 1/0",
            "day of week '1/0': the step after '/' in '1/0' must be a whole number >= 1",
        ),
        (
            "0 3 * *",
            "schedule must be a five-field cron expression (minute hour day-of-month month "
            "day-of-week, e.g. '0 3 * * 1'); '0 3 * *' has 4 field(s)",
        ),
    ],
)
def test_a_cron_schedule_temporal_would_refuse_is_reported_at_the_schedule(
    shop: Path, edit: Edit, schedule: str, message: str
) -> None:
    with_retraining(shop, edit)
    edit(shop, '    schedule: "0 3 * * 1"\n', f'    schedule: "{schedule}"\n')
    line = f'    schedule: "{schedule}"'
    assert _messages(shop) == [
        f"{_at(shop, line, chr(34))}: annotation.retraining.schedule: {message}"
    ]


def test_an_unknown_time_zone_is_refused(shop: Path, edit: Edit) -> None:
    edit(shop, "    timezone: Europe/Berlin\n", "    timezone: Mars/Olympus\n")
    edit(shop, "    timezone: Europe/London\n", "    timezone: Europe/Londn\n")
    assert _messages(shop) == [
        f"{_at(shop, '    timezone: Europe/Londn', 'Europe')}: tenants[0].timezone: unknown IANA "
        "time zone 'Europe/Londn'; did you mean 'Europe/London'?",
        f"{_at(shop, '    timezone: Mars/Olympus', 'Mars')}: tenants[1].timezone: unknown IANA "
        "time zone 'Mars/Olympus'; e.g. Europe/London, America/New_York, UTC",
    ]


def test_a_duplicate_connector_is_reported_at_the_second_name(shop: Path) -> None:
    with shop.open("a", encoding="utf-8") as handle:
        handle.write(
            "\nconnectors:\n"
            "  - name: crm\n    type: webhook\n    settings: {url: https://a.example/h}\n"
            "  - name: crm\n    type: webhook\n    settings: {url: https://b.example/h}\n"
        )
    text = shop.read_text(encoding="utf-8").splitlines()
    first, second = [i + 1 for i, line in enumerate(text) if line == "  - name: crm"]
    assert _messages(shop) == [
        f"{shop}:{second}:11: connectors[1].name: connector 'crm' is defined twice "
        f"(first at line {first})"
    ]


@pytest.mark.parametrize(
    ("old", "new", "where", "what"),
    [
        ("  - id: fernhill-goods-de\n", "  - id: fernhill-goods\n", "tenants[1].id", "tenant"),
        ("    - id: sp-priya\n", "    - id: sp-jonas\n", "routing.specialists[1].id", "specialist"),
        ("    - name: crisis\n", "    - name: orders\n", "routing.queues[2].name", "queue"),
        (
            "    - name: bereavement\n",
            "    - name: sustained-distress\n",
            "triage.rules[1].name",
            "rule",
        ),
        ("    - id: an-mo\n", "    - id: an-lea\n", "annotation.annotators[2].id", "annotator"),
    ],
    ids=lambda value: str(value).strip(),
)
def test_a_name_defined_twice_is_reported_at_the_second(
    shop: Path, edit: Edit, old: str, new: str, where: str, what: str
) -> None:
    first_text = new.rstrip("\n")
    first = _line_of(shop, first_text)
    edit(shop, old, new)
    name = first_text.split(": ")[1]
    lines = shop.read_text(encoding="utf-8").splitlines()
    second = [i + 1 for i, line in enumerate(lines) if line == first_text][1]
    column = first_text.index(name) + 1
    assert _messages(shop) == [
        f"{shop}:{second}:{column}: {where}: {what} {name!r} is defined twice "
        f"(first at line {first})"
    ]


def test_a_label_given_twice_is_reported_at_the_second(shop: Path, edit: Edit) -> None:
    edit(shop, "    builtin: goemotions/ekman\n", "    name: shop\n    labels: [joy, fear, joy]\n")
    line = "    labels: [joy, fear, joy]"
    assert _messages(shop) == [
        f"{_at(shop, line, 'joy]')}: annotation.taxonomy.labels[2]: label 'joy' is defined twice "
        f"(first at line {_line_of(shop, line)})"
    ]


def test_an_unknown_connector_setting_suggests_the_connector_s_own_key(shop: Path) -> None:
    with shop.open("a", encoding="utf-8") as handle:
        handle.write(
            "\nconnectors:\n  - name: crm\n    type: hubspot\n    settings:\n      pipelin: x\n"
            '    secrets: {access_token: "${HUBSPOT_TOKEN}"}\n'
        )
    # As `warmline validate` checks a connector's settings: with its own model, after the file.
    found = check_connectors(shop, load_config(shop, resolve_secrets=False))
    assert [d.render() for d in found] == [
        f"{_at(shop, '      pipelin: x', 'pipelin')}: connectors[0].settings: unknown key "
        "'pipelin'; did you mean 'pipeline'?"
    ]


def test_crisis_helplines_without_a_default_are_a_warning(shop: Path, edit: Edit) -> None:
    edit(
        shop,
        "      default:\n        - name: Find A Helpline\n          url: https://findahelpline.com\n"
        "          hours: 24/7\n",
        "",
    )
    found = check_paths([shop])
    assert found.errors == []
    assert [w.render() for w in found.warnings] == [
        f"{_at(shop, '      GB:', 'GB')}: warning: triage.crisis.referrals: no 'default' "
        "helplines: a customer in crisis from a country not listed (DE, GB) gets none when nobody "
        "accepts in time; add `default:` (e.g. an international directory of helplines)"
    ]


def test_retraining_data_not_there_yet_is_a_warning(shop: Path, edit: Edit) -> None:
    with_retraining(shop, edit)
    edit(
        shop,
        "    promotion_margin: 0.01\n",
        "    registry: models/\n    base_data: data/train.tsv\n",
    )
    found = check_paths([shop])
    assert found.errors == []
    assert [w.render() for w in found.warnings] == [
        f"{_at(shop, '    base_data: data/train.tsv', 'data/')}: warning: "
        "annotation.retraining.base_data: base_data file not found: "
        f"{shop.parent / 'data' / 'train.tsv'}; retraining rounds fail until it is there"
    ]
    (shop.parent / "data").mkdir()
    (shop.parent / "data" / "train.tsv").write_text("text\tlabels\tid\n", encoding="utf-8")
    (shop.parent / "data" / "dev.tsv").write_text("text\tlabels\tid\n", encoding="utf-8")
    assert check_paths([shop]) == Validation(errors=[], warnings=[], checked=1)


def test_retraining_paths_of_the_wrong_kind_are_errors(shop: Path, edit: Edit) -> None:
    with_retraining(shop, edit)
    edit(
        shop,
        "    promotion_margin: 0.01\n",
        "    registry: warmline.yaml\n    base_data: templates\n",
    )
    edit(shop, "    type: lexicon\n", "    type: local\n    model_path: warmline.yaml\n")
    assert _messages(shop) == [
        f"{_at(shop, '    model_path: warmline.yaml', 'warmline')}: triage.provider.model_path: "
        f"model_path {shop} is a file; name a directory (it may not exist yet)",
        f"{_at(shop, '    registry: warmline.yaml', 'warmline')}: annotation.retraining.registry: "
        f"model registry {shop} is a file; name a directory (it may not exist yet)",
        f"{_at(shop, '    base_data: templates', 'templates')}: annotation.retraining.base_data: "
        f"base_data {shop.parent / 'templates'} is a directory; name the file in it",
    ]


def test_a_local_model_path_that_does_not_exist_yet_is_fine(shop: Path, edit: Edit) -> None:
    edit(shop, "    type: lexicon\n", "    type: local\n    model_path: models/\n")
    assert _messages(shop) == []
