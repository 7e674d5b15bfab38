"""What `warmline validate` checks of a configuration's connectors, beyond the configuration's own
schema: each `type:` resolves to a connector class and the entry's settings fit that class's
`Settings` model, with FILE:LINE:COL positions.

It lives apart from `connectors.sdk.run`, so validating imports no connector runner, event
consumer or Temporal client.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from connectors.http import TemplateSourceError, compile_template
from connectors.sdk.connector import Connector
from connectors.sdk.registry import UnknownConnectorError, resolve
from warmline.config.loader import dotted, located
from warmline.config.model import Connector as ConnectorConfig
from warmline.config.model import WarmlineConfig
from warmline.config.references import not_a_file_message
from warmline.errors import Diagnostic


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
            connector_type.Settings.model_validate(settings_of(entry, connector_type))
        except ValidationError as error:
            where = ("connectors", index, "settings")
            diagnostics.extend(located(path, error, where, connector_type.Settings))
        else:
            diagnostics.extend(_settings_template(path, index, entry))
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
