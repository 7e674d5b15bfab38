"""The crisis screen: a high-recall check that runs on every message, whatever the provider.

Recall comes first. Missing a person at risk costs far more than sending a specialist a message
that turns out to be a figure of speech, so the patterns reach for indirect phrasings, common
misspellings, elongated letters and digit-for-letter swaps, and only a short list of well-known
idioms ("this traffic is killing me", "I'd die for a pizza") is set aside.
"""

from __future__ import annotations

import re
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

_PATTERNS: dict[RiskFlag, tuple[str, ...]] = {
    RiskFlag.SUICIDAL_IDEATION: (
        rf"\bki+l+(?:ing)? {_ME}\b",
        r"\bkms\b",
        r"\b(?:wanna|wana|want to|wanting to|going to|gonna|gona|ready to|about to|plan to|planning to) die\b",
        r"\bwant(?:ed)? to be dead\b",
        r"\b(?:wish|wishing) (?:i|id|i'd) (?:was|were|had) (?:dead|never been born|not born)\b",
        r"\b(?:wish|wishing) i (?:could )?(?:just )?(?:disappear|not wake up|never wake up|stop existing)\b",
        r"\b(?:don't|dont|do not) want to (?:live|be alive|exist|be here|wake up)\b",
        r"\b(?:end|ending|take|taking) (?:my|my own) li(?:fe|ves)\b",
        r"\bend (?:it|it all|everything)\b(?! (?:for|with) (?:the|this|that|your|you|them) (?:company|contract|account|subscription|deal))",
        r"\bsu+i+c+i+d+(?:e|al)\b",
        r"\bsuicidal\b",
        r"\bunalive\b",
        r"\b(?:no|any|nothing|no more) (?:reason|point) (?:to|in|of) (?:live|living|go on|going on|being alive)\b",
        r"\bnothing (?:left )?to live for\b",
        r"\bbetter off (?:dead|without me|if i (?:was|were)n't here|if i was gone|gone)\b",
        r"\b(?:can't|cant|cannot|can not) (?:go on|keep going|live like this|take (?:it|this) anymore)\b",
        r"\b(?:goodbye|good bye|bye) (?:forever|everyone|world|cruel world)\b",
        r"\bthis is (?:my )?(?:last|final) (?:message|goodbye|note)\b",
        r"\b(?:won't|wont|will not|not going to|not gonna) be (?:around|here|alive) (?:much longer|tomorrow|anymore|for long)\b",
        r"\b(?:jump|jumping|throw myself) (?:off|from|in front of)\b",
        r"\b(?:hang|hanging) myself\b",
        r"\b(?:overdose|overdosing|od(?:'d|ed)? on)\b",
        r"\b(?:took|take|taking|swallowed|swallow) (?:all|a bunch of|a lot of|the whole bottle of|a bottle of) (?:my |the |those |these )?(?:pills|tablets|meds|medication)\b",
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
        r"\b(?:he|she|they)(?:'ll| will| is going to| are going to| gonna)? kill me\b",
        r"\bthreaten(?:ed|s|ing)? to (?:kill|hurt|beat) me\b",
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
        r"\b(?:passed out|fainted|unconscious|not breathing|unresponsive)\b",
        r"\bbleeding (?:heavily|a lot|badly|everywhere|won't stop|wont stop)\b",
        r"\b(?:anaphyla(?:xis|ctic)|severe allergic reaction|throat is closing)\b",
        r"\bcall (?:an )?ambulance\b",
    ),
}

# Idioms that read like a crisis phrase but are not one. Removed before matching.
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


_COMPILED = {flag: [re.compile(p) for p in patterns] for flag, patterns in _PATTERNS.items()}
_ANY = re.compile("|".join(f"(?:{p})" for patterns in _PATTERNS.values() for p in patterns))
"""Every pattern at once: most messages match none, and one search says so (the screen runs on
every message, inside the 10 ms a message has)."""


def normalise(text: str) -> str:
    """Lower case, plain apostrophes, elongations shortened, one space between words."""
    text = text.lower().translate(_APOSTROPHES)
    text = _ELONGATED.sub(r"\1\1", text)
    return _SPACES.sub(" ", text).strip()


def screen(text: str) -> CrisisScreen:
    """Screen one message. Runs on every message; cheap enough to run first."""
    plain = _IDIOMS.sub(" ", normalise(text))
    variants = {plain, plain.translate(_LEET), _REPEATED.sub(r"\1", plain)}
    flags: list[RiskFlag] = []
    matched: list[str] = []
    for variant in variants:
        if _ANY.search(variant) is None:
            continue
        for flag, patterns in _COMPILED.items():
            for pattern in patterns:
                found = pattern.search(variant)
                if found:
                    if flag not in flags:
                        flags.append(flag)
                    if found.group(0) not in matched:
                        matched.append(found.group(0))
    order = list(RiskFlag)
    return CrisisScreen(flags=tuple(sorted(flags, key=order.index)), matched=tuple(matched))


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
