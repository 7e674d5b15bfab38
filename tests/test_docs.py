"""The pages a newcomer follows: every relative link lands on a file and a heading that exist,
every event type the prose names is one warmline publishes or reads, every repository file the
prose names in code exists, every `warmline` command line they show runs a command that exists
with options it takes, and every dependency has its reason in docs/dependencies.md.

Markdown only, no services: well under a second. `docs/events.md` is generated from the catalog
and checked by `tests/events/test_catalog.py`; here it is one page among the others.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel

from warmline.cli import app
from warmline.config.model import json_schema
from warmline.demo.summary import Summary
from warmline.events.types import EventType
from warmline.handoff import ConversationFacts, EscalationFacts, TenantFacts

ROOT = Path(__file__).resolve().parents[1]
DEPENDENCIES = ROOT / "docs" / "dependencies.md"
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


# `warmline` followed by the words of a command line (a word followed by `.` or `/` is a file or a
# name, as in `warmline.yaml` or `warmline.events.v1`), then the rest of that line of code. Where
# it does not start the code (an error message quoting "another warmline api"), the words are
# checked only when they name a command.
INVOCATION = re.compile(
    r"(?:(?<=\.venv/bin/)|(?<![\w./-]))warmline((?: +[a-z][a-z-]*(?![\w./]))+)([^`\n|;&#]*)"
)
# What may come before a command line's `warmline`: a prompt, the virtualenv's bin directory.
COMMAND_START = re.compile(r"\s*(?:\$\s+)?(?:\.venv/bin/)?")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# A row of an options table: `| `--group` | `WARMLINE_BRIDGE_GROUP` | ... |`.
OPTION_ROW = re.compile(
    r"^\|\s*`(--[a-z][a-z0-9-]*)`\s*\|\s*`(WARMLINE_[A-Z_]+)`\s*\|", re.MULTILINE
)


def code_lines(page: Path) -> Iterator[tuple[int, str]]:
    """Each line of the page's fenced code blocks (a line ending in a backslash joined with the
    next, as a shell reads it) and each inline code span, with the line it starts on."""
    text = page.read_text()
    for block in FENCE.finditer(text):
        number, pending, first = line_of(text, block.start()), "", 0
        for line in block.group(0).split("\n"):
            first = first if pending else number
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
            else:
                yield first, pending + line
                pending = ""
            number += 1
    blanked = prose(page)
    for span in CODE_SPAN.finditer(blanked):
        yield line_of(blanked, span.start()), span.group(1)


def option_names(command: Any) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)}


def every_command(command: Any) -> Iterator[Any]:
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from every_command(sub)


def unknown_command_lines(pages: list[Path]) -> Iterator[str]:
    """`warmline <command> [<sub-command>] --option ...` in code: the command must exist and take
    every `--option` shown; an options table's row must name an option that reads that variable.
    A renamed flag or a removed command in the docs sends a newcomer to a usage error."""
    # Typer builds its commands with the click it vendors: groups are found by their `commands`.
    root: Any = typer.main.get_command(app)
    for page in pages:
        for number, code in code_lines(page):
            where = f"{shown(page)}:{number}"
            for invocation in INVOCATION.finditer(code):
                words = invocation.group(1).split()
                command, path = root, ["warmline"]
                for word in words:
                    if word not in getattr(command, "commands", {}):
                        break
                    command, path = command.commands[word], [*path, word]
                said = " ".join(path)
                if len(path) == 1:
                    starts = COMMAND_START.fullmatch(code[: invocation.start()]) is not None
                    if starts:
                        yield f"{where}: warmline has no command {words[0]!r}"
                    continue
                if hasattr(command, "commands"):
                    yield f"{where}: {said} needs one of {', '.join(sorted(command.commands))}"
                    continue
                rest = " ".join(words[len(path) - 1 :]) + invocation.group(2)
                for flag in FLAG.findall(rest):
                    if flag not in option_names(command) | {"--help"}:
                        yield f"{where}: {said} has no option {flag}"
        blanked = prose(page)
        for row in OPTION_ROW.finditer(blanked):
            flag, variable = row.groups()
            if not any(
                flag in param.opts and variable == getattr(param, "envvar", None)
                for command in every_command(root)
                for param in command.params
            ):
                where = f"{shown(page)}:{line_of(blanked, row.start())}"
                yield f"{where}: no option {flag} reads {variable}"


def test_command_lines_in_the_docs_run_commands_and_options_that_exist() -> None:
    assert list(unknown_command_lines(PAGES)) == []


def test_a_wrong_command_line_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Run `warmline validate examples/` and `warmline simulate s.yaml --json`; edit "
        "`warmline.yaml`, read `warmline.events.v1`; `error: is another warmline api running?`.\n\n"
        "```sh\n"
        "$ .venv/bin/warmline demo --jsn\n"
        "warmline bridge --config warmline.yaml \\\n"
        "    --kafka 127.0.0.1:9092 --topic t\n"
        "warmline serve --config warmline.yaml\n"
        "warmline triage --data x.tsv\n"
        "```\n\n"
        "| option | variable |\n|---|---|\n| `--group` | `WARMLINE_BRIDGE_GROUP` |\n"
        "| `--group` | `WARMLINE_GROUP` |\n"
    )
    found = [problem.split(": ", 1)[1] for problem in unknown_command_lines([page])]
    assert found == [
        "warmline demo has no option --jsn",
        "warmline bridge has no option --topic",
        "warmline has no command 'serve'",
        "warmline triage needs one of eval, retrain, rollback, shadow, train",
        "no option --group reads WARMLINE_GROUP",
    ]


# A path in the repository as the prose quotes it: a top-level directory, then a file with an
# extension or a directory ending in `/` (`tests/connectors/test_` is a prefix, not a file).
REPO_PATH = re.compile(r"(?<![\w./-])([a-z][\w-]*/(?:[\w.-]+/)*(?:[\w-]+(?:\.\w+)+|))(?![\w./-])")
# Paths the prose names that are not in the repository, each for a reason.
NOT_FILES = {
    "examples/scenarios/probe.yaml": "simulate.md's made-up failing scenario, to show the output",
    "examples/peer-support/data/goemotions/": "GoEmotions is not shipped: configuration.md says "
    "to link it there",
}


def missing_files(pages: list[Path]) -> Iterator[str]:
    """`warmline/events/catalog.py` or `examples/scenarios/` in a page's code spans must exist:
    a file that was renamed or removed sends a newcomer looking. Paths under a directory the
    repository does not have (`/etc/warmline/`, `data/holdout.tsv` of a deployment) are not
    checked."""
    top = {entry.name for entry in ROOT.iterdir() if entry.is_dir() and entry.name[0] != "."}
    for page in pages:
        text = prose(page)
        for span in CODE_SPAN.finditer(text):
            for found in REPO_PATH.finditer(span.group(1)):
                path = found.group(1)
                if path.split("/", 1)[0] not in top or path in NOT_FILES:
                    continue
                if not (ROOT / path).exists() and not (page.parent / path).exists():
                    yield f"{shown(page)}:{line_of(text, span.start())}: {path}: no such file"


def test_repository_files_named_in_the_docs_exist() -> None:
    assert list(missing_files(PAGES)) == []


def test_a_missing_file_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "See `warmline/events/catalog.py`, `examples/scenarios/`, `tests/connectors/test_` files, "
        "`warmline/v1`, `/etc/warmline/warmline.yaml`, `examples/warmline.schema.json`, "
        "`warmline/events/catalogue.py` and "
        "`python -m x tests/events/test_docs.py -q`.\n"
    )
    found = [problem.split(": ", 1)[1] for problem in missing_files([page])]
    assert found == [
        "warmline/events/catalogue.py: no such file",
        "tests/events/test_docs.py: no such file",
    ]


REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def undocumented_dependencies(pyproject: Path, page: Path) -> Iterator[str]:
    """Every package `pyproject.toml` asks for, runtime and extras alike, must be named in
    `page` (dependencies.md says why each earns its place; "add a line when you add one")."""
    project = tomllib.loads(pyproject.read_text())["project"]
    wanted = [*project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        wanted += extra
    named = {span.lower() for span in CODE_SPAN.findall(page.read_text())}
    for requirement in dict.fromkeys(wanted):
        match = REQUIREMENT_NAME.match(requirement)
        name = match.group(0) if match else requirement
        if name.lower() not in named:
            yield f"{shown(page)}: {name} ({shown(pyproject)}) has no line saying why"


def test_every_dependency_says_why_it_is_there() -> None:
    assert list(undocumented_dependencies(ROOT / "pyproject.toml", DEPENDENCIES)) == []


def test_an_undocumented_dependency_is_found(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["httpx>=0.28", "Left-Pad[fast]~=1.0"]\n'
        '[project.optional-dependencies]\ndev = ["ruff>=0.9", "httpx"]\n'
    )
    page = tmp_path / "dependencies.md"
    page.write_text("| `httpx` | HTTP. |\n| `ruff` | lint. |\n")
    found = [problem.split(": ", 1)[1] for problem in undocumented_dependencies(pyproject, page)]
    assert found == [f"Left-Pad ({pyproject}) has no line saying why"]
