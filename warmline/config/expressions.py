"""The safe condition language of escalation rules: a tokenizer and a recursive-descent parser.

Conditions such as `distress >= 0.7 for 2 messages` become an AST with `evaluate(context)`; user
text is never handed to Python's `eval`. Grammar (lowest precedence first)::

    condition  := or_expr EOF
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | sustained
    sustained  := comparison ["for" INTEGER ("message" | "messages")]
    comparison := operand [("<" | "<=" | ">" | ">=" | "==" | "!=" | "in" | "not" "in") operand]
    operand    := NUMBER | STRING | "true" | "false" | list | call | NAME | "(" or_expr ")"
    list       := "[" [operand ("," operand)*] "]"
    call       := NAME "(" [operand ("," operand)*] ")"
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from rapidfuzz import process

MAX_CONDITION_LENGTH = 2000
MAX_NESTING = 32
MAX_SUSTAINED_MESSAGES = 100


class Type(Enum):
    """Static types of condition values, checked when the configuration is validated."""

    NUMBER = "number"
    STRING = "string"
    BOOL = "boolean"
    LIST = "list"


VARIABLES: dict[str, Type] = {
    "distress": Type.NUMBER,
    "confidence": Type.NUMBER,
    "sentiment": Type.NUMBER,
    "message_count": Type.NUMBER,
    "risk_flags": Type.LIST,
    "crisis": Type.BOOL,
    "hostile": Type.BOOL,
    "channel": Type.STRING,
    "locale": Type.STRING,
    "country": Type.STRING,
    "intent": Type.STRING,
    "customer_tier": Type.STRING,
}
"""Names a condition may read, with their types; the triage result supplies their values."""


class ExpressionError(ValueError):
    """A condition is malformed; `column` is 1-based within the condition text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


class EvaluationError(RuntimeError):
    """A condition read a value the evaluation context does not provide or has the wrong type."""


@dataclass(frozen=True)
class EvaluationContext:
    """The per-message values of a conversation, oldest first; the last one is the current message.

    Each entry maps variable names (see `VARIABLES`) to values, plus `emotions`: a mapping from
    emotion label to score used by `emotion("label")`.
    """

    messages: Sequence[Mapping[str, Any]]

    @classmethod
    def single(cls, values: Mapping[str, Any]) -> EvaluationContext:
        """A context of one message."""
        return cls([values])

    @property
    def current(self) -> Mapping[str, Any]:
        if not self.messages:
            raise EvaluationError("no message to evaluate the condition against")
        return self.messages[-1]

    def window(self, offset: int) -> EvaluationContext:
        """The context as it was `offset` messages ago."""
        return EvaluationContext(self.messages[: len(self.messages) - offset])


# --- tokens -------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?|\.\d+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|<|>)
  | (?P<punct>[()\[\],])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "for", "true", "false", "message", "messages"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    column: int


def tokenize(text: str) -> list[Token]:
    """Split a condition into tokens; columns are 1-based."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            if char in "\"'":
                raise ExpressionError("unterminated string", position + 1)
            if char == "=":
                raise ExpressionError("unexpected '='; use '==' to compare", position + 1)
            raise ExpressionError(f"unexpected character {char!r}", position + 1)
        kind = match.lastgroup or ""
        if kind != "space":
            word = match.group()
            if (kind == "name" and word in _KEYWORDS) or kind == "punct":
                kind = word
            tokens.append(Token(kind, word, position + 1))
        position = match.end()
    tokens.append(Token("eof", "", len(text) + 1))
    return tokens


# --- AST ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A node of the condition AST; `column` points into the condition text."""

    column: int

    @property
    def type(self) -> Type:
        raise NotImplementedError

    def value(self, context: EvaluationContext) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Literal(Node):
    literal: float | str | bool

    @property
    def type(self) -> Type:
        if isinstance(self.literal, bool):
            return Type.BOOL
        return Type.STRING if isinstance(self.literal, str) else Type.NUMBER

    def value(self, context: EvaluationContext) -> Any:
        return self.literal


@dataclass(frozen=True)
class ListLiteral(Node):
    items: tuple[Node, ...]

    @property
    def type(self) -> Type:
        return Type.LIST

    def value(self, context: EvaluationContext) -> Any:
        return [item.value(context) for item in self.items]


def _check(value: Any, expected: Type, what: str) -> Any:
    ok = {
        Type.NUMBER: isinstance(value, int | float) and not isinstance(value, bool),
        Type.STRING: isinstance(value, str),
        Type.BOOL: isinstance(value, bool),
        Type.LIST: isinstance(value, list | tuple | set | frozenset),
    }[expected]
    if not ok:
        raise EvaluationError(f"{what} should be a {expected.value}, got {value!r}")
    return value


@dataclass(frozen=True)
class Name(Node):
    name: str

    @property
    def type(self) -> Type:
        return VARIABLES[self.name]

    def value(self, context: EvaluationContext) -> Any:
        current = context.current
        if self.name not in current:
            raise EvaluationError(f"the context has no value for {self.name!r}")
        return _check(current[self.name], self.type, self.name)


def _emotion(context: EvaluationContext, label: Any) -> float:
    emotions = context.current.get("emotions", {})
    if not isinstance(emotions, Mapping):
        raise EvaluationError("'emotions' should map emotion labels to scores")
    return float(_check(emotions.get(label, 0.0), Type.NUMBER, f"emotion {label!r}"))


def _has_flag(context: EvaluationContext, flag: Any) -> bool:
    flags = context.current.get("risk_flags", [])
    return flag in _check(flags, Type.LIST, "risk_flags")


@dataclass(frozen=True)
class Function:
    """A function conditions may call: argument types, result type and implementation."""

    arguments: tuple[Type, ...]
    result: Type
    implementation: Callable[..., Any]


FUNCTIONS: dict[str, Function] = {
    "emotion": Function((Type.STRING,), Type.NUMBER, _emotion),
    "has_flag": Function((Type.STRING,), Type.BOOL, _has_flag),
}
"""`emotion("grief")` is the score of an emotion label (0 when absent); `has_flag("x")` tests a
risk flag."""


@dataclass(frozen=True)
class Call(Node):
    function: str
    arguments: tuple[Node, ...]

    @property
    def type(self) -> Type:
        return FUNCTIONS[self.function].result

    def value(self, context: EvaluationContext) -> Any:
        values = [argument.value(context) for argument in self.arguments]
        return FUNCTIONS[self.function].implementation(context, *values)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
    "==": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
}


@dataclass(frozen=True)
class Compare(Node):
    operator: str
    left: Node
    right: Node

    @property
    def type(self) -> Type:
        return Type.BOOL

    def value(self, context: EvaluationContext) -> Any:
        left, right = self.left.value(context), self.right.value(context)
        if self.operator in {"==", "!="} and isinstance(left, float | int):
            equal = math.isclose(float(left), float(right), rel_tol=1e-9, abs_tol=1e-12)
            return equal if self.operator == "==" else not equal
        return _COMPARE[self.operator](left, right)


@dataclass(frozen=True)
class Membership(Node):
    item: Node
    container: Node
    negated: bool

    @property
    def type(self) -> Type:
        return Type.BOOL

    def value(self, context: EvaluationContext) -> Any:
        found = self.item.value(context) in self.container.value(context)
        return not found if self.negated else found


@dataclass(frozen=True)
class Not(Node):
    operand: Node

    @property
    def type(self) -> Type:
        return Type.BOOL

    def value(self, context: EvaluationContext) -> Any:
        return not self.operand.value(context)


@dataclass(frozen=True)
class BoolOp(Node):
    operator: str
    operands: tuple[Node, ...]

    @property
    def type(self) -> Type:
        return Type.BOOL

    def value(self, context: EvaluationContext) -> Any:
        if self.operator == "and":
            return all(operand.value(context) for operand in self.operands)
        return any(operand.value(context) for operand in self.operands)


@dataclass(frozen=True)
class Sustained(Node):
    """`inner for N messages`: the inner condition held on each of the last N messages."""

    inner: Node
    count: int

    @property
    def type(self) -> Type:
        return Type.BOOL

    def value(self, context: EvaluationContext) -> Any:
        if len(context.messages) < self.count:
            return False
        return all(self.inner.value(context.window(offset)) for offset in range(self.count))


@dataclass(frozen=True)
class Condition:
    """A parsed condition: its source text and AST root."""

    source: str
    root: Node = field(compare=False)

    def evaluate(self, context: EvaluationContext | Mapping[str, Any]) -> bool:
        """Evaluate against a conversation (or a single message's values)."""
        if not isinstance(context, EvaluationContext):
            context = EvaluationContext.single(context)
        return bool(self.root.value(context))

    @property
    def window(self) -> int:
        """How many recent messages evaluation needs (1 unless `for N messages` is used)."""
        return _window(self.root)

    def __str__(self) -> str:
        return self.source


def _window(node: Node) -> int:
    children: tuple[Node, ...] = ()
    if isinstance(node, Sustained):
        return node.count - 1 + _window(node.inner)
    if isinstance(node, Compare):
        children = (node.left, node.right)
    elif isinstance(node, Membership):
        children = (node.item, node.container)
    elif isinstance(node, Not):
        children = (node.operand,)
    elif isinstance(node, BoolOp | ListLiteral | Call):
        children = node.operands if isinstance(node, BoolOp) else _items(node)
    return max((_window(child) for child in children), default=1)


def _items(node: ListLiteral | Call) -> tuple[Node, ...]:
    return node.items if isinstance(node, ListLiteral) else node.arguments


# --- parser -------------------------------------------------------------------------------------


def _suggest(word: str, choices: list[str]) -> str:
    match = process.extractOne(word, choices, score_cutoff=70)
    return f"; did you mean {match[0]!r}?" if match else ""


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, kind: str, what: str) -> Token:
        if self.token.kind != kind:
            raise ExpressionError(f"expected {what}, found {self.describe()}", self.token.column)
        return self.advance()

    def describe(self) -> str:
        return "end of condition" if self.token.kind == "eof" else repr(self.token.text)

    def enter(self, column: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError(f"condition nested deeper than {MAX_NESTING} levels", column)

    def condition(self) -> Node:
        node = self.or_expr()
        if self.token.kind != "eof":
            raise ExpressionError(
                f"unexpected {self.describe()}; expected 'and', 'or' or end of condition",
                self.token.column,
            )
        return node

    def or_expr(self) -> Node:
        return self.bool_op("or", self.and_expr)

    def and_expr(self) -> Node:
        return self.bool_op("and", self.not_expr)

    def bool_op(self, operator: str, operand: Callable[[], Node]) -> Node:
        first = operand()
        operands = [first]
        while self.token.kind == operator:
            self.advance()
            operands.append(operand())
        if len(operands) == 1:
            return first
        for node in operands:
            _require(node, Type.BOOL, f"'{operator}' needs true/false operands")
        return BoolOp(first.column, operator, tuple(operands))

    def not_expr(self) -> Node:
        if self.token.kind == "not":
            token = self.advance()
            self.enter(token.column)
            operand = self.not_expr()
            self.depth -= 1
            _require(operand, Type.BOOL, "'not' needs a true/false operand")
            return Not(token.column, operand)
        return self.sustained()

    def sustained(self) -> Node:
        node = self.comparison()
        if self.token.kind != "for":
            return node
        keyword = self.advance()
        count_token = self.expect("number", "a number of messages after 'for'")
        if not count_token.text.isdigit():
            raise ExpressionError("the number of messages must be a whole number", keyword.column)
        count = int(count_token.text)
        if not 1 <= count <= MAX_SUSTAINED_MESSAGES:
            raise ExpressionError(
                f"the number of messages must be between 1 and {MAX_SUSTAINED_MESSAGES}",
                count_token.column,
            )
        if self.token.kind not in {"message", "messages"}:
            raise ExpressionError(
                f"expected 'messages' after 'for {count}', found {self.describe()}",
                self.token.column,
            )
        self.advance()
        _require(node, Type.BOOL, "'for N messages' needs a true/false condition before it")
        return Sustained(node.column, node, count)

    def comparison(self) -> Node:
        left = self.operand()
        token = self.token
        if token.kind == "op":
            self.advance()
            right = self.operand()
            _check_comparison(token, left, right)
            return Compare(left.column, token.text, left, right)
        negated = token.kind == "not" and self.tokens[self.index + 1].kind == "in"
        if token.kind == "in" or negated:
            self.index += 2 if negated else 1
            right = self.operand()
            if right.type is Type.LIST:
                if left.type in {Type.LIST, Type.BOOL}:
                    raise ExpressionError("the item tested with 'in' must be a value", left.column)
            elif right.type is Type.STRING:
                _require(left, Type.STRING, "'in' a string needs a string on the left")
            else:
                raise ExpressionError("'in' needs a list or a string on the right", right.column)
            return Membership(left.column, left, right, negated)
        return left

    def operand(self) -> Node:
        token = self.token
        kind = token.kind
        if kind == "number":
            self.advance()
            return Literal(token.column, float(token.text))
        if kind == "string":
            self.advance()
            return Literal(token.column, _unquote(token.text))
        if kind in {"true", "false"}:
            self.advance()
            return Literal(token.column, kind == "true")
        if kind == "(":
            self.advance()
            self.enter(token.column)
            node = self.or_expr()
            self.depth -= 1
            self.expect(")", "')'")
            return node
        if kind == "[":
            return self.list_literal()
        if kind == "name":
            return self.name_or_call()
        if kind in {"op", ")", "]", ","}:
            raise ExpressionError(f"expected a value, found {token.text!r}", token.column)
        raise ExpressionError(f"expected a value, found {self.describe()}", token.column)

    def list_literal(self) -> Node:
        start = self.advance()
        self.enter(start.column)
        items: list[Node] = []
        if self.token.kind != "]":
            items.append(self.operand())
            while self.token.kind == ",":
                self.advance()
                items.append(self.operand())
        self.expect("]", "',' or ']'")
        self.depth -= 1
        for item in items:
            if item.type in {Type.LIST, Type.BOOL}:
                raise ExpressionError("list items must be numbers or strings", item.column)
        return ListLiteral(start.column, tuple(items))

    def name_or_call(self) -> Node:
        token = self.advance()
        if self.token.kind == "(":
            return self.call(token)
        if token.text not in VARIABLES:
            hint = _suggest(token.text, [*VARIABLES, *FUNCTIONS])
            raise ExpressionError(f"unknown name {token.text!r}{hint}", token.column)
        return Name(token.column, token.text)

    def call(self, name: Token) -> Node:
        function = FUNCTIONS.get(name.text)
        if function is None:
            hint = _suggest(name.text, list(FUNCTIONS))
            raise ExpressionError(f"unknown function {name.text!r}{hint}", name.column)
        self.advance()
        self.enter(name.column)
        arguments: list[Node] = []
        if self.token.kind != ")":
            arguments.append(self.operand())
            while self.token.kind == ",":
                self.advance()
                arguments.append(self.operand())
        self.expect(")", "',' or ')'")
        self.depth -= 1
        if len(arguments) != len(function.arguments):
            raise ExpressionError(
                f"{name.text}() takes {len(function.arguments)} argument(s), got {len(arguments)}",
                name.column,
            )
        for argument, expected in zip(arguments, function.arguments, strict=True):
            _require(argument, expected, f"{name.text}() expects a {expected.value}")
        return Call(name.column, name.text, tuple(arguments))


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _require(node: Node, expected: Type, message: str) -> None:
    if node.type is not expected:
        raise ExpressionError(f"{message}, not a {node.type.value}", node.column)


def _check_comparison(operator: Token, left: Node, right: Node) -> None:
    if operator.text in {"==", "!="}:
        if left.type is not right.type:
            raise ExpressionError(
                f"cannot compare a {left.type.value} with a {right.type.value}", operator.column
            )
        return
    for side in (left, right):
        _require(side, Type.NUMBER, f"'{operator.text}' compares numbers")


def parse_condition(text: str) -> Condition:
    """Parse and type-check a condition; raise `ExpressionError` pointing at the bad column."""
    if len(text) > MAX_CONDITION_LENGTH:
        raise ExpressionError(f"condition longer than {MAX_CONDITION_LENGTH} characters", 1)
    if not text.strip():
        raise ExpressionError("empty condition", 1)
    root = _Parser(text).condition()
    if root.type is not Type.BOOL:
        raise ExpressionError(
            f"a condition must be true or false, this is a {root.type.value}", root.column
        )
    return Condition(text, root)
