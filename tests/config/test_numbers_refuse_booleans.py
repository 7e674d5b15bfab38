"""A boolean where the configuration wants a number is refused, never read as 1 or 0.

pydantic's lax mode takes `True` for 1, so `capacity: true`, or `overlap: yes` under a
`%YAML 1.1` directive, used to be a silent 1. Every `int` and `float` setting of the model is
found by walking it, so a numeric setting added later without the check fails here.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from typer.testing import Result

from warmline.config.model import WarmlineConfig

Edit = Callable[[Path, str, str], Path]

Slot = tuple[Any, Any]
"""A value for a field holding a boolean where a number belongs, and the number's type."""


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """`root` and every model reachable from its fields, each once, in the order found."""
    found: list[type[BaseModel]] = []

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in found:
                found.append(annotation)
                for info in annotation.model_fields.values():
                    visit(info.annotation)
            return
        for argument in typing.get_args(annotation):
            visit(argument)

    visit(root)
    return found


def _boolean_slots(annotation: Any) -> Iterator[Slot]:
    """For each place a number is written in a value of `annotation` (the number itself, an
    item of a list of numbers, a key or a value of a mapping), a value with `true` there."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is Annotated:
        yield from _boolean_slots(arguments[0])
    elif origin is typing.Union or origin is types.UnionType:
        if bool in {_bare(argument) for argument in arguments}:
            return  # a boolean is one of the choices (a connector setting)
        for argument in arguments:
            yield from _boolean_slots(argument)
    elif origin is list:
        for value, number in _boolean_slots(arguments[0]):
            yield [value], number
    elif origin is dict:
        for value, number in _boolean_slots(arguments[0]):
            yield {value: None}, number
        for value, number in _boolean_slots(arguments[1]):
            yield {"key": value}, number
    elif annotation is int or annotation is float:
        yield True, annotation


def _bare(annotation: Any) -> Any:
    if typing.get_origin(annotation) is Annotated:
        return _bare(typing.get_args(annotation)[0])
    return annotation


NAMED_SLOTS = {
    f"{model.__name__}.{name}[{index}]": (model, name, value, number)
    for model in _models(WarmlineConfig)
    for name, info in model.model_fields.items()
    for index, (value, number) in enumerate(_boolean_slots(info.annotation))
}
"""Each place a number is written in the configuration, by model, field and place in the field."""


def _errors(model: type[BaseModel], data: dict[str, Any]) -> list[ErrorDetails]:
    try:
        model.model_validate(data)
    except ValidationError as error:
        return error.errors()
    return []


def test_the_walk_finds_the_numeric_settings() -> None:
    """The walk below reaches into lists, mappings, optional values and the providers' union;
    if it found nothing, the test of each setting would pass without testing anything."""
    assert {
        "Specialist.capacity[0]",
        "Annotation.overlap[0]",
        "ExposureWeights.calm[0]",
        "Retraining.after_gold_labels[0]",
        "LlmProvider.max_retries[0]",
        "CheckInScale.labels[0]",
        "Sampling.random_fraction[0]",
    } <= set(NAMED_SLOTS)
    assert len(NAMED_SLOTS) >= 30
    assert not any(name.startswith("Connector.") for name in NAMED_SLOTS)


@pytest.mark.parametrize(
    ("model", "name", "value", "number"), list(NAMED_SLOTS.values()), ids=list(NAMED_SLOTS)
)
def test_every_numeric_setting_refuses_a_boolean(
    model: type[BaseModel], name: str, value: Any, number: type[Any]
) -> None:
    key = model.model_fields[name].alias or name
    refused = [
        error
        for error in _errors(model, {key: value})
        if error["loc"][:1] == (key,) and error["type"] == "boolean_for_number"
    ]
    expected = "a whole number" if number is int else "a number"
    assert [error["msg"] for error in refused] == [
        f"expected {expected}, but YAML reads this value as a boolean (true)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "where", "expected", "found"),
    [
        pytest.param(
            "      capacity: 3\n",
            "      capacity: true\n",
            "routing.specialists[0].capacity",
            "a whole number",
            "true",
            id="capacity",
        ),
        pytest.param(
            "weights: {calm: 0.5,",
            "weights: {calm: false,",
            "wellness.exposure.weights.calm",
            "a number",
            "false",
            id="weight",
        ),
        pytest.param(
            "    random_fraction: 0.01\n",
            "    random_fraction: true\n",
            "annotation.sampling.random_fraction",
            "a number",
            "true",
            id="fraction",
        ),
    ],
)
def test_validate_names_the_boolean_at_its_line_and_column(
    shop: Path,
    edit: Edit,
    validate: Callable[..., Result],
    old: str,
    new: str,
    where: str,
    expected: str,
    found: str,
) -> None:
    edit(shop, old, new)
    lines = shop.read_text(encoding="utf-8").splitlines()
    [(line, text)] = [(n, text) for n, text in enumerate(lines, start=1) if new.strip() in text]
    column = text.index(found, text.index(new.strip())) + 1
    result = validate(shop)
    assert result.exit_code == 2, result.output
    assert (
        f"{shop}:{line}:{column}: {where}: expected {expected}, but YAML reads this value as a "
        f"boolean ({found})"
    ) in result.stdout, result.stdout
    assert "Traceback" not in result.output


def test_yes_under_yaml_1_1_is_not_an_overlap_of_one(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    """`yes` is `true` under a `%YAML 1.1` directive."""
    edit(shop, "apiVersion: warmline/v1\n", "%YAML 1.1\n---\napiVersion: warmline/v1\n")
    edit(shop, "  overlap: 3\n", "  overlap: yes\n")
    line = shop.read_text(encoding="utf-8").splitlines().index("  overlap: yes") + 1
    result = validate(shop)
    assert result.exit_code == 2, result.output
    assert (
        f"{shop}:{line}:12: annotation.overlap: expected a whole number, but YAML reads this "
        "value as a boolean (true)"
    ) in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("weights: {calm: 0.5,", "weights: {calm: 1,", id="whole-weight"),
        pytest.param("    blur_above_distress: 0.7\n", "    blur_above_distress: 1\n", id="one"),
    ],
)
def test_a_whole_number_is_still_a_number(
    shop: Path, edit: Edit, validate: Callable[..., Result], old: str, new: str
) -> None:
    edit(shop, old, new)
    result = validate(shop)
    assert result.exit_code == 0, result.output
