"""What `warmline validate` checks of a configuration's connectors, beyond the configuration's own
schema: each `type:` resolves to a connector class and the entry's settings fit that class's
`Settings` model, with FILE:LINE:COL positions; and the templates among them (the connector's
`template_settings`) read only fields the events they render have.

It lives apart from `connectors.sdk.run`, so validating imports no connector runner, event
consumer or Temporal client.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, TemplateSyntaxError, nodes
from jinja2.defaults import DEFAULT_NAMESPACE
from pydantic import BaseModel, ValidationError

from connectors.http import TemplateSourceError, compile_template
from connectors.sdk.connector import Connector
from connectors.sdk.registry import UnknownConnectorError, resolve
from warmline.config.loader import dotted, located, suggest
from warmline.config.model import Connector as ConnectorConfig
from warmline.config.model import WarmlineConfig
from warmline.config.references import not_a_file_message
from warmline.errors import Diagnostic
from warmline.events.catalog import data_model
from warmline.events.types import EventType

EVENT_KEYS = ("specversion", "id", "type", "source", "subject", "time", "datacontenttype", "data")
"""What a template's `event` holds (`connectors.http.structured_event`)."""
_GUARDS = frozenset({"defined", "undefined"})
_DEFAULTS = frozenset({"default", "d"})
_CONTEXT = ("data", "event")
"""The names a connector template is rendered with (`connectors.http.template_context`)."""
_PROVIDED = frozenset(DEFAULT_NAMESPACE) | {"loop", "caller", "varargs", "kwargs", "self", "super"}
"""Names jinja2 itself provides: its globals (`range`, `namespace`...) and those of loops,
macros and blocks."""


def check_connectors(path: Path, config: WarmlineConfig) -> list[Diagnostic]:
    """Every connector's type resolves and its settings fit its model (for `validate` too)."""
    diagnostics: list[Diagnostic] = []
    for index, entry in enumerate(config.connectors):
        try:
            connector_type = resolve(entry.type)
        except UnknownConnectorError as error:
            diagnostics.append(at_key(path, ("connectors", index, "type"), str(error)))
            continue
        try:
            settings = connector_type.Settings.model_validate(settings_of(entry, connector_type))
        except ValidationError as error:
            where = ("connectors", index, "settings")
            diagnostics.extend(located(path, error, where, connector_type.Settings))
            continue
        problem = connector_type.secrets_problem(list(entry.secrets))
        if problem is not None:
            key = "secrets" if entry.secrets else "type"
            secrets_at: tuple[int | str, ...] = ("connectors", index, key)
            message = f"{dotted(secrets_at)}: {entry.type} {problem}"
            diagnostics.append(at_key(path, secrets_at, message))
        template_problems = _settings_template(path, index, entry)
        diagnostics.extend(template_problems)
        if not template_problems:
            diagnostics.extend(_template_reads(path, index, entry, connector_type, settings))
    return diagnostics


def _settings_template(path: Path, index: int, entry: ConnectorConfig) -> list[Diagnostic]:
    """A `payload_template` written under `settings:`, read and compiled as `build` will (the
    configuration checks the entry's top-level one)."""
    template = entry.settings.get("payload_template")
    if not isinstance(template, str):
        return []
    file = path.parent / template
    loc = ("connectors", index, "settings", "payload_template")
    if not file.is_file():
        return [at_key(path, loc, f"{dotted(loc)}: {not_a_file_message('payload template', file)}")]
    try:
        compile_template(file.read_text(encoding="utf-8"), file.name)
    except (OSError, UnicodeDecodeError) as error:
        return [at_key(path, loc, f"{dotted(loc)}: cannot read payload template {file}: {error}")]
    except TemplateSourceError as error:
        return [Diagnostic(file, error.line, 1, str(error))]
    return []


def _template_reads(
    path: Path,
    index: int,
    entry: ConnectorConfig,
    connector_type: type[Connector],
    settings: BaseModel,
) -> list[Diagnostic]:
    """A field a template reads that no event it renders has (a misspelt `data.reasn`), which
    would fail every such event at run time.

    Checked on the template's text rather than by rendering it with a sample event: a sample
    cannot stand for every event (an empty list, a missing optional field) and would raise
    errors that real events do not. A read guarded by `is defined` or `| default` is left alone.
    """
    handled = [
        t
        for t in connector_type.handler_table()
        if any(fnmatch.fnmatchcase(t.value, p) for p in entry.events)
    ]
    diagnostics: list[Diagnostic] = []
    for name, rendered_for in connector_type.template_settings.items():
        types = [t for t in rendered_for if t in handled]
        value = getattr(settings, name, None)
        loc = ("connectors", index, "settings", name)
        if not types or value is None:
            continue
        if name == "payload_template" and isinstance(value, str):
            file = path.parent / value
            try:
                source = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue  # the configuration's own check says why
            diagnostics += [
                Diagnostic(file, line, 1, f"template {file.name}: line {line}: {problem}")
                for line, problem in unknown_reads(source, types)
            ]
        elif name in entry.settings and isinstance(value, str):
            diagnostics += [
                at_key(path, loc, f"{dotted(loc)}: {problem}")
                for _, problem in unknown_reads(value, types)
            ]
        elif name in entry.settings and isinstance(value, Mapping):
            diagnostics += [
                at_key(path, (*loc, key), f"{dotted((*loc, key))}: {problem}")
                for key, source in value.items()
                if isinstance(source, str)
                for _, problem in unknown_reads(source, types)
            ]
    return diagnostics


@dataclass(frozen=True)
class _Read:
    """`data.<name>` or `event.<name>` read at `line` of a template."""

    line: int
    base: str
    name: str
    guarded: bool


def unknown_reads(source: str, types: Sequence[EventType]) -> list[tuple[int, str]]:
    """(line, problem) for each `data.X`, `event.data.X` or `event.X` of a template that no
    event of `types` has, and for each name it reads besides `data` and `event`; a template that
    does not parse, or rebinds `data` or `event`, gives none (its compile error is reported
    elsewhere)."""
    try:
        tree = Environment().parse(source)  # noqa: S701 - parsed to be read, never rendered
    except TemplateSyntaxError:
        return []
    stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    fields = sorted({f for t in types for f in _fields(t)})
    kinds = ", ".join(t.value for t in types)
    stored |= {n.name for n in tree.find_all(nodes.Macro)}
    problems = [
        (line, f"{name} is not defined: a template sees only data and event{_hint(name, fields)}")
        for line, name in _undefined_names(tree, stored)
    ]
    reads = list(_reads(tree))
    guarded = {(r.base, r.name) for r in reads if r.guarded}
    for read in reads:
        if read.base in stored or (read.base, read.name) in guarded:
            continue
        known = fields if read.base == "data" else list(EVENT_KEYS)
        if read.name in known:
            continue
        what = "the data of " + kinds if read.base == "data" else "an event"
        problems.append(
            (read.line, f"{read.base}.{read.name} is not in {what}{suggest(read.name, known)}")
        )
    return sorted(problems, key=lambda problem: problem[0])


def _hint(name: str, fields: list[str]) -> str:
    if name in fields:
        return f"; did you mean 'data.{name}'?"
    close = suggest(name, list(_CONTEXT))
    return close if close.startswith("; did you mean") else ""


def _undefined_names(tree: nodes.Template, stored: set[str]) -> Iterator[tuple[int, str]]:
    """(line, name) of each name a template reads that it is not given (`reason` for
    `data.reason`, a misspelt `dta`), unless guarded by `is defined` or `| default`: it would
    fail every event the template renders (`StrictUndefined`)."""
    guarded = {
        n.node.name
        for n in tree.find_all((nodes.Test, nodes.Filter))
        if isinstance(n.node, nodes.Name)
        and n.name in (_GUARDS if isinstance(n, nodes.Test) else _DEFAULTS)
    }
    seen: set[str] = set()
    for name in tree.find_all(nodes.Name):
        if name.ctx != "load" or name.name in seen:
            continue
        if name.name in (*_CONTEXT, *stored, *_PROVIDED, *guarded):
            continue
        seen.add(name.name)
        yield name.lineno, name.name


def _fields(event_type: EventType) -> list[str]:
    model = data_model(event_type)
    return [*model.model_fields, *model.model_computed_fields]


def _reads(tree: nodes.Template) -> Iterator[_Read]:
    guarded_ids = {
        id(n.node)
        for n in tree.find_all((nodes.Test, nodes.Filter))
        if n.name in (_GUARDS if isinstance(n, nodes.Test) else _DEFAULTS)
    }
    called = {id(n.node) for n in tree.find_all(nodes.Call)}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if not isinstance(node, nodes.Getattr | nodes.Getitem) or id(node) in called:
            continue
        name, inner = _key(node), node.node
        if name is None:
            continue
        if isinstance(inner, nodes.Name) and inner.name in ("data", "event"):
            base = inner.name
        elif (
            isinstance(inner, nodes.Getattr | nodes.Getitem)
            and _key(inner) == "data"
            and isinstance(inner.node, nodes.Name)
            and inner.node.name == "event"
        ):
            base = "data"
        else:
            continue
        yield _Read(node.lineno, base, name, id(node) in guarded_ids)


def _key(node: nodes.Getattr | nodes.Getitem) -> str | None:
    """The attribute or constant string key `node` reads, if it is one."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None


def settings_of(entry: ConnectorConfig, connector_type: type[Connector]) -> dict[str, object]:
    """The entry's settings, with its top-level `payload_template` for connectors that take one."""
    settings: dict[str, object] = dict(entry.settings)
    takes_template = "payload_template" in connector_type.Settings.model_fields
    if entry.payload_template is not None and takes_template:
        settings.setdefault("payload_template", str(entry.payload_template))
    return settings


def at_key(path: Path, loc: tuple[int | str, ...], message: str) -> Diagnostic:
    """`message` at the position of the key `loc` in the configuration file `path`."""
    from warmline.config.yamlsource import load_document

    line, column = load_document(path).locate(loc)
    return Diagnostic(path, line, column, message)
