"""The sandbox admins' jinja2 templates run in: the handoff template and connectors' templates.

jinja2's immutable sandbox keeps a template from reaching Python internals or changing its data;
`BudgetedSandbox` adds what keeps one from holding a worker: a time budget, checked at every
attribute or item lookup, call, `range` step, `for` loop step and output chunk, and limits on the
values `*`, `**`, `+`, `~`, padding, formatting, `replace`, `join`, `batch`, `slice`, `tojson`,
`wordwrap`, `urlize`, `sum`, `translate`, `lipsum` and blocks (`{% set %}`, macros) may build, each
refused before it allocates, so a mistyped number, or a value doubled a few dozen times, is a
template error, not a worker killed for memory.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import update_wrapper
from itertools import chain
from typing import Any

from jinja2 import nodes, pass_environment, pass_eval_context
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, Undefined, markup_join, str_join
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    safe_range,
)
from jinja2.utils import Namespace, generate_lorem_ipsum
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, soft_str

from warmline.errors import WarmlineError

MAX_POWER_BITS = 4096
"""The largest integer `**` or `*` may produce in a template; bigger ones would stall the worker
(squaring a number a few dozen times takes seconds in one multiplication, past any deadline)."""

_LOOP_GUARD = "__warmline_loop_budget"
"""The global every `for` loop's sequence is passed through (see `BudgetedSandbox._parse`)."""

_CONCAT_GUARD = "__warmline_concat_budget"
"""The global every `~` concatenation is turned into a call of (see `BudgetedSandbox._parse`)."""

_BUILT_GUARD = "__warmline_built_budget"
"""The global every list, tuple and dict a template writes is passed through (see `_parse`)."""

_SIZED = (str, bytes, list, tuple)
"""The values `+` and `sum` join into a longer one of the same kind."""

_WRITTEN = "characters when written"
"""The unit of `_written_size`, in errors."""

_CONTAINERS = (list, tuple, set, frozenset, Mapping, Namespace)
"""What `_written_size` looks into: the values a template can build that hold others."""


_PERCENT_FIELD = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d*))?[hlL]?"
    r"(?P<conversion>.?)",
    re.DOTALL,
)
"""One `%` conversion: `%(key)-08.3f`; a `*` width or precision takes the next argument."""

_FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<precision>\d+))?")
"""The width and precision of a `str.format` field's spec (`*>12,.3f`)."""

_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
"""`str` (and `bytes`) methods whose first argument is the width of what they return."""

_AVERAGE_LIPSUM_WORD = 8
"""Characters a `lipsum` word takes with its space, roughly: bounds the words it may write."""


def _size_limit(max_size: int, size: int, what: str, unit: str = "characters") -> None:
    """Refuse (`SecurityError`) what would build `size` characters or items, over `max_size`."""
    if size > max_size:
        raise SecurityError(f"{what} would build {size} {unit}, over the size limit {max_size}")


def _running_total(max_size: int, chunks: Iterable[str], what: str) -> str:
    """`chunks` joined, refused (`SecurityError`) as soon as they add up to over `max_size`."""
    kept: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_size:
            raise SecurityError(
                f"{what} would build at least {size} characters, over the size limit {max_size}"
            )
        kept.append(chunk)
    return "".join(kept)


def _unit(value: Any) -> str:
    return "items" if isinstance(value, list | tuple) else "characters"


def _written_size(value: Any, seen: dict[int, int] | None = None) -> int:
    """At least how much `value` writes out: a string's characters, 1 for a number, what a
    container holds (at least 1), another object's `repr`; a list of short items counts its
    length, as `*` always did.

    A container is measured once however often it is held (`seen`), so a list that holds another
    twice, nested forty times (`{% set a = [a, a] %}`, repeated), is measured in forty steps, not
    at the trillion characters `{{ a }}` would write in one call no deadline can stop.
    """
    if isinstance(value, str | bytes):
        return max(len(value), 1)
    if isinstance(value, int | float | Undefined) or value is None:
        return 1
    if not isinstance(value, _CONTAINERS):
        return len(repr(value))
    seen = {} if seen is None else seen
    key = id(value)
    known = seen.get(key)
    if known is not None:
        return known
    # A namespace set into itself is written once: `repr` shows it as `{...}` the second time.
    seen[key] = 1
    held = value._Namespace__attrs if isinstance(value, Namespace) else value
    children: Iterable[Any] = [*held.keys(), *held.values()] if isinstance(held, Mapping) else held
    size = max(sum(_written_size(child, seen) for child in children), 1)
    seen[key] = size
    return size


def _size(value: Any) -> int:
    """What `*`, `+` and `sum` count: a string's characters, the written size of a list."""
    return len(value) if isinstance(value, str | bytes) else _written_size(value)


@pass_environment
def _guarded_built(environment: Environment, value: Any) -> Any:
    """A list, tuple or dict the template writes, refused when it holds more than the size limit
    (see `_written_size`): `[a, a]` doubles what `a` writes out, without allocating."""
    if isinstance(environment, BudgetedSandbox):
        size = _written_size(value)
        _size_limit(environment.max_size, size, f"a {type(value).__name__}", _WRITTEN)
    return value


def _json_depth(value: Any, seen: dict[int, int]) -> int:
    """How deep lists and mappings nest in `value`; `seen` holds the depths already measured, so
    a value that holds the same list many times (`[a, a]`, nested) is measured once."""
    if not isinstance(value, list | tuple | Mapping):
        return 0
    known = seen.get(id(value))
    if known is not None:
        return known
    children = value.values() if isinstance(value, Mapping) else value
    depth = 1 + max((_json_depth(child, seen) for child in children), default=0)
    seen[id(value)] = depth
    return depth


def _translated_size(text: str, table: Any) -> int:
    """How long `text.translate(table)` is: each character counts as what `table` maps it to."""
    size = 0
    for char, count in Counter(text).items():
        try:
            replacement = table[ord(char)]
        except LookupError:
            replacement = char
        size += count * (len(replacement) if isinstance(replacement, str) else 1)
    return size


@pass_eval_context
def _guarded_concat(eval_ctx: EvalContext, *parts: Any) -> str:
    """`a ~ b ~ c`, refused before joining when the parts add up to over the size limit: a
    template that doubles a string in a few dozen `{% set a = a ~ a %}` never reaches a call or a
    loop step, where the time budget is checked."""
    check_deadline()
    texts = [soft_str(part) for part in parts]
    environment = eval_ctx.environment
    if isinstance(environment, BudgetedSandbox):
        _size_limit(environment.max_size, sum(map(len, texts)), "'~' concatenation")
    # As jinja2 compiles `~`: escaping what is not markup when autoescaping may be on.
    join = markup_join if eval_ctx.volatile or eval_ctx.autoescape else str_join
    return join(texts)


def _constant(node: nodes.Expr) -> bool:
    """Whether jinja2 computes `node` once, when it compiles the template: from literals only."""
    try:
        node.as_const()
    except nodes.Impossible:
        return False
    return True


class _GuardBuilding(NodeTransformer):
    """Turns each `~` into a call of `_guarded_concat`, and passes each list, tuple and dict the
    template writes through `_guarded_built`, innermost first; but for those of literals only,
    which jinja2 builds once when it compiles the template (as before, to the same value)."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:  # noqa: N802 - jinja2's visitor name
        self.generic_visit(node)
        if _constant(node):
            return node
        guard = nodes.Name(_CONCAT_GUARD, "load", lineno=node.lineno)
        return nodes.Call(guard, list(node.nodes), [], None, None, lineno=node.lineno)

    def _built(self, node: nodes.List | nodes.Tuple | nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        if _constant(node):
            return node
        guard = nodes.Name(_BUILT_GUARD, "load", lineno=node.lineno)
        return nodes.Call(guard, [node], [], None, None, lineno=node.lineno)

    def visit_List(self, node: nodes.List) -> nodes.Node:  # noqa: N802 - jinja2's visitor name
        return self._built(node)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:  # noqa: N802 - jinja2's visitor name
        return self._built(node)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:  # noqa: N802 - jinja2's visitor name
        # A tuple that is assigned to (`{% for key, value in ... %}`) is not built.
        return self._built(node) if node.ctx == "load" else self.generic_visit(node)


def _count(raw: Any) -> int:
    """A width, precision or length as a number: digits from a spec, or an argument's int.

    Anything else counts as 0: Python rejects it itself, with its own message.
    """
    if isinstance(raw, str):
        # Longer digit strings than this are huge anyway; `int` would refuse over 4,300 digits.
        return int(raw) if 0 < len(raw) <= 18 else (0 if not raw else 10**18)
    if isinstance(raw, int):
        return abs(raw)
    return 0


def _percent_size(text: str, values: Any) -> int:
    """Roughly how long `text % values` is: its text, widths, precisions and string values."""
    positional = values if isinstance(values, tuple) else (values,)
    next_value = 0
    size = len(text)

    def take() -> Any:
        nonlocal next_value
        value = positional[next_value] if next_value < len(positional) else None
        next_value += 1
        return value

    for field in _PERCENT_FIELD.finditer(text):
        if field["conversion"] == "%":
            continue
        width = take() if field["width"] == "*" else field["width"]
        precision = take() if field["precision"] == "*" else field["precision"]
        if field["key"] is not None:
            value = values.get(field["key"]) if isinstance(values, Mapping) else None
        else:
            value = take()
        size += max(_count(width), _count(precision), len(value) if isinstance(value, str) else 0)
    return size


def _replaced_size(text: Any, old: Any, new: Any, count: Any) -> int:
    """How long `text.replace(old, new, count)` is, without building it."""
    found = len(text) + 1 if len(old) == 0 else text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


def _joined_size(separator: str | bytes, items: Sequence[Any]) -> int:
    """How long `separator.join(items)` is, counting string items (others are short)."""
    strings = sum(len(item) for item in items if isinstance(item, str | bytes))
    return max(len(items) - 1, 0) * len(separator) + strings


class _FieldBudget(SandboxedFormatter):
    """A `str.format` formatter that refuses widths, precisions and output over `max_size`."""

    def __init__(self, env: BudgetedSandbox, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._max_size = env.max_size
        self._written = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        check_deadline()
        spec = _FORMAT_SPEC.match(format_spec)
        if spec is not None:
            for number in (spec["width"], spec["precision"]):
                _size_limit(self._max_size, _count(number), "a format width or precision")
        formatted = super().format_field(value, format_spec)
        self._written += len(formatted)
        _size_limit(self._max_size, self._written, "format()")
        return formatted


class _EscapingFieldBudget(_FieldBudget, SandboxedEscapeFormatter):
    """`_FieldBudget` for `Markup.format`, which escapes what it formats."""


class RenderBudgetError(WarmlineError):
    """A template ran longer than its render timeout."""


_deadline: ContextVar[float | None] = ContextVar("template_render_deadline", default=None)


def check_deadline() -> None:
    """Raise `RenderBudgetError` when the render under way has used up its time."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() >= deadline:
        raise RenderBudgetError("the template ran longer than the render timeout")


@contextmanager
def render_budget(seconds: float) -> Iterator[None]:
    """Templates rendered in this block must finish within `seconds` (see `check_deadline`)."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _guarded_range(*args: int) -> Iterator[int]:
    for number in safe_range(*args):
        check_deadline()
        yield number


def _guarded_loop(sequence: Iterable[Any]) -> Iterator[Any]:
    for item in sequence:
        check_deadline()
        yield item


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus a time budget and limits on what a template may build.

    The time budget (`render_budget`) is cooperative: it is checked where a template spends its
    time, including each step of every `{% for %}`, so nested loops over short lists that print
    nothing are stopped too. `max_size` bounds what `*`, `+` and `~` may build (characters or
    items), and the widths, precisions and results of padding (`center`, `ljust`, `rjust`,
    `zfill`, `indent`, `expandtabs`), formatting (`%`, `format`, `str.format`), `replace`,
    `join`, `batch` with a fill value, `slice`, `int.to_bytes`, `tojson`, `wordwrap`, `urlize`,
    `sum`, `str.translate`, `lipsum` and blocks (`{% set %}…{% endset %}`, macros, `{% filter %}`,
    `{% call %}`): each is refused before it allocates, since a single call that allocates
    gigabytes never reaches a deadline check, nor does `{% set a = a ~ a %}` repeated.
    """

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *, max_size: int, **options: Any) -> None:
        super().__init__(**options)
        self.max_size = max_size
        self.globals["range"] = _guarded_range
        self.globals[_LOOP_GUARD] = _guarded_loop
        self.globals[_CONCAT_GUARD] = _guarded_concat
        self.globals[_BUILT_GUARD] = _guarded_built
        self.globals["lipsum"] = self._bounded_lipsum
        self.policies["json.dumps_function"] = self._bounded_dumps
        self._bound_filters()
        self._bound_building_filters()

    def concat(self, chunks: Iterable[str]) -> str:
        """What the compiled code joins every block's output with (`{% set %}`, a macro's body,
        `{% filter %}`, `{% call %}`, `self.block()`), bounded: a block that prints a value twice,
        set again a few dozen times, doubles it without a call or a loop step."""
        return _running_total(self.max_size, chunks, "a block ({% set %}, a macro, a filter)")

    def _bounded_dumps(self, value: Any, **options: Any) -> str:
        """`json.dumps` for `tojson`, refused when its indent or its output outgrow the size limit.

        The output is written piece by piece and counted, since a value that holds one list many
        times over (`{% set a = [a, a] %}`, repeated) is small but writes out exponentially.
        """
        encoder_class: type[json.JSONEncoder] = options.pop("cls", None) or json.JSONEncoder
        indent = options.get("indent")
        if indent is not None:
            width = len(indent) if isinstance(indent, str) else _count(indent)
            # Each line is indented `width` times its depth, written in one piece.
            deepest = _json_depth(value, {})
            _size_limit(self.max_size, width * deepest, "tojson() indent")
        pieces = encoder_class(**options).iterencode(value)
        return _running_total(self.max_size, _guarded_loop(pieces), "tojson()")

    def _bounded_lipsum(
        self,
        n: int = 5,
        html: bool = True,
        min: int = 20,
        max: int = 100,
    ) -> str:
        """jinja2's `lipsum`, refused when its words could outgrow the size limit (or the time)."""
        words = _count(n) * _count(max)
        if words * _AVERAGE_LIPSUM_WORD > self.max_size:
            raise SecurityError(
                f"lipsum({n}, max={max}) could write {words} words, over the size limit"
                f" {self.max_size}"
            )
        return generate_lorem_ipsum(n, html, min, max)

    def _bound_filters(self) -> None:
        """Wrap the filters whose arguments can make them build without bound."""
        limit = self.max_size
        center, indent, format_, replace = (
            self.filters[name] for name in ("center", "indent", "format", "replace")
        )
        join, batch, slice_ = (self.filters[name] for name in ("join", "batch", "slice"))

        def bounded_center(value: Any, width: int = 80) -> Any:
            _size_limit(limit, _count(width), "center() width")
            return center(value, width)

        def bounded_indent(value: Any, width: int | str = 4, *args: Any, **kwargs: Any) -> Any:
            pad = len(width) if isinstance(width, str) else _count(width)
            text = str(value)
            _size_limit(limit, len(text) + (text.count("\n") + 1) * pad, "indent()")
            return indent(value, width, *args, **kwargs)

        def bounded_format(value: Any, *args: Any, **kwargs: Any) -> Any:
            _size_limit(limit, _percent_size(str(value), kwargs or args), "format()")
            return format_(value, *args, **kwargs)

        @pass_eval_context
        def bounded_replace(
            eval_ctx: EvalContext, value: Any, old: Any, new: Any, count: Any = None
        ) -> Any:
            size = _replaced_size(str(value), str(old), str(new), count)
            _size_limit(limit, size, "replace()")
            return replace(eval_ctx, value, old, new, count)

        @pass_eval_context
        def bounded_join(
            eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: Any = None
        ) -> Any:
            items = list(value)
            _size_limit(limit, _joined_size(str(d), items if attribute is None else []), "join()")
            return join(eval_ctx, items, d, attribute)

        def bounded_batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
            if fill_with is not None:
                size = _count(linecount) * max(_written_size(fill_with), 1)
                _size_limit(limit, size, "batch() with a fill value", "items")
            return batch(value, linecount, fill_with)

        @pass_eval_context
        def bounded_slice(
            eval_ctx: EvalContext, value: Any, slices: int, fill_with: Any = None
        ) -> Any:
            _size_limit(limit, _count(slices), "slice() count", "lists")
            if fill_with is not None:
                size = _count(slices) * _written_size(fill_with)
                _size_limit(limit, size, "slice() with a fill value")
            return slice_(eval_ctx, value, slices, fill_with)

        bounded: dict[str, Callable[..., Any]] = {
            "center": bounded_center,
            "indent": bounded_indent,
            "format": bounded_format,
            "replace": bounded_replace,
            "join": bounded_join,
            "batch": bounded_batch,
            "slice": bounded_slice,
        }
        self.filters.update(bounded)

    def _bound_building_filters(self) -> None:
        """Wrap the filters whose output can outgrow their input many times over."""
        limit = self.max_size
        wordwrap, urlize, sum_ = (self.filters[name] for name in ("wordwrap", "urlize", "sum"))
        groupby = self.filters["groupby"]

        @pass_environment
        def bounded_wordwrap(
            environment: Environment,
            s: str,
            width: int = 79,
            break_long_words: bool = True,
            wrapstring: str | None = None,
            break_on_hyphens: bool = True,
        ) -> Any:
            if wrapstring is not None and len(wrapstring) > 1:
                # Wrapped with a one-character line break first (the text's own line breaks are
                # taken out): each one becomes `wrapstring`.
                lines = wordwrap(environment, s, width, break_long_words, "\n", break_on_hyphens)
                breaks = lines.count("\n")
                size = len(lines) + breaks * (len(wrapstring) - 1)
                _size_limit(limit, size, "wordwrap()")
            return wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)

        @pass_eval_context
        def bounded_urlize(
            eval_ctx: EvalContext,
            value: str,
            trim_url_limit: int | None = None,
            nofollow: bool = False,
            target: str | None = None,
            rel: str | None = None,
            extra_schemes: Iterable[str] | None = None,
        ) -> Any:
            # Every word may become a link carrying `target` and `rel`.
            words = len(str(value).split())
            attributes = len(str(target or "")) + len(str(rel or ""))
            _size_limit(limit, words * attributes, "urlize() target and rel")
            return urlize(eval_ctx, value, trim_url_limit, nofollow, target, rel, extra_schemes)

        @pass_environment
        def bounded_sum(
            environment: Environment, iterable: Iterable[Any], attribute: Any = None, start: Any = 0
        ) -> Any:
            values = list(iterable)
            if attribute is not None:
                values = [make_attrgetter(environment, attribute)(value) for value in values]
            sized = [_size(value) for value in (start, *values) if isinstance(value, _SIZED)]
            _size_limit(limit, sum(sized), "sum()", _unit(start))
            if type(start) in (list, tuple) and all(type(v) is type(start) for v in values):
                # What `sum` gives, in one pass: `sum` copies what it has for each list it adds,
                # and sixty thousand one-item lists took seconds in a call no deadline can stop.
                return type(start)(chain(start, *values))
            return sum_(environment, values, None, start)

        @pass_environment
        def bounded_groupby(environment: Environment, value: Any, *args: Any, **kwargs: Any) -> Any:
            # Each group holds its key besides its items: grouping again by it doubles.
            groups = groupby(environment, value, *args, **kwargs)
            _size_limit(limit, _written_size(groups), "groupby()", _WRITTEN)
            return groups

        bounded: dict[str, Callable[..., Any]] = {
            "wordwrap": bounded_wordwrap,
            "urlize": bounded_urlize,
            "sum": bounded_sum,
            "groupby": bounded_groupby,
        }
        self.filters.update(bounded)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format` and `format_map` in jinja2's sandbox, with widths and output bounded."""
        if super().wrap_str_format(value) is None:
            return None
        text: str = value.__self__
        mapping_only = value.__name__ == "format_map"

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            fields: Mapping[str, Any] = kwargs
            if mapping_only:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument, a mapping")
                fields, args = args[0], ()
            formatter = (
                _EscapingFieldBudget(self, escape=text.escape)
                if isinstance(text, Markup)
                else _FieldBudget(self)
            )
            return type(text)(formatter.vformat(text, args, fields))

        return update_wrapper(bounded_format, value)

    def _bounded_arguments(
        self, method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, ...]:
        """Refuse a call of a `str`, `bytes` or `int` method that would outgrow the size limit.

        Returns the positional arguments to call with: `join`'s iterable, read into a list.
        """
        owner = getattr(method, "__self__", None)
        name = getattr(method, "__name__", None)
        if isinstance(owner, str | bytes):
            if name in _PADDING_METHODS and args:
                _size_limit(self.max_size, _count(args[0]), f"{name}() width")
            elif name == "expandtabs":
                tabsize = args[0] if args else kwargs.get("tabsize", 8)
                tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
                _size_limit(self.max_size, len(owner) + tabs * _count(tabsize), "expandtabs()")
            elif name == "replace" and len(args) >= 2:
                old, new = args[0], args[1]
                text_type = str if isinstance(owner, str) else bytes
                if isinstance(old, text_type) and isinstance(new, text_type):
                    count = args[2] if len(args) > 2 else -1
                    size = _replaced_size(owner, old, new, count)
                    _size_limit(self.max_size, size, "replace()")
            elif name == "translate" and args and isinstance(owner, str):
                size = _translated_size(owner, args[0])
                _size_limit(self.max_size, size, "translate()")
            elif name == "join" and args:
                items = list(args[0])
                _size_limit(self.max_size, _joined_size(owner, items), "join()")
                return (items, *args[1:])
        elif isinstance(owner, int) and name == "to_bytes":
            length = args[0] if args else kwargs.get("length", 1)
            _size_limit(self.max_size, _count(length), "to_bytes() length", "bytes")
        return args

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        # Every loop's sequence goes through `_guarded_loop`, which checks the deadline per step.
        for loop in list(tree.find_all(nodes.For)):
            guard = nodes.Name(_LOOP_GUARD, "load", lineno=loop.lineno)
            loop.iter = nodes.Call(guard, [loop.iter], [], None, None, lineno=loop.lineno)
        # Every `~` and every list, tuple and dict built goes through a guard checking its size.
        _GuardBuilding().visit(tree)
        tree.set_environment(self)
        return tree

    def getattr(self, obj: Any, attribute: str) -> Any:
        check_deadline()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: str | Any) -> Any:
        check_deadline()
        return super().getitem(obj, argument)

    def call(
        __self,  # noqa: N805 - jinja2's signature; `self` may be a keyword argument of the call
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        check_deadline()
        args = __self._bounded_arguments(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        # What a template builds by a call, `dict(a=a, b=a)`, `namespace(...)` or
        # `{}.fromkeys(range(n), a)`, is held like a literal; what a call reads (`data.get(...)`)
        # is the conversation's or the event's, and left alone.
        name = getattr(__obj, "__name__", "")
        if isinstance(result, _CONTAINERS) and (isinstance(__obj, type) or name == "fromkeys"):
            _size_limit(__self.max_size, _written_size(result), f"{name}()", _WRITTEN)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_deadline()
        if operator == "+":
            if isinstance(left, _SIZED) and isinstance(right, _SIZED):
                size = _size(left) + _size(right)
                _size_limit(self.max_size, size, "'+'", _unit(left))
            return left + right
        if operator == "*":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() + right.bit_length() > MAX_POWER_BITS
            ):
                raise SecurityError(f"product too large (over {MAX_POWER_BITS} bits)")
            sequence, count = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                _size_limit(self.max_size, _size(sequence) * count, "repetition")
            return left * right
        if operator == "%":
            if isinstance(left, str):
                _size_limit(self.max_size, _percent_size(left, right), "'%' formatting")
            return left % right
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right * abs(left).bit_length() > MAX_POWER_BITS
        ):
            raise SecurityError(f"power too large (over {MAX_POWER_BITS} bits)")
        return left**right
