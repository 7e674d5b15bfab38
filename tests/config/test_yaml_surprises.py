"""YAML that parses but does not say what it seems to, and files that are not what they seem:
each is a FILE:LINE:COL error naming what to write instead, never a wrong line, a warning in
ruamel's words or a process that runs out of memory."""

from __future__ import annotations

import os
import resource
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.config.conftest import Installed
from tests.worker_process import WARMLINE, dummy_secrets

Edit = Callable[[Path, str, str], Path]

MEMORY_LIMIT = 1024 * 1024 * 1024
"""Address space for a `warmline validate` that must refuse a bomb before expanding it: the
command itself needs a fraction of this, an expanded bomb many times more."""


def _line_of(path: Path, text: str, occurrence: int = 1) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [number for number, line in enumerate(lines, start=1) if line == text]
    return found[occurrence - 1]


def _refused(result: Result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert expected in result.stdout, result.stdout
    assert "Traceback" not in result.output


def _nested_list_bomb() -> bytes:
    """Anchors each under 200,000 nodes, each defined inside a list of its own, then a list of
    two thousand one-item lists that each repeat the largest: about 400 million nodes, though
    no single list holds a scalar or an alias of more than 200,000."""
    lines = ["- - &a [x, x, x, x, x, x, x, x, x]"]
    previous = "a"
    for name in "bcde":
        lines.append(f"- - &{name} [{', '.join([f'*{previous}'] * 9)}]")
        previous = name
    lines.append("- - &f [*e, *e, *e]")
    lines.append("- [" + ", ".join(["[*f]"] * 2000) + "]")
    return ("\n".join(lines) + "\n").encode()


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def test_an_alias_bomb_of_nested_lists_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_bytes(_nested_list_bomb())
    completed = subprocess.run(
        [str(WARMLINE), "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=_limit_memory,
    )
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert f"{path}:6:13: document expands to more than 200000 nodes (alias bomb?)" in (
        completed.stdout
    )
    assert "Traceback" not in completed.stderr


def test_a_duplicate_key_names_where_the_first_one_is(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    """ruamel marks the mapping's start; the first `capacity` is three lines below it."""
    edit(shop, "      capacity: 2\n", "      capacity: 2\n      capacity: 7\n")
    first = _line_of(shop, "      capacity: 2")
    second = _line_of(shop, "      capacity: 7")
    expected = (
        f"{shop}:{second}:7: duplicate key 'capacity' (first defined at line {first}, column 7)"
    )
    _refused(validate(shop), expected)


def test_a_duplicate_key_in_a_flow_mapping_names_the_first_one(
    tmp_path: Path, validate: Callable[..., Result]
) -> None:
    path = tmp_path / "warmline.yaml"
    path.write_text(
        "apiVersion: warmline/v1\nkind: WarmlineConfig\n"
        'metadata: {name: a, description: b, "name": c}\n',
        encoding="utf-8",
    )
    _refused(
        validate(path), f"{path}:3:37: duplicate key 'name' (first defined at line 3, column 12)"
    )


def test_an_anchor_defined_twice_is_refused_at_the_second(
    shop: Path, edit: Edit, installed: Installed
) -> None:
    """YAML lets the second `&care` silently replace the first for every alias after it."""
    edit(shop, "      skills: [care, orders]\n", "      skills: &care [care, orders]\n")
    edit(
        shop,
        "      skills: [care]\n      priority: 70\n",
        "      skills: &care [care]\n      priority: 70\n",
    )
    first = _line_of(shop, "      skills: &care [care, orders]")
    second = _line_of(shop, "      skills: &care [care]")
    completed = installed("validate", shop)
    assert completed.returncode == 2
    assert (
        f"{shop}:{second}:15: anchor &care is defined again (first at line {first}); give each "
        "anchor a name of its own"
    ) in completed.stdout
    assert completed.stderr == "1 problem(s) in 1 file(s)\n"


def test_a_yaml_1_1_file_is_read_without_ruamel_s_warnings(
    shop: Path, edit: Edit, installed: Installed
) -> None:
    """Under `%YAML 1.1`, `5e-1` is still the float 0.5: nothing for the user to fix."""
    edit(shop, "apiVersion: warmline/v1\n", "%YAML 1.1\n---\napiVersion: warmline/v1\n")
    edit(shop, "calm: 0.5", "calm: 5e-1")
    completed = installed("validate", shop)
    assert completed.returncode == 0, completed.stdout
    assert completed.stderr == "1 file(s) valid\n"


@pytest.mark.parametrize(
    ("old", "new", "where", "found"),
    [
        pytest.param(
            'phone: "116 123"',
            "phone: 116123",
            "triage.crisis.referrals.GB[0].phone",
            "a number (116123)",
            id="phone-number",
        ),
        pytest.param(
            "name: online-shop", "name: 2024", "metadata.name", "a number (2024)", id="name"
        ),
        pytest.param(
            "languages: [en, de]",
            "languages: [en, true]",
            "routing.specialists[0].languages[1]",
            "a boolean (true)",
            id="boolean",
        ),
    ],
)
def test_a_string_yaml_reads_as_another_type_says_to_quote_it(
    shop: Path,
    edit: Edit,
    validate: Callable[..., Result],
    old: str,
    new: str,
    where: str,
    found: str,
) -> None:
    edit(shop, old, new)
    [line] = [
        number
        for number, text in enumerate(shop.read_text(encoding="utf-8").splitlines(), start=1)
        if text.endswith(new)
    ]
    result = validate(shop)
    _refused(
        result,
        f"{shop}:{line}:",
    )
    assert (
        f"{where}: expected a string, but YAML reads this value as {found}; put it in quotes to "
        "keep it as written"
    ) in result.stdout


def test_a_yaml_1_1_no_as_a_language_says_to_quote_it(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    """Norwegian's code is `no`, a boolean in YAML 1.1 (1.2, the default, keeps it a string)."""
    edit(shop, "apiVersion: warmline/v1\n", "%YAML 1.1\n---\napiVersion: warmline/v1\n")
    edit(shop, "      languages: [en, de]", "      languages: [en, no]")
    line = _line_of(shop, "      languages: [en, no]")
    _refused(
        validate(shop),
        f"{shop}:{line}:23: routing.specialists[0].languages[1]: expected a string, but YAML reads "
        "this value as a boolean (false); put it in quotes to keep it as written",
    )


def test_a_utf_16_file_is_named_as_one(tmp_path: Path, validate: Callable[..., Result]) -> None:
    path = tmp_path / "warmline.yaml"
    path.write_text("apiVersion: warmline/v1\nkind: WarmlineConfig\n", encoding="utf-16")
    _refused(
        validate(path),
        f"{path}:1:1: file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8",
    )


def test_symbolic_links_that_lead_nowhere_are_named_as_such(
    tmp_path: Path, validate: Callable[..., Result]
) -> None:
    loop, back = tmp_path / "loop.yaml", tmp_path / "back.yaml"
    loop.symlink_to(back)
    back.symlink_to(loop)
    dangling = tmp_path / "warmline.yaml"
    dangling.symlink_to("warmline.yaml.dist")
    result = validate(loop, dangling)
    _refused(result, f"{loop}:1:1: is a symbolic link loop (too many levels of symbolic links)")
    assert (
        f"{dangling}:1:1: is a symbolic link to 'warmline.yaml.dist', which does not exist"
    ) in result.stdout


def test_an_infinite_exposure_weight_is_refused(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    """0 minutes at weight `.inf` is NaN exposure, which is never over any budget."""
    edit(shop, "calm: 0.5", "calm: .inf")
    line = _line_of(
        shop, "    weights: {calm: .inf, elevated: 1.0, high: 2.0, crisis: 3.0, hostile: 1.5}"
    )
    _refused(
        validate(shop),
        f"{shop}:{line}:21: wellness.exposure.weights.calm: Input should be a finite number",
    )


def test_an_empty_secret_variable_is_refused_naming_it_not_its_value(tmp_path: Path) -> None:
    """`warmline worker` reads the secrets: an empty token would lock sp-jonas out unnoticed."""
    shop = Path(__file__).resolve().parents[2] / "examples" / "online-shop" / "warmline.yaml"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("WARMLINE_")}
    secrets = {**dummy_secrets(shop), "WARMLINE_TOKEN_SP_JONAS": "  "}
    completed = subprocess.run(
        [str(WARMLINE), "worker", "--config", str(shop), "--temporal", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**inherited, **secrets},
        cwd=tmp_path,
    )
    line = _line_of(shop, "      token: ${WARMLINE_TOKEN_SP_JONAS}")
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr == (
        f"{shop}:{line}:14: routing.specialists[0].token: environment variable "
        "WARMLINE_TOKEN_SP_JONAS is set but empty; give it the secret's value\n"
    )


@pytest.mark.parametrize(
    ("old", "new", "column", "tag"),
    [
        pytest.param("  name: online-shop", "  name: !env shop_name", 9, "!env", id="env-name"),
        pytest.param(
            "      skills: [care, orders]",
            "      skills: !include skills.yaml",
            15,
            "!include",
            id="include",
        ),
        pytest.param(
            "    locale: en-GB", "    locale: !!binary ZW4tR0I=", 13, "!!binary", id="binary"
        ),
    ],
)
def test_a_tag_is_refused_not_dropped(
    shop: Path,
    edit: Edit,
    validate: Callable[..., Result],
    old: str,
    new: str,
    column: int,
    tag: str,
) -> None:
    """ruamel kept only the text after an unknown tag: `name: !env shop_name` named the
    deployment "shop_name" and passed validation."""
    edit(shop, old, new)
    line = _line_of(shop, new)
    _refused(
        validate(shop),
        f"{shop}:{line}:{column}: tag {tag} is not supported: values are plain YAML, read as "
        "written (a secret is written '${NAME}', the name of an environment variable)",
    )


def test_tags_that_only_name_a_plain_type_are_read(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    edit(shop, "      capacity: 2\n", "      capacity: !!int 2\n")
    edit(shop, '          phone: "116 123"', "          phone: !!str 116123")
    result = validate(shop)
    assert result.exit_code == 0, result.output


def test_a_key_with_no_value_is_reported_at_its_own_line(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    """ruamel marks an empty value at the next token: the key after the comment below, or past
    the end of the file for the last key."""
    edit(shop, "  satisfaction_survey: true\n", "  satisfaction_survey:\n\n# scored 1-5\n\n")
    edit(shop, "  min_group_size: 3\n", "  min_group_size:\n")
    survey = _line_of(shop, "  satisfaction_survey:")
    group = _line_of(shop, "  min_group_size:")
    result = validate(shop)
    _refused(
        result,
        f"{shop}:{survey}:3: handoff.satisfaction_survey: expected true or false, found no value",
    )
    assert (
        f"{shop}:{group}:3: wellness.min_group_size: expected a whole number, found no value"
    ) in result.stdout
