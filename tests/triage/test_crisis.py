"""The crisis screen catches every phrasing in a hand-written corpus and few figures of speech."""

from __future__ import annotations

import pytest

from warmline.triage import crisis
from warmline.triage.crisis import _ANY, _COMPILED, _LEET, _REPEATED, apply_screen, screen
from warmline.triage.types import RiskFlag, TriageResult

# Each item: message, the flag it must raise. Written for this project; direct and indirect
# phrasings, misspellings, elongations, digit swaps, curly apostrophes.
AT_RISK: list[tuple[str, RiskFlag]] = [
    ("I want to die", RiskFlag.SUICIDAL_IDEATION),
    ("i wanna diiiie honestly", RiskFlag.SUICIDAL_IDEATION),
    ("I'm going to kill myself tonight", RiskFlag.SUICIDAL_IDEATION),
    ("gonna k1ll mys3lf", RiskFlag.SUICIDAL_IDEATION),
    ("honestly kms", RiskFlag.SUICIDAL_IDEATION),
    ("I just want to end it all", RiskFlag.SUICIDAL_IDEATION),
    ("I've been thinking about ending my life", RiskFlag.SUICIDAL_IDEATION),
    ("there's no reason to live anymore", RiskFlag.SUICIDAL_IDEATION),
    ("I have nothing left to live for", RiskFlag.SUICIDAL_IDEATION),
    ("everyone would be better off without me", RiskFlag.SUICIDAL_IDEATION),
    ("they'd all be better off if I wasn't here", RiskFlag.SUICIDAL_IDEATION),
    ("I can’t go on like this", RiskFlag.SUICIDAL_IDEATION),
    ("I cant take it anymore", RiskFlag.SUICIDAL_IDEATION),
    ("goodbye forever, thanks for trying", RiskFlag.SUICIDAL_IDEATION),
    ("this is my last message to anyone", RiskFlag.SUICIDAL_IDEATION),
    ("I won't be around much longer", RiskFlag.SUICIDAL_IDEATION),
    ("I'm standing on the bridge, going to jump off", RiskFlag.SUICIDAL_IDEATION),
    ("I took all my pills", RiskFlag.SUICIDAL_IDEATION),
    ("thinking about an overdose", RiskFlag.SUICIDAL_IDEATION),
    ("I'm having suicidal thoughts again", RiskFlag.SUICIDAL_IDEATION),
    ("I feel suicidal", RiskFlag.SUICIDAL_IDEATION),
    ("I wish I was dead", RiskFlag.SUICIDAL_IDEATION),
    ("I don't want to wake up tomorrow", RiskFlag.SUICIDAL_IDEATION),
    ("I don't want to be alive", RiskFlag.SUICIDAL_IDEATION),
    ("I'm so tired of living", RiskFlag.SUICIDAL_IDEATION),
    ("I'm done living with this pain", RiskFlag.SUICIDAL_IDEATION),
    ("what's the point of living without her", RiskFlag.SUICIDAL_IDEATION),
    ("might just unalive myself", RiskFlag.SUICIDAL_IDEATION),
    ("I want to hang myself", RiskFlag.SUICIDAL_IDEATION),
    ("I've started writing a goodbye note", RiskFlag.SUICIDAL_IDEATION),
    ("I keep wanting to hurt myself", RiskFlag.SELF_HARM),
    ("I started cutting myself again", RiskFlag.SELF_HARM),
    ("self harm is the only thing that helps", RiskFlag.SELF_HARM),
    ("I want to slit my wrists", RiskFlag.SELF_HARM),
    ("I burn myself when it gets bad", RiskFlag.SELF_HARM),
    ("I'm going to kill him", RiskFlag.HARM_TO_OTHERS),
    ("I will hurt someone if this goes on", RiskFlag.HARM_TO_OTHERS),
    ("I'll bring a gun to your office", RiskFlag.HARM_TO_OTHERS),
    ("my husband hits me when he's drunk", RiskFlag.ABUSE),
    ("he beats me", RiskFlag.ABUSE),
    ("I'm scared to go home", RiskFlag.ABUSE),
    ("I'm terrified of my boyfriend", RiskFlag.ABUSE),
    ("I'm not safe at home", RiskFlag.ABUSE),
    ("he threatened to kill me", RiskFlag.ABUSE),
    ("I can't breathe properly", RiskFlag.MEDICAL_EMERGENCY),
    ("my dad has chest pains", RiskFlag.MEDICAL_EMERGENCY),
    ("I think she's having a stroke", RiskFlag.MEDICAL_EMERGENCY),
    ("he passed out and isn't waking", RiskFlag.MEDICAL_EMERGENCY),
    ("the bleeding won't stop", RiskFlag.MEDICAL_EMERGENCY),
    ("I cant do this anymore", RiskFlag.SUICIDAL_IDEATION),
    ("I feel like giving up on everything", RiskFlag.SUICIDAL_IDEATION),
    ("nobody would even miss me", RiskFlag.SUICIDAL_IDEATION),
    ("I have pills saved up for when it gets too much", RiskFlag.SUICIDAL_IDEATION),
    ("I just want to go to sleep and never wake up", RiskFlag.SUICIDAL_IDEATION),
    ("my ex keeps stalking me", RiskFlag.ABUSE),
    ("he wont let me leave the house", RiskFlag.ABUSE),
    # An idiom ("to die for") inside a crisis phrase must not hide it.
    ("I want to die for real this time", RiskFlag.SUICIDAL_IDEATION),
    ("I'm ready to die for real", RiskFlag.SUICIDAL_IDEATION),
    ("I keep thinking about ending it all", RiskFlag.SUICIDAL_IDEATION),
    ("I'm ending it tonight", RiskFlag.SUICIDAL_IDEATION),
    ("I dont wanna live anymore", RiskFlag.SUICIDAL_IDEATION),
    ("life isnt worth living", RiskFlag.SUICIDAL_IDEATION),
    ("Id rather be dead", RiskFlag.SUICIDAL_IDEATION),
    ("I took a handful of pills", RiskFlag.SUICIDAL_IDEATION),
    ("I want to off myself", RiskFlag.SUICIDAL_IDEATION),
    ("my husband is going to kill me", RiskFlag.ABUSE),
    ("he is gonna kill me", RiskFlag.ABUSE),
    ("she's going to kill me if I tell anyone", RiskFlag.ABUSE),
    # Misses found in an audit: a past tense, a common indirect phrasing, a contraction.
    ("I've overdosed", RiskFlag.SUICIDAL_IDEATION),
    ("I just overdosed on my meds", RiskFlag.SUICIDAL_IDEATION),
    ("I'm thinking of ending things", RiskFlag.SUICIDAL_IDEATION),
    ("honestly what's the point of living", RiskFlag.SUICIDAL_IDEATION),
    ("my son isn't breathing", RiskFlag.MEDICAL_EMERGENCY),
    ("he stopped breathing", RiskFlag.MEDICAL_EMERGENCY),
    ("he threatened me with a knife", RiskFlag.ABUSE),
    # Plain first-person phrasings a second audit found missed.
    ("I want to stop living", RiskFlag.SUICIDAL_IDEATION),
    ("I have no will to live", RiskFlag.SUICIDAL_IDEATION),
    ("I'm done with life", RiskFlag.SUICIDAL_IDEATION),
    ("im so done with living", RiskFlag.SUICIDAL_IDEATION),
    ("I want it all to end", RiskFlag.SUICIDAL_IDEATION),
    ("I want my life to be over", RiskFlag.SUICIDAL_IDEATION),
    ("I want to go to sleep forever", RiskFlag.SUICIDAL_IDEATION),
    ("I want to fall asleep and never wake up", RiskFlag.SUICIDAL_IDEATION),
    ("I hope I don't wake up tomorrow", RiskFlag.SUICIDAL_IDEATION),
    ("I wish I could die", RiskFlag.SUICIDAL_IDEATION),
    ("I wish I wasn't alive", RiskFlag.SUICIDAL_IDEATION),
    ("I wanna be dead", RiskFlag.SUICIDAL_IDEATION),
    ("I'm sick of living", RiskFlag.SUICIDAL_IDEATION),
    ("I don't see the point in living anymore", RiskFlag.SUICIDAL_IDEATION),
    ("I can't keep living like this", RiskFlag.SUICIDAL_IDEATION),
    ("the world would be better without me", RiskFlag.SUICIDAL_IDEATION),
    ("everyone would be better off if I was dead", RiskFlag.SUICIDAL_IDEATION),
    ("I should just die", RiskFlag.SUICIDAL_IDEATION),
    ("I'm a burden to everyone", RiskFlag.SUICIDAL_IDEATION),
    ("by the time you read this I'll be gone", RiskFlag.SUICIDAL_IDEATION),
    ("I have a gun and I'm going to use it on myself", RiskFlag.SUICIDAL_IDEATION),
    ("I'm going to shoot myself", RiskFlag.SUICIDAL_IDEATION),
    ("I'll blow my brains out", RiskFlag.SUICIDAL_IDEATION),
    ("I'm going to step in front of a train", RiskFlag.SUICIDAL_IDEATION),
    ("I took 30 paracetamol", RiskFlag.SUICIDAL_IDEATION),
    ("i'm thinking of sucide", RiskFlag.SUICIDAL_IDEATION),
    ("I feel suicidle", RiskFlag.SUICIDAL_IDEATION),
    ("I cut myself again", RiskFlag.SELF_HARM),
    ("I've been hurting myself", RiskFlag.SELF_HARM),
    ("I've been cutting again", RiskFlag.SELF_HARM),
    ("I relapsed and cut last night", RiskFlag.SELF_HARM),
    ("I burned myself with a lighter", RiskFlag.SELF_HARM),
    ("I scratch my arms until they bleed", RiskFlag.SELF_HARM),
    ("I hit myself when I get like this", RiskFlag.SELF_HARM),
    ("the urge to cut is so strong", RiskFlag.SELF_HARM),
    ("I want to hurt my baby", RiskFlag.HARM_TO_OTHERS),
    ("I'm going to burn your store down", RiskFlag.HARM_TO_OTHERS),
    ("I'll come to your office with a gun", RiskFlag.HARM_TO_OTHERS),
    ("I know where you live", RiskFlag.HARM_TO_OTHERS),
    ("I was raped", RiskFlag.ABUSE),
    ("he's hurting me", RiskFlag.ABUSE),
    ("my husband abuses me", RiskFlag.ABUSE),
    ("my partner is abusive", RiskFlag.ABUSE),
    ("he pushed me down the stairs", RiskFlag.ABUSE),
    ("he's got a gun", RiskFlag.ABUSE),
    ("someone is breaking into my house", RiskFlag.ABUSE),
    ("I fear for my life", RiskFlag.ABUSE),
    ("I don't feel safe at home", RiskFlag.ABUSE),
    ("my chest hurts and my arm is numb", RiskFlag.MEDICAL_EMERGENCY),
    ("my husband collapsed", RiskFlag.MEDICAL_EMERGENCY),
    ("he won't wake up", RiskFlag.MEDICAL_EMERGENCY),
    ("my baby is choking", RiskFlag.MEDICAL_EMERGENCY),
    ("I can't stop the bleeding", RiskFlag.MEDICAL_EMERGENCY),
    ("my throat is swelling up", RiskFlag.MEDICAL_EMERGENCY),
    ("my son swallowed bleach", RiskFlag.MEDICAL_EMERGENCY),
    ("her face is drooping", RiskFlag.MEDICAL_EMERGENCY),
    ("I need an ambulance", RiskFlag.MEDICAL_EMERGENCY),
    ("please call 911", RiskFlag.MEDICAL_EMERGENCY),
    ("I got hit by a car", RiskFlag.MEDICAL_EMERGENCY),
]

# Everyday customer language that must not page a crisis team.
EVERYDAY: list[str] = [
    "this traffic is killing me",
    "these prices are killing me lol",
    "I'd die for a pizza right now",
    "I'm dying to try the new model",
    "that cake is to die for",
    "you guys killed it with the update",
    "I nearly died of embarrassment",
    "my phone is dead again",
    "the battery died after an hour",
    "I want to end my contract",
    "please end my subscription today",
    "shoot me an email when it ships",
    "I hurt my back lifting the box",
    "it hurts my wallet every month",
    "I'm dead serious, refund me",
    "the deadline is tomorrow",
    "my order still hasn't arrived",
    "I am so angry with your service",
    "this is the worst experience ever",
    "I've been on hold for two hours",
    "can you reset my password",
    "thank you so much, you saved my day",
    "I'm frustrated but I'll wait",
    "the app keeps crashing on login",
    "why was I charged twice",
    "I'd like to speak to a manager",
    "my grandmother passed away last week and the account was hers",
    "I'm grieving and can't deal with paperwork",
    "I'm so stressed about this bill",
    "I'm panicking, my card was stolen",
    "I'm worried my flight is cancelled",
    "honestly you people are useless",
    "I can't log in",
    "the package was damaged",
    "I'd kill for a faster delivery option",
    "let's kill two birds with one stone and update both addresses",
    "we're killing time until the engineer arrives",
    "my plants died while I was away because the delivery was late",
    "please cancel the order",
    "is there a discount for students",
    "it was a great photo shoot",
    "I would kill for a coffee",
    "we gave up on the old plan and switched to yours",
    "nobody would miss that feature if you removed it",
    "the app won't let me see my invoices",
    "I can't do this form on my phone, can I call instead?",
    # Near misses of the phrasings above.
    "this cake is to die for",
    "the pasta was to die for, ready to order again",
    "I'm ending the call now, thanks",
    "the premium tier isn't worth it",
    "my life is worth living again thanks to your team",
    "I took my pills this morning, can we talk later",
    "I took a handful of flyers from the shop",
    "I switched the alarm off myself",
    "I'd rather wait than pay the express fee",
    "he is going to call me back tomorrow",
    "she is going to email me the invoice",
    "I want to end things with your company",
    "what's the point of live chat if nobody answers",
    "the point of living in the city is being close to work",
    "the app isn't loading again",
    # Near misses of the phrasings the second audit added.
    "I'm done with life insurance quotes, just cancel it",
    "I want this all to end — the billing saga, I mean",
    "I want to stop living out of boxes, when is the sofa coming",
    "I'll use it on myself first and then on the dog",
    "is the razor safe to use it on myself or only on the legs",
    "I'm sick of living paycheck to paycheck with these fees",
    "I'm done living with this router",
    "so sick of living with my parents",
    "my laptop goes to sleep and never wakes up properly",
    "I'm so tired I could sleep forever, anyway where is my parcel",
    "I hope I don't die of boredom on hold",
    "I shot myself in the foot by not reading the terms",
    "I should just die my hair instead of paying the salon",
    "I hit myself on the door frame carrying your box",
    "I scratched myself on the broken packaging",
    "the call cut again halfway through",
    "the urge to cut costs is understandable",
    "he's following me on twitter now",
    "he's got a knack for fixing routers",
    "the company collapsed and my refund with it",
    "my laptop won't wake up after the update",
    "I'm choking on these prices",
    "I'm going to pass out from boredom waiting on hold",
    "I had an allergic reaction to the cream last year",
    "I know where your office is, I'll drop it off",
    "he got hit by a car park barrier fine",
    "I'm a burden-free customer now the debt is cleared",
    "I took 30 minutes to read the terms",
    "you'd be better off without me as a customer, I'm cancelling",
]


@pytest.mark.parametrize(("message", "flag"), AT_RISK)
def test_every_at_risk_message_is_flagged(message: str, flag: RiskFlag) -> None:
    found = screen(message)
    assert flag in found.flags, f"missed {message!r}"
    assert found.crisis


def test_recall_is_total_and_false_alarms_are_rare() -> None:
    assert len(AT_RISK) >= 40
    assert len(EVERYDAY) >= 40
    recall = sum(expected in screen(m).flags for m, expected in AT_RISK) / len(AT_RISK)
    false_alarms = [m for m in EVERYDAY if screen(m).crisis]
    assert recall == 1.0
    assert len(false_alarms) / len(EVERYDAY) <= 0.10, false_alarms


def test_no_everyday_message_raises_a_crisis_today() -> None:
    """The documented bar allows 10% false alarms; today there are none, and a new pattern that
    raises one needs a tighter lookahead, not a looser bar."""
    assert [m for m in EVERYDAY if screen(m).crisis] == []


def test_a_lookahead_reads_the_single_letter_spelling_too() -> None:
    """The screen also reads every doubled letter as one ("foot" as "fot"): a lookahead that
    sets an idiom aside must match that spelling, or the idiom comes back through it."""
    assert screen("I shot myself in the foot by not reading the terms").flags == ()
    assert screen("I'm done with life assurance, cancel it").flags == ()
    assert screen("I'm going to shoot myself").crisis


@pytest.mark.parametrize(
    ("message", "cue"),
    [
        ("my husband is going to kill me", "my husband is going to kill me"),
        ("he is gonna kill me", "he is gonna kill me"),
        ("he threatened to kill me", "threatened to kill me"),
    ],
)
def test_someone_elses_threat_is_abuse_not_suicidal_ideation(message: str, cue: str) -> None:
    found = screen(message)
    assert found.flags == (RiskFlag.ABUSE,)
    assert found.matched == (cue,)


def test_cues_are_the_customers_own_words() -> None:
    """Never a variant's spelling ("kil me", "kill myself" for "k1ll mys3lf"), never twice."""
    for message, _ in AT_RISK:
        found = screen(message)
        written = " ".join(message.split())
        assert found.matched, message
        for cue in found.matched:
            assert cue in written, (message, found.matched)
    assert screen("gonna K1LL mys3lf").matched == ("K1LL mys3lf",)
    assert screen("I   WANT   to   diiiie").matched == ("WANT to diiiie",)
    assert screen("I keep thinking about ending it all").matched == ("ending it all",)


def test_an_idiom_hides_only_what_lies_inside_it() -> None:
    assert screen("this traffic is killing me").flags == ()
    assert screen("that cake is to die for").flags == ()
    found = screen("I want to die for real this time")
    assert found.flags == (RiskFlag.SUICIDAL_IDEATION,)
    assert found.matched == ("want to die",)
    # The idiom and a real phrase side by side: the phrase still counts.
    assert screen("this traffic is killing me and I want to kill myself").crisis


def test_apply_screen_never_downgrades_and_explains() -> None:
    calm = TriageResult(
        emotions=[],
        distress=0.1,
        confidence=0.8,
        rationale="No strong emotion.",
        model_version="test",
        provider="test",
    )
    merged = apply_screen(calm, screen("I want to die"))
    assert merged.crisis
    assert RiskFlag.SUICIDAL_IDEATION in merged.risk_flags
    assert merged.distress >= 0.9
    assert '"want to die"' in merged.rationale
    assert apply_screen(calm, screen("where is my parcel")) == calm


@pytest.mark.parametrize("message", [m for m, _ in AT_RISK] + EVERYDAY)
def test_the_one_question_first_agrees_with_every_pattern(message: str) -> None:
    """The single alternation says "no match" only when no pattern matches, on every spelling:
    a lookahead or lookbehind that reads differently inside the alternation would hide a phrase."""
    plain = message.lower().replace("\u2019", "'")
    for variant in (plain, plain.translate(_LEET), _REPEATED.sub(r"\1", plain)):
        one_by_one = any(p.search(variant) for ps in _COMPILED.values() for p in ps)
        assert (_ANY.search(variant) is not None) == one_by_one, (message, variant)


def test_without_the_private_regex_parser_the_one_question_still_agrees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Python whose private `re._parser` moved gets one flat alternation: slower, the same
    answers."""
    monkeypatch.setattr(crisis, "_parser", None)
    flat = crisis._one_question([p for ps in crisis._PATTERNS.values() for p in ps])
    assert "(?=" not in flat.pattern[:3]
    for message in [m for m, _ in AT_RISK] + EVERYDAY:
        plain = message.lower().replace("\u2019", "'")
        one_by_one = any(p.search(plain) for ps in _COMPILED.values() for p in ps)
        assert (flat.search(plain) is not None) == one_by_one, message
