"""The scrubadub detectors warmline adds for identifiers (see `warmline.annotation.redact`): card
numbers written in groups, bank account numbers (IBANs, and UK sort codes and account numbers
where a keyword names them), UK National Insurance numbers taken as whole words, e-mail addresses
taken whole, phone numbers possible but not issued, street addresses, US ZIP codes, dates of birth,
IP addresses and customer numbers a keyword names. Names are in `warmline.annotation.detectors`.

Imported, like scrubadub, only when the first text is redacted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Generator
from typing import ClassVar

import phonenumbers
from scrubadub.detectors import CreditCardDetector, Detector, EmailDetector, PhoneDetector
from scrubadub.detectors.date_of_birth import DateOfBirthDetector
from scrubadub.detectors.en_GB.national_insurance_number import NationalInsuranceNumberDetector
from scrubadub.filth import (
    CreditCardFilth,
    DateOfBirthFilth,
    EmailFilth,
    Filth,
    PhoneFilth,
    PostalCodeFilth,
)
from stdnum import iban

from warmline.annotation.detectors import found


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
                yield found(self, CreditCardFilth, text, beg, end, document_name)
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
            yield found(self, IbanFilth, text, run.start(), end, document_name)
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
            yield found(self, filth_cls, text, beg, end, document_name)


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


_NINO = WholeWordNinoDetector.region_regex["GB"]


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
            yield found(self, EmailFilth, text, beg, end, document_name)


# Phone numbers that `phonenumbers` finds in a region's format but does not know as issued: a
# number in a range kept for examples and drama ("07700 900123"), an unassigned area code
# ("(555) 123-4567"). Written with ten digits or more in a phone's grouping they are phone numbers
# to a reader, and may be a real one mistyped by a digit.
MIN_POSSIBLE_PHONE_DIGITS = 10
# How a phone number merely possible must be written to be taken: from an international "+", an
# area code in brackets or a trunk "0", or in North America's 3-3-4 grouping; digits in other
# groups are a code or an account's ("GB82 WEST 1234 5698 7654 33").
_PHONE_SHAPE = re.compile(r"[+(0]|\d{3}[-. ]\d{3}[-. ]\d{4}$")
# A number straight after other digits is the rest of a longer one ("DE89 3704 0044 0532 ...").
_DIGITS_BEFORE = re.compile(r"\d[\s.-]?$")


class PossiblePhoneDetector(PhoneDetector):  # type: ignore[misc]
    """scrubadub's phone detector reading with `phonenumbers`' possible-number leniency: a number
    is taken when it is valid (as scrubadub takes it) or, merely possible in the region's format,
    has at least `MIN_POSSIBLE_PHONE_DIGITS` digits and is written as a phone number ("+44 ...",
    "(555) ...", "0151 ...", "555-123-4567"), so a date, a time, an order number or the digits of
    a code stay."""

    def iter_filth(
        self, text: str, document_name: str | None = None
    ) -> Generator[Filth, None, None]:
        for match in phonenumbers.PhoneNumberMatcher(
            text, self.region, leniency=phonenumbers.Leniency.POSSIBLE
        ):
            raw = match.raw_string
            possible = (
                sum(char.isdigit() for char in raw) >= MIN_POSSIBLE_PHONE_DIGITS
                and _PHONE_SHAPE.match(raw) is not None
                and _DIGITS_BEFORE.search(text, 0, match.start) is None
            )
            # Valid as scrubadub's detector reads it: its checks of a national prefix and of
            # grouping too, which `is_valid_number` alone lacks ("5698 7654 33" of an IBAN).
            if possible or any(phonenumbers.PhoneNumberMatcher(raw, self.region)):
                yield found(self, PhoneFilth, text, match.start, match.end, document_name)


# A street address: a house number, one to three words and a street's kind ("14 Elm Road",
# "221B Baker Street", "1600 maple ave"), or a German street and its number ("Hauptstraße 5").
_STREET_KINDS = (
    r"road|rd|street|st|avenue|ave|lane|ln|way|close|drive|dr|court|ct|crescent|cres|place|pl|"
    r"gardens|gdns|terrace|grove|square|sq|boulevard|blvd|row|mews|walk|parade|highway|hwy"
)
_STREET_WORD = r"(?!(?:the|a|an|on|in|at|to|of|for|from|my|your|our|and|or|with|by)\b)[A-Za-z'’-]+"
_STREET = re.compile(
    rf"(?<![\w£$€.,:/-])\d{{1,5}}[A-Za-z]?,?\s+(?:{_STREET_WORD}\s+){{1,3}}(?:{_STREET_KINDS})\b\.?"
    r"|(?<![\w-])[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|platz|gasse|allee)\s+\d{1,4}[a-z]?\b",
    re.IGNORECASE,
)
# Words between a house number and a street's kind that say it is no address: "2 hours on the
# road", "3 kids in the street".
_NOT_STREET_WORDS = frozenset(
    {
        *("minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month", "months"),
        *("year", "years", "kids", "children", "times", "people", "calls", "miles", "mins"),
    }
)


class StreetAddressFilth(Filth):  # type: ignore[misc]
    type = "address"


class StreetAddressDetector(Detector):  # type: ignore[misc]
    """Street addresses, which scrubadub finds only with its optional address package (libpostal,
    not installable here): a house number, one to three words and a street's kind ("14 Elm
    Road", "221B Baker Street", "1600 Maple Avenue"), or a German street and its number
    ("Hauptstraße 5"). The town and postcode after it are found by the postcode detectors or
    stay: a town alone does not tell who wrote."""

    name = "street_address"
    filth_cls = StreetAddressFilth

    def iter_filth(
        self, text: str, document_name: str | None = None
    ) -> Generator[Filth, None, None]:
        for match in _STREET.finditer(text):
            words = {word.lower() for word in re.findall(r"[A-Za-z]+", match.group())}
            if words & _NOT_STREET_WORDS:
                continue
            yield found(self, StreetAddressFilth, text, match.start(), match.end(), document_name)


# A US ZIP+4 code anywhere ("62704-1234"), and a five-digit ZIP code after a state's
# abbreviation in capitals ("IL 62704") or the word "zip" ("zip code 90210").
_US_STATES = (
    *("AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN"),
    *("IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH"),
    *("NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT"),
    *("VT", "VA", "WA", "WV", "WI", "WY", "PR"),
)
_ZIP = re.compile(
    r"(?<![\w-])(?P<code>\d{5}-\d{4})(?![\w-])"
    rf"|\b(?:{'|'.join(_US_STATES)}) (?P<state_code>\d{{5}})(?![\w-])"
    r"|\b(?i:zip(?:\s*code)?(?:\s*:|\s+is)?)\s+(?P<zip_code>\d{5}(?:-\d{4})?)(?![\w-])"
)


class ZipCodeDetector(Detector):  # type: ignore[misc]
    """US ZIP codes, which scrubadub's postcode detector (Great Britain's only) does not know:
    ZIP+4 codes anywhere, and five-digit codes after a state's abbreviation or the word "zip",
    so a five-digit amount or order number alone stays."""

    name = "zip_code"
    filth_cls = PostalCodeFilth

    def iter_filth(
        self, text: str, document_name: str | None = None
    ) -> Generator[Filth, None, None]:
        for match in _ZIP.finditer(text):
            group = next(name for name, value in match.groupdict().items() if value is not None)
            beg, end = match.span(group)
            yield found(self, PostalCodeFilth, text, beg, end, document_name)


_MONTH_NAMES = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
# A date with its year: 12/03/1985, 03.12.1985, 1985-03-12, 3 March 1985, 3rd of March 1985,
# March 3, 1985.
_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}-\d{1,2}-\d{1,2}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?(?:\s+of)?\s+(?:{_MONTH_NAMES})\.?,?\s+\d{{4}}"
    rf"|(?:{_MONTH_NAMES})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})(?![\w/.-]\d)"
)
# A birth named before the date, within a few words: "born on", "my date of birth is", "DOB:".
_BIRTH_DATE = re.compile(
    r"\b(?:born|birth|birthday|dob|d\.o\.b\.?|geboren|geb\.?)\b(?:[\s:,-]+[^\s\d]+){0,4}?[\s:,-]+"
    rf"(?P<date>{_DATE})",
    re.IGNORECASE,
)


class BirthDateDetector(DateOfBirthDetector):  # type: ignore[misc]
    """Dates of birth: a whole date (day, month and year, in figures or with the month's name)
    a few words after a word that names a birth ("born", "date of birth", "DOB"). scrubadub's
    own detector (not loaded by default) reads dates with `dateparser`, which took words around
    the date with it ("12/03/1985 and", "on 3 March 1985") and cost tens of milliseconds a text;
    and it leaves the date of birth of a child, under its minimum age, in the text."""

    name = "birth_date"

    def iter_filth(
        self, text: str, document_name: str | None = None
    ) -> Generator[Filth, None, None]:
        for match in _BIRTH_DATE.finditer(text):
            beg, end = match.span("date")
            yield found(self, DateOfBirthFilth, text, beg, end, document_name)


# Digits and dots that may be an IPv4 address, or hex digits and colons an IPv6 one.
_IP_CANDIDATE = re.compile(
    r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7})(?![\w.:])",
    re.IGNORECASE,
)


class IpAddressFilth(Filth):  # type: ignore[misc]
    type = "ip_address"


class IpAddressDetector(Detector):  # type: ignore[misc]
    """IP addresses, which scrubadub has no detector for: a candidate is one when Python's
    `ipaddress` parses it, so a time ("14:30:00"), a version or a score is left alone."""

    name = "ip_address"
    filth_cls = IpAddressFilth

    def iter_filth(
        self, text: str, document_name: str | None = None
    ) -> Generator[Filth, None, None]:
        for match in _IP_CANDIDATE.finditer(text):
            try:
                ipaddress.ip_address(match.group())
            except ValueError:
                continue
            yield found(self, IpAddressFilth, text, match.start(), match.end(), document_name)


# What names a customer's number: "order", "policy no.", "member ID", "ref:", "customer ref",
# "NI number", "national insurance". Account numbers are `UkBankDetailsDetector`'s, card numbers
# scrubadub's.
_REFERENCE_WORD = (
    r"order|policy|member(?:ship)?|ref|reference|booking|case|ticket|claim|invoice|customer|"
    r"tracking|confirmation|application|contract|loyalty|subscriber|patient|nhs|passport|"
    r"licen[cs]e|ni|national\s+insurance"
)
_REFERENCE_QUALIFIER = r"number|num|nr|no\.?|id|code|#"
# A value: a NINO's shape with any letters ("QQ 12 34 56 C"), digits in groups ("943 476 5919"),
# or a code of letters, digits and dashes holding a digit ("PX-4471-22", "#A-99812").
_REFERENCE_VALUE = (
    r"(?P<value>[A-Z]{2}(?:\s?\d{2}){3}\s?[A-D]\b"
    r"|#?\d+(?:[ -]\d+)*(?![\w-])"
    r"|#?(?=[A-Z0-9/-]*\d)[A-Z0-9][A-Z0-9/-]*[A-Z0-9](?![\w-]))"
)
_REFERENCE = re.compile(
    rf"(?<![\w/])(?:{_REFERENCE_WORD})(?:\s+(?:{_REFERENCE_WORD}))?"
    rf"(?:\s*(?:{_REFERENCE_QUALIFIER}))?(?:[\s:=,]|-(?!\d)|\b(?:is|was)\b)+{_REFERENCE_VALUE}",
    re.IGNORECASE,
)
MIN_REFERENCE_DIGITS = 5
"""A value of digits alone needs this many to be a reference: "order 2" or "case 12" count
things, "a member since 2019" or "policy 2024" name a year."""
MIN_REFERENCE_CODE = 5
"""A code of letters and digits needs this many characters ("XJ7K2L", "ZK4492"); "A4" or
"3D" are no customer's number."""


class ReferenceFilth(Filth):  # type: ignore[misc]
    type = "reference"


class ReferenceNumberDetector(Detector):  # type: ignore[misc]
    """Customer numbers a keyword names ("order #A-99812", "policy no. PX-4471-22", "member ID
    8812-3341", "ref: ZK4492", "customer ref 77812934", "NI number QQ 12 34 56 C"): the value
    after the keyword, a code holding a digit of at least `MIN_REFERENCE_CODE` letters and
    digits, or at least `MIN_REFERENCE_DIGITS` digits. The keyword stays. Account numbers are
    `UkBankDetailsDetector`'s, card numbers scrubadub's."""

    name = "reference_number"
    filth_cls = ReferenceFilth

    def iter_filth(
        self, text: str, document_name: str | None = None
    ) -> Generator[Filth, None, None]:
        for match in _REFERENCE.finditer(text):
            value = match.group("value")
            digits = sum(char.isdigit() for char in value)
            if any(char.isalpha() for char in value):
                if sum(char.isalnum() for char in value) < MIN_REFERENCE_CODE:
                    continue
            elif digits < MIN_REFERENCE_DIGITS:
                continue
            if _NINO.fullmatch(value):
                # scrubadub's NINO detector (`WholeWordNinoDetector`) names it better.
                continue
            beg, end = match.span("value")
            yield found(self, ReferenceFilth, text, beg, end, document_name)
