"""The pages a newcomer follows: every relative link lands on a file and a heading that exist, and
every event type the prose names is one warmline publishes or reads.

Markdown only, no services: well under a second. `docs/events.md` is generated from the catalog
and checked by `tests/events/test_docs.py`; here it is one page among the others.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from warmline.config.model import json_schema
from warmline.demo.summary import Summary
from warmline.events.types import EventType
from warmline.handoff import ConversationFacts, EscalationFacts, TenantFacts

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "bench" / "README.md",
        ROOT / "deploy" / "README.md",
        ROOT / "proto" / "README.md",
        ROOT / "connectors" / "examples" / "ts-connector" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FULL_TYPE = re.compile(r"io\.warmline\.[a-z_.]+\.v\d+")
DOTTED = re.compile(r"[a-z_]+(?:\.[a-z_]+)+")
# A dotted name ending like a file (`model.json`, `inbound.py`) is a file, not an event.
FILE_ENDINGS = {"json", "jsonl", "md", "py", "tsv", "txt", "yaml", "yml"}
# Dotted names in event domains that are neither events nor configuration, each for a reason.
NOT_EVENTS = {
    "escalation.reasn": "handoff.md's example of a misspelt template variable",
    "message.max.bytes": "Kafka's broker setting, in bridge.md",
}


def prose(page: Path) -> str:
    """The page with its fenced code blocks blanked, line numbers kept: links and headings in a
    code block are examples, not navigation."""
    return FENCE.sub(lambda block: "\n" * block.group(0).count("\n"), page.read_text())


def shown(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def github_anchor(heading: str) -> str:
    """The `id` GitHub gives a heading: lower case, punctuation (backticks too) dropped, each
    space a hyphen."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor on the page; a repeated heading gets `-1`, `-2`, ... as on GitHub."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in HEADING.finditer(prose(page)):
        anchor = github_anchor(heading.group(1))
        repeats = seen.get(anchor, 0)
        seen[anchor] = repeats + 1
        found.add(anchor if repeats == 0 else f"{anchor}-{repeats}")
    return found


def broken_links(page: Path) -> Iterator[str]:
    text = prose(page)
    for link in LINK.finditer(text):
        target = link.group(1)
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not checked offline
            continue
        path, _, anchor = target.partition("#")
        where = f"{shown(page)}:{line_of(text, link.start())}"
        landing = (page.parent / path).resolve() if path else page
        if not landing.exists():
            yield f"{where}: {target}: no such file"
        elif anchor and landing.suffix == ".md" and anchor not in anchors(landing):
            yield f"{where}: {target}: no heading with that anchor in {landing.name}"


def test_relative_links_land_on_existing_files_and_headings() -> None:
    assert [problem for page in PAGES for problem in broken_links(page)] == []


def test_github_anchor_drops_punctuation_and_backticks() -> None:
    assert github_anchor("The dead-letter topic's size") == "the-dead-letter-topics-size"
    assert github_anchor("Ekman v4: an encoder of its own") == "ekman-v4-an-encoder-of-its-own"
    assert github_anchor("`warmline validate`") == "warmline-validate"


def model_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        yield prefix + name
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from model_paths(annotation, f"{prefix}{name}.")


def schema_paths(schema: dict[str, Any], definitions: dict[str, Any], prefix: str) -> Iterator[str]:
    """Every key path the configuration accepts, lists and maps looked through (`routing.queues`,
    `wellness.budget.per_shift`)."""
    if "$ref" in schema:
        schema = definitions[schema["$ref"].rsplit("/", 1)[-1]]
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from schema_paths(option, definitions, prefix)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from schema_paths(schema[key], definitions, prefix)
    for name, child in schema.get("properties", {}).items():
        yield prefix + name
        if prefix.count(".") < 4:
            yield from schema_paths(child, definitions, f"{prefix}{name}.")


def other_dotted_names() -> set[str]:
    """Dotted names the prose writes in an event's domain that are not events: configuration keys
    (from the root, or from the section a page is about), the handoff template's variables and the
    demo summary's keys."""
    schema = json_schema()
    config = set(schema_paths(schema, schema.get("$defs", {}), ""))
    in_a_section = {path.split(".", 1)[1] for path in config if "." in path}
    template = {
        f"{name}.{field.name}"
        for name, facts in (
            ("conversation", ConversationFacts),
            ("tenant", TenantFacts),
            ("escalation", EscalationFacts),
        )
        for field in dataclasses.fields(facts)
    }
    return config | in_a_section | template | set(model_paths(Summary)) | set(NOT_EVENTS)


def unknown_event_types(pages: list[Path]) -> Iterator[str]:
    known = {str(t) for t in EventType}
    short = {name.removeprefix("io.warmline.").rsplit(".", 1)[0] for name in known}
    domains = {name.split(".", 1)[0] for name in short}
    others = other_dotted_names()
    for page in pages:
        text = prose(page)
        for span in CODE_SPAN.finditer(text):
            where = f"{shown(page)}:{line_of(text, span.start())}"
            quoted = span.group(1)
            if "unknown event type" in quoted:  # an error message showing what is refused
                continue
            for name in FULL_TYPE.findall(quoted):
                if name not in known:
                    yield f"{where}: {name}"
            if not DOTTED.fullmatch(quoted) or quoted.split(".", 1)[0] not in domains:
                continue
            if quoted.rsplit(".", 1)[1] in FILE_ENDINGS or quoted in others:
                continue
            if not any(name == quoted or name.endswith(f".{quoted}") for name in short):
                yield f"{where}: {quoted}"


def test_event_types_named_in_the_docs_exist() -> None:
    """`handoff.completed`, `wellness.break.started` or `break.started` in prose must be a type
    of the catalog: a page that names one warmline never sends sends an integrator looking."""
    assert list(unknown_event_types(PAGES)) == []


def test_a_misnamed_event_type_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "A `summary` (`conversation.completed`), a `note` (`handoff.returned`), "
        "`break.started`, `wellness.budget.per_shift`, `io.warmline.offer.lost.v1`.\n"
    )
    found = [problem.split(": ", 1)[1] for problem in unknown_event_types([page])]
    assert found == ["conversation.completed", "io.warmline.offer.lost.v1"]
