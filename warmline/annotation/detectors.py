"""The scrubadub detectors warmline adds for names (see `warmline.annotation.redact`): census
first names capitalised, and in lower case or capitals where they are no everyday word or the text
says they are a name (a title, "my name is", a relative, "spoke to"). The detectors of numbers,
addresses and other identifiers are in `warmline.annotation.identifier_detectors`.

Importing scrubadub imports nltk and with it scipy, seconds of start-up; this module is imported
only when the first text is redacted, so a worker or a command that never redacts does not pay.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from functools import lru_cache
from importlib import resources

from scrubadub.detectors import Detector
from scrubadub.filth import (
    Filth,
    NameFilth,
)

from warmline.annotation.redact import SENTENCE_WORDS


def found(
    detector: Detector,
    filth_cls: type[Filth],
    text: str,
    beg: int,
    end: int,
    document_name: str | None,
) -> Filth:
    """What `detector` found in `text[beg:end]`, as scrubadub's filth of `filth_cls`."""
    return filth_cls(
        beg=beg,
        end=end,
        text=text[beg:end],
        detector_name=detector.name,
        document_name=document_name,
        locale=detector.locale,
    )


NAME_LISTS = ("dist.female.first", "dist.male.first")

# One capitalised name, taken whole: a particle with an apostrophe or hyphen ("O'Neill",
# "D'Angelo", "al-Sayed"), an inner capital ("McDonald", "MacLeod", "DiCaprio") and hyphenated
# parts ("Al-Fayed", "Smith-Jones"). A word cut at its apostrophe or hyphen left the rest of the
# surname in the text ("{{NAME}}Neill"). A possessive "'s" is not part of the name, but a word
# going on after an apostrophe is no name ("Don't").
_PART = r"[A-Z][a-z]+(?:[A-Z][a-z]+)?"
_WORD = re.compile(rf"\b(?:[A-Za-z][a-z]{{0,2}}['’-])?{_PART}(?:-{_PART})*\b(?!['’](?!s\b)[a-z])")


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    """Upper-case first names from the census lists shipped in the `names` package."""
    found: set[str] = set()
    for list_name in NAME_LISTS:
        text = resources.files("names").joinpath(list_name).read_text(encoding="ascii")
        found.update(line.split(None, 1)[0] for line in text.splitlines() if line.strip())
    return frozenset(found - {word.upper() for word in SENTENCE_WORDS})


def is_first_name(word: str) -> bool:
    """Whether a capitalised word is a census first name; a hyphenated one ("Mary-Jane") by its
    first part, as the lists hold few double names, unless that part is a short particle ("Al-"
    of "Al-Aqsa")."""
    known = first_names()
    first, hyphen, _ = word.partition("-")
    return word.upper() in known or (bool(hyphen) and len(first) > 2 and first.upper() in known)


# scrubadub ships no type information, so its base class is Any to mypy.
class FirstNameDetector(Detector):  # type: ignore[misc]
    """Capitalised census first names, with the capitalised word after them as a surname."""

    filth_cls = NameFilth
    name = "census_name"

    def iter_filth(
        self, text: str, document_name: str | None = None
    ) -> Generator[Filth, None, None]:
        matches = list(_WORD.finditer(text))
        index = 0
        while index < len(matches):
            match = matches[index]
            if not is_first_name(match.group()) or _is_month_of_a_date(text, match):
                index += 1
                continue
            end = match.end()
            following = matches[index + 1] if index + 1 < len(matches) else None
            if following is not None and text[end : following.start()] == " ":
                end = following.end()
                index += 1
            index += 1
            yield found(self, NameFilth, text, match.start(), end, document_name)


LEXICON = "en/en-lexicon.txt"
"""The Brill tagger's lexicon that textblob (a dependency of scrubadub) ships: the words of the
Brown corpus and the Penn Treebank with their part-of-speech tags."""

_PROPER_NOUN_TAGS = frozenset({"NNP", "NNPS"})


@lru_cache(maxsize=1)
def english_tags() -> dict[str, str]:
    """Lower-case words of textblob's lexicon that are not proper nouns, each with its most
    frequent part-of-speech tag (the lexicon's first): a census name among them is an everyday
    word too ("grace", "will", "mark", "hope"), one not among them is only a name ("sarah",
    "david")."""
    text = resources.files("textblob").joinpath(LEXICON).read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for line in text.splitlines():
        word, _, tags = line.partition(" ")
        tag = tags.split(None, 1)[0] if tags.strip() else ""
        if word.islower() and tag not in _PROPER_NOUN_TAGS and not word.startswith(";"):
            found[word] = tag
    return found


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """The words of `english_tags`."""
    return frozenset(english_tags())


_NAME_LIKE_TAGS = frozenset({"NN", "NNS", "VB"})
"""Most frequent tags of everyday words that are names after a relative or "spoke to" ("my wife
grace", "spoke to john", "my son jack"); a modal, an adjective or a past tense stays ("my son
will", "my mum may", "my daughter rose early")."""


@lru_cache(maxsize=1)
def last_names() -> frozenset[str]:
    """Upper-case surnames from the census list shipped in the `names` package."""
    text = resources.files("names").joinpath("dist.all.last").read_text(encoding="ascii")
    return frozenset(line.split(None, 1)[0] for line in text.splitlines() if line.strip())


# A word of letters, with a possessive "'s" after it that is no part of the name ("sarah's"); a
# word going on after an apostrophe ("don't", "i'm") is no name, nor is a word of an address, a
# handle or a file name ("jane.doe@example.com", "@tom", "sarah.pdf").
_LOWER_WORD = re.compile(
    r"(?<![\w'’@./:#+=-])(?P<word>[A-Za-z]+(?:-[A-Za-z]+)*)(?:['’]s)?"
    r"(?![\w'’@/+=-]|['’]\w|\.\w)"
)
# What says the next word is a name, whatever the word: "my name is priya".
_NAMING_CUE = re.compile(
    r"(?:\bmy\s+name\s*(?:is|['’]?s)|\bname\s*:|\bi\s*(?:['’]?m|\s+am)\s+called)\s+",
    re.IGNORECASE,
)
# What opens a sentence that introduces someone ("hi this is mark", "it's grace again"): a census
# name that is also a word is taken after it only where the name ends the clause.
_INTRODUCING_CUE = re.compile(
    r"(?:^|[.!?\n]|\b(?:hi|hello|hey|hiya|dear|morning|afternoon|evening)\b)[\s,!.]*"
    r"(?:this\s+is|it\s*['’]?s|i\s*['’]?m|i\s+am|call\s+me|ask\s+for)\s+",
    re.IGNORECASE,
)
# A signature: a dash ("- mark") or a closing word opening its line or sentence ("thanks, will").
_SIGNING_CUE = re.compile(
    r"(?:(?<!\S)[-–—~]+|(?:^|[.!?\n])\s*(?:many\s+)?(?:thanks|thank\s+you|thx|cheers|"
    r"regards|kind\s+regards|best(?:\s+wishes)?|love|from))[\s,]*",
    re.IGNORECASE,
)
# A relative, or someone the customer spoke to, whose name may follow: "my husband tom", "my late
# wife grace", "i spoke to john", "talked with mark".
_RELATION_CUE = re.compile(
    r"(?:\bmy\s+(?:late\s+|little\s+|older\s+|younger\s+|eldest\s+|youngest\s+)?"
    r"(?:husband|wife|partner|son|daughter|mum|mom|mother|dad|father|brother|sister|boyfriend|"
    r"girlfriend|fianc[eé]e?|carer|friend|neighbou?r|nan|nana|gran|granny|grandma|grandmother|"
    r"grandad|granddad|grandpa|grandfather|grandson|granddaughter|uncle|aunt|auntie|cousin|niece|"
    r"nephew|colleague|boss|landlord|landlady|solicitor|lawyer|doctor|nurse|therapist|"
    r"counsel+or|teacher|child|baby|stepson|stepdaughter)"
    r"|\b(?:spoke|speak|speaking|talked|talk|talking|chatted|dealt|dealing)\s+(?:to|with))"
    r"[\s,]+",
    re.IGNORECASE,
)
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof"})
# A title before a surname: "Mrs Patel", "dr. nguyen".
_TITLE_CUE = re.compile(r"\b(?:mr|mrs|ms|miss|mx|dr|prof)\.?\s+", re.IGNORECASE)
# Where an introduced name ends its clause: the text's end, punctuation, or "mark here".
_CLAUSE_END = re.compile(r"\s*(?:$|[.,!?;:)\n]|(?:here|speaking|again)\b)", re.IGNORECASE)
_LINE_END = re.compile(r"[\s.!]*(?:$|\n)")


class LowerCaseNameDetector(Detector):  # type: ignore[misc]
    """Names written in lower case ("hi im sarah jones") or in capitals ("HI IM SARAH JONES"),
    which `FirstNameDetector` leaves as it reads capitalised words only, a lower-case surname
    after a capitalised name ("Sarah jones"), and names whatever their case after "my name is".

    A lower-case census first name is a name when textblob's lexicon does not know it as an
    everyday word ("sarah", "david", "tom"); one it knows ("grace", "will", "mark", "hope") only
    where the text says it is a name: after "my name is", after an introduction opening a
    sentence when the name ends the clause ("hi this is mark", "it's grace again"), or signing
    the text or a line ("- mark", "thanks, will"). After "my name is" a word the lexicon does not
    know is a name too ("priya"), in any case. A word in lower case or capitals after a name is
    its surname when it is a census surname the lexicon does not know as a word ("jones", not
    "died"). Words in capitals are read as lower-case ones are, from three letters on."""

    filth_cls = NameFilth
    name = "lower_case_name"

    def iter_filth(
        self, text: str, document_name: str | None = None
    ) -> Generator[Filth, None, None]:
        # Each cue is looked for once, as where it ends: a word starting there follows it.
        cues = _Cues(
            naming={match.end() for match in _NAMING_CUE.finditer(text)},
            relation={match.end() for match in _RELATION_CUE.finditer(text)},
            title={match.end() for match in _TITLE_CUE.finditer(text)},
            introducing={match.end() for match in _INTRODUCING_CUE.finditer(text)},
            signing={match.end() for match in _SIGNING_CUE.finditer(text)},
        )
        words = list(_LOWER_WORD.finditer(text))
        index = 0
        while index < len(words):
            word = words[index]
            following = words[index + 1] if index + 1 < len(words) else None
            surname = following if cues.surname_of(text, word, following) else None
            if not cues.say_name(text, word, surname):
                index += 1
                continue
            end = word.end("word") if surname is None else surname.end("word")
            index += 1 if surname is None else 2
            yield found(self, NameFilth, text, word.start("word"), end, document_name)


class _Cues:
    """Where the cues of a text end: the naming ("my name is"), introducing ("hi this is") and
    signing ones ("- ", "thanks, ")."""

    def __init__(
        self,
        *,
        naming: set[int],
        relation: set[int],
        title: set[int],
        introducing: set[int],
        signing: set[int],
    ) -> None:
        self.naming = naming
        self.relation = relation
        self.title = title
        self.introducing = introducing
        self.signing = signing

    def surname_of(self, text: str, word: re.Match[str], following: re.Match[str] | None) -> bool:
        """Whether the word after `word` is its surname: a census surname in lower case or
        capitals that is no everyday word, or after a cue ("my name is Priya Sharma", "my
        brother Kwame Mensah") a capitalised word that is none."""
        if _is_surname_of(text, word, following):
            return True
        if following is None or text[word.end() : following.start()] != " ":
            return False
        value = following.group("word")
        return (
            (word.start() in self.naming or word.start() in self.relation)
            and value[0].isupper()
            and value[1:].islower()
            and value.lower() not in english_tags()
        )

    def say_name(self, text: str, word: re.Match[str], surname: re.Match[str] | None) -> bool:
        """Whether `word` (with `surname` after it, if it has one) is a name in `text`."""
        value = word.group("word")
        census = value.upper() in first_names()
        everyday = value.lower() in english_words()
        if word.start() in self.naming:
            return census or not everyday
        if _is_month_of_a_date(text, word):
            return False
        said = self._said_by_a_person_cue(word, census=census)
        if said is not None or not census:
            return bool(said)
        if value[0].isupper() and value[1:].islower():
            # `FirstNameDetector` takes a capitalised name; its surname in lower case is ours.
            return surname is not None
        if not _one_case(value):
            return False
        return not everyday or self._said_to_be_a_name(text, word, surname)

    def _said_by_a_person_cue(self, word: re.Match[str], *, census: bool) -> bool | None:
        """Whether a word after a title ("Mrs Patel", "dr nguyen") or a relative or "spoke to"
        ("my brother Kwame", "my wife grace", "spoke to john") is a name; None where it follows
        neither. After a title a capitalised word is a surname, census or not; in lower case,
        and after a relative, an everyday word is a name only when it is a census name most
        often used as a noun ("my son will" keeps its word)."""
        value = word.group("word")
        tag = english_tags().get(value.lower())
        if word.start() in self.title:
            return tag is None or (value[0].isupper() and value[1:].islower())
        if (
            word.start() in self.relation
            and (value[0].isupper() or _one_case(value))
            and value.lower() not in _TITLES
        ):
            return tag is None or (census and tag in _NAME_LIKE_TAGS)
        return None

    def _said_to_be_a_name(
        self, text: str, word: re.Match[str], surname: re.Match[str] | None
    ) -> bool:
        """Whether the text says `word`, an everyday word too, is a name: introduced ending its
        clause ("hi this is mark"), or signing a line ("- mark")."""
        if word.start() in self.introducing:
            return surname is not None or bool(_CLAUSE_END.match(text, word.end()))
        if word.start() in self.signing:
            last = word if surname is None else surname
            return bool(_LINE_END.match(text, last.end()))
        return False


_MONTHS = frozenset({"january", "april", "may", "june", "august", "september"})
"""Months that are census first names."""
_DATE_WORD_BEFORE = re.compile(
    r"(?:\b(?:in|since|on|until|till|by|of|last|next|early|mid|late|this|from|before|after|"
    r"during|end|beginning|start)|\d(?:st|nd|rd|th)?)[\s,-]+$",
    re.IGNORECASE,
)
_DATE_AFTER = re.compile(r"[\s,-]+\d", re.IGNORECASE)


def _is_month_of_a_date(text: str, word: re.Match[str]) -> bool:
    """Whether a word is a month ("April", "may") said as one: after a day's number or a word
    that names a time ("since April", "in may", "12 June"), or before a number ("June 12")."""
    value = word.group("word") if "word" in word.re.groupindex else word.group()
    if value.lower() not in _MONTHS:
        return False
    before = text[max(0, word.start() - 20) : word.start()]
    return bool(_DATE_WORD_BEFORE.search(before) or _DATE_AFTER.match(text, word.end()))


def _one_case(value: str) -> bool:
    """Whether a word is written all in lower case or all in capitals (a customer writing in
    capitals: "MY HUSBAND DAVID DIED"), where capitals cannot tell a name from a word. Capitals
    of two letters are an abbreviation far more often than a name ("TA", "BO")."""
    return value.islower() or (value.isupper() and len(value) > 2)


def _is_surname_of(text: str, word: re.Match[str], following: re.Match[str] | None) -> bool:
    """Whether the word after `word`, one space on, is its surname: a census surname in lower
    case or capitals that is no everyday word."""
    if following is None or text[word.end() : following.start()] != " ":
        return False
    value = following.group("word")
    return (
        _one_case(value) and value.upper() in last_names() and value.lower() not in english_words()
    )
