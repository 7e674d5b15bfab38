"""The lexicon provider: reads emotion from words and phrases, with no model file and no network.

It is the provider a new deployment starts with and the floor the trained models must beat.
Beyond word look-up it handles negation ("not happy"), intensifiers ("so", "extremely"), shouting
(capitals, exclamation marks) and the commonest sarcasm cues ("oh great", "yeah right"), which turn
apparent praise into annoyance.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from warmline.triage.errors import LexiconError
from warmline.triage.types import (
    GOEMOTIONS_LABELS,
    POSITIVE_EMOTIONS,
    EmotionScore,
    RiskFlag,
    TriageRequest,
    TriageResult,
)

MAX_PHRASE_WORDS = 3
NEGATION_WINDOW = 3
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[\u2600-\u27bf\U0001f300-\U0001faff]|[!?]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_NEGATORS = frozenset(
    [
        "not",
        "no",
        "never",
        "don't",
        "dont",
        "isn't",
        "isnt",
        "wasn't",
        "wasnt",
        "didn't",
        "didnt",
        "doesn't",
        "doesnt",
        "can't",
        "cant",
        "cannot",
        "won't",
        "wont",
        "hardly",
        "without",
        "nothing",
        "aren't",
        "arent",
        "haven't",
        "havent",
    ]
)
_INTENSIFIERS = {
    "so": 1.5, "very": 1.5, "really": 1.4, "extremely": 1.8, "absolutely": 1.6, "totally": 1.4,
    "completely": 1.5, "incredibly": 1.7, "utterly": 1.7, "super": 1.4, "too": 1.3, "fucking": 1.8,
    "bloody": 1.5, "beyond": 1.5, "deeply": 1.6, "truly": 1.4,
}  # fmt: skip
SARCASM_REACH = 120
"""How far after "love how" / "so helpful" a "not", "never", "still" ... still reads as its
sarcastic turn, in characters. Bounded: an open-ended gap made the search quadratic in the
message's length (2,222 repeats of "love how " took 0.4 s), and a "never" three sentences on
is no longer about the praise."""
_GAP = rf".{{0,{SARCASM_REACH}}}?"
_SARCASM = re.compile(
    r"\b(?:oh|just|how) (?:great|perfect|brilliant|wonderful|fantastic|lovely)\b"
    r"|\byeah,? right\b|\bthanks (?:a lot|for nothing)\b|\bwhat a (?:joke|surprise)\b"
    rf"|\b(?:love|loving) (?:how|that|it when)\b{_GAP}\b(?:not|never|still|again|nobody|no one)\b"
    rf"|\bso helpful\b{_GAP}\b(?:not|never|still|again)\b|\bsure,? because\b"
)
_INSULTS = frozenset(
    ["idiot", "idiots", "stupid", "morons", "moron", "useless", "incompetent", "clowns", "pathetic"]
)
_AROUSED = frozenset(["anger", "annoyance", "excitement", "fear", "joy", "surprise"])
# How much each emotion weighs on distress: loss and fear most, irritation least.
DISTRESS_WEIGHTS = {
    "grief": 1.0, "fear": 0.9, "sadness": 0.8, "nervousness": 0.75, "anger": 0.6, "remorse": 0.5,
    "disgust": 0.5, "disappointment": 0.45, "embarrassment": 0.4, "annoyance": 0.3,
    "disapproval": 0.3, "confusion": 0.15,
}  # fmt: skip


@dataclass(frozen=True)
class _Entry:
    label: str
    weight: float


def parse_lexicon(text: str, origin: str) -> dict[tuple[str, ...], list[_Entry]]:
    """Parse `phrase<TAB>label<TAB>weight` lines; `#` starts a comment, hyphens join words."""
    lexicon: dict[tuple[str, ...], list[_Entry]] = defaultdict(list)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise LexiconError(f"{origin}:{number}: expected phrase<TAB>label<TAB>weight")
        phrase, label, weight_text = parts
        if label not in GOEMOTIONS_LABELS:
            raise LexiconError(f"{origin}:{number}: unknown emotion label {label!r}")
        try:
            weight = float(weight_text)
        except ValueError:
            raise LexiconError(
                f"{origin}:{number}: weight {weight_text!r} is not a number"
            ) from None
        if not math.isfinite(weight):
            # float() reads "nan" and "inf"; one such weight makes every score it touches nan.
            raise LexiconError(f"{origin}:{number}: weight {weight_text!r} is not a finite number")
        words = tuple(_TOKEN.findall(phrase.lower().translate(_APOSTROPHES).replace("-", " ")))
        if not words or len(words) > MAX_PHRASE_WORDS:
            raise LexiconError(f"{origin}:{number}: a phrase has 1 to {MAX_PHRASE_WORDS} words")
        lexicon[words].append(_Entry(label, weight))
    return dict(lexicon)


def read_lexicon_file(path: Path) -> str:
    """An extra lexicon's text; a file that cannot be read or is not UTF-8 is a `LexiconError`.

    A byte-order mark (editors on Windows write one) is dropped: left in, it glued itself to the
    first line, so a leading `# comment` was read as a phrase and refused at line 1.
    """
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise LexiconError(f"{path}: cannot read the lexicon: {error.strerror or error}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise LexiconError(
            f"{path}:{line}: byte {raw[error.start]:#04x} is not UTF-8; save the lexicon as UTF-8"
        ) from None


class LexiconProvider:
    """Scores the GoEmotions labels from a hand-written lexicon, plus an optional extra file."""

    name = "lexicon"

    def __init__(self, extra: Path | None = None) -> None:
        builtin = resources.files("warmline.triage").joinpath("lexicon.tsv").read_text()
        sources = [(builtin, "lexicon.tsv")]
        if extra is not None:
            sources.append((read_lexicon_file(extra), str(extra)))
        self._lexicon: dict[tuple[str, ...], list[_Entry]] = defaultdict(list)
        digest = hashlib.sha256()
        for text, origin in sources:
            digest.update(text.encode())
            for phrase, entries in parse_lexicon(text, origin).items():
                self._lexicon[phrase].extend(entries)
        self._version = f"lexicon-1+{digest.hexdigest()[:8]}"

    @property
    def model_version(self) -> str:
        return self._version

    def triage(self, request: TriageRequest) -> TriageResult:
        text = request.text.translate(_APOSTROPHES)
        lowered = text.lower()
        tokens = _TOKEN.findall(lowered)
        raw: dict[str, float] = defaultdict(float)
        cues: list[str] = []
        index = 0
        while index < len(tokens):
            step, found = self._match(tokens, index)
            for entry in found:
                weight = entry.weight * self._intensity(tokens, index)
                phrase = " ".join(tokens[index : index + step])
                if self._negated(tokens, index):
                    if entry.label in POSITIVE_EMOTIONS:
                        raw["disappointment"] += 0.6 * weight
                        cues.append(f'"not {phrase}" → disappointment')
                    else:
                        raw[entry.label] += 0.2 * weight
                else:
                    raw[entry.label] += weight
                    cues.append(f'"{phrase}" → {entry.label}')
            index += step

        sarcasm = _SARCASM.search(lowered)
        if sarcasm:
            praise = sum(raw.pop(label, 0.0) for label in list(raw) if label in POSITIVE_EMOTIONS)
            raw["annoyance"] += 1.0 + 0.5 * praise
            raw["disapproval"] += 0.5 * praise
            cues.append(f'sarcasm cue "{sarcasm.group(0)}"')

        arousal = self._arousal(text)
        if arousal > 1.0:
            for label in _AROUSED & raw.keys():
                raw[label] *= arousal
            cues.append("shouting (capitals or exclamation marks)")

        scores = {label: 1.0 - math.exp(-value) for label, value in raw.items() if value > 0}
        strongest = max(scores.values(), default=0.0)
        scores["neutral"] = 0.8 if not scores else max(0.0, 0.6 - strongest)
        emotions = sorted(
            (
                EmotionScore(label=label, score=round(s, 4))
                for label, s in scores.items()
                if s >= 0.05
            ),
            key=lambda e: (-e.score, e.label),
        )
        distress = 1.0 - math.prod(
            1.0 - DISTRESS_WEIGHTS.get(label, 0.0) * s for label, s in scores.items()
        )
        flags = [RiskFlag.HOSTILE] if self._hostile(tokens, scores) else []
        evidence = len(cues)
        confidence = (
            min(0.95, 0.35 + 0.15 * evidence) if evidence else (0.5 if len(tokens) <= 6 else 0.3)
        )
        rationale = (
            "Cues: " + "; ".join(cues[:6]) + "."
            if cues
            else "No emotional cues found; read as neutral."
        )
        return TriageResult(
            emotions=emotions,
            distress=round(min(1.0, distress), 4),
            risk_flags=flags,
            crisis=False,
            confidence=round(confidence, 4),
            rationale=rationale,
            model_version=self._version,
            provider=self.name,
        )

    def _match(self, tokens: list[str], index: int) -> tuple[int, list[_Entry]]:
        """The longest lexicon phrase starting at `index`: (words consumed, entries)."""
        for size in range(MAX_PHRASE_WORDS, 0, -1):
            entries = self._lexicon.get(tuple(tokens[index : index + size]))
            if entries:
                return size, entries
        return 1, []

    @staticmethod
    def _negated(tokens: list[str], index: int) -> bool:
        return any(t in _NEGATORS for t in tokens[max(0, index - NEGATION_WINDOW) : index])

    @staticmethod
    def _intensity(tokens: list[str], index: int) -> float:
        previous = tokens[index - 1] if index > 0 else ""
        return _INTENSIFIERS.get(previous, 1.0)

    @staticmethod
    def _arousal(text: str) -> float:
        words = re.findall(r"[A-Za-z]{3,}", text)
        shouted = sum(1 for w in words if w.isupper())
        caps_share = shouted / len(words) if words else 0.0
        exclamations = min(text.count("!"), 3)
        return 1.0 + 0.15 * exclamations + 0.6 * caps_share

    @staticmethod
    def _hostile(tokens: list[str], scores: dict[str, float]) -> bool:
        addressed = any(t in {"you", "your", "you're", "youre", "ur"} for t in tokens)
        insulting = any(t in _INSULTS for t in tokens)
        return addressed and (insulting or scores.get("anger", 0.0) >= 0.85)
