"""Errors inside the triage provider point at the value and name it as written, for the lexicon
provider too, whose `lexicon` file setting has the name of its `type`: pydantic puts the union's
tag in an error's location, and there it reads as a key of the data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Edit = Callable[[Path, str, str], Path]


def _line_of(path: Path, start: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if line.startswith(start))


def test_a_lexicon_that_is_no_path_is_reported_at_its_value(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    edit(shop, "    type: lexicon\n", "    type: lexicon\n    lexicon: [extra.tsv]\n")
    result = validate(shop)
    assert result.exit_code == 2, result.output
    line = _line_of(shop, "    lexicon: ")
    assert f"{shop}:{line}:14: triage.provider.lexicon: " in result.stdout, result.stdout
    assert "lexicon.lexicon" not in result.stdout


def test_a_misspelt_key_of_the_lexicon_provider_gets_a_suggestion(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    edit(shop, "    type: lexicon\n", "    type: lexicon\n    lexicn: extra.tsv\n")
    result = validate(shop)
    assert result.exit_code == 2, result.output
    line = _line_of(shop, "    lexicn: ")
    expected = f"{shop}:{line}:5: triage.provider: unknown key 'lexicn'; did you mean 'lexicon'?"
    assert expected in result.stdout, result.stdout


def test_a_local_provider_error_is_still_reported_at_its_value(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    edit(shop, "    type: lexicon\n", "    type: local\n    model_path: [models]\n")
    result = validate(shop)
    assert result.exit_code == 2, result.output
    line = _line_of(shop, "    model_path: ")
    assert f"{shop}:{line}:17: triage.provider.model_path: " in result.stdout, result.stdout
