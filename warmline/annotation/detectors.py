"""The scrubadub detectors warmline adds (see `warmline.annotation.redact`): census first names
(capitalised, and in lower case or capitals where they are no everyday word or the text says they
are a name),
card numbers written in groups, bank account numbers (IBANs, and UK sort codes and account numbers
where a keyword names them) and e-mail addresses taken whole.

Importing scrubadub imports nltk and with it scipy, seconds of start-up; this module is imported
only when the first text is redacted, so a worker or a command that never redacts does not pay.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from functools import lru_cache
from importlib import resources
from typing import ClassVar

from scrubadub.detectors import CreditCardDetector, Detector, EmailDetector
from scrubadub.detectors.en_GB.national_insurance_number import NationalInsuranceNumberDetector
from scrubadub.filth import CreditCardFilth, EmailFilth, Filth, NameFilth
from stdnum import iban

from warmline.annotation.redact import SENTENCE_WORDS


def _found(
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
            if not is_first_name(match.group()):
                index += 1
                continue
            end = match.end()
            following = matches[index + 1] if index + 1 < len(matches) else None
            if following is not None and text[end : following.start()] == " ":
                end = following.end()
                index += 1
            index += 1
            yield _found(self, NameFilth, text, match.start(), end, document_name)


LEXICON = "en/en-lexicon.txt"
"""The Brill tagger's lexicon that textblob (a dependency of scrubadub) ships: the words of the
Brown corpus and the Penn Treebank with their part-of-speech tags."""

_PROPER_NOUN_TAGS = frozenset({"NNP", "NNPS"})


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Lower-case words of textblob's lexicon that are not proper nouns: a census name among them
    is an everyday word too ("grace", "will", "mark", "hope"), one not among them is only a name
    ("sarah", "david")."""
    text = resources.files("textblob").joinpath(LEXICON).read_text(encoding="utf-8")
    found: set[str] = set()
    for line in text.splitlines():
        word, _, tag = line.partition(" ")
        if word.islower() and tag.strip() not in _PROPER_NOUN_TAGS and not word.startswith(";"):
            found.add(word)
    return frozenset(found)


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
            introducing={match.end() for match in _INTRODUCING_CUE.finditer(text)},
            signing={match.end() for match in _SIGNING_CUE.finditer(text)},
        )
        words = list(_LOWER_WORD.finditer(text))
        index = 0
        while index < len(words):
            word = words[index]
            following = words[index + 1] if index + 1 < len(words) else None
            surname = following if _is_surname_of(text, word, following) else None
            if not cues.say_name(text, word, surname):
                index += 1
                continue
            end = word.end("word") if surname is None else surname.end("word")
            index += 1 if surname is None else 2
            yield _found(self, NameFilth, text, word.start("word"), end, document_name)


class _Cues:
    """Where the cues of a text end: the naming ("my name is"), introducing ("hi this is") and
    signing ones ("- ", "thanks, ")."""

    def __init__(self, *, naming: set[int], introducing: set[int], signing: set[int]) -> None:
        self.naming = naming
        self.introducing = introducing
        self.signing = signing

    def say_name(self, text: str, word: re.Match[str], surname: re.Match[str] | None) -> bool:
        """Whether `word` (with `surname` after it, if it has one) is a name in `text`."""
        value = word.group("word")
        census = value.upper() in first_names()
        everyday = value.lower() in english_words()
        if word.start() in self.naming:
            return census or not everyday
        if not census:
            return False
        if value[0].isupper() and value[1:].islower():
            # `FirstNameDetector` takes a capitalised name; its surname in lower case is ours.
            return surname is not None
        if not _one_case(value):
            return False
        return not everyday or self._said_to_be_a_name(text, word, surname)

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


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check every payment card number passes."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# Digits in groups with one space or dash between them ("4532 0151 1283 0366", "4532-0151-...").
_DIGIT_RUN = re.compile(r"(?<![\w-])\d+(?:[ -]\d+)*(?!\w)")
_CARD_LENGTHS = range(13, 20)
_CARD_FIRST_DIGITS = frozenset("23456")
"""Mastercard's 2-series, Amex, Diners and JCB, Visa, Mastercard, Discover, Maestro and UnionPay."""


class CardNumberDetector(CreditCardDetector):  # type: ignore[misc]
    """Card numbers with spaces or dashes between their groups, which scrubadub's regex (written
    for the digits alone) does not match. A run of digit groups is a card number when a stretch of
    whole groups has a card's length, starts like one and passes the Luhn check, so an order
    number, a date or a phone number beside it are left alone."""

    name = "card_number"

    def iter_filth(
        self, text: str, document_name: str | None = None
    ) -> Generator[Filth, None, None]:
        for run in _DIGIT_RUN.finditer(text):
            groups = list(re.finditer(r"\d+", run.group()))
            first = 0
            while first < len(groups):
                last = self._card_end(groups, first)
                if last is None:
                    first += 1
                    continue
                beg, end = run.start() + groups[first].start(), run.start() + groups[last].end()
                yield _found(self, CreditCardFilth, text, beg, end, document_name)
                first = last + 1

    @staticmethod
    def _card_end(groups: list[re.Match[str]], first: int) -> int | None:
        """The last of the longest stretch of groups from `first` on that is a card number; a
        stretch ends at a card's greatest length, so a long run of numbers costs little."""
        found = None
        digits = ""
        for last in range(first, len(groups)):
            digits += groups[last].group()
            if len(digits) > _CARD_LENGTHS[-1]:
                break
            if (
                len(digits) in _CARD_LENGTHS
                and digits[0] in _CARD_FIRST_DIGITS
                and luhn_valid(digits)
            ):
                found = last
        return found


# A country code, two check digits and 11 to 30 letters or digits, run together or in groups with
# one space between them ("GB82 WEST 1234 5698 7654 32"); it may run on into the next words.
_IBAN_RUN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}", re.IGNORECASE)
_IBAN_LENGTHS = range(15, 35)


class IbanFilth(Filth):  # type: ignore[misc]
    type = "iban"


class IbanDetector(Detector):  # type: ignore[misc]
    """International bank account numbers, upper or lower case, run together or in groups: the
    longest stretch of a run that ends a word and passes the IBAN's country length and mod-97
    check (python-stdnum's), so a reference code of the same shape, or the words after an IBAN,
    are left alone."""

    name = "iban"
    filth_cls = IbanFilth

    def iter_filth(
        self, text: str, document_name: str | None = None
    ) -> Generator[Filth, None, None]:
        # The next run starts after the IBAN found, not after the run: that may reach into the
        # next IBAN ("GB82 WEST … 32 and DE89 …").
        position = 0
        while run := _IBAN_RUN.search(text, position):
            end = _iban_end(text, run.start(), run.end())
            if end is None:
                position = run.start() + 1
                continue
            yield _found(self, IbanFilth, text, run.start(), end, document_name)
            position = end


def _iban_end(text: str, beg: int, end: int) -> int | None:
    """Where the longest valid IBAN from `beg` within `text[beg:end]` ends, if one does; it must
    end a word (a letter or digit after it would make it part of something longer)."""
    for stop in range(end, beg, -1):
        if stop < len(text) and text[stop].isalnum():
            continue
        candidate = text[beg:stop].replace(" ", "")
        if len(candidate) in _IBAN_LENGTHS and iban.is_valid(candidate):
            return stop
    return None


# UK sort codes and account numbers carry no check digit a library can test: a sort code is six
# digits, and an account number's modulus check (Pay.UK's) needs the bank's weight tables by sort
# code, which python-stdnum does not ship (its `gb` package has no bank numbers). So a number is
# taken only where a keyword says what it is ("sort code 12-34-56", "acc no. 12345678"): the same
# digits in a date, a time, an amount or an order number are left alone.
_ACCOUNT_WORD = (
    r"(?:bank\s+)?(?:account|acct|acc|a/c)(?:\s*(?:number|num|nr|no|#)\b\.?|\s*(?:#|no\.))?"
)
_SORT_WORD = r"sort[\s-]?codes?|s/c"
# What may stand between a keyword and its number: punctuation and "is"/"was"/"are".
_JOIN = r"(?:[\s:#=,]|-(?!\d)|\b(?:is|was|are)\b|['’]s\b)*"
_SORT_CODE_DIGITS = r"\d{2}(?P<sep>[ .-]?)\d{2}(?P=sep)\d{2}"
# 6 to 10 digits, run together or with one space or dash between groups ("1234 5678").
_ACCOUNT_DIGITS = r"\d(?:[ -]?\d){5,9}"
_NUMBER_END = r"(?![\w-]|[ .-]\d)"
_SORT_CODE = re.compile(
    rf"(?<![\w/])(?:{_SORT_WORD})(?:\s*(?:and|&|/)\s*{_ACCOUNT_WORD})?{_JOIN}"
    # A sort code's groups end it ("12 34 56 78" is none); a number after it in other groups may
    # be the account number.
    rf"(?<![\w-])(?P<sort>{_SORT_CODE_DIGITS})(?![\w-]|[.-]\d|(?P=sep)\d)"
    # The account number said with it: "sort code 12-34-56 12345678", "…, acc 12345678".
    rf"(?:[\s,;/&]*(?:\band\s+)?(?:{_ACCOUNT_WORD})?{_JOIN}"
    rf"(?<![\w-])(?P<account>{_ACCOUNT_DIGITS}){_NUMBER_END})?",
    re.IGNORECASE,
)
_ACCOUNT_NUMBER = re.compile(
    rf"(?<![\w/])(?:{_ACCOUNT_WORD}){_JOIN}(?<![\w-])(?P<account>{_ACCOUNT_DIGITS}){_NUMBER_END}",
    re.IGNORECASE,
)


class SortCodeFilth(Filth):  # type: ignore[misc]
    type = "sort_code"


class AccountNumberFilth(Filth):  # type: ignore[misc]
    type = "account_number"


class UkBankDetailsDetector(Detector):  # type: ignore[misc]
    """UK sort codes ("12-34-56", "12 34 56", "123456") and account numbers (6 to 10 digits),
    each only after a keyword that names it ("my sort code is", "s/c", "account number",
    "acc no.", "a/c"), or an account number straight after a sort code; the keyword stays in the
    text, the number is replaced."""

    name = "uk_bank_details"
    filth_cls = SortCodeFilth

    def iter_filth(
        self, text: str, document_name: str | None = None
    ) -> Generator[Filth, None, None]:
        spans: dict[tuple[int, int], type[Filth]] = {}
        for match in _SORT_CODE.finditer(text):
            spans[match.span("sort")] = SortCodeFilth
            if match.group("account") is not None:
                spans[match.span("account")] = AccountNumberFilth
        for match in _ACCOUNT_NUMBER.finditer(text):
            spans.setdefault(match.span("account"), AccountNumberFilth)
        for (beg, end), filth_cls in sorted(spans.items()):
            yield _found(self, filth_cls, text, beg, end, document_name)


# An address with its `@`: what scrubadub's pattern takes, less its "john at gmail dot com" form.
_ADDRESS = re.compile(
    r"(?<![\w.+-])[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+\b",
    re.IGNORECASE,
)


# The end of an address spelt out ("john at gmail dot com"): a top-level domain of letters.
_SPELT_OUT_END = re.compile(r"(?:\.|\sdot\s)[a-z]{2,}$", re.IGNORECASE)


class WholeWordNinoDetector(NationalInsuranceNumberDetector):  # type: ignore[misc]
    """scrubadub's GB National Insurance number detector, matching whole words only.

    Its pattern (two letters, six digits, a letter A-D, any case, spaces allowed) has no word
    boundaries, so it read the end and start of the words around a six-digit number as a NINO:
    "order 123456 arrived" became "ord{{NATIONAL_INSURANCE_NUMBER}}rrived"."""

    name = "national_insurance_number"
    region_regex: ClassVar[dict[str, re.Pattern[str]]] = {
        "GB": re.compile(
            r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z](?:\s*\d\s*){6}[A-D]\b",
            re.IGNORECASE,
        ),
    }


class WholeEmailDetector(EmailDetector):  # type: ignore[misc]
    """scrubadub's e-mail detector, with an address written with `@` always taken whole.

    scrubadub also matches addresses spelt out with the word "at", and that reading wins where
    the two overlap: "Email me at jane.doe@example.com" gave "me at jane.doe" as the address and
    left "@example.com" in the text. Here a spelt-out match that overlaps an `@` address is
    dropped for the `@` address, and one whose domain does not end in letters is no address
    ("meet at 10.30" is a time)."""

    name = "email"

    def iter_filth(
        self, text: str, document_name: str | None = None
    ) -> Generator[Filth, None, None]:
        addresses = [match.span() for match in _ADDRESS.finditer(text)]
        for filth in super().iter_filth(text, document_name=document_name):
            if "@" not in filth.text and not _SPELT_OUT_END.search(filth.text):
                continue
            if not any(filth.beg < end and beg < filth.end for beg, end in addresses):
                yield filth
        for beg, end in addresses:
            yield _found(self, EmailFilth, text, beg, end, document_name)
