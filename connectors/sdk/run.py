"""`warmline connector run NAME --config FILE`: one configured connector, until SIGTERM or Ctrl-C.

The connector's entry in the configuration picks its class (`type:`), its settings (validated by
the class's `Settings` model, with FILE:LINE:COL errors), its secrets and the event types it gets.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
import signal
from collections.abc import Mapping
from pathlib import Path

from connectors.sdk.check import at_key, check_connectors, settings_of
from connectors.sdk.connector import (
    Connector,
    ConnectorContext,
    InvalidSecretError,
    MissingSecretError,
)
from connectors.sdk.registry import resolve
from connectors.sdk.runner import ConnectorRunner, RunnerSettings
from connectors.sdk.state import InDoubt, RetryState, connect_redis
from warmline.config.loader import load_config
from warmline.config.model import Connector as ConnectorConfig
from warmline.config.model import WarmlineConfig
from warmline.errors import ConfigError, Diagnostic
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from warmline.events.types import EVENTS_TOPIC
from warmline.reach import check_kafka, check_redis

log = logging.getLogger(__name__)


def topics_for(entry: ConnectorConfig, connector_type: type[Connector]) -> tuple[str, ...]:
    """The topics carrying the event types this connector handles and its entry asks for."""
    wanted = {
        event_type.topic
        for event_type in connector_type.handler_table()
        if any(fnmatch.fnmatchcase(event_type.value, p) for p in entry.events)
    }
    return tuple(sorted(wanted)) or (EVENTS_TOPIC,)


def build(
    config: WarmlineConfig,
    entry: ConnectorConfig,
    *,
    base_dir: Path,
    env: Mapping[str, str] | None = None,
    in_doubt: InDoubt | None = None,
) -> Connector:
    """The connector instance `config`'s `entry` describes, its secrets read from `env`.

    Only this connector's secrets are read, so a connector process needs no other credentials.
    The deployment's `wellness.min_group_size` goes into the context, so no connector setting
    can let a smaller group's figures out. Without `in_doubt` (Redis), writes in doubt are
    remembered in this process only.
    """
    connector_type = resolve(entry.type)
    settings = connector_type.Settings.model_validate(settings_of(entry, connector_type))
    source = os.environ if env is None else env
    secrets = {name: source.get(ref.name) for name, ref in entry.secrets.items()}
    missing = [entry.secrets[name].name for name, value in secrets.items() if value is None]
    # A variable set but not filled in fails only at the first request (a 401 five times over,
    # then a dead letter); the configuration's own secrets are refused alike at start-up.
    empty = [
        entry.secrets[name].name for name, v in secrets.items() if v is not None and not v.strip()
    ]
    if missing or empty:
        said = [f"needs environment variable(s) {', '.join(missing)}"] if missing else []
        said += [f"environment variable(s) {', '.join(empty)} set but empty"] if empty else []
        raise MissingSecretError(f"connector {entry.name!r}: {'; '.join(said)}")
    context = ConnectorContext(
        name=entry.name,
        secrets={name: value for name, value in secrets.items() if value is not None},
        base_dir=str(base_dir),
        min_group_size=config.wellness.min_group_size,
        in_doubt=in_doubt or InDoubt(),
    )
    return connector_type(settings, context)


async def run_connector(
    name: str,
    config_path: Path,
    *,
    kafka: str,
    redis: str,
    topics: tuple[str, ...] | None = None,
) -> None:
    """Load, validate and run the connector called `name` until a signal stops it."""
    config = load_config(config_path, resolve_secrets=False)
    entry = next((c for c in config.connectors if c.name == name), None)
    if entry is None:
        known = ", ".join(c.name for c in config.connectors) or "none"
        message = f"no connector named {name!r} (defined: {known})"
        raise ConfigError([at_key(config_path, ("connectors",), message)])
    problems = check_connectors(config_path, config.model_copy(update={"connectors": [entry]}))
    index = config.connectors.index(entry)
    problems += [
        at_key(
            config_path,
            ("connectors", index, "secrets", name),
            f"connectors[{index}].secrets.{name}: environment variable {ref.name} is not set",
        )
        for name, ref in entry.secrets.items()
        if ref.name not in os.environ
    ]
    if problems:
        raise ConfigError(problems)
    scope = f"connector:{entry.name}"
    # One client for the dedupe keys, the writes in doubt and the retry tries, under one scope;
    # its calls are bounded, so a Redis that stops answering fails them and the runner waits the
    # outage out (a stop meanwhile still ends it).
    store = connect_redis(redis)
    try:
        connector = build(
            config, entry, base_dir=config_path.parent, in_doubt=InDoubt(store, scope=scope)
        )
    except InvalidSecretError as error:
        raise ConfigError([_bad_secret(config_path, index, entry, error)]) from None
    check_redis(redis)
    check_kafka(kafka)
    settings = RunnerSettings(
        events=tuple(entry.events), topics=topics or topics_for(entry, type(connector))
    )
    runner = ConnectorRunner(
        connector,
        bootstrap=kafka,
        deduper=Deduper(store, scope=scope),
        dead_letters=DeadLetters.connect(kafka, consumer=f"connector:{entry.name}"),
        settings=settings,
        retry_state=RetryState(store, scope=scope),
    )
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, runner.stop)
    log.info("connector %s (%s) running on %s", entry.name, entry.type, ", ".join(settings.topics))
    await runner.run()
    log.info("connector %s stopped", entry.name)


def _bad_secret(
    config_path: Path, index: int, entry: ConnectorConfig, error: InvalidSecretError
) -> Diagnostic:
    """`error` at the line of the secret in the configuration, naming its variable."""
    ref = entry.secrets.get(error.secret)
    if ref is None:
        return at_key(config_path, ("connectors", index, "secrets"), str(error))
    loc = ("connectors", index, "secrets", error.secret)
    message = f"connectors[{index}].secrets.{error.secret}: environment variable {ref.name} "
    return at_key(config_path, loc, message + error.problem)
