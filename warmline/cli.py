"""The `warmline` command line: one entry point, one sub-command per job.

Heavy modules are imported inside each command so `warmline --help` stays instant.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from warmline.addresses import (
    kafka_bootstrap,
    kafka_topic,
    kafka_topics,
    listen_address,
    redis_url,
    temporal_address,
)
from warmline.retraining.commands import retrain_command, rollback_command, shadow_command
from warmline.triage.commands import triage_app

app = typer.Typer(
    name="warmline",
    help="Human–AI collaboration for emotionally demanding customer work.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
services_app = typer.Typer(help="Start and stop real local services (Temporal, Kafka, Redis).")
app.add_typer(services_app, name="services")
connector_app = typer.Typer(help="Run connectors that carry warmline's events to CRM and HR.")
app.add_typer(connector_app, name="connector")
app.add_typer(triage_app, name="triage")
triage_app.command("rollback")(rollback_command)
triage_app.command("shadow")(shadow_command)
triage_app.command("retrain")(retrain_command)
annotate_app = typer.Typer(help="The annotation loop: sample AI decisions, report agreement.")
app.add_typer(annotate_app, name="annotate")

EXIT_INVALID = 2

# Options several commands take, spelt the same everywhere (each also read from its env var).
TemporalAddress = Annotated[
    str,
    typer.Option(
        envvar="WARMLINE_TEMPORAL", callback=temporal_address, help="Temporal frontend address."
    ),
]
Namespace = Annotated[str, typer.Option(envvar="WARMLINE_NAMESPACE", help="Temporal namespace.")]
KafkaBootstrap = Annotated[
    str,
    typer.Option(
        envvar="WARMLINE_KAFKA", callback=kafka_bootstrap, help="Kafka bootstrap servers."
    ),
]
StateDir = Annotated[
    Path | None,
    typer.Option(file_okay=False, help="Where pids, data and logs live (a directory)."),
]
TaskQueue = Annotated[
    str, typer.Option(envvar="WARMLINE_TASK_QUEUE", help="The workers' task queue.")
]
EventsTopic = Annotated[
    str,
    typer.Option(
        envvar="WARMLINE_EVENTS_TOPIC", callback=kafka_topic, help="Kafka topic for domain events."
    ),
]
DeadLetterTopic = Annotated[
    str,
    typer.Option(
        envvar="WARMLINE_DEADLETTER_TOPIC",
        callback=kafka_topic,
        help="Kafka topic for what cannot be processed or published, with the reason.",
    ),
]


def _log_to_stderr() -> None:
    """INFO lines on stderr for the long-running commands, without httpx's: it logs each
    request's URL at INFO, and a URL may carry a credential (a query-string key, a hook's path)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


@contextmanager
def _user_errors() -> Iterator[None]:
    """End a command with a message, never a traceback, for what a user can fix: a configuration
    problem exits 2 with its FILE:LINE:COL lines, anything else (a service that does not answer,
    a file that cannot be read) exits 1."""
    from kafka.errors import KafkaError
    from redis.exceptions import RedisError

    from warmline.errors import ConfigError, WarmlineError

    try:
        yield
    except ConfigError as error:
        for diagnostic in error.diagnostics:
            typer.echo(diagnostic.render(), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except (WarmlineError, KafkaError, RedisError, RuntimeError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        for note in getattr(error, "__notes__", ()):
            typer.echo(note, err=True)
        raise typer.Exit(1) from None


@app.command()
def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="Configuration files or directories to check.")
    ],
) -> None:
    """Check configuration files; print every problem as FILE:LINE:COL: message.

    What is valid but does nothing prints as FILE:LINE:COL: warning: message (exit status kept)."""
    from connectors.sdk.check import check_connectors
    from warmline.config.loader import check_paths

    found = check_paths(paths, extra=check_connectors)
    for diagnostic in sorted(
        [*found.errors, *found.warnings], key=lambda d: (str(d.path), d.line, d.column)
    ):
        typer.echo(diagnostic.render())
    warned = f", {len(found.warnings)} warning(s)" if found.warnings else ""
    if found.errors:
        typer.echo(f"{len(found.errors)} problem(s){warned} in {found.checked} file(s)", err=True)
        raise typer.Exit(EXIT_INVALID)
    typer.echo(f"{found.checked} file(s) valid{warned}", err=True)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the configuration (for editors with a YAML language server)."""
    from warmline.config.model import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
def worker(
    config: Annotated[Path, typer.Option(help="The warmline configuration file.")],
    temporal: TemporalAddress = "127.0.0.1:7233",
    namespace: Namespace = "default",
    kafka: KafkaBootstrap = "127.0.0.1:9092",
    redis: Annotated[
        str,
        typer.Option(
            envvar="WARMLINE_REDIS", callback=redis_url, help="Redis URL of the live view."
        ),
    ] = "redis://127.0.0.1:6379/0",
    task_queue: TaskQueue = "warmline",
    events_topic: EventsTopic = "warmline.events.v1",
    dead_letter_topic: DeadLetterTopic = "warmline.deadletter.v1",
) -> None:
    """Run warmline's workflows and activities; stops gracefully on SIGTERM."""
    import asyncio

    from warmline.serve import run_worker

    with _user_errors():
        asyncio.run(
            run_worker(
                config,
                temporal=temporal,
                namespace=namespace,
                kafka=kafka,
                redis=redis,
                task_queue=task_queue,
                events_topic=events_topic,
                dead_letter_topic=dead_letter_topic,
            )
        )


@app.command()
def bridge(
    config: Annotated[Path, typer.Option(help="The workers' warmline configuration file.")],
    temporal: TemporalAddress = "127.0.0.1:7233",
    namespace: Namespace = "default",
    kafka: KafkaBootstrap = "127.0.0.1:9092",
    redis: Annotated[
        str,
        typer.Option(
            envvar="WARMLINE_REDIS", callback=redis_url, help="Redis URL for dedupe and shifts."
        ),
    ] = "redis://127.0.0.1:6379/0",
    task_queue: TaskQueue = "warmline",
    group: Annotated[
        str, typer.Option(envvar="WARMLINE_BRIDGE_GROUP", help="Kafka consumer group.")
    ] = "warmline-bridge",
    messages_topic: Annotated[
        str, typer.Option(envvar="WARMLINE_INBOUND_MESSAGES_TOPIC", callback=kafka_topic)
    ] = "warmline.inbound.messages.v1",
    hr_topic: Annotated[
        str, typer.Option(envvar="WARMLINE_INBOUND_HR_TOPIC", callback=kafka_topic)
    ] = "warmline.inbound.hr.v1",
    dead_letter_topic: DeadLetterTopic = "warmline.deadletter.v1",
) -> None:
    """Bridge inbound messages and HR records into Temporal; stops gracefully on SIGTERM."""
    import asyncio

    from warmline.bridge import BridgeSettings
    from warmline.bridge.run import run_bridge

    _log_to_stderr()
    settings = BridgeSettings(
        task_queue=task_queue, messages_topic=messages_topic, hr_topic=hr_topic, group_id=group
    )
    with _user_errors():
        asyncio.run(
            run_bridge(
                config,
                temporal=temporal,
                namespace=namespace,
                kafka=kafka,
                redis=redis,
                settings=settings,
                dead_letter_topic=dead_letter_topic,
            )
        )


@app.command("wellness-tracker")
def wellness_tracker(
    config: Annotated[Path, typer.Option(help="The workers' warmline configuration file.")],
    temporal: TemporalAddress = "127.0.0.1:7233",
    namespace: Namespace = "default",
    kafka: KafkaBootstrap = "127.0.0.1:9092",
    redis: Annotated[
        str,
        typer.Option(
            envvar="WARMLINE_REDIS", callback=redis_url, help="Redis URL for conversation tracks."
        ),
    ] = "redis://127.0.0.1:6379/0",
    task_queue: TaskQueue = "warmline",
    events_topic: EventsTopic = "warmline.events.v1",
    group: Annotated[
        str, typer.Option(envvar="WARMLINE_WELLNESS_TRACKER_GROUP", help="Kafka consumer group.")
    ] = "warmline-wellness-tracker",
    dead_letter_topic: DeadLetterTopic = "warmline.deadletter.v1",
) -> None:
    """Count workers' exposure from conversation events into their wellness workflows."""
    import asyncio

    from warmline.wellness.run import run_tracker

    _log_to_stderr()
    with _user_errors():
        asyncio.run(
            run_tracker(
                config,
                temporal=temporal,
                namespace=namespace,
                kafka=kafka,
                redis=redis,
                task_queue=task_queue,
                events_topic=events_topic,
                group=group,
                dead_letter_topic=dead_letter_topic,
            )
        )


@app.command()
def api(
    config: Annotated[Path, typer.Option(help="The warmline configuration file.")],
    temporal: TemporalAddress = "127.0.0.1:7233",
    namespace: Namespace = "default",
    redis: Annotated[
        str,
        typer.Option(
            envvar="WARMLINE_REDIS", callback=redis_url, help="Redis URL of the live view."
        ),
    ] = "redis://127.0.0.1:6379/0",
    listen: Annotated[
        str,
        typer.Option(
            envvar="WARMLINE_API_LISTEN",
            callback=listen_address,
            help="host:port to serve gRPC on.",
        ),
    ] = "127.0.0.1:50051",
    task_queue: TaskQueue = "warmline",
) -> None:
    """Serve the gRPC APIs (specialist, supervisor, annotator, wellness); stops on SIGTERM.

    Also serves health checking and reflection; running calls have 5 s to finish before it exits
    (open offer watches end UNAVAILABLE: clients reconnect)."""
    import asyncio

    from warmline.api.server import serve

    _log_to_stderr()
    with _user_errors():
        asyncio.run(
            serve(
                config,
                temporal=temporal,
                namespace=namespace,
                redis_url=redis,
                listen=listen,
                task_queue=task_queue,
            )
        )


@app.command()
def simulate(
    scenario: Annotated[Path, typer.Argument(help="The scenario file.")],
    config: Annotated[
        Path | None,
        typer.Option(help="The configuration to run with, instead of the scenario's `config:`."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    kafka: Annotated[
        str | None,
        typer.Option(
            callback=kafka_bootstrap, help="Kafka bootstrap servers; default: an embedded broker."
        ),
    ] = None,
    redis: Annotated[
        str | None, typer.Option(callback=redis_url, help="Redis URL; default: an embedded Redis.")
    ] = None,
) -> None:
    """Run a scenario on the time-skipping test server; exit 1 if an expectation fails."""
    from rich.console import Console

    from warmline.simulate import load_scenario, run_scenario

    with _user_errors():
        loaded = load_scenario(scenario, config_path=config)
        report = run_scenario(loaded, kafka=kafka, redis=redis)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        report.render(Console(width=None if sys.stdout.isatty() else 140))
    if not report.passed:
        # Like the exit-2 diagnostics: one line per failure, at its place in the scenario.
        for line in report.failures():
            typer.echo(line, err=True)
        raise typer.Exit(1)


@app.command()
def demo(
    conversations: Annotated[
        int, typer.Option(min=1, help="How many scripted conversations to replay.")
    ] = 50,
    seed: Annotated[
        int, typer.Option(help="Seed for the order of scripts and people's choices.")
    ] = 7,
    config: Annotated[
        Path | None, typer.Option(help="A configuration to run instead of the bundled demo one.")
    ] = None,
    temporal: Annotated[
        str | None,
        typer.Option(
            callback=temporal_address, help="Use this Temporal frontend instead of starting one."
        ),
    ] = None,
    kafka: Annotated[
        str | None,
        typer.Option(
            callback=kafka_bootstrap, help="Use these Kafka bootstrap servers instead of a broker."
        ),
    ] = None,
    redis: Annotated[
        str | None,
        typer.Option(callback=redis_url, help="Use this Redis URL instead of starting a server."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object on stdout.")
    ] = False,
) -> None:
    """Run the main job on this machine: conversations, triage, escalation, specialists."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from warmline.demo.runner import DemoOptions, Interrupted, forward_sdk_core_logs, run_demo
    from warmline.demo.runner import Progress as DemoProgress
    from warmline.demo.summary import render

    options = DemoOptions(
        conversations=conversations,
        seed=seed,
        config=config,
        temporal=temporal,
        kafka=kafka,
        redis=redis,
    )
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=as_json,
    )
    task = bar.add_task("starting", total=None)

    def status(text: str) -> None:
        # The bar appears with the first step, so a configuration refused up front leaves none.
        bar.start()
        bar.update(task, description=text)

    hooks = DemoProgress(
        status=status,
        started=lambda total: bar.update(task, total=total),
        advance=lambda: bar.advance(task),
    )
    forward_sdk_core_logs()
    try:
        with _user_errors():
            summary = run_demo(options, hooks)
    except Interrupted as interrupted:
        raise typer.Exit(interrupted.exit_status) from None
    finally:
        if bar.live.is_started:
            bar.stop()
    if as_json:
        typer.echo(summary.model_dump_json())
    else:
        typer.echo(render(summary))


@connector_app.command("run")
def connector_run(
    name: Annotated[str, typer.Argument(help="The connector's `name` in the configuration.")],
    config: Annotated[Path, typer.Option(help="The warmline configuration file.")],
    kafka: KafkaBootstrap = "127.0.0.1:9092",
    redis: Annotated[
        str,
        typer.Option(
            envvar="WARMLINE_REDIS", callback=redis_url, help="Redis URL for dropping duplicates."
        ),
    ] = "redis://127.0.0.1:6379/0",
    topic: Annotated[
        list[str] | None,
        typer.Option(
            callback=kafka_topics,
            help="Topic(s) to consume; default: the topics of the event types the connector "
            "handles and its entry's events: ask for (warmline.events.v1 if none).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run one configured connector until SIGTERM or Ctrl-C (see docs/connectors.md)."""
    import asyncio

    from connectors.sdk.run import run_connector

    _log_to_stderr()
    with _user_errors():
        asyncio.run(
            run_connector(
                name, config, kafka=kafka, redis=redis, topics=tuple(topic) if topic else None
            )
        )


def _only_services(value: str | None) -> str | None:
    """`--only`'s value, refused unless it names known services (leaving it out means all)."""
    from warmline.errors import ServiceError
    from warmline.services import parse_only

    if value is None:
        return None
    if not value.replace(",", "").strip():
        raise typer.BadParameter("name temporal, kafka or redis, or leave --only out for all three")
    try:
        parse_only(value)
    except ServiceError as error:
        raise typer.BadParameter(str(error)) from None
    return value


@services_app.command("up")
def services_up(
    only: Annotated[
        str | None,
        typer.Option(
            callback=_only_services,
            help="Comma-separated subset of services: temporal,kafka,redis.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print endpoints as JSON.")] = False,
    embedded: Annotated[
        bool,
        typer.Option(help="Use the embedded Kafka-protocol broker and Redis from pip packages."),
    ] = False,
    state_dir: StateDir = None,
) -> None:
    """Start services on free loopback ports, wait until each is ready, print the endpoints."""
    from warmline.errors import ServiceError
    from warmline.services import parse_only, start_detached

    try:
        endpoints = start_detached(parse_only(only), embedded=embedded, state_dir=state_dir)
    except ServiceError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    except OSError as error:
        where = error.filename or state_dir
        typer.echo(f"error: cannot use {where} for the services' state: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(endpoints.as_json()))
    else:
        for name, address in endpoints.as_json().items():
            typer.echo(f"{name:<9} {address}")


@services_app.command("down")
def services_down(
    state_dir: StateDir = None,
) -> None:
    """Stop the services started by `warmline services up`."""
    from warmline.errors import ServiceError
    from warmline.services import stop_detached

    try:
        stopped = stop_detached(state_dir=state_dir)
    except ServiceError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    except OSError as error:
        where = error.filename or state_dir
        typer.echo(f"error: cannot use {where} for the services' state: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}", err=True)


def main() -> None:
    """Console-script entry point."""
    # SIGTERM (a CI job's timeout, `kill`) unwinds like Ctrl-C, so services a command started
    # for itself (simulate's, the demo's) are stopped by its `finally`, not left running. The
    # long-running commands install their own graceful handlers over this one.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        try:
            app()
        finally:
            # Written output reaches its file here at the latest, so a full disk is reported
            # below rather than as a traceback at the interpreter's exit.
            sys.stdout.flush()
    except SystemExit as done:
        if _TEMPORAL_BRIDGE in sys.modules:
            _exit_without_teardown(done.code)
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as error:
        # Output that cannot be written (`schema > /dev/full`) escapes the commands' own
        # handling; click already ends a broken pipe quietly. Any other OSError is a bug to see.
        if error.errno not in _WRITE_FAILURES:
            raise
        _discard_stdout()
        typer.echo(f"error: cannot write the output: {error.strerror or error}", err=True)
        sys.exit(1)


_WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


_TEMPORAL_BRIDGE = "temporalio.bridge.temporal_sdk_bridge"


def _exit_without_teardown(code: object) -> None:
    """End the process once the command is done, skipping the interpreter's teardown.

    Temporal's Rust core keeps threads that may call into Python while the interpreter is
    finalizing, which aborts a short-lived client process now and then (`Fatal Python error:
    PyGILState_Release`, exit 134; temporalio/sdk-python#300). Every command has finished and
    closed what it opened by now, so only the output and the log handlers need flushing.
    """
    import logging

    if isinstance(code, str):
        print(code, file=sys.stderr)
    status = code if isinstance(code, int) else 0 if code is None else 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the failed buffer is not flushed again at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@annotate_app.command("sample")
def annotate_sample(
    config: Annotated[Path, typer.Option(help="The workers' warmline configuration file.")],
    temporal: TemporalAddress = "127.0.0.1:7233",
    namespace: Namespace = "default",
    kafka: KafkaBootstrap = "127.0.0.1:9092",
    redis: Annotated[
        str, typer.Option(envvar="WARMLINE_REDIS", callback=redis_url, help="Redis URL for dedupe.")
    ] = "redis://127.0.0.1:6379/0",
    task_queue: TaskQueue = "warmline",
    group: Annotated[
        str, typer.Option(envvar="WARMLINE_SAMPLER_GROUP", help="Kafka consumer group.")
    ] = "warmline-annotation-sampler",
    events_topic: EventsTopic = "warmline.events.v1",
    dead_letter_topic: DeadLetterTopic = "warmline.deadletter.v1",
) -> None:
    """Feed sampled AI decisions to the annotation loop; stops gracefully on SIGTERM."""
    import asyncio

    from warmline.annotation.sampler import SamplerSettings, run_sampler

    _log_to_stderr()
    settings = SamplerSettings(task_queue=task_queue, events_topic=events_topic, group_id=group)
    with _user_errors():
        asyncio.run(
            run_sampler(
                config,
                temporal=temporal,
                namespace=namespace,
                kafka=kafka,
                redis=redis,
                settings=settings,
                dead_letter_topic=dead_letter_topic,
            )
        )


@annotate_app.command("report")
def annotate_report(
    config: Annotated[Path, typer.Option(help="The warmline configuration file.")],
    temporal: TemporalAddress = "127.0.0.1:7233",
    namespace: Namespace = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Agreement per batch, agreement against exposure, reply quality per model version."""
    import asyncio

    from warmline.annotation.sampler import read_report

    with _user_errors():
        report = asyncio.run(read_report(config, temporal=temporal, namespace=namespace))
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    typer.echo(
        f"items {report.items}, open tasks {report.open_tasks}, gold {report.gold}, "
        f"dropped {report.dropped}, shed {report.shed}, flagged distressing {report.flags}"
    )
    for batch in report.batches:
        alpha = "n/a" if batch.alpha is None else f"{batch.alpha:.3f}"
        typer.echo(
            f"batch {batch.batch} ({batch.kind.value}): alpha {alpha} over {batch.items} items, "
            f"{batch.annotators} annotators; {batch.adjudicated} to adjudication"
        )
    for stat in sorted(report.exposure, key=lambda s: (s.annotator_id, s.band.value)):
        typer.echo(
            f"{stat.annotator_id} at {stat.band.value} of budget: agreed {stat.agreed}/"
            f"{stat.items} ({stat.rate:.0%})"
        )
    for quality in report.reply_quality:
        typer.echo(
            f"replies of {quality.model_version}: {quality.rate:.0%} appropriate of "
            f"{quality.audited} audited"
        )


if __name__ == "__main__":
    main()
