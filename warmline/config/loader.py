"""Loading and validating configuration files, reporting every problem as FILE:LINE:COL: message.

`load_config` is how the rest of warmline reads configuration; `check_paths` backs the
`warmline validate` command, `validate_paths` is its errors alone. None ever lets an exception
escape for a bad file.
"""

from __future__ import annotations

import errno
import os
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from rapidfuzz import fuzz, process

from warmline.config.model import KIND, SUPPORTED_API_VERSIONS, Provider, WarmlineConfig
from warmline.config.paths import unusable_path
from warmline.config.references import Problem, check_references, check_warnings
from warmline.config.yamlsource import PathKey, SourceDocument, YamlSourceError, load_document
from warmline.errors import ConfigError, Diagnostic

CONFIG_SUFFIXES = (".yaml", ".yml")
# Directories with this name hold other YAML formats (simulation scenarios), not configurations.
SKIPPED_DIRECTORIES = frozenset({"scenarios"})

_TYPE_NAMES = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}


ExtraCheck = Callable[[Path, WarmlineConfig], list[Diagnostic]]
"""A check of a valid configuration by a part of warmline the loader does not know (connectors)."""


@dataclass(frozen=True)
class Validation:
    """What `check_paths` found: errors (the file is invalid), warnings (valid, but a setting as
    written does nothing) and how many files it checked."""

    errors: list[Diagnostic]
    warnings: list[Diagnostic]
    checked: int


def check_paths(paths: list[Path], *, extra: ExtraCheck | None = None) -> Validation:
    """Validate files and directories (recursively): every error and warning, files checked.

    Secrets are not resolved: validation runs on machines without them. `extra` runs on each
    file that is otherwise valid. Warnings are looked for in valid files only.
    """
    errors: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    checked = 0
    for path in paths:
        problem = unusable_path(path)
        if problem is not None:
            errors.append(Diagnostic(path, 1, 1, problem))
            continue
        if not path.exists():
            errors.append(Diagnostic(path, 1, 1, _missing(path)))
            continue
        files = list(_config_files(path))
        if not files:
            # A mistyped or emptied directory would otherwise pass a CI check with nothing read.
            suffixes = ", ".join(f"*{suffix}" for suffix in sorted(CONFIG_SUFFIXES))
            message = f"is a directory with no configuration file ({suffixes}) in it"
            errors.append(Diagnostic(path, 1, 1, message))
        for file in files:
            checked += 1
            config, found, advised = _check_file(file, resolve_secrets=False, env=None)
            errors.extend(found)
            warnings.extend(advised)
            if config is not None and extra is not None:
                errors.extend(extra(file, config))
    return Validation(errors=errors, warnings=warnings, checked=checked)


def validate_paths(
    paths: list[Path], *, extra: ExtraCheck | None = None
) -> tuple[list[Diagnostic], int]:
    """The errors `check_paths` finds (warnings left out) and the number of files checked."""
    validation = check_paths(paths, extra=extra)
    return validation.errors, validation.checked


def load_config(
    path: Path, *, resolve_secrets: bool = True, env: Mapping[str, str] | None = None
) -> WarmlineConfig:
    """Load and fully validate one configuration; raise `ConfigError` with every problem.

    With `resolve_secrets` (the default) each `${NAME}` secret is read from `env` (default:
    the process environment) and a missing variable is an error naming it.
    """
    problem = unusable_path(path)
    if problem is not None:
        raise ConfigError([Diagnostic(path, 1, 1, problem)])
    if not path.is_file():
        raise ConfigError([not_a_file(path)])
    config, diagnostics, _ = _check_file(
        path, resolve_secrets=resolve_secrets, env=os.environ if env is None else env
    )
    if diagnostics or config is None:
        raise ConfigError(diagnostics)
    return config


def not_a_file(path: Path) -> Diagnostic:
    """Why `path`, which is not a regular file, cannot be read as a YAML file."""
    problem = unusable_path(path)
    if problem is not None:
        return Diagnostic(path, 1, 1, problem)
    if path.is_dir():
        return Diagnostic(path, 1, 1, "is a directory; name the YAML file in it")
    if path.exists():
        return Diagnostic(path, 1, 1, "is not a regular file")
    return Diagnostic(path, 1, 1, _missing(path))


def _missing(path: Path) -> str:
    """Why `path`, which `exists()` says is not there, cannot be read: a link that leads nowhere
    or in a circle is named as one rather than as a file that is not there."""
    try:
        path.stat()
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "is a symbolic link loop (too many levels of symbolic links)"
        if path.is_symlink() and error.errno == errno.ENOENT:
            return f"is a symbolic link to {str(path.readlink())!r}, which does not exist"
        if error.errno != errno.ENOENT:
            return f"cannot read: {error.strerror or error}"
    return "no such file or directory"


def _config_files(path: Path) -> Iterator[Path]:
    # A path named explicitly is read whatever it is: a pipe from `<(...)` is a configuration too.
    if not path.is_dir():
        yield path
        return
    for file in sorted(path.rglob("*")):
        relative = file.relative_to(path).parts[:-1]
        wanted = file.suffix in CONFIG_SUFFIXES and file.is_file()
        if wanted and not SKIPPED_DIRECTORIES.intersection(relative):
            yield file


def _check_file(
    path: Path, *, resolve_secrets: bool, env: Mapping[str, str] | None
) -> tuple[WarmlineConfig | None, list[Diagnostic], list[Diagnostic]]:
    """The valid configuration (None if there are errors), the errors, and the warnings (looked
    for in a valid configuration only)."""
    try:
        document = load_document(path)
    except YamlSourceError as error:
        return None, [Diagnostic(path, error.line, error.column, error.message)], []
    header = _check_header(document)
    if header:
        return None, header, []
    context = {
        "base_dir": path.parent.absolute(),
        "resolve_secrets": resolve_secrets,
        "env": env,
    }
    try:
        config = WarmlineConfig.model_validate(document.data, context=context)
    except ValidationError as error:
        return None, _sorted(_diagnostic(document, detail) for detail in error.errors()), []
    diagnostics = [_located(document, problem) for problem in check_references(config)]
    if diagnostics:
        return None, _sorted(diagnostics), []
    warnings = [_located(document, problem, "warning") for problem in check_warnings(config)]
    return config, [], _sorted(warnings)


def _located(
    document: SourceDocument, problem: Problem, severity: Literal["error", "warning"] = "error"
) -> Diagnostic:
    """A cross-reference problem as a diagnostic at its line in the file (or in the other file
    it lies in, naming where the configuration uses that file)."""
    path = document.path
    line, column = document.locate(problem.loc)
    if problem.file is not None:
        message = f"{problem.message} (used by {dotted(problem.loc)} in {path}:{line})"
        return Diagnostic(problem.file, problem.line or 1, 1, message, severity)
    return Diagnostic(path, line, column, f"{dotted(problem.loc)}: {problem.message}", severity)


def located(
    path: Path,
    error: ValidationError,
    prefix: tuple[int | str, ...] = (),
    model: type[BaseModel] | None = None,
) -> list[Diagnostic]:
    """FILE:LINE:COL diagnostics for a validation error of a part of a configuration file.

    For checks that run after `load_config`, such as a connector's own settings model: `prefix`
    is where the validated part sits in the file (e.g. `("connectors", 0, "settings")`), and
    `model` the model that raised `error`, whose keys an unknown key is compared with for a
    did-you-mean (without it, only the configuration's own keys are known).
    """
    try:
        document = load_document(path)
    except YamlSourceError as problem:
        return [Diagnostic(path, problem.line, problem.column, problem.message)]
    details = [
        ErrorDetails(**{**detail, "loc": (*prefix, *detail["loc"])}) for detail in error.errors()
    ]
    keys = None if model is None else _keys_below(prefix, model)
    return _sorted(_diagnostic(document, detail, keys) for detail in details)


def _keys_below(
    prefix: tuple[int | str, ...], model: type[BaseModel]
) -> Callable[[tuple[int | str, ...]], list[str]]:
    """The keys allowed at a location of the file, for a part validated by `model` at `prefix`."""

    def keys(loc: tuple[int | str, ...]) -> list[str]:
        if loc[: len(prefix)] == prefix:
            return allowed_keys(loc[len(prefix) :], model)
        return allowed_keys(loc)

    return keys


def _sorted(diagnostics: Iterator[Diagnostic] | list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=lambda d: (str(d.path), d.line, d.column))


def _check_header(document: SourceDocument) -> list[Diagnostic]:
    data, path = document.data, document.path
    supported = ", ".join(SUPPORTED_API_VERSIONS)
    if not isinstance(data, dict):
        line, column = document.locate(())
        found = _TYPE_NAMES.get(type(data), "a scalar")
        return [
            Diagnostic(
                path,
                line,
                column,
                f"the top level must be a mapping with apiVersion, found {found}",
            )
        ]
    if "apiVersion" not in data:
        return [Diagnostic(path, 1, 1, f"missing apiVersion; supported: {supported}")]
    version = data["apiVersion"]
    if version not in SUPPORTED_API_VERSIONS:
        line, column = document.locate(("apiVersion",))
        return [
            Diagnostic(
                path, line, column, f"unsupported apiVersion {version!r}; supported: {supported}"
            )
        ]
    kind = data.get("kind")
    if kind != KIND:
        line, column = document.locate(("kind",), at_key="kind" not in data)
        hint = "; a scenario is run with `warmline simulate`" if kind == "Scenario" else ""
        return [Diagnostic(path, line, column, f"kind must be {KIND!r}, found {kind!r}{hint}")]
    return []


def data_path(document: SourceDocument, loc: tuple[int | str, ...]) -> PathKey:
    """Drop the parts of a pydantic location that are not in the data (union tags, `[key]`)."""
    node: Any = document.data
    path: list[str | int] = []
    tagged: Any = None
    for index, element in enumerate(loc):
        if (
            isinstance(node, dict)
            and node is not tagged
            and element in _UNION_TAGS
            and node.get("type") == element
        ):
            # The tag pydantic adds after a discriminated union (`triage.provider`), once, where
            # it may also be a key of the data: the lexicon provider's `lexicon` file.
            tagged = node
            continue
        in_mapping = isinstance(node, dict) and isinstance(element, str) and element in node
        in_list = isinstance(node, list) and isinstance(element, int) and 0 <= element < len(node)
        if in_mapping or in_list:
            node = node[element]
            path.append(element)
        elif index == len(loc) - 1 and not str(element).startswith("["):
            # A key the data lacks (a missing required key) ends the location.
            path.append(element)
    return tuple(path)


_UNION_TAGS = frozenset(
    tag
    for provider in typing.get_args(typing.get_args(Provider)[0])
    for tag in typing.get_args(provider.model_fields["type"].annotation)
)
"""The tags of the configuration's discriminated union (the triage provider's `type`), which
pydantic puts in an error's location though they are no key of the data."""


def dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for element in loc:
        text += f"[{element}]" if isinstance(element, int) else f".{element}" if text else element
    return text or "(top level)"


SCALAR_TYPES = {
    "int_type": "a whole number",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
}
"""What a value of each pydantic type error was expected to be, for a key given no value."""


def string_expected(value: Any) -> str | None:
    """What to write for a string YAML read as something else: a phone number, a version, `no`
    (a language code, a boolean under a `%YAML 1.1` directive); None where quotes would not help."""
    if not isinstance(value, bool | int | float):
        return None
    shown = str(value).lower() if isinstance(value, bool) else repr(value)
    return (
        f"expected a string, but YAML reads this value as {_describe(value)} ({shown}); "
        "put it in quotes to keep it as written"
    )


def _describe(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), "a number" if isinstance(value, int | float) else "null")


def _diagnostic(
    document: SourceDocument,
    detail: ErrorDetails,
    keys: Callable[[tuple[int | str, ...]], list[str]] | None = None,
) -> Diagnostic:
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    message = detail["msg"].removeprefix("Value error, ")
    if kind == "duplicate_name":
        return _duplicate(document, detail)
    loc = data_path(document, detail["loc"])
    if kind == "extra_forbidden":
        name = str(loc[-1])
        hint = suggest(name, (keys or allowed_keys)(detail["loc"][:-1]))
        where = dotted(loc[:-1])
        line, column = document.locate(loc, at_key=True)
        return Diagnostic(document.path, line, column, f"{where}: unknown key {name!r}{hint}")
    if kind == "missing":
        line, column = document.locate(loc[:-1], at_key=True)
        where = dotted(loc[:-1])
        return Diagnostic(document.path, line, column, f"{where}: missing required key {loc[-1]!r}")
    line, column = document.locate(loc, at_key=bool(detail["loc"]) and _is_key(detail["loc"]))
    if kind == "condition":
        position = document.positions.get(loc)
        if position is not None and not position.block:
            column = position.value_column + int(position.quoted) + int(ctx["column"]) - 1
    elif kind in {"model_type", "model_attributes_type", "dict_type"}:
        message = f"expected a mapping, found {_describe(detail['input'])}"
    elif kind == "list_type":
        message = f"expected a list, found {_describe(detail['input'])}"
    elif kind == "string_type":
        message = string_expected(detail["input"]) or message
    if detail["input"] is None and kind in SCALAR_TYPES:
        message = f"expected {SCALAR_TYPES[kind]}, found no value"
    return Diagnostic(document.path, line, column, f"{dotted(loc)}: {message}")


def _duplicate(document: SourceDocument, detail: ErrorDetails) -> Diagnostic:
    """A name given twice (see `model._unique`): at the second, naming the first's line. The
    model's validator raised it, so its location is the model's; the context says where below."""
    ctx = detail.get("ctx") or {}
    loc = data_path(document, (*detail["loc"], *ctx["at"]))
    line, column = document.locate(loc)
    first, _ = document.locate(data_path(document, (*detail["loc"], *ctx["first"])))
    message = f"{detail['msg']} (first at line {first})"
    return Diagnostic(document.path, line, column, f"{dotted(loc)}: {message}")


def _is_key(loc: tuple[int | str, ...]) -> bool:
    return isinstance(loc[-1], str) and loc[-1] == "[key]"


def suggest(name: str, known: list[str]) -> str:
    # Plain edit-distance similarity: the default (WRatio) scores a short key found inside a longer
    # word highly, so 'escalate' got "did you mean 'at'?" and 'identifier' "did you mean 'id'?".
    match = process.extractOne(name, known, scorer=fuzz.ratio, score_cutoff=70)
    if match:
        return f"; did you mean {match[0]!r}?"
    return f"; expected one of: {', '.join(known)}" if known else ""


def allowed_keys(loc: tuple[int | str, ...], root: type[BaseModel] = WarmlineConfig) -> list[str]:
    """The keys the model (`root` at the top) accepts at a pydantic location, for suggestions."""
    candidates: list[Any] = [root]
    for element in loc:
        models = [c for c in _flatten(candidates) if _is_model(c)]
        tagged = [m for m in models if isinstance(element, str) and _has_tag(m, element)]
        if len(models) > 1 and tagged:
            # A discriminated union's tag picks its member, even where the member also has a
            # field of that name (the lexicon provider's `lexicon`).
            candidates = tagged
            continue
        following: list[Any] = []
        for candidate in _flatten(candidates):
            if _is_model(candidate) and isinstance(element, str):
                field = _field(candidate, element)
                if field is not None:
                    following.append(field)
                elif _has_tag(candidate, element):
                    following.append(candidate)
            origin = typing.get_origin(candidate)
            arguments = typing.get_args(candidate)
            if origin is list and isinstance(element, int):
                following.append(arguments[0])
            elif origin is dict and isinstance(element, str):
                following.append(arguments[1])
        candidates = following
    keys: list[str] = []
    for candidate in _flatten(candidates):
        if _is_model(candidate):
            keys.extend(info.alias or name for name, info in candidate.model_fields.items())
    return keys


def _flatten(candidates: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for candidate in candidates:
        origin = typing.get_origin(candidate)
        if origin is typing.Annotated:
            flat.extend(_flatten([typing.get_args(candidate)[0]]))
        elif origin is typing.Union or origin is types.UnionType:
            flat.extend(_flatten(list(typing.get_args(candidate))))
        else:
            flat.append(candidate)
    return flat


def _is_model(candidate: Any) -> typing.TypeGuard[type[BaseModel]]:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def _field(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in {name, info.alias}:
            return info.annotation
    return None


def _has_tag(model: type[BaseModel], tag: str) -> bool:
    field = model.model_fields.get("type")
    return field is not None and tag in typing.get_args(field.annotation)
