"""Checks that need the whole configuration: names that refer to other sections, and templates.

Each problem carries the path of the offending value so the loader can point at its line.
`check_warnings` finds settings that are valid but, as written, do nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from rapidfuzz import process

from warmline.config.model import (
    BUILTIN_TAXONOMIES,
    LexiconProvider,
    LocalProvider,
    Retraining,
    WarmlineConfig,
)
from warmline.config.secrets import SecretRef, literal_secret_settings
from warmline.handoff import template_problems
from warmline.triage.errors import LexiconError
from warmline.triage.lexicon import parse_lexicon, read_lexicon_file

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """A cross-reference problem at `loc`; `file`, `line` set when it lies in another file."""

    loc: Loc
    message: str
    file: Path | None = None
    line: int | None = None


def _did_you_mean(name: str, known: list[str]) -> str:
    match = process.extractOne(name, known, score_cutoff=70)
    return f"; did you mean {match[0]!r}?" if match else ""


def _unknown(loc: Loc, what: str, name: str, known: list[str], note: str = "") -> Problem:
    hint = _did_you_mean(name, known) or (f"; known: {', '.join(known)}" if known else "")
    return Problem(loc, f"unknown {what} {name!r}{note}{hint}")


def check_references(config: WarmlineConfig) -> list[Problem]:
    """Every cross-reference problem and template problem of a validated configuration."""
    return [
        *_queues(config),
        *_people(config),
        *_tokens(config),
        *_annotation(config),
        *_connector_secrets(config),
        *_files(config),
        *_templates(config),
    ]


def check_warnings(config: WarmlineConfig) -> list[Problem]:
    """Problems that do not make a configuration invalid but that its author should hear of."""
    return [*_retraining_off(config), *_missing_data(config), *_no_default_helplines(config)]


def _no_default_helplines(config: WarmlineConfig) -> Iterator[Problem]:
    crisis = config.triage.crisis
    if "default" in crisis.referrals:
        return
    listed = ", ".join(sorted(crisis.referrals)) or "none"
    yield Problem(
        ("triage", "crisis", "referrals") if crisis.referrals else ("triage", "crisis"),
        f"no 'default' helplines: a customer in crisis from a country not listed ({listed}) "
        "gets none when nobody accepts in time; add `default:` (e.g. an international "
        "directory of helplines)",
    )


def _queues(config: WarmlineConfig) -> Iterator[Problem]:
    routing = config.routing
    queues = [q.name for q in routing.queues]
    supervisors = [s.id for s in routing.supervisors]
    skills = {skill for s in routing.specialists for skill in s.skills}
    for index, rule in enumerate(config.triage.rules):
        if rule.queue not in queues:
            yield _unknown(("triage", "rules", index, "queue"), "queue", rule.queue, queues)
    crisis = config.triage.crisis
    if crisis.queue not in queues:
        yield _unknown(("triage", "crisis", "queue"), "queue", crisis.queue, queues)
    if crisis.supervisor not in supervisors:
        loc: Loc = ("triage", "crisis", "supervisor")
        yield _unknown(loc, "supervisor", crisis.supervisor, supervisors)
    crisis_queue = next((q for q in routing.queues if q.name == crisis.queue), None)
    needed = set(crisis_queue.skills) if crisis_queue is not None else set()
    trained = [s for s in routing.specialists if s.crisis_trained and needed.issubset(s.skills)]
    if len(trained) < crisis.offer_to:
        yield Problem(
            ("triage", "crisis", "offer_to"),
            f"offer_to is {crisis.offer_to} but only {len(trained)} crisis_trained specialist(s) "
            f"hold the skills of queue {crisis.queue!r}",
        )
    for index, queue in enumerate(routing.queues):
        base: Loc = ("routing", "queues", index)
        for position, name in enumerate(queue.escalation_chain):
            if name not in queues:
                yield _unknown((*base, "escalation_chain", position), "queue", name, queues)
            elif name == queue.name:
                yield Problem(
                    (*base, "escalation_chain", position),
                    f"queue {name!r} escalates to itself",
                )
        if queue.supervisor is not None and queue.supervisor not in supervisors:
            yield _unknown((*base, "supervisor"), "supervisor", queue.supervisor, supervisors)
        for position, skill in enumerate(queue.skills):
            if skill not in skills:
                yield Problem(
                    (*base, "skills", position),
                    f"no specialist has skill {skill!r}, so queue {queue.name!r} can never be "
                    "served" + _did_you_mean(skill, sorted(skills)),
                )


def _people(config: WarmlineConfig) -> Iterator[Problem]:
    connectors = [c.name for c in config.connectors]
    for index, name in enumerate(config.handoff.context.customer_profile_from):
        if name not in connectors:
            loc: Loc = ("handoff", "context", "customer_profile_from", index)
            yield _unknown(loc, "connector", name, connectors)
    checkins = config.wellness.checkins
    if checkins.note_visibility == "wellness_lead" and not any(
        s.wellness_lead for s in config.routing.supervisors
    ):
        yield Problem(
            ("wellness", "checkins", "note_visibility"),
            "note_visibility is 'wellness_lead' but no supervisor has wellness_lead: true",
        )
    if checkins.scale.min >= checkins.scale.max:
        yield Problem(("wellness", "checkins", "scale"), "scale min must be below max")


def _tokens(config: WarmlineConfig) -> Iterator[Problem]:
    """A bearer token names one person: shared, one could act as the other (a specialist read
    check-in notes as a wellness lead). The same `${NAME}` twice is caught by `validate`; two
    names with the same value once the secrets are read (`load_config`, at start-up)."""
    people: list[tuple[Loc, str, SecretRef]] = [
        *(
            (("routing", "specialists", i, "token"), s.id, s.token)
            for i, s in enumerate(config.routing.specialists)
        ),
        *(
            (("routing", "supervisors", i, "token"), s.id, s.token)
            for i, s in enumerate(config.routing.supervisors)
        ),
        *(
            (("annotation", "annotators", i, "token"), a.id, a.token)
            for i, a in enumerate(config.annotation.annotators)
        ),
    ]
    by_name: dict[str, str] = {}
    by_value: dict[str, str] = {}
    for loc, person, token in people:
        first = by_name.get(token.name) or (
            by_value.get(token.value) if token.value is not None else None
        )
        if first is not None:
            yield Problem(
                loc,
                f"{person}'s token is {first}'s too: every person needs a token of their own, "
                "or one could act as the other",
            )
            continue
        by_name[token.name] = person
        if token.value is not None:
            by_value[token.value] = person


def _annotation(config: WarmlineConfig) -> Iterator[Problem]:
    annotation = config.annotation
    labels = list(annotation.taxonomy.label_set)
    for label in annotation.label_map:
        if label not in labels:
            yield _unknown(("annotation", "label_map", label), "taxonomy label", label, labels)
    yield from _model_labels(config)
    count = len(annotation.annotators)
    if count and annotation.overlap > count:
        yield Problem(
            ("annotation", "overlap"),
            f"overlap is {annotation.overlap} but only {count} annotator(s) are configured",
        )
    seniors = [a for a in annotation.annotators if a.senior]
    if annotation.adjudication.by == "senior_annotator" and count and not seniors:
        yield Problem(
            ("annotation", "adjudication", "by"),
            "adjudication by senior_annotator needs an annotator with senior: true",
        )


def _model_labels(config: WarmlineConfig) -> Iterator[Problem]:
    """Every annotation label must land on a label of the model taxonomy gold labels are
    recorded in: retraining drops a gold label with any other label as `unknown_label`, silently
    and for good, so a typo here would waste every annotator's work on the items that carry it.
    (Gold labels of another taxonomy than retraining's are a separate matter, which the worker
    warns about.)"""
    annotation = config.annotation
    taxonomy = annotation.gold_taxonomy
    known = list(BUILTIN_TAXONOMIES[f"goemotions/{taxonomy}"])
    what = f"{taxonomy!r} model label"
    for label, target in annotation.label_map.items():
        # A key that is no annotation label is reported as such; its target does not matter.
        if label in annotation.taxonomy.label_set and target not in known:
            yield _unknown(("annotation", "label_map", label), what, target, known)
    for index, label in enumerate(annotation.taxonomy.label_set):
        if label not in annotation.label_map and label not in known:
            where: Loc = (
                ("annotation", "taxonomy", "labels", index)
                if annotation.taxonomy.labels is not None
                else ("annotation", "taxonomy", "builtin")
            )
            note = " (not in label_map, so it is kept as is)"
            yield _unknown(where, what, label, known, note)


def _retraining_off(config: WarmlineConfig) -> Iterator[Problem]:
    """Retraining triggers written in the file while retraining cannot run: the worker says so
    only in its start-up log, so without this an admin believes the model is being retrained.
    Only triggers written count: an absent section's default is no request to retrain."""
    annotation = config.annotation
    if "retraining" not in annotation.model_fields_set:
        return
    retraining = annotation.retraining
    written = [k for k in ("schedule", "after_gold_labels") if k in retraining.model_fields_set]
    if not written:
        return
    never = f"{' and '.join(written)} never start{'' if len(written) > 1 else 's'} a round"
    if retraining.registry is None:
        yield Problem(
            ("annotation", "retraining", written[0]),
            "retraining is off without annotation.retraining.registry (the model registry "
            f"directory rounds promote into), so {never}",
        )
    elif retraining.dev_data is None and retraining.base_data is None:
        yield Problem(
            ("annotation", "retraining", "registry"),
            "retraining is off without dev_data (the TSV the candidate's thresholds are tuned "
            f"on) or base_data (with a dev.tsv beside it), so {never}",
        )


def _connector_secrets(config: WarmlineConfig) -> Iterator[Problem]:
    for index, connector in enumerate(config.connectors):
        for path in literal_secret_settings(connector.settings):
            name = ".".join(str(part) for part in path)
            yield Problem(
                ("connectors", index, "settings", *path),
                f"setting {name!r} looks like a secret: secrets must be ${{ENV}} references "
                "under 'secrets:', not plain settings",
            )


_DATA_FILES = ("base_data", "dev_data", "holdout_data")


def _data_files(retraining: Retraining) -> Iterator[tuple[str, Path]]:
    for key in _DATA_FILES:
        path: Path | None = getattr(retraining, key)
        if path is not None:
            yield key, path


def _missing_data(config: WarmlineConfig) -> Iterator[Problem]:
    """Retraining data files not there (yet): data is often put in place at deployment, so this
    is a warning; until it is, a retraining round fails reading it."""
    for key, path in _data_files(config.annotation.retraining):
        if not path.exists():
            yield Problem(
                ("annotation", "retraining", key),
                f"{key} file not found: {path}; retraining rounds fail until it is there",
            )


def _retraining_paths(config: WarmlineConfig) -> Iterator[Problem]:
    """Paths that exist but are the wrong kind of thing: the registry and a local model are
    directories (which may be created later), the data files are files (which may be put in
    place later: see `_missing_data`)."""
    retraining = config.annotation.retraining
    base: Loc = ("annotation", "retraining")
    if retraining.registry is not None and _exists_but_not_a_directory(retraining.registry):
        yield Problem(
            (*base, "registry"), not_a_directory_message("model registry", retraining.registry)
        )
    for key, path in _data_files(retraining):
        if path.exists() and not path.is_file():
            yield Problem((*base, key), not_a_file_message(key, path))
    provider = config.triage.provider
    if (
        isinstance(provider, LocalProvider)
        and provider.model_path is not None
        and _exists_but_not_a_directory(provider.model_path)
    ):
        yield Problem(
            ("triage", "provider", "model_path"),
            not_a_directory_message("model_path", provider.model_path),
        )


def _exists_but_not_a_directory(path: Path) -> bool:
    return path.exists() and not path.is_dir()


def _files(config: WarmlineConfig) -> Iterator[Problem]:
    yield from _retraining_paths(config)
    provider = config.triage.provider
    # A local model may be trained after the configuration is written, so only the lexicon,
    # which an admin writes by hand, must already exist.
    lexicon = provider.lexicon if isinstance(provider, LexiconProvider) else None
    if lexicon is None:
        return
    loc = ("triage", "provider", "lexicon")
    if not lexicon.is_file():
        yield Problem(loc, not_a_file_message("lexicon", lexicon))
        return
    # Read as the worker will at start-up, so a lexicon it would refuse fails validation too.
    try:
        parse_lexicon(read_lexicon_file(lexicon), str(lexicon))
    except LexiconError as error:
        yield Problem(loc, f"invalid lexicon: {error}")


def _templates(config: WarmlineConfig) -> Iterator[Problem]:
    found: list[tuple[Loc, Path]] = [(("handoff", "template"), config.handoff.template)]
    for index, connector in enumerate(config.connectors):
        if connector.payload_template is not None:
            found.append((("connectors", index, "payload_template"), connector.payload_template))
    environment = SandboxedEnvironment(autoescape=False)
    for loc, path in found:
        yield from _compile(environment, loc, path, handoff=loc == ("handoff", "template"))


def _compile(
    environment: SandboxedEnvironment, loc: Loc, path: Path, *, handoff: bool
) -> Iterator[Problem]:
    if not path.is_file():
        yield Problem(loc, not_a_file_message("template", path))
        return
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        yield Problem(loc, f"cannot read template {path}: {error}")
        return
    try:
        environment.compile(source, name=path.name, filename=str(path))
    except TemplateSyntaxError as error:
        yield Problem(loc, f"template syntax error: {error.message}", path, error.lineno)
        return
    if handoff:
        # What compiles may still fail every render that reaches it (a misspelt variable).
        for line, message in template_problems(source):
            yield Problem(loc, f"template error: {message}", path, line)


def not_a_directory_message(kind: str, path: Path) -> str:
    """Why a directory setting's `path`, which exists but is no directory, cannot be used."""
    what = "a file" if path.is_file() else "not a directory"
    return f"{kind} {path} is {what}; name a directory (it may not exist yet)"


def not_a_file_message(kind: str, path: Path) -> str:
    """Why a file setting's `path`, which is not a regular file, cannot be used."""
    if path.is_dir():
        return f"{kind} {path} is a directory; name the file in it"
    return f"{kind} file not found: {path}"
