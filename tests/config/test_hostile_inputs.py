"""Broken and hostile files end with exit code 2 and FILE:LINE:COL lines, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.config.conftest import Installed

CASES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", ":1:1: file is empty"),
    "whitespace-only": (b"\n  \n# just a comment\n", ":1:1: file is empty"),
    "not-yaml": (b"key: [unclosed\n  - x: {", ":2:6: invalid YAML"),
    "not-utf8": (b"apiVersion: warmline/v1\nname: caf\xe9\n", ":2:10: file is not valid UTF-8"),
    "tabs": (
        b"apiVersion: warmline/v1\nkind: WarmlineConfig\nmetadata:\n\tname: x\n",
        ":4:1: tab used for indentation",
    ),
    "duplicate-key": (
        b"apiVersion: warmline/v1\nkind: WarmlineConfig\napiVersion: warmline/v1\n",
        ":3:1: duplicate key 'apiVersion' (first defined at line 1, column 1)",
    ),
    "top-level-list": (b"- apiVersion: warmline/v1\n", ":1:1: the top level must be a mapping"),
    "top-level-scalar": (b"hello\n", ":1:1: the top level must be a mapping"),
    "unknown-api-version": (
        b"apiVersion: warmline/v9\nkind: WarmlineConfig\n",
        ":1:13: unsupported apiVersion 'warmline/v9'; supported: warmline/v1",
    ),
    "missing-api-version": (b"kind: WarmlineConfig\n", ":1:1: missing apiVersion"),
    "wrong-kind": (
        b"apiVersion: warmline/v1\nkind: Workflow\n",
        ":2:7: kind must be 'WarmlineConfig'",
    ),
    "a-scenario": (
        b"apiVersion: warmline/v1\nkind: Scenario\n",
        ":2:7: kind must be 'WarmlineConfig', found 'Scenario'; a scenario is run with "
        "`warmline simulate`",
    ),
    "multiple-documents": (
        b"apiVersion: warmline/v1\n---\napiVersion: warmline/v1\n",
        ":2:1: more than one YAML document",
    ),
    "control-character": (
        b"apiVersion: warmline/v1\nkind: x\x00y\n",
        ":2:8: control character U+0000",
    ),
    "huge-duration": (
        b"apiVersion: warmline/v1\nkind: WarmlineConfig\ntriage:\n  crisis:\n"
        b"    accept_within: 99999999999d\n",
        ":5:20: triage.crisis.accept_within: duration '99999999999d' is too long",
    ),
    "recursive-alias": (b"a: &a [*a]\n", ":1:8: alias *a refers to an anchor"),
    "deep-flow-sequences": (b"[" * 10_000 + b"]" * 10_000, ":1:65: nesting deeper than 64"),
    "deep-flow-mappings": (b"{a: " * 10_000 + b"}" * 10_000, ":1:257: nesting deeper than 64"),
    "deep-block-sequences": (b"- " * 10_000 + b"x\n", ":1:129: nesting deeper than 64"),
    "deep-block-mappings": (
        "".join(f"{'  ' * i}k{i}:\n" for i in range(200)).encode(),
        ":65:129: nesting deeper than 64",
    ),
}


def _alias_bomb() -> bytes:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        previous, current = chr(96 + level), chr(97 + level)
        lines.append(f"{current}: &{current} [{', '.join([f'*{previous}'] * 9)}]")
    return ("\n".join(lines) + "\n").encode()


def _assert_invalid(result: Result, path: Path, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert f"{path}{expected}" in result.stdout
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(("content", "expected"), CASES.values(), ids=CASES.keys())
def test_bad_file_exits_2_with_position(
    tmp_path: Path, validate: Callable[..., Result], content: bytes, expected: str
) -> None:
    path = tmp_path / "warmline.yaml"
    path.write_bytes(content)
    _assert_invalid(validate(path), path, expected)


def _line_of(path: Path, text: str) -> int:
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


def test_list_where_a_mapping_belongs(
    shop: Path, edit: Callable[[Path, str, str], Path], validate: Callable[..., Result]
) -> None:
    edit(shop, "    off_intense_at_budget: 0.8\n", "    - off_intense_at_budget: 0.8\n")
    edit(shop, "    cooldown: 45m\n", "    - cooldown: 45m\n")
    line = _line_of(shop, "    - off_intense_at_budget: 0.8")
    expected = f":{line}:5: wellness.rotation: expected a mapping, found a list"
    _assert_invalid(validate(shop), shop, expected)


def test_mapping_where_a_list_belongs(
    shop: Path, edit: Callable[[Path, str, str], Path], validate: Callable[..., Result]
) -> None:
    edit(shop, "      skills: [orders, returns]\n", "      skills: {orders: 1}\n")
    line = _line_of(shop, "      skills: {orders: 1}")
    expected = f":{line}:15: routing.specialists[1].skills: expected a list, found a mapping"
    _assert_invalid(validate(shop), shop, expected)


def test_file_over_the_size_limit_is_rejected_up_front(
    tmp_path: Path, validate: Callable[..., Result]
) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.write(b"apiVersion: warmline/v1\npadding: '")
        handle.write(b"x" * (50 * 1024 * 1024))
        handle.write(b"'\n")
    _assert_invalid(validate(path), path, ":1:1: file is 50.0 MiB; configuration files are limited")


def test_a_pipe_named_on_the_command_line_is_validated(
    tmp_path: Path, validate: Callable[..., Result]
) -> None:
    """`warmline validate <(envsubst < warmline.yaml.in)` checks what the pipe carries."""
    pipe = tmp_path / "generated.yaml"
    os.mkfifo(pipe)
    writer = threading.Thread(
        target=pipe.write_bytes, args=(b"kind: WarmlineConfig\n",), daemon=True
    )
    writer.start()
    result = validate(pipe)
    writer.join(timeout=10)
    _assert_invalid(result, pipe, ":1:1: missing apiVersion")
    assert "1 problem(s) in 1 file(s)" in result.stderr


def test_devices_are_read_and_bounded_not_skipped(validate: Callable[..., Result]) -> None:
    _assert_invalid(validate("/dev/null"), Path("/dev/null"), ":1:1: file is empty")
    _assert_invalid(validate("/dev/zero"), Path("/dev/zero"), ":1:1: file is over 5 MiB, the limit")


def test_missing_path(tmp_path: Path, validate: Callable[..., Result]) -> None:
    missing = tmp_path / "nope.yaml"
    _assert_invalid(validate(missing), missing, ":1:1: no such file or directory")


def test_alias_bomb_is_refused_quickly_by_the_real_command(
    tmp_path: Path, installed: Installed
) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_bytes(_alias_bomb())
    # A generous timeout: the point is that it returns at all instead of expanding 9**10 nodes.
    completed = installed("validate", path, timeout=20)
    assert completed.returncode == 2
    assert f"{path}:6:" in completed.stdout
    assert "alias bomb" in completed.stdout
    assert "Traceback" not in completed.stderr


def test_alias_bomb_screen_alone_is_fast(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_bytes(_alias_bomb())
    code = (
        "import sys; from pathlib import Path; from warmline.config.yamlsource import "
        "load_document, YamlSourceError\n"
        "try:\n    load_document(Path(sys.argv[1]))\nexcept YamlSourceError as e:\n"
        "    print(e.line, e.message)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=5,
        check=True,
    )
    assert "alias bomb" in completed.stdout


def test_every_bad_case_in_one_subprocess_run(tmp_path: Path, installed: Installed) -> None:
    for name, (content, _) in CASES.items():
        (tmp_path / f"{name}.yaml").write_bytes(content)
    completed = installed("validate", tmp_path)
    assert completed.returncode == 2
    assert "Traceback" not in completed.stdout + completed.stderr
    for name, (_, expected) in CASES.items():
        assert f"{tmp_path / name}.yaml{expected}" in completed.stdout
    assert f"in {len(CASES)} file(s)" in completed.stderr
