"""The lexicon provider reads emotion, negation, intensity, shouting and sarcasm."""

from __future__ import annotations

from pathlib import Path

import pytest

from warmline.triage.errors import LexiconError
from warmline.triage.lexicon import LexiconProvider
from warmline.triage.provider import triage
from warmline.triage.types import RiskFlag, TriageRequest, TriageResult


@pytest.fixture(scope="module")
def provider() -> LexiconProvider:
    return LexiconProvider()


def read(provider: LexiconProvider, text: str) -> TriageResult:
    return triage(
        provider, TriageRequest(tenant_id="t", conversation_id="c", message_id="m", text=text)
    )


def test_grief_is_distress(provider: LexiconProvider) -> None:
    result = read(provider, "My mum passed away last week and I need to close her account")
    assert result.emotions[0].label == "grief"
    assert result.distress >= 0.7
    assert '"passed away" → grief' in result.rationale


def test_routine_message_is_neutral_and_calm(provider: LexiconProvider) -> None:
    result = read(provider, "Where is my parcel?")
    assert result.emotions[0].label == "neutral"
    assert result.distress == 0.0
    assert not result.risk_flags
    assert result.rationale == "No emotional cues found; read as neutral."


def test_negated_praise_reads_as_disappointment(provider: LexiconProvider) -> None:
    plain = read(provider, "I am happy with this")
    negated = read(provider, "I am not happy with this")
    assert plain.score("joy") > 0.5
    assert negated.score("joy") == 0.0
    assert negated.score("disappointment") > 0.3


def test_intensifiers_and_shouting_raise_scores(provider: LexiconProvider) -> None:
    calm = read(provider, "I am angry")
    intense = read(provider, "I am extremely angry")
    shouting = read(provider, "I AM EXTREMELY ANGRY!!!")
    assert calm.score("anger") < intense.score("anger") < shouting.score("anger")
    assert "shouting" in shouting.rationale


def test_sarcasm_turns_praise_into_annoyance(provider: LexiconProvider) -> None:
    sincere = read(provider, "Great, that is perfect, thank you")
    sarcastic = read(provider, "Oh great, another delay. Just perfect.")
    assert sincere.score("annoyance") == 0.0
    assert sarcastic.emotions[0].label == "annoyance"
    assert sarcastic.score("joy") == 0.0
    assert 'sarcasm cue "oh great"' in sarcastic.rationale


def test_sarcasm_cue_is_the_praise_and_its_turn(provider: LexiconProvider) -> None:
    result = read(provider, "I love how it still doesn't work, never again")
    assert result.emotions[0].label == "annoyance"
    assert 'sarcasm cue "love how it still"' in result.rationale


def test_a_turn_far_from_the_praise_is_not_sarcasm(provider: LexiconProvider) -> None:
    """The gap between the praise and its turn is bounded (an open one made the search
    quadratic: 2,222 repeats of "love how " took 0.4 s)."""
    sincere = (
        "I love how fast the delivery was. The driver called ahead, found the back door, carried "
        "the boxes up two flights of stairs and took the packaging away with him. "
        "Never had service like it."
    )
    assert "sarcasm" not in read(provider, sincere).rationale
    near = "I love how the delivery was late again"
    assert 'sarcasm cue "love how the delivery was late again"' in read(provider, near).rationale
    assert "sarcasm" not in read(provider, "love how " * 2222).rationale


def test_insults_addressed_to_us_are_hostile_but_not_a_crisis(provider: LexiconProvider) -> None:
    result = read(provider, "you are useless idiots")
    assert result.risk_flags == [RiskFlag.HOSTILE]
    assert not result.crisis
    assert read(provider, "the idiots who built this road").risk_flags == []


def test_the_crisis_screen_runs_over_the_provider(provider: LexiconProvider) -> None:
    result = read(provider, "everyone would be better off without me")
    assert result.crisis
    assert RiskFlag.SUICIDAL_IDEATION in result.risk_flags
    assert result.distress >= 0.9


def test_confidence_grows_with_evidence(provider: LexiconProvider) -> None:
    thin = read(
        provider, "The delivery was scheduled for the fourth and the driver came on the fifth"
    )
    rich = read(provider, "I am furious and disgusted, this is the worst, truly awful")
    assert thin.confidence < 0.5 < rich.confidence


def test_an_extra_lexicon_adds_phrases_and_changes_the_version(tmp_path: Path) -> None:
    extra = tmp_path / "extra.tsv"
    extra.write_text("# shop slang\nbeyond-fuming\tanger\t2.0\n")
    base = LexiconProvider()
    custom = LexiconProvider(extra)
    assert custom.model_version != base.model_version
    text = "honestly beyond fuming"
    assert read(custom, text).score("anger") > read(base, text).score("anger")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("fuming\tanger", "extra.tsv:2: expected phrase<TAB>label<TAB>weight"),
        ("fuming\trage\t1.0", "extra.tsv:2: unknown emotion label 'rage'"),
        ("fuming\tanger\tlots", "extra.tsv:2: weight 'lots' is not a number"),
        ("fuming\tanger\tnan", "extra.tsv:2: weight 'nan' is not a finite number"),
        ("fuming\tanger\tinf", "extra.tsv:2: weight 'inf' is not a finite number"),
        ("fuming\tanger\t-Infinity", "extra.tsv:2: weight '-Infinity' is not a finite number"),
        ("one-two-three-four\tanger\t1.0", "extra.tsv:2: a phrase has 1 to 3 words"),
    ],
)
def test_a_malformed_lexicon_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    extra = tmp_path / "extra.tsv"
    extra.write_text(f"# header\n{line}\n")
    with pytest.raises(LexiconError) as caught:
        LexiconProvider(extra)
    assert str(caught.value).endswith(message)


def test_a_lexicon_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    extra = tmp_path / "extra.tsv"
    extra.write_bytes("# shop slang\nbeyond-fuming\tanger\t2.0\n".encode("utf-8-sig"))
    text = "honestly beyond fuming"
    assert read(LexiconProvider(extra), text).score("anger") > read(LexiconProvider(), text).score(
        "anger"
    )


def test_a_lexicon_that_is_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    extra = tmp_path / "extra.tsv"
    extra.write_bytes(b"# header\nfuming\tanger\t1.0\nw\xfctend\tanger\t1.0\n")
    with pytest.raises(LexiconError) as caught:
        LexiconProvider(extra)
    assert str(caught.value) == f"{extra}:3: byte 0xfc is not UTF-8; save the lexicon as UTF-8"
