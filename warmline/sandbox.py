"""The sandbox admins' jinja2 templates run in: the handoff template and connectors' templates.

jinja2's immutable sandbox keeps a template from reaching Python internals or changing its data;
`BudgetedSandbox` adds what keeps one from holding a worker: a time budget, checked at every
attribute or item lookup, call, `range` step, `for` loop step and output chunk, and limits on the
values `*`, `**`, padding, formatting, `replace`, `join`, `batch`, `slice` and `lipsum` may build,
each refused before it allocates, so a mistyped number is a template error, not a worker killed
for memory.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import update_wrapper
from typing import Any

from jinja2 import nodes, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    safe_range,
)
from jinja2.utils import generate_lorem_ipsum
from markupsafe import Markup

from warmline.errors import WarmlineError

MAX_POWER_BITS = 4096
"""The largest integer `**` may produce in a template; bigger powers would stall the worker."""

_LOOP_GUARD = "__warmline_loop_budget"
"""The global every `for` loop's sequence is passed through (see `BudgetedSandbox._parse`)."""


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
    nothing are stopped too. `max_size` bounds what `*` may build (characters or items), and the
    widths, precisions and results of padding (`center`, `ljust`, `rjust`, `zfill`, `indent`,
    `expandtabs`), formatting (`%`, `format`, `str.format`), `replace`, `join`, `batch` with a
    fill value, `slice`, `int.to_bytes` and `lipsum`: each is refused before it allocates, since
    a single call that allocates gigabytes never reaches a deadline check.
    """

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, *, max_size: int, **options: Any) -> None:
        super().__init__(**options)
        self.max_size = max_size
        self.globals["range"] = _guarded_range
        self.globals[_LOOP_GUARD] = _guarded_loop
        self.globals["lipsum"] = self._bounded_lipsum
        self._bound_filters()

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
                _size_limit(limit, _count(linecount), "batch() with a fill value", "items")
            return batch(value, linecount, fill_with)

        @pass_eval_context
        def bounded_slice(
            eval_ctx: EvalContext, value: Any, slices: int, fill_with: Any = None
        ) -> Any:
            _size_limit(limit, _count(slices), "slice() count", "lists")
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
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_deadline()
        if operator == "*":
            sequence, count = (left, right) if isinstance(right, int) else (right, left)
            if (
                isinstance(sequence, str | list | tuple)
                and isinstance(count, int)
                and len(sequence) * count > self.max_size
            ):
                raise SecurityError("repetition longer than the rendered size limit")
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
