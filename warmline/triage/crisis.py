"""The crisis screen: a high-recall check that runs on every message, whatever the provider.

Recall comes first. Missing a person at risk costs far more than sending a specialist a message
that turns out to be a figure of speech, so the patterns reach for indirect phrasings, common
misspellings, elongated letters and digit-for-letter swaps, and only a short list of well-known
idioms ("this traffic is killing me", "I'd die for a pizza") is set aside: a match is dropped only
when it lies wholly inside one, so an idiom never hides the words around it ("I want to die for
real" keeps "want to die"). The cues reported are the customer's own words, as written.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from warmline.triage.types import RiskFlag, TriageResult

# Digits and symbols people swap for letters to slip past filters ("k1ll mys3lf").
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_ELONGATED = re.compile(r"([a-z])\1{2,}")
_REPEATED = re.compile(r"([a-z])\1+")
_SPACES = re.compile(r"\s+")

_ME = r"(?:my ?self|me)"
_THEY = (
    r"(?:he|she|they|my (?:husband|wife|partner|boyfriend|girlfriend|dad|father|mum|mom|mother"
    r"|stepdad|stepmum|stepmom|ex|brother|sister|son|daughter))"
)
"""Who threatens: "he is gonna kill me" is abuse, not the writer's own wish to die."""

_PATTERNS: dict[RiskFlag, tuple[str, ...]] = {
    RiskFlag.SUICIDAL_IDEATION: (
        rf"\bki+l+(?:ing)? {_ME}\b",
        rf"\b(?:(?:to|wanna|wana|gonna|gona|will|'ll|just|might|could|should|gotta) off|offing) {_ME}\b",
        r"\bkms\b",
        r"\b(?:wanna|wana|want to|wanting to|going to|gonna|gona|ready to|about to|plan to|planning to) die\b",
        r"\bwant(?:ed)? to be dead\b",
        r"\b(?:wish|wishing) (?:i|id|i'd) (?:was|were|had) (?:dead|never been born|not born)\b",
        r"\b(?:wish|wishing) i (?:could )?(?:just )?(?:disappear|not wake up|never wake up|stop existing)\b",
        r"\b(?:don't|dont|do not|no longer) (?:want to|wanna|wana) (?:live|be alive|exist|be here|wake up)\b",
        r"\b(?:not|isn't|isnt|ain't|aint|no longer|never|wasn't|wasnt)(?: really| even)? worth living\b",
        r"\blife(?:'s| is)? (?:not|isn't|isnt|no longer)(?: really| even)? worth it\b",
        r"\b(?:i'd|id|i would|i)(?: much| really| honestly| just)? (?:rather|sooner) (?:be dead|die|not (?:be alive|exist|live|wake up))\b",
        r"\b(?:end|ending|take|taking) (?:my|my own) li(?:fe|ves)\b",
        r"\b(?:end|ending) (?:it all|it|everything|things)\b(?! (?:for|with) (?:the|this|that|your|you|them) (?:company|contract|account|subscription|deal))",
        r"\bsu+i+c+i+d+(?:e|al)\b",
        r"\bsuicidal\b",
        r"\bunalive\b",
        r"\b(?:no|any|nothing|no more) (?:reason|point) (?:to|in|of) (?:live|living|go on|going on|being alive)\b",
        r"\bthe point (?:of|in) (?:living|being alive)\b(?! (?:in|at|on|near|close|by|here|there|abroad|downtown|together)\b)",
        r"\bnothing (?:left )?to live for\b",
        r"\bbetter off (?:dead|without me|if i (?:was|were)n't here|if i was gone|gone)\b",
        r"\b(?:can't|cant|cannot|can not) (?:go on|keep going|live like this|take (?:it|this) anymore)\b",
        r"\b(?:goodbye|good bye|bye) (?:forever|everyone|world|cruel world)\b",
        r"\bthis is (?:my )?(?:last|final) (?:message|goodbye|note)\b",
        r"\b(?:won't|wont|will not|not going to|not gonna) be (?:around|here|alive) (?:much longer|tomorrow|anymore|for long)\b",
        r"\b(?:jump|jumping|throw myself) (?:off|from|in front of)\b",
        r"\b(?:hang|hanging) myself\b",
        r"\b(?:overdos(?:e|ed|es|ing)|od(?:'d|ed)? on)\b",
        r"\b(?:took|take|taking|swallowed|swallow|swallowing|popped|downed) (?:all|all of|a bunch of|a lot of|lots of|loads of|a handful of|handfuls of|too many|way too many|(?:the|a|a whole|an entire) (?:bottle|packet|pack|box) of) (?:my |the |those |these )?(?:sleeping )?(?:pills|tablets|meds|medication|painkillers)\b",
        r"\b(?:write|writing|wrote|written|leave|leaving|left) (?:a|my) (?:suicide|goodbye) (?:note|letter)\b",
        r"\bnot (?:want|wanting) to be alive\b",
        r"\btired of (?:living|being alive|life)\b",
        r"\bdisappear forever\b",
        r"\b(?:can't|cant|cannot|can not) (?:do this|do it|handle (?:this|it)|cope) any ?more\b",
        r"\bg(?:ive|iving|ave) up on (?:everything|life|living)\b",
        r"\b(?:nobody|no one|noone) (?:would|will|'d|is going to|gonna) (?:even )?(?:miss me|notice if i (?:was|were|am) gone|care if i (?:die|died|was gone|were gone))\b",
        r"\b(?:saving|saved|stockpiling|stockpiled|hoarding|collecting) (?:up )?(?:my |the |some )?(?:pills|tablets|meds)\b",
        r"\b(?:pills|tablets|meds) (?:saved|stockpiled|stashed) (?:up|away)\b",
        r"\bsleep and (?:never|not) wake up\b",
    ),
    RiskFlag.SELF_HARM: (
        r"\b(?:hurt|hurting|harm|harming|cut|cutting|burn|burning|punish|punishing|starve|starving) (?:my ?self)\b",
        r"\bself[- ]?harm(?:ing)?\b",
        r"\bslit(?:ting)? my (?:wrists?|arms?|throat)\b",
        r"\bcut(?:ting)? my (?:wrists?|arms?|legs?|thighs?)\b",
        r"\b(?:relapsed|relapse) (?:on|into) (?:cutting|self harm|self-harm)\b",
        r"\bbang(?:ing)? my head\b",
    ),
    RiskFlag.HARM_TO_OTHERS: (
        r"\b(?:kill|killing|murder|shoot|stab|strangle|hurt|hurting) (?:him|her|them|you|everyone|somebody|someone|my (?:wife|husband|boss|partner|kids?|family|neighbou?r))\b(?! (?:with kindness|off))",
        r"\b(?:shoot|shooting) up (?:the|my|a|this)\b",
        r"\b(?:bring|bringing|get|got) (?:a|my) (?:gun|knife|rifle|weapon)\b",
        r"\b(?:make|making|build|building|plant|planting) a bomb\b",
        r"\bblow up (?:the|your|this|my)\b",
        r"\bkys\b",
    ),
    RiskFlag.ABUSE: (
        r"\b(?:he|she|they|my (?:husband|wife|partner|boyfriend|girlfriend|dad|father|mum|mom|mother|stepdad|ex)) (?:hits?|beats?|hurts?|chokes?|kicks?|slaps?|punche?s?) me\b",
        r"\b(?:hit|beat|hurt|choked|kicked|slapped|punched|strangled|raped|assaulted) me\b",
        r"\b(?:afraid|scared|terrified) (?:to go|of going) home\b",
        r"\b(?:afraid|scared|terrified) of my (?:husband|wife|partner|boyfriend|girlfriend|dad|father|mum|mom|mother|stepdad|ex)\b",
        r"\bnot safe (?:at home|here|with (?:him|her|them))\b",
        rf"\b{_THEY}(?:'ll|'s|'re|'d| will| would| is| are| was| were)?(?: (?:going to|gonna|gona|about to|trying to|tried to|wants to|threatening to))? (?:kill|murder) me\b",
        r"\bthreaten(?:ed|s|ing)? to (?:kill|hurt|beat) me\b",
        r"\bthreaten(?:ed|s|ing)? me with (?:a|his|her|their) (?:knife|gun|weapon)\b",
        r"\blocked me (?:in|out)\b",
        r"\b(?:abusive|violent) (?:husband|wife|partner|boyfriend|girlfriend|relationship|home|dad|father|mum|mom|mother|parent|ex)\b",
        r"\b(?:domestic (?:abuse|violence))\b",
        r"\b(?:sexually )?(?:abused|molested)\b",
        r"\bstalk(?:s|ing|ed)? me\b",
        r"\b(?:he|she|they|husband|wife|partner|boyfriend|girlfriend|dad|father|mum|mom|mother|stepdad|ex) (?:won't|wont|will not|doesn't|doesnt) let me (?:leave|go out|see (?:my|anyone)|have (?:my own )?money)\b",
    ),
    RiskFlag.MEDICAL_EMERGENCY: (
        r"\b(?:can't|cant|cannot|can not|couldn't|struggling to|hard to) breath(?:e|ing)?\b",
        r"\bchest pains?\b",
        r"\bheart attack\b",
        r"\b(?:having|had) a (?:stroke|seizure|fit)\b",
        r"\bseizures?\b",
        r"\b(?:passed out|fainted|unconscious|(?:not|isn't|isnt|wasn't|wasnt|stopped) breathing|unresponsive)\b",
        r"\bbleeding (?:heavily|a lot|badly|everywhere|won't stop|wont stop)\b",
        r"\b(?:anaphyla(?:xis|ctic)|severe allergic reaction|throat is closing)\b",
        r"\bcall (?:an )?ambulance\b",
    ),
}

# Idioms that read like a crisis phrase but are not one. A match wholly inside one is dropped.
_IDIOMS = re.compile(
    r"\b(?:"
    r"(?:is|are|was|it's|its|this|that|you're|youre) (?:\w+ )?killing me"
    r"|killing it|killed it|kill(?:ing)? time|kill(?:ing)? the (?:mood|vibe|engine|lights|process)"
    r"|(?:i'd|id|i would|i could) die for|to die for|dying to|dying for|die of (?:laughter|laughing|embarrassment|boredom)"
    r"|(?:i'm|im|i am) dead(?: lol|lmao|😂)?\b(?= ?(?:lol|lmao|haha|😂))"
    r"|dead (?:tired|serious|on|wrong|end|line|lines)|deadline"
    r"|(?:my|the) (?:phone|battery|laptop|car|plant|plants|order|package|account) (?:is |was )?(?:dead|died|dying)"
    r"|(?:ending|end) (?:my|the|this|our) (?:contract|subscription|membership|account|call|chat|relationship with (?:you|your company))"
    r"|shoot (?:me )?(?:an? )?(?:email|message|text|dm|line)|shoot for|photo ?shoot"
    r"|(?:hurt|hurts|hurting) my (?:back|knee|wallet|feelings|eyes|ears)"
    r")",
)


@dataclass(frozen=True)
class CrisisScreen:
    """What the screen found: the flags raised and the phrases that raised them."""

    flags: tuple[RiskFlag, ...]
    matched: tuple[str, ...]

    @property
    def crisis(self) -> bool:
        return any(flag.is_crisis for flag in self.flags)


_OUTRANKED_BY: dict[RiskFlag, RiskFlag] = {RiskFlag.SUICIDAL_IDEATION: RiskFlag.ABUSE}
"""A match of the first flag wholly inside a match of the second is the second's: "kill me" in
"he threatened to kill me" is someone else's threat, not the writer's wish to die."""

_COMPILED = {flag: [re.compile(p) for p in patterns] for flag, patterns in _PATTERNS.items()}
_ANY = re.compile("|".join(f"(?:{p})" for patterns in _PATTERNS.values() for p in patterns))
"""Every pattern at once: most messages match none, and one search says so (the screen runs on
every message, inside the 10 ms a message has)."""


def normalise(text: str) -> str:
    """Lower case, plain apostrophes, elongations shortened, one space between words."""
    return _normalised(text)[0]


Span = tuple[int, int]
"""Start and end of a stretch of the original message, as Python slices count them."""


def _normalised(text: str) -> tuple[str, list[int]]:
    """`normalise(text)`, and for each of its characters the index it came from in `text`."""
    lowered = text.lower()
    if len(lowered) == len(text):
        origin = list(range(len(text)))
    else:  # a few characters lower to two ("İ"): both map back to the one they came from
        lowered = "".join(ch.lower() for ch in text)
        origin = [i for i, ch in enumerate(text) for _ in ch.lower()]
    shortened, origin = _collapse(lowered.translate(_APOSTROPHES), origin, _ELONGATED, keep=2)
    spaced, origin = _collapse(shortened, origin, _SPACES, keep=1, fill=" ")
    stripped = spaced.strip()
    start = len(spaced) - len(spaced.lstrip())
    return stripped, origin[start : start + len(stripped)]


def _collapse(
    text: str, origin: list[int], pattern: re.Pattern[str], *, keep: int, fill: str | None = None
) -> tuple[str, list[int]]:
    """Replace each match of `pattern` by its first `keep` characters (or by `fill`), carrying
    the origin of every character that stays."""
    parts: list[str] = []
    kept: list[int] = []
    last = 0
    for found in pattern.finditer(text):
        head = fill if fill is not None else found.group(0)[:keep]
        parts += [text[last : found.start()], head]
        kept += origin[last : found.start() + len(head)]
        last = found.end()
    parts.append(text[last:])
    kept += origin[last:]
    return "".join(parts), kept


def _inside(span: Span, outer: Span) -> bool:
    return outer[0] <= span[0] and span[1] <= outer[1]


def _spans(pattern: re.Pattern[str], text: str, origin: list[int]) -> list[Span]:
    """Where `pattern` matches `text`, as spans of the original message."""
    return [
        (origin[found.start()], origin[found.end() - 1] + 1)
        for found in pattern.finditer(text)
        if found.end() > found.start()
    ]


def screen(text: str) -> CrisisScreen:
    """Screen one message. Runs on every message; cheap enough to run first.

    The patterns run on the whole normalised text and its variants, never on text with idioms
    cut out (cutting "to die for" out of "I want to die for real" hid "want to die"); each match
    is then placed back on the original message, where idioms and outranking flags are checked.
    """
    plain, origin = _normalised(text)
    variants = [
        (plain, origin),
        (plain.translate(_LEET), origin),  # one character for one: the same origins
        _collapse(plain, origin, _REPEATED, keep=1),
    ]
    found: dict[RiskFlag, set[Span]] = {}
    for variant, where in variants:
        if _ANY.search(variant) is None:
            continue
        for flag, patterns in _COMPILED.items():
            for pattern in patterns:
                found.setdefault(flag, set()).update(_spans(pattern, variant, where))
    if not any(found.values()):
        return CrisisScreen(flags=(), matched=())
    idioms = _spans(_IDIOMS, plain, origin)
    kept = {
        flag: {span for span in spans if not any(_inside(span, idiom) for idiom in idioms)}
        for flag, spans in found.items()
    }
    for flag, outranking in _OUTRANKED_BY.items():
        above = kept.get(outranking, set())
        kept[flag] = {s for s in kept.get(flag, set()) if not any(_inside(s, a) for a in above)}
    flags = [flag for flag in RiskFlag if kept.get(flag)]
    spans = {span for spans in kept.values() for span in spans}
    # One cue per stretch of the message: "ending it" is left out when "ending it all" is given.
    widest = sorted(
        (s for s in spans if not any(o != s and _inside(s, o) for o in spans)),
        key=lambda s: s[0],
    )
    cues = dict.fromkeys(" ".join(text[start:end].split()) for start, end in widest)
    return CrisisScreen(flags=tuple(flags), matched=tuple(cues))


def apply_screen(result: TriageResult, found: CrisisScreen) -> TriageResult:
    """Merge the screen into a provider's result: flags unite; a crisis is never downgraded."""
    if not found.flags:
        return result
    flags = list(dict.fromkeys([*result.risk_flags, *found.flags]))
    crisis = result.crisis or found.crisis
    cues = ", ".join(f'"{m}"' for m in found.matched)
    return result.model_copy(
        update={
            "risk_flags": flags,
            "crisis": crisis,
            "distress": max(result.distress, 0.9 if found.crisis else result.distress),
            "rationale": f"{result.rationale} Crisis screen: {cues}.".strip(),
        }
    )


def crisis_under(result: TriageResult, flags: Collection[RiskFlag] | None) -> TriageResult:
    """The result with `crisis` decided by the deployment's crisis flags (`triage.crisis.flags`):
    a reading with risk flags is a crisis when one of them is configured; one without (a
    provider's bare verdict) keeps its own. None leaves every flag but `hostile` a crisis."""
    if flags is None or not result.risk_flags:
        return result
    crisis = any(flag in flags for flag in result.risk_flags)
    return result if crisis == result.crisis else result.model_copy(update={"crisis": crisis})
