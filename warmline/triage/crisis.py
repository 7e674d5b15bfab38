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
from typing import Any

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
_SOMEONE = (
    r"(?:he|she|they|someone|somebody|my (?:husband|wife|partner|boyfriend|girlfriend|dad|father"
    r"|mum|mom|mother|son|daughter|baby|child|kid|brother|sister|friend|grandma|grandmother"
    r"|grandad|grandfather|grandpa|nan|neighbou?r|colleague|coworker)|the baby)"
)
"""Who collapses or chokes: a person, never "the company" or "my laptop"."""
_HEAVY = (
    r"(?:this|the|my|all this|so much|such)(?: constant| chronic)? (?:pain|hurt|grief|guilt|shame"
    r"|depres+ion|anxiety|il+nes+|sicknes+|disease|lonel[iy]nes+|trauma|memories)"
)
"""What a life can be lived with that makes "sick of living with it" a cry for help (doubled letters
may be read single, as the screen also reads them)."""
_NOT_A_PLACE = (
    r"(?! (?:in|at|on|near|close|by|here|there|abroad|downtown|together|out of|under|from|paycheck"
    rf"|with(?:out)?(?! {_HEAVY}))\b)"
)
"""After "living": "sick of living out of boxes" or "with my parents" is about a home, not a life;
"with this pain" is about a life."""

try:
    from re import _constants as _sre  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]
except ImportError:  # a Python whose private regex modules moved: one flat alternation
    _sre = _parser = None
"""The standard library's own reading of a pattern (private, but the one `re.compile` uses), to
group the patterns of the one-search pre-check by their first letter. Without it, or for a
pattern it cannot read, the pre-check tries the pattern at every word: the same findings, slower."""

_PATTERNS: dict[RiskFlag, tuple[str, ...]] = {
    RiskFlag.SUICIDAL_IDEATION: (
        rf"\bki+l+(?:ing)? {_ME}\b",
        rf"\b(?:(?:to|wanna|wana|gonna|gona|will|'ll|just|might|could|should|gotta) off|offing) {_ME}\b",
        r"\bkms\b",
        r"\b(?:wanna|wana|want to|wanting to|going to|gonna|gona|ready to|about to|plan to|planning to) die\b",
        r"\b(?:want(?:ed)? to|wanna|wana) be dead\b",
        rf"\b(?:(?:want|wanted|wanting|going|ready|trying) to|wanna|wana|gonna|gona) stop (?:living|existing|being alive)\b{_NOT_A_PLACE}",
        r"\b(?:(?:i|i've|ive|i have)(?: got)? (?:no|lost)|(?:i'm|im|i am) losing)(?: the| my| all)? will to live\b",
        rf"\b(?:i'm|im|i am)(?: so| just| really| honestly| completely)? done (?:with )?(?:life|living|being alive|existing)\b(?! (?:insurance|as+urance|cover|policy|policies|quotes?|coach(?:ing)?|admin)\b){_NOT_A_PLACE}",
        r"\bwant (?:it all|everything|my life|this life) to (?:end|be over|stop)\b(?! (?:with|for|by|on|at)\b)",
        r"\b(?:(?:want|wanted|wanting|going|ready) to|wanna|wana|gonna|gona|wish i could)(?: just)? (?:go to |fall )?(?:sleep|asleep) forever\b",
        r"\bhope (?:that )?i (?:die|don't wake up|dont wake up|do not wake up|never wake up)\b(?! (?:of|from|laughing)\b)",
        r"\bi (?:should(?: just)?|deserve to) die\b(?! (?:my|your|his|her|the|it|them|this|that)\b)",
        r"\bi (?:shouldn't|shouldnt|should not) (?:be alive|exist|have been born)\b",
        r"\b(?:i'm|im|i am|i feel like)(?: such| just| only)? a burden\b(?!-)",
        r"\bby the time (?:you|anyone|someone|somebody) (?:read|reads|see|sees) this\b",
        r"\b(?:i'll|ill|i will|i'm going to|im going to|i'm gonna|im gonna) be dead (?:by (?:morning|tomorrow|tonight)|soon|tomorrow|tonight)\b",
        r"\b(?:gun|pistol|rifle|knife|blade|razor|rope|pills)\b.{0,40}\b(?:going to|gonna|gona|'ll|will|about to|want to|wanna) use (?:it|them) on (?:my ?self|me)\b",
        r"\bbullet (?:in|into|through) my (?:head|brain|skull)\b",
        r"\bblow(?:ing)? my (?:brains|head) (?:out|off)\b",
        r"\b(?:step|stepping|walk|walking|throw(?:ing)? myself|jump|jumping|lie|lying|lay) (?:down )?(?:in front of|under) (?:a|the|an oncoming) (?:train|bus|truck|lorry|car|tram)\b",
        r"\b(?:wish|wishing) (?:i|id|i'd) (?:was|were|had) (?:dead|never been born|not born)\b",
        r"\b(?:wish|wishing) i (?:could )?(?:just )?(?:disappear|not wake up|never wake up|stop existing|die\b(?! (?:of|from|laughing)\b))",
        r"\b(?:wish|wishing) (?:i|i'd|id) (?:wasn't|wasnt|weren't|werent|was not|were not) (?:alive|born)\b",
        r"\b(?:wish|wishing) i (?:didn't|didnt|did not) exist\b",
        r"\b(?:don't|dont|do not|no longer) (?:want to|wanna|wana) (?:live|be alive|exist|be here|wake up)\b",
        r"\b(?:not|isn't|isnt|ain't|aint|no longer|never|wasn't|wasnt)(?: really| even)? worth living\b",
        r"\blife(?:'s| is)? (?:not|isn't|isnt|no longer)(?: really| even)? worth it\b",
        r"\b(?:i'd|id|i would|i)(?: much| really| honestly| just)? (?:rather|sooner) (?:be dead|die|not (?:be alive|exist|live|wake up))\b",
        r"\b(?:end|ending|take|taking) (?:my|my own) li(?:fe|ves)\b",
        r"\b(?:end|ending) (?:it all|it|everything|things)\b(?! (?:for|with) (?:the|this|that|your|you|them) (?:company|contract|account|subscription|deal))",
        r"\bsu+i*(?:c|s)+i+d+(?:e|es|al|ial|le)\b",
        r"\bsuicidal\b",
        r"\bunalive\b",
        r"\b(?:no|any|nothing|no more|see a|see the) (?:reason|point) (?:to|in|of) (?:live|living|go on|going on|being alive)\b(?! (?:in|at|on|near|close|by|here|there|abroad|downtown|together)\b)",
        r"\bthe point (?:of|in) (?:living|being alive)\b(?! (?:in|at|on|near|close|by|here|there|abroad|downtown|together)\b)",
        r"\bnothing (?:left )?to live for\b",
        r"\bbetter (?:off )?without me\b(?! as (?:a|your) (?:customer|client)\b)",
        r"\bbetter off (?:dead|gone\b(?! as (?:a|your) (?:customer|client)\b)|if i (?:was|were) (?:dead|gone|not here|not around|not alive)|if i (?:wasn't|weren't|wasnt|werent) (?:here|around|alive))\b",
        r"\b(?:can't|cant|cannot|can not) (?:go on|keep going|(?:keep )?liv(?:e|ing) like this|take (?:it|this) anymore)\b",
        r"\b(?:goodbye|good bye|bye) (?:forever|everyone|world|cruel world)\b",
        r"\bthis is (?:my )?(?:last|final) (?:message|goodbye|note)\b",
        r"\b(?:won't|wont|will not|not going to|not gonna) be (?:around|here|alive) (?:much longer|tomorrow|anymore|for long)\b",
        r"\b(?:jump|jumping|throw myself) (?:off|from|in front of)\b",
        r"\b(?:hang|hanging|drown|drowning|poison|poisoning|suffocate|suffocating|gas|gassing) myself\b",
        r"\b(?:shoot|shooting|shot) myself\b(?! in the f(?:o+|e+)t\b)",
        r"\b(?:overdos(?:e|ed|es|ing)|od(?:'d|ed)? on)\b",
        r"\b(?:took|take|taking|swallowed|swallow|swallowing|popped|downed) (?:all|all of|a bunch of|a lot of|lots of|loads of|a handful of|handfuls of|too many|way too many|(?:the|a|a whole|an entire) (?:bottle|packet|pack|box) of|[1-9]\d+) (?:my |the |those |these )?(?:sleeping )?(?:pills|tablets|meds|medication|painkillers|paracetamol|acetaminophen|tylenol|ibuprofen|aspirin|codeine)\b",
        r"\b(?:write|writing|wrote|written|leave|leaving|left) (?:a|my) (?:suicide|goodbye) (?:note|letter)\b",
        r"\bnot (?:want|wanting) to be alive\b",
        rf"\b(?:tired|sick) of (?:living|being alive|life)\b{_NOT_A_PLACE}",
        r"\bdisappear forever\b",
        r"\b(?:can't|cant|cannot|can not) (?:do this|do it|handle (?:this|it)|cope) any ?more\b",
        r"\bg(?:ive|iving|ave) up on (?:everything|life|living)\b",
        r"\b(?:nobody|no one|noone) (?:would|will|'d|is going to|gonna) (?:even )?(?:miss me|notice if i (?:was|were|am) gone|care if i (?:die|died|was gone|were gone))\b",
        r"\b(?:saving|saved|stockpiling|stockpiled|hoarding|collecting) (?:up )?(?:my |the |some )?(?:pills|tablets|meds)\b",
        r"\b(?:pills|tablets|meds) (?:saved|stockpiled|stashed) (?:up|away)\b",
        r"\b(?:sleep|asleep) and (?:never|not) wake up\b",
    ),
    RiskFlag.SELF_HARM: (
        r"\b(?:hurt|hurting|harm|harming|cut|cutting|cuting|burn|burning|burned|burnt|punish|punishing|starve|starving) (?:my ?self)\b",
        r"\b(?:hit|hitting|scratch|scratching|scratched) (?:my ?self)\b(?! (?:on|against|with) (?:the|a|an|my)\b)",
        r"\b(?:(?:make|made|making) (?:my ?self|me)|(?:until|till|til) (?:i|it|they|my (?:knuckles|hands?|fists?|arms?|legs?|skin))) (?:bleed|bleeds|bled)\b",
        r"\b(?:i|i've|ive|i have|i'm|im|i am)(?: been| started| keep| kept)? cut(?:ting)? again\b",
        r"\burges? to (?:cut|self[- ]?harm)\b(?! (?:the|my|your|a|an|it|this|that|them|costs?|back|down|of+|out|in|into|corners|ties|prices|lines?|hair|through|ahead)\b)",
        r"\bself[- ]?harm(?:ing)?\b",
        r"\bslit(?:ting)? my (?:wrists?|arms?|throat)\b",
        r"\bcut(?:ting)? my (?:wrists?|arms?|legs?|thighs?)\b",
        r"\b(?:relapsed|relapse) (?:on |into |and )?(?:cutting|cut|self[- ]?harm(?:ing|ed)?)\b",
        r"\bbang(?:ing)? my head\b",
    ),
    RiskFlag.HARM_TO_OTHERS: (
        r"\b(?:kill|killing|murder|shoot|stab|strangle|hurt|hurting) (?:him|her|them|you|everyone|somebody|someone|my (?:wife|husband|boss|partner|kids?|family|neighbou?r|baby|son|daughter|child|children|mum|mom|mother|dad|father|ex|brother|sister|roommate|flatmate|coworker|colleague))\b(?! (?:with kindness|off))",
        r"\b(?:i want to|i wanna|i'm going to|im going to|i'm gonna|im gonna|i will|i'll|i feel like) (?:kill|killing|murder|murdering|shoot|shooting|stab|stabbing) (?:people|everybody)\b",
        r"\b(?:going to|gonna|gona|i'll|i will|want to|wanna) beat (?:him|her|them|you|someone|somebody) up\b",
        r"\b(?:run|running) (?:him|her|them) over\b",
        r"\b(?:burn|burning) (?:the|your|this|his|her|their|that) (?:house|home|building|store|shop|office|place|school) down\b",
        r"\b(?:set|setting) fire to (?:the|your|this|his|her|their|that) (?:house|home|building|store|shop|office|place|car|school)\b",
        r"\b(?:come|coming|show up|showing up|turn up|turning up) (?:to|at|round to|down to|over to) your (?:\w+ )?(?:office|store|shop|house|home|place|building|hq|headquarters) with (?:a|my) (?:gun|rifle|shotgun|knife|machete|weapon)\b",
        r"\bi know where you (?:live|work)\b",
        r"\b(?:shoot|shooting) up (?:the|my|a|this)\b",
        r"\b(?:bring|bringing|get|got) (?:a|my) (?:gun|knife|rifle|weapon)\b",
        r"\b(?:make|making|build|building|plant|planting) a bomb\b",
        r"\bblow up (?:the|your|this|my)\b",
        r"\bkys\b",
    ),
    RiskFlag.ABUSE: (
        r"\b(?:he|she|they|my (?:husband|wife|partner|boyfriend|girlfriend|dad|father|mum|mom|mother|stepdad|ex)) (?:hits?|beats?|hurts?|chokes?|kicks?|slaps?|punche?s?|abuses?|threatens?|strangles?|rapes?|touches|pushe?s?|shoves?) me\b",
        rf"\b{_THEY}(?:'s| is| are|'re| keeps?| kept| has been|'s been) (?:hurting|hitting|beating|choking|kicking|slapping|punching|abusing|strangling) me\b",
        rf"\b{_THEY}(?:'s| is| was| has been|'s been| gets| can be)(?: really| very| so)? (?:abusive|violent)\b(?! about\b)",
        rf"\b{_THEY}(?:'s| is| keeps?| kept| has been|'s been) (?:following me|showing up at my (?:house|home|flat|apartment|work|door))\b(?! (?:on|back)\b)",
        rf"\b{_THEY}(?:'s got| has got| has| got|'s holding| is holding|'s waving| is waving) (?:a|his|her|their) (?:gun|knife|weapon|rifle|pistol)\b",
        r"\b(?:pushed|shoved|threw|thrown|dragged) me (?:down|against|into|onto|across)\b",
        r"\b(?:i was|i've been|ive been|i have been|i got|i've just been) (?:raped|sexually assaulted|assaulted|molested)\b",
        r"\bforced (?:himself|herself|themselves) on me\b",
        r"\b(?:afraid|scared|terrified|fear) for my life\b",
        r"\b(?:someone|somebody|a man|people|a stranger)(?:'s| is| are|'re)? (?:breaking|broke|trying to break) in(?:to)? (?:my|our|the) (?:house|home|flat|apartment|room)\b",
        r"\b(?:someone|somebody|a man|a stranger|an intruder)(?:'s| is) in (?:my|our) (?:house|home|flat|apartment)\b",
        r"\b(?:hit|beat|hurt|choked|kicked|slapped|punched|strangled|raped|assaulted) me\b",
        r"\b(?:afraid|scared|terrified) (?:to go|of going) home\b",
        r"\b(?:afraid|scared|terrified) of my (?:husband|wife|partner|boyfriend|girlfriend|dad|father|mum|mom|mother|stepdad|ex)\b",
        r"\b(?:not|don't feel|dont feel|do not feel|never feel) safe (?:at home|here|with (?:him|her|them))\b",
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
        r"\bchest (?:pains?|tightness|pressure|(?:hurts|is hurting|is tight|feels tight|feels heavy|is (?:really |so )?(?:painful|tight)))\b",
        r"\b(?:face|mouth|smile) (?:is |'s )?droop(?:ing|s|y)\b",
        r"\b(?:speech is|words are|is|he's|she's|i'm|im) slurr(?:ed|ing)\b",
        rf"\b{_SOMEONE}(?: just| has| has just|'s| has suddenly| suddenly)? collapsed\b",
        rf"\b{_SOMEONE}(?:'s| is)? choking\b(?! (?:on (?:my|his|her|their) (?:words|laughter|cof+e+|tea|drink)|up)\b)",
        rf"\b{_SOMEONE} (?:won't|wont|will not|isn't|isnt|is not|can't|cant) (?:wake|waking) up\b",
        r"\b(?:can't|cant|cannot|can not|couldn't|couldnt) stop (?:the |it |him |her )?(?:from )?bleeding\b",
        r"\b(?:blood (?:is )?everywhere|so much blood|losing (?:a lot of |so much )?blood)\b",
        r"\b(?:swallowed|drank|drunk|ate|eaten|ingested) (?:some |a lot of |the |a )?(?:bleach|poison|detergent|antifreeze|drain cleaner|rat poison|weed killer|laundry (?:pod|capsule|tablet)s?|dishwasher (?:pod|tablet)s?|(?:button )?batter(?:y|ies))\b(?!-)",
        rf"\b(?:i|{_SOMEONE})(?:'s| just| has| have|'ve)?(?: just)? (?:got|was|been|has been) hit by a (?:car|bus|truck|lorry|van)\b(?! (?:park|wash|door|alarm)\b)",
        r"\b(?:think|feel like) (?:i'm|im|i am) dying\b(?! (?:of|from|laughing|inside|to|for|lol|lmao|haha)\b)",
        r"\b(?:going to|gonna|about to) (?:pass out|faint|collapse)\b(?! (?:from|of|with|when|if)\b)",
        r"\bheart attack\b",
        r"\b(?:having|had) a (?:stroke|seizure|fit)\b",
        r"\bseizures?\b",
        r"\b(?:passed out|fainted|unconscious|(?:not|isn't|isnt|wasn't|wasnt|stopped) breathing|unresponsive)\b",
        r"\bbleeding (?:heavily|a lot|badly|everywhere|won't stop|wont stop)\b",
        r"\b(?:anaphyla(?:xis|ctic)|severe allergic reaction|having (?:an|a (?:bad|severe|serious)) allergic reaction|throat (?:is |'s )?(?:closing|swelling)|(?:tongue|lips|face) (?:is |are |'s )?swelling up)\b",
        r"\b(?:call|need|send|get) (?:me |us |him |her )?(?:an )?ambulance\b",
        r"\b(?:please|pls|plz|someone|somebody|can you|could you|i need you to) call (?:911|999|112)\b",
    ),
}

# Idioms that read like a crisis phrase but are not one. A match wholly inside one is dropped.
# A lookbehind in a pattern would do the same for "if he has a knife", but it costs the single
# alternation its quick skip over plain text (the dev split ran seven times slower), so a
# hypothetical is set aside here, where only messages that matched are read.
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
    r"|(?:if|whether) (?:he|she|they)(?: has| had|'s got| has got| got) (?:a|his|her|their) (?:gun|knife|weapon|rifle|pistol)"
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


_OUTRANKED_BY: dict[RiskFlag, RiskFlag] = {
    RiskFlag.SUICIDAL_IDEATION: RiskFlag.ABUSE,
    RiskFlag.HARM_TO_OTHERS: RiskFlag.ABUSE,
}
"""A match of the first flag wholly inside a match of the second is the second's: "kill me" in
"he threatened to kill me" is someone else's threat, not the writer's wish to die, and "got a gun" in
"he's got a gun" is a threat to the writer, not by them."""

_COMPILED = {flag: [re.compile(p) for p in patterns] for flag, patterns in _PATTERNS.items()}


def _class_characters(members: Any) -> set[str] | None:
    """The characters a parsed character class (`[a-z']`) matches, or None for a category."""
    found: set[str] = set()
    for member, value in members:
        if member is _sre.LITERAL:
            found.add(chr(value))
        elif member is _sre.RANGE:
            found.update(chr(c) for c in range(value[0], value[1] + 1))
        else:
            return None
    return found


def _first_characters(items: Any) -> set[str] | None:
    """The characters a parsed pattern can start a match with, or None when it cannot tell
    (an op it does not know, something optional first, a pattern that can match nothing)."""
    for op, arg in items:
        if op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):
            continue
        if op is _sre.LITERAL:
            return {chr(arg)}
        if op is _sre.IN:
            return _class_characters(arg)
        alternatives = (
            [arg[-1]] if op is _sre.SUBPATTERN else list(arg[1]) if op is _sre.BRANCH else []
        )
        first: set[str] = set()
        for alternative in alternatives:
            found = _first_characters(alternative)
            if not found:
                return None
            first |= found
        return first or None
    return None


def _readable_first_characters(pattern: str) -> set[str] | None:
    """`_first_characters` of `pattern`, or None when the private parser is missing or reads it
    in a way this module does not know (a newer Python)."""
    if _parser is None:
        return None
    try:
        return _first_characters(_parser.parse(pattern))
    except (AttributeError, TypeError, ValueError, IndexError):
        return None


def _one_question(patterns: list[str]) -> re.Pattern[str]:
    """Every pattern in one alternation, grouped by the character each can start with: at each
    word the engine tries only the patterns that start with its first letter. A flat alternation
    tries all of them at every word, and cost grew with every pattern added."""
    by_first: dict[str, list[str]] = {}
    anywhere: list[str] = []
    for pattern in patterns:
        first = _readable_first_characters(pattern)
        for character in sorted(first) if first else ():
            by_first.setdefault(character, []).append(pattern)
        if not first:
            anywhere.append(pattern)
    groups = [
        f"(?={re.escape(character)})(?:{'|'.join(f'(?:{p})' for p in grouped)})"
        for character, grouped in sorted(by_first.items())
    ]
    return re.compile("|".join(groups + [f"(?:{p})" for p in anywhere]))


_ANY = _one_question([p for patterns in _PATTERNS.values() for p in patterns])
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
    read: set[str] = set()
    for variant, where in variants:
        # Most messages have no digit to read as a letter: a spelling already read is skipped.
        if variant in read:
            continue
        read.add(variant)
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
