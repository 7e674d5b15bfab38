"""`warmline triage rollback`, `warmline triage shadow` and `warmline triage retrain`.

A mistake the user can fix (an unknown version, an empty registry, a configuration without
retraining) is one line on stderr and exit status 2, never a traceback; a service that does not
answer is exit status 1.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from warmline.addresses import redis_url, temporal_address
from warmline.triage.commands import Taxonomy

if TYPE_CHECKING:
    from warmline.retraining.settings import RetrainingSettings

EXIT_INVALID = 2
EXIT_UNAVAILABLE = 1


def _fail(message: str, code: int = EXIT_INVALID) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def rollback_command(
    registry: Annotated[Path, typer.Option(help="The model registry directory.")],
    taxonomy: Annotated[Taxonomy, typer.Option(help="The model taxonomy to roll back.")],
    to: Annotated[
        str | None,
        typer.Option(help="The version to serve, e.g. v2; default: the one current before."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for the registry's history.")] = "",
    actor: Annotated[
        str | None, typer.Option(help="Who rolls back; default: the login name.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Serve the previous (or given) version of a registry's model again.

    CURRENT is pointed back; workers serving from the registry switch within seconds. The move
    is recorded in HISTORY.jsonl with who and why.
    """
    from warmline.retraining.promotion import RollbackError, rollback
    from warmline.triage.errors import TriageError
    from warmline.triage.registry import registry_root

    who = actor or _login_name()
    try:
        registry = registry_root(registry, taxonomy.value)
        entry = rollback(
            registry, taxonomy.value, to=to, actor=who, reason=reason or "manual rollback"
        )
    except (RollbackError, TriageError) as error:
        raise _fail(str(error)) from None
    except OSError as error:
        raise _fail(f"{registry}: cannot write the registry: {error.strerror or error}") from None
    if as_json:
        typer.echo(entry.model_dump_json())
    else:
        typer.echo(
            f"{taxonomy.value}: {entry.from_version or 'no version'} -> {entry.to_version} "
            f"(by {entry.actor})"
        )


def _login_name() -> str:
    """Who runs the command, for the history: the login name, else `uid N`. A container run
    under a user id with no account (and no USER or LOGNAME) has no login name, and a rollback
    must not fail for want of one."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _settings(config: Path) -> RetrainingSettings:
    from warmline.config.loader import load_config
    from warmline.errors import ConfigError
    from warmline.retraining.settings import RetrainingDisabledError, retraining_settings

    try:
        return retraining_settings(load_config(config, resolve_secrets=False))
    except ConfigError as error:
        for diagnostic in error.diagnostics:
            typer.echo(diagnostic.render(), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except RetrainingDisabledError as error:
        raise _fail(f"{config}: {error}") from None


def shadow_command(
    config: Annotated[Path, typer.Option(help="The warmline configuration file.")],
    redis: Annotated[
        str,
        typer.Option(
            envvar="WARMLINE_REDIS", callback=redis_url, help="Redis URL of the shadow counters."
        ),
    ] = "redis://127.0.0.1:6379/0",
    version: Annotated[
        str | None,
        typer.Option(help="The candidate; default: the one in shadow, else the last one."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show how a candidate in shadow reads live traffic beside the current model."""
    from redis import Redis
    from redis.exceptions import RedisError

    from warmline.reach import without_password
    from warmline.retraining import promotion
    from warmline.retraining.shadow import ShadowLog
    from warmline.triage.errors import TriageError

    settings = _settings(config)
    if not settings.registry.is_dir():
        data = settings.base_data or "TRAIN.tsv"
        raise _fail(
            f"{settings.registry}: the registry annotation.retraining.registry names does not "
            f"exist; create it with `warmline triage train --data {data} --taxonomy "
            f"{settings.taxonomy} --out {settings.registry}`"
        )
    try:
        # A damaged SHADOW, CURRENT or HISTORY.jsonl is named, not a traceback.
        in_shadow_now = promotion.shadow_version(settings.registry, settings.taxonomy)
        current = promotion.current(settings.registry, settings.taxonomy)
        chosen = version or in_shadow_now
        started = [
            e.to_version
            for e in promotion.history(settings.registry, settings.taxonomy)
            if e.action is promotion.Action.SHADOW_STARTED
        ]
        if chosen is None:
            if not started:
                raise _fail(
                    f"{settings.registry / settings.taxonomy}: no candidate has been in shadow; "
                    "set annotation.retraining.shadow: true"
                )
            chosen = started[-1]
        elif chosen != in_shadow_now and chosen not in started:
            # Counters of a version never in shadow are all zero: a typo would read as a
            # candidate that scored no message.
            raise _fail(_never_in_shadow(settings, chosen, started))
    except (promotion.RollbackError, TriageError) as error:
        raise _fail(str(error)) from None
    except OSError as error:
        where = settings.registry / settings.taxonomy
        raise _fail(f"{where}: cannot read the registry: {error.strerror or error}") from None
    client = Redis.from_url(redis)
    try:
        log = ShadowLog(client, deployment=settings.deployment, prefix=settings.shadow_prefix)
        stats = log.read(settings.taxonomy, chosen)
    except RedisError as error:
        raise _fail(f"Redis at {without_password(redis)}: {error}", EXIT_UNAVAILABLE) from None
    finally:
        client.close()
    in_shadow = in_shadow_now == chosen
    report = {
        **stats.model_dump(),
        "agreement": stats.agreement,
        "in_shadow": in_shadow,
        "current": current,
        "taxonomy": settings.taxonomy,
    }
    if as_json:
        typer.echo(json.dumps(report))
        return
    state = "in shadow" if in_shadow else "no longer in shadow"
    typer.echo(f"{settings.taxonomy} {chosen} ({state}, current {report['current']})")
    typer.echo(f"messages scored       {stats.messages}")
    if stats.messages:
        typer.echo(f"same emotions         {stats.same_labels} ({stats.agreement:.1%})")
        typer.echo(f"same top emotion      {stats.same_top_emotion}")
        typer.echo(f"crisis labels lost    {stats.crisis_labels_current_only}")
        typer.echo(f"crisis labels gained  {stats.crisis_labels_candidate_only}")
        typer.echo(f"mean distress change  {stats.mean_distress_difference:+.4f}")


def _never_in_shadow(settings: RetrainingSettings, version: str, started: list[str]) -> str:
    from warmline.triage import registry

    where = settings.registry / settings.taxonomy
    if version not in registry.versions(where):
        known = ", ".join(registry.versions(where)) or "none"
        return f"{where}: no version {version!r}; versions: {known}"
    were = ", ".join(dict.fromkeys(started)) or "none yet"
    return f"{where}: {version} has never been in shadow (candidates that were: {were})"


def retrain_command(
    config: Annotated[Path, typer.Option(help="The warmline configuration file.")],
    temporal: Annotated[
        str,
        typer.Option(
            envvar="WARMLINE_TEMPORAL", callback=temporal_address, help="Temporal frontend address."
        ),
    ] = "127.0.0.1:7233",
    namespace: Annotated[
        str, typer.Option(envvar="WARMLINE_NAMESPACE", help="Temporal namespace.")
    ] = "default",
    task_queue: Annotated[
        str, typer.Option(envvar="WARMLINE_TASK_QUEUE", help="The workers' task queue.")
    ] = "warmline",
    force: Annotated[
        bool, typer.Option(help="Train even when no gold label arrived since the last round.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run a retraining round now through the workers and print its decision."""
    import asyncio

    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.exceptions import ApplicationError
    from temporalio.service import RPCError

    from warmline.errors import ServiceError
    from warmline.reach import check_workers, temporal_client
    from warmline.retraining.client import run_round
    from warmline.retraining.contracts import retraining_workflow_id

    settings = _settings(config)

    async def go() -> str:
        client = await temporal_client(temporal, namespace)
        await check_workers(client, task_queue)
        decision = await run_round(
            client, settings, task_queue=task_queue, reason="warmline triage retrain", force=force
        )
        return decision.model_dump_json(indent=None if as_json else 2)

    try:
        typer.echo(asyncio.run(go()))
    except ServiceError as error:
        raise _fail(str(error), EXIT_UNAVAILABLE) from None
    except WorkflowUpdateFailedError as error:
        # The workflow turned the request away (too many rounds already waiting): it runs, but
        # will not take this one now.
        cause = error.cause
        why = cause.message if isinstance(cause, ApplicationError) else str(cause or error)
        workflow = retraining_workflow_id(settings.deployment, settings.taxonomy)
        raise _fail(f"{workflow} refused the round: {why}", EXIT_UNAVAILABLE) from None
    except (RPCError, RuntimeError, OSError) as error:
        raise _fail(f"Temporal at {temporal}: {error}", EXIT_UNAVAILABLE) from None
