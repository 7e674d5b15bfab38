"""Every shipped example validates, loads with its secrets from the environment, and agrees with
the committed schema file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.config.conftest import EXAMPLE_FILES, EXAMPLES, ROOT, Installed
from warmline.config.expressions import EvaluationContext
from warmline.config.loader import check_paths, load_config, validate_paths
from warmline.config.model import WarmlineConfig, json_schema
from warmline.errors import ConfigError
from warmline.retraining.settings import retraining_settings


def _env_for(path: Path) -> dict[str, str]:
    names = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", path.read_text(encoding="utf-8"))
    return {name: f"value-of-{name.lower()}" for name in names}


def test_there_are_at_least_three_examples() -> None:
    names = {path.parent.name for path in EXAMPLE_FILES}
    assert {"online-shop", "peer-support", "insurer-claims"} <= names


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.parent.name)
def test_example_validates(path: Path) -> None:
    diagnostics, checked = validate_paths([path])
    assert [d.render() for d in diagnostics] == []
    assert checked == 1


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.parent.name)
def test_example_loads_with_secrets_resolved(path: Path) -> None:
    env = _env_for(path)
    config = load_config(path, env=env)
    assert isinstance(config, WarmlineConfig)
    assert config.handoff.template.is_absolute()
    assert config.handoff.template.is_file()
    for specialist in config.routing.specialists:
        assert specialist.token.reveal() == env[specialist.token.name]
    assert all(isinstance(q.accept_within, timedelta) for q in config.routing.queues)
    assert all(rule.when.root is not None for rule in config.triage.rules)


def test_loaded_config_is_frozen() -> None:
    path = EXAMPLES / "online-shop" / "warmline.yaml"
    config = load_config(path, env=_env_for(path))
    with pytest.raises(ValueError, match="frozen"):
        config.routing.queues[0].priority = 1  # type: ignore[misc]  # frozen on purpose


def test_dumping_never_writes_a_secret_value() -> None:
    path = EXAMPLES / "insurer-claims" / "warmline.yaml"
    env = _env_for(path)
    dumped = json.dumps(load_config(path, env=env).model_dump(mode="json", by_alias=True))
    assert not any(value in dumped for value in env.values())
    assert "${HARBOUR_HUBSPOT_TOKEN}" in dumped


def test_missing_secret_at_load_time_names_the_variable() -> None:
    path = EXAMPLES / "insurer-claims" / "warmline.yaml"
    env = _env_for(path)
    del env["HARBOUR_HUBSPOT_TOKEN"]
    with pytest.raises(ConfigError) as raised:
        load_config(path, env=env)
    [diagnostic] = raised.value.diagnostics
    assert "environment variable HARBOUR_HUBSPOT_TOKEN is not set" in diagnostic.message
    assert diagnostic.line > 1


def test_the_feedback_loop_example_turns_retraining_on() -> None:
    path = EXAMPLES / "peer-support" / "warmline.yaml"
    # GoEmotions is not shipped beside the example (it is put, or linked, there at deployment):
    # until it is, validate warns of the missing file, never that retraining is off.
    base_data = path.parent / "data" / "goemotions" / "original" / "train.tsv"
    missing = [] if base_data.is_file() else [f"base_data file not found: {base_data}"]
    warnings = [w.message.split("; ")[0] for w in check_paths([path]).warnings]
    assert warnings == [f"annotation.retraining.base_data: {m}" for m in missing]
    settings = retraining_settings(load_config(path, resolve_secrets=False))
    assert settings.registry == path.parent / "models"
    assert settings.dev_data == path.parent / "data" / "goemotions" / "original" / "dev.tsv"


def test_validate_examples_directory_with_the_installed_command(installed: Installed) -> None:
    completed = installed("validate", "examples/", cwd=ROOT)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"{len(EXAMPLE_FILES)} file(s) valid" in completed.stderr


def test_committed_schema_file_is_current() -> None:
    committed = json.loads((EXAMPLES / "warmline.schema.json").read_text(encoding="utf-8"))
    assert committed == json_schema(), "regenerate: warmline schema > examples/warmline.schema.json"


def _patterned_defaults(node: object) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str) and isinstance(node.get("default"), str):
            yield node["pattern"], node["default"]
        for child in node.values():
            yield from _patterned_defaults(child)
    elif isinstance(node, list):
        for child in node:
            yield from _patterned_defaults(child)


def test_schema_defaults_are_written_as_a_file_would_write_them() -> None:
    """An editor that fills in a default must not produce a file that fails validation."""
    defaults = list(_patterned_defaults(json_schema()))
    assert len(defaults) >= 10, "the durations' defaults are in the schema"
    assert [d for p, d in defaults if not re.fullmatch(p, d)] == []
    assert {"4h", "15m", "0s"} <= {d for _, d in defaults}


def test_every_key_in_the_schema_is_described() -> None:
    """Editors show the description on hover; a duration's generic text says nothing of the key."""
    schema = json_schema()
    models = [schema, *schema["$defs"].values()]
    undescribed = [
        f"{model.get('title')}.{key}"
        for model in models
        for key, field in model.get("properties", {}).items()
        if not field.get("description", "").strip()
        or field["description"].startswith("A duration:")
    ]
    assert undescribed == []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.parent.name)
def test_example_points_editors_at_the_schema(path: Path) -> None:
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=../warmline.schema.json"


def test_load_config_of_a_missing_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or directory") as raised:
        load_config(tmp_path / "absent.yaml")
    assert raised.value.diagnostics[0].line == 1


def test_load_config_of_a_directory_says_it_is_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory; name the YAML file in it") as raised:
        load_config(tmp_path)
    assert raised.value.diagnostics[0].path == tmp_path


def test_validate_of_a_directory_without_configurations_fails_with_the_command(
    tmp_path: Path, installed: Installed
) -> None:
    # A CI check pointed at a mistyped or emptied directory must not pass having read nothing;
    # a directory of scenarios alone holds no configuration either.
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "crisis.yaml").write_text("name: x\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a configuration\n", encoding="utf-8")
    completed = installed("validate", tmp_path)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert completed.stdout == (
        f"{tmp_path}:1:1: is a directory with no configuration file (*.yaml, *.yml) in it\n"
    )
    assert "Traceback" not in completed.stderr


def test_schema_to_a_full_disk_is_one_line_and_exit_1(installed: Installed) -> None:
    with Path("/dev/full").open("w", encoding="utf-8") as full:
        completed = installed("schema", stdout=full)
    assert completed.returncode == 1
    assert completed.stderr == "error: cannot write the output: No space left on device\n"


def test_loaded_rules_evaluate_against_a_conversation() -> None:
    path = EXAMPLES / "online-shop" / "warmline.yaml"
    rule = load_config(path, env=_env_for(path)).triage.rules[0]
    assert rule.when.window == 2
    assert rule.when.evaluate(EvaluationContext([{"distress": 0.8}, {"distress": 0.9}]))
    assert not rule.when.evaluate(EvaluationContext([{"distress": 0.2}, {"distress": 0.9}]))
