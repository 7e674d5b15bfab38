"""Line-aware, bounded YAML loading: plain Python data plus the position of every key and value.

Hostile input (huge files, alias bombs, deep nesting, bad encodings) is rejected before any Python
object is built from it, so loading never crashes and never takes long.
"""

from __future__ import annotations

import codecs
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, StreamMark, YAMLError, YAMLWarning
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    ScalarEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 200_000

PathKey = tuple[str | int, ...]


class YamlSourceError(ValueError):
    """A file cannot be read as one YAML document; points at a 1-based line and column."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Position:
    """Where a key and its value start (1-based); `quoted` says the value text starts one later."""

    key_line: int
    key_column: int
    value_line: int
    value_column: int
    quoted: bool = False
    block: bool = False


@dataclass
class SourceDocument:
    """A loaded YAML document: plain data and the position of each path inside it."""

    path: Path
    data: Any
    positions: dict[PathKey, Position] = field(default_factory=dict)

    def locate(self, loc: PathKey, *, at_key: bool = False) -> tuple[int, int]:
        """The line and column of the deepest known prefix of `loc`."""
        for end in range(len(loc), -1, -1):
            position = self.positions.get(loc[:end])
            if position is not None:
                if at_key or end < len(loc):
                    return position.key_line, position.key_column
                return position.value_line, position.value_column
        return 1, 1


def read_text(path: Path) -> str:
    """Read a file as UTF-8, bounded in size; errors say where the bad byte is."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise YamlSourceError(f"cannot read file: {error.strerror or error}") from None
    if size > MAX_FILE_BYTES:
        raise YamlSourceError(
            f"file is {size / 1024 / 1024:.1f} MiB; configuration files are limited to "
            f"{MAX_FILE_BYTES // 1024 // 1024} MiB"
        )
    try:
        # Bounded even when stat knows no size (a pipe, a device such as /dev/zero).
        with path.open("rb") as source:
            raw = source.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise YamlSourceError(f"cannot read file: {error.strerror or error}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise YamlSourceError(
            f"file is over {MAX_FILE_BYTES // 1024 // 1024} MiB, the limit for configuration files"
        )
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Windows editors save "Unicode" as UTF-16; its first byte is no UTF-8 at all.
        raise YamlSourceError(
            "file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        line_start = before.rfind(b"\n") + 1
        column = len(before[line_start:].decode("utf-8", errors="replace")) + 1
        raise YamlSourceError(
            f"file is not valid UTF-8: byte 0x{raw[error.start]:02x} cannot be decoded",
            line,
            column,
        ) from None


def _first_key(yaml: YAML, text: str, mapping: StreamMark, duplicate: StreamMark) -> Node | None:
    """The first key of the mapping starting at `mapping` that the key at `duplicate` repeats.

    ruamel's duplicate-key error marks the mapping's start, not the first key: in a mapping of
    several keys, "first defined at" would name the wrong line. Composing builds nodes only,
    which the event screen has already bounded.
    """
    try:
        root = yaml.compose(text)
    except YAMLError:
        return None
    pending: list[Node] = [root] if root is not None else []
    seen: set[int] = set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            keys = [key for key, _ in node.value]
            start = node.start_mark
            if (start.line, start.column) == (mapping.line, mapping.column):
                at = (duplicate.line, duplicate.column)
                second = next((k for k in keys if _at(k) == at), None)
                if second is not None:
                    return next((k for k in keys if _same_key(k, second) and _at(k) < at), None)
            pending.extend(value for pair in node.value for value in pair)
        elif isinstance(node, SequenceNode):
            pending.extend(node.value)
    return None


def _at(node: Node) -> tuple[int, int]:
    return node.start_mark.line, node.start_mark.column


def _same_key(one: Node, other: Node) -> bool:
    scalars = isinstance(one, ScalarNode) and isinstance(other, ScalarNode)
    return scalars and one.value == other.value and str(one.tag) == str(other.tag)


def _mark_error(error: MarkedYAMLError, text: str, yaml: YAML) -> YamlSourceError:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = " ".join((error.problem or error.context or "invalid YAML").split())
    if isinstance(error, DuplicateKeyError):
        context, found = error.context_mark, error.problem_mark
        first = (
            _first_key(yaml, text, context, found)
            if context is not None and found is not None
            else None
        )
        where = ""
        if first is not None:
            where = f" (first defined at line {first.start_mark.line + 1}, column "
            where += f"{first.start_mark.column + 1})"
        key = problem.split('"')[1] if problem.count('"') >= 2 else ""
        return YamlSourceError(f"duplicate key {key!r}{where}", line, column)
    lines = text.splitlines()
    if 0 < line <= len(lines):
        current = lines[line - 1]
        indent = current[: len(current) - len(current.lstrip(" \t"))]
        if "\t" in indent:
            return YamlSourceError(
                "tab used for indentation; YAML indents with spaces", line, indent.index("\t") + 1
            )
    return YamlSourceError(f"invalid YAML: {problem}", line, column)


_CORE_TAG = "tag:yaml.org,2002:"
PLAIN_TAGS = frozenset(
    {"!", *(f"{_CORE_TAG}{kind}" for kind in ("str", "int", "float", "bool", "null", "map", "seq"))}
)
"""Tags that only say which plain type a value is (`!!str 2` is the string "2")."""


def _check_tag(event: Event, line: int, column: int) -> None:
    """Refuse an application tag (`!env NAME`, `!include x.yaml`) and YAML's non-plain types:
    ruamel would drop the first and keep the text, so `name: !env SHOP` meant the name "SHOP"."""
    tag = event.tag if isinstance(event, ScalarEvent | CollectionStartEvent) else None
    if tag is None or tag in PLAIN_TAGS:
        return
    shown = f"!!{tag.removeprefix(_CORE_TAG)}" if tag.startswith(_CORE_TAG) else tag
    raise YamlSourceError(
        f"tag {shown} is not supported: values are plain YAML, read as written (a secret is "
        "written '${NAME}', the name of an environment variable)",
        line,
        column,
    )


def _define_anchor(event: Event, defined: dict[str, int], line: int, column: int) -> None:
    """Record the anchor `event` defines, if any; refuse a second anchor of the same name."""
    named = event.anchor if isinstance(event, ScalarEvent | CollectionStartEvent) else None
    if named is None:
        return
    if named in defined:
        raise YamlSourceError(
            f"anchor &{named} is defined again (first at line {defined[named]}); "
            "give each anchor a name of its own",
            line,
            column,
        )
    defined[named] = line


def _screen_events(yaml: YAML, text: str) -> None:
    """Walk parser events (no objects built) to bound nesting, alias expansion and documents."""
    depth = 0
    documents = 0
    # Each open collection counts the nodes it expands to; anchors remember their expanded size.
    sizes: list[int] = [0]
    anchors: dict[str, int] = {}
    open_anchors: list[str | None] = []
    # The whole document's expanded size, checked at every event: a per-collection count misses
    # a list of lists (`[[*big], [*big], ...]`), whose own items are never scalars or aliases.
    total = 0
    aliased = False
    # Where each anchor is defined: YAML lets a second `&name` replace the first for the aliases
    # after it, which in a configuration is a copy-paste slip, not a meaning anyone wants.
    defined: dict[str, int] = {}
    for event in yaml.parse(io.StringIO(text)):
        mark = event.start_mark
        line, column = mark.line + 1, mark.column + 1
        _define_anchor(event, defined, line, column)
        _check_tag(event, line, column)
        if isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise YamlSourceError(
                    "more than one YAML document; a configuration file holds exactly one", line, 1
                )
        elif isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlSourceError(f"nesting deeper than {MAX_DEPTH} levels", line, column)
            sizes.append(0)
            open_anchors.append(event.anchor)
            total += 1
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
            size = sizes.pop() + 1
            anchor = open_anchors.pop()
            if anchor is not None:
                anchors[anchor] = size
            sizes[-1] += size
        elif isinstance(event, AliasEvent):
            if event.anchor not in anchors:
                raise YamlSourceError(
                    f"alias *{event.anchor} refers to an anchor that is not complete here",
                    line,
                    column,
                )
            sizes[-1] += anchors[event.anchor]
            total += anchors[event.anchor]
            aliased = True
        elif isinstance(event, ScalarEvent):
            sizes[-1] += 1
            total += 1
            if event.anchor is not None:
                anchors[event.anchor] = 1
        if total > MAX_EXPANDED_NODES:
            why = " (alias bomb?)" if aliased else "; a configuration is far smaller"
            raise YamlSourceError(
                f"document expands to more than {MAX_EXPANDED_NODES} nodes{why}", line, column
            )


def _plain(node: Any, path: PathKey, positions: dict[PathKey, Position]) -> Any:
    """Copy ruamel's round-trip objects into plain Python, recording positions by path."""
    if isinstance(node, dict):
        return _plain_mapping(node, path, positions)
    if isinstance(node, list):
        return _plain_sequence(node, path, positions)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    return float(node) if isinstance(node, float) else str(node)


def _start(node: Any) -> tuple[int, int]:
    marks = getattr(node, "lc", None)
    return (marks.line, marks.col) if marks is not None else (0, 0)


def _plain_mapping(
    node: dict[Any, Any], path: PathKey, positions: dict[PathKey, Position]
) -> dict[str, Any]:
    marks: Any = getattr(node, "lc", None)
    result: dict[str, Any] = {}
    for key, value in node.items():
        name = key if isinstance(key, str) else str(key)
        try:
            key_line, key_column, value_line, value_column = marks.data[key]
        except (AttributeError, KeyError, TypeError, ValueError):
            # Keys merged in with `<<:` have no position of their own.
            key_line, key_column = _start(node)
            value_line, value_column = key_line, key_column
        if value is None and value_line != key_line:
            # Nothing after `key:`: ruamel marks the next token, lines below (or past the end).
            value_line, value_column = key_line, key_column
        positions[(*path, name)] = _position(key_line, key_column, value_line, value_column, value)
        result[name] = _plain(value, (*path, name), positions)
    return result


def _plain_sequence(
    node: list[Any], path: PathKey, positions: dict[PathKey, Position]
) -> list[Any]:
    marks: Any = getattr(node, "lc", None)
    items: list[Any] = []
    for index, value in enumerate(node):
        try:
            line, column = marks.data[index]
        except (AttributeError, KeyError, TypeError, IndexError, ValueError):
            line, column = _start(node)
        positions[(*path, index)] = _position(line, column, line, column, value)
        items.append(_plain(value, (*path, index), positions))
    return items


def _position(key_line: int, key_col: int, line: int, col: int, value: Any) -> Position:
    quoted = isinstance(value, DoubleQuotedScalarString | SingleQuotedScalarString)
    block = isinstance(value, LiteralScalarString | FoldedScalarString)
    return Position(key_line + 1, key_col + 1, line + 1, col + 1, quoted, block)


def _line_column(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def load_document(path: Path) -> SourceDocument:
    """Load one YAML document from `path`; raise `YamlSourceError` for anything unusable."""
    text = read_text(path)
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.allow_duplicate_keys = False
    try:
        _screen_events(yaml, text)
        with warnings.catch_warnings():
            # ruamel warns on stderr, with its own source lines, about what it reads as the user
            # wrote it (`1e3` under a `%YAML 1.1` directive is still the float 1000.0).
            warnings.simplefilter("ignore", YAMLWarning)
            loaded = yaml.load(text)
    except YamlSourceError:
        raise
    except MarkedYAMLError as error:
        raise _mark_error(error, text, yaml) from None
    except ReaderError as error:
        line, column = _line_column(text, error.position)
        code = error.character if isinstance(error.character, int) else ord(error.character)
        raise YamlSourceError(
            f"control character U+{code:04X} is not allowed in YAML", line, column
        ) from None
    except (YAMLError, RecursionError, ValueError) as error:
        raise YamlSourceError(f"invalid YAML: {error}") from None
    if loaded is None:
        raise YamlSourceError("file is empty; expected a mapping with apiVersion and kind")
    positions: dict[PathKey, Position] = {(): Position(1, 1, 1, 1)}
    if isinstance(loaded, dict | list):
        line, column = _start(loaded)
        positions[()] = Position(line + 1, column + 1, line + 1, column + 1)
    return SourceDocument(path, _plain(loaded, (), positions), positions)
