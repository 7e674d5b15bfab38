"""Every YAML example in the docs parses: a reader copies them into real files."""

from __future__ import annotations

import re

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from tests.config.conftest import ROOT

PAGES = [
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "README.md",
    *sorted((ROOT / "connectors").rglob("README.md")),
]
BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def snippets() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        if "node_modules" in page.parts:
            continue
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            found.append((f"{page.relative_to(ROOT)}:{line}", match.group(1)))
    return found


SNIPPETS = snippets()


def test_the_docs_have_yaml_examples() -> None:
    assert len(SNIPPETS) >= 15
    assert any(where.startswith("docs/configuration.md") for where, _ in SNIPPETS)


@pytest.mark.parametrize(("where", "text"), SNIPPETS, ids=[w for w, _ in SNIPPETS])
def test_yaml_example_parses(where: str, text: str) -> None:
    try:
        list(YAML(typ="safe").load_all(text))
    except YAMLError as error:
        pytest.fail(f"{where}: {error}")
