"""Personal data out of a text before any annotator (or the annotation history) sees it.

scrubadub does the work with its detectors for e-mail addresses, phone numbers (Google's
`phonenumbers`), URLs, credentials, postcodes, national insurance, social security and tax
numbers, card and licence numbers, extended where they missed (`warmline.annotation.detectors`
for names, `identifier_detectors` for the rest): card numbers written in groups ("4532 0151 1283
0366") are found and Luhn-checked, IBANs are checked by python-stdnum, UK sort codes and account
numbers are taken where a keyword names them ("sort code 12-34-56", "acc no. 12345678"), an
e-mail address written with `@` is taken whole, phone numbers possible but not issued are taken
when written as phone numbers, and street addresses, US ZIP codes, dates of birth, IP addresses
and customer numbers a keyword names ("order #A-99812", "ref: ZK4492") are found by detectors of
warmline's own. Phone numbers and the other regional formats are looked for in every region the
redactor is given (`redactor_for` gives it the configured tenants'), as a number is only
recognised in the format of its region:
"(212) 736-5000" is a phone number in the US, not in Great Britain.

Names need a model scrubadub does not ship offline (spaCy or TextBlob corpora), so a detector
plugged into scrubadub looks capitalised words up in the US census first-name lists the `names`
package ships, and takes a following capitalised word as the surname ("O'Neill", "Al-Fayed" and
"McDonald" whole), and a second reads words in lower case or capitals ("hi im sarah jones",
"MY HUSBAND DAVID DIED") and a lower-case surname after a capitalised name: a census name the
lexicon textblob ships does not know as an everyday word, or one it does ("grace", "will") where
the text says it is a name ("my name is will", "- mark"); names warmline knows (the customer's
profile, the configured people) are matched whole and word by word ("Priya" of "Priya Sharma"),
and the customer profile's other personal values (e-mail, phone, address, postcode, birth date)
too. A redaction errs towards removing too much: "Grace" at the start of a sentence is lost.

The census lists miss many names (most that are not common in the US, e.g. "Priya"). A deployment
with a spaCy model installed should add scrubadub's model-based detector through
`extra_detectors` (e.g. `scrubadub_spacy.detectors.SpacyEntityDetector`).

Detectors read the text in its compatibility form (NFKC, character by character), so an address
or a number typed in full-width or other compatibility characters (an e-mail address as
"ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", a non-breaking space in a card number) is found like its
plain form; each find is then replaced in the text as it was written, whose other characters
stay as they are.

Redacting is idempotent: a text is redacted where it enters warmline and may be redacted again
further on (`submit_texts` redacts, then the workflow's activity), so placeholders already in a
text are hidden from the detectors and kept, and count among the text's redactions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrubadub.detectors import Detector

PLACEHOLDER = re.compile(r"\{\{[A-Z][A-Z0-9_]*(?:\+[A-Z][A-Z0-9_]*)*\}\}")
"""A placeholder a redaction leaves, such as `{{NAME}}` or, for overlapping finds,
`{{EMAIL+NAME}}`."""

_MASK = "\ue000"
"""Stands in for each character of a placeholder while a text is scanned: a private-use
character, neither a word character nor a space, so no detector reads it as part of a name, a
number or an address, and the placeholder's own letters and braces are not read either
("{{EMAIL+NAME}}@gmail.com" became "{{{{EMAIL+TWITTER}}")."""

_REPLACED_DETECTORS = frozenset({"email"})
"""scrubadub's detectors that warmline's own subclass replaces (`WholeEmailDetector`)."""
_WHOLE_WORD_NINO = "national_insurance_number"
"""scrubadub's detector read by warmline's whole-word subclass instead (`WholeWordNinoDetector`)."""
_POSSIBLE_PHONE = "phone"
"""scrubadub's detector read by warmline's subclass that also takes possible numbers
(`PossiblePhoneDetector`)."""

SENTENCE_WORDS = frozenset({"an", "in", "my", "ok", "see", "so"})
"""Census first names that are English words opening many sentences ("My card ...", "So I ...",
"Ok thanks"): never taken for a name, or most messages would lose their first word."""

NOT_NAME_PARTS = SENTENCE_WORDS | {
    *("and", "the", "of"),
    *("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "jr", "sr"),
    *("al", "el", "bin", "ibn", "da", "de", "del", "della", "der", "den", "di", "du", "la", "le"),
    *("van", "von"),
}
"""Lower-case words of a known name that are not looked for on their own: titles and particles
that would take every "de" or "Mr" from a text."""

MIN_NAME_PART = 3
"""Parts of a known name shorter than this are not looked for alone: "Li" or "Al" would be found
in too many words' places to be worth it, and the whole name is still looked for."""

COMMON_WORD_NAMES = frozenset(
    {
        *("amber", "april", "art", "august", "baker", "banks", "bell", "bill", "black", "brown"),
        *("carter", "chase", "cook", "crystal", "daisy", "dawn", "don", "faith", "fox", "frank"),
        *("gay", "grace", "gray", "green", "grey", "guy", "hall", "heath", "hill", "holly"),
        *("honey", "hope", "hunter", "iris", "ivy", "jack", "jade", "joy", "june", "king"),
        *("lane", "lily", "long", "love", "major", "mark", "may", "merry", "page", "park"),
        *("pat", "pearl", "price", "ray", "rich", "rob", "rose", "ruby", "sky", "star"),
        *("stone", "summer", "sunny", "sue", "wade", "ward", "white", "will", "winter", "wood"),
        *("young",),
    }
)
"""Names that are everyday English words: a known name's part among them is found only
capitalised ("Hope", "HOPE"), so a customer called Will Brown does not lose every "will" and
"brown" of the conversation."""

# Profile keys by the kind of personal data they hold: a key is of a kind when one of its words
# ("contact_email", "mobilePhone") is among the kind's words or it contains one of the kind's
# longer markers ("firstname", "nickname"); the first kind that fits wins.
_PROFILE_KINDS: tuple[tuple[str, frozenset[str], tuple[str, ...]], ...] = (
    ("email", frozenset({"email", "mail"}), ("email", "e_mail")),
    ("phone", frozenset({"phone", "mobile", "tel", "telephone", "cell"}), ("phone", "mobile")),
    ("postalcode", frozenset({"postcode", "postal", "zip", "zipcode"}), ("postcode", "postal")),
    ("address", frozenset({"address", "street", "city", "town"}), ("address", "street")),
    ("date_of_birth", frozenset({"birth", "birthday", "birthdate", "dob"}), ("birth",)),
    ("name", frozenset({"name", "surname", "forename"}), ("name",)),
)
_KEY_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_NAME_PART = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def compatibility_form(text: str) -> tuple[str, list[int]]:
    """The text in Unicode compatibility form (NFKC), character by character, and for each of its
    characters the index of the character of `text` it comes from.

    Character by character, so that every character of the form comes from exactly one of the
    text (a whole-text NFKC also composes "e" and a combining accent into "é", which would tie
    a find's ends to no single character). ASCII is its own form."""
    if text.isascii():
        return text, list(range(len(text)))
    pieces: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        form = char if char.isascii() else unicodedata.normalize("NFKC", char)
        pieces.append(form)
        origin += [index] * len(form)
    return "".join(pieces), origin


class ProfileValue(str):
    """A personal value of the customer's profile with the kind of data it is (`email`, `phone`,
    `address`, ... as scrubadub names its filth), so its placeholder says what it was. It is a
    `str` so that it travels wherever known names do (`Redactor.redact(known_names=...)`)."""

    kind: str

    def __new__(cls, value: str, kind: str) -> ProfileValue:
        made = super().__new__(cls, value)
        made.kind = kind
        return made


def profile_kind(key: str) -> str | None:
    """The kind of personal data a profile key holds ("email", "phone", "name", ...), or None for
    a key that holds none (a tier, a country, a CRM's id), whose value is left in texts."""
    words = {word.lower() for word in _KEY_WORD.findall(key)}
    lowered = key.lower()
    for kind, kind_words, markers in _PROFILE_KINDS:
        if words & kind_words or any(marker in lowered for marker in markers):
            return kind
    return None


def profile_values(profile: Mapping[str, str]) -> list[str]:
    """The personal values of a customer profile, to be redacted wherever they appear."""
    values: list[str] = []
    for key, value in profile.items():
        kind = profile_kind(key)
        if kind is not None and value.strip():
            values.append(ProfileValue(value.strip(), kind))
    return values


def _kind(value: str) -> str:
    return value.kind if isinstance(value, ProfileValue) else "name"


def known_filth(values: Iterable[str]) -> list[dict[str, Any]]:
    """scrubadub's known-filth items for values warmline knows: each value whole, in any case and
    spacing, and of a name each part alone as well (a customer says "it's Priya", not "it's Priya
    Sharma"), and of an address each comma-separated part."""
    items: dict[tuple[str, str, bool], dict[str, Any]] = {}

    def add(match: str, kind: str, *, ignore_case: bool = True) -> None:
        match = match.strip()
        if not match:
            return
        items.setdefault(
            (match if not ignore_case else match.lower(), kind, ignore_case),
            {
                "match": match,
                "filth_type": kind,
                "ignore_case": ignore_case,
                "ignore_whitespace": True,
                # Whole words only ("Dee" is not in "Deep"), where the value starts and ends
                # with a word character, as the word-boundary test needs one.
                "ignore_partial_word_matches": bool(re.fullmatch(r"\w(?:.*\w)?", match, re.S)),
            },
        )

    for value in values:
        kind = _kind(value)
        add(value, kind)
        if kind == "name":
            for word in _NAME_PART.findall(value):
                for part in {word, *re.split(r"['’-]", word)}:
                    lowered = part.lower()
                    if len(part) < MIN_NAME_PART or lowered in NOT_NAME_PARTS:
                        continue
                    if lowered in COMMON_WORD_NAMES:
                        add(part[0].upper() + part[1:].lower(), kind, ignore_case=False)
                        add(part.upper(), kind, ignore_case=False)
                    else:
                        add(part, kind)
        elif kind == "address":
            for part in re.split(r"[,\n]", value):
                if len(part.strip()) >= MIN_NAME_PART:
                    add(part, kind)
    return list(items.values())


def region_of(locale: str) -> str | None:
    """The upper-case region of a locale such as `en-GB` or `en_GB`, or None for `en`."""
    parts = re.split(r"[-_]", locale)
    return parts[1].upper() if len(parts) > 1 and parts[1] else None


def region_locale(language: str, region: str) -> str | None:
    """A locale of a region that scrubadub accepts (it checks Python's `locale.locale_alias`),
    the language's if there is one: `en_US`, but `de_DE` for Germany, where there is no `en_DE`.
    Only the region matters to the detectors. None for a region Python knows no locale of."""
    import locale as locale_module

    known = set(locale_module.locale_alias.values())
    suffix = f"_{region.lower()}"
    candidates = [
        f"{language}_{region}",
        f"en_{region}",
        f"{region.lower()}_{region}",
        *(alias for alias in sorted(locale_module.locale_alias) if alias.endswith(suffix)),
    ]
    for candidate in candidates:
        if locale_module.normalize(candidate.lower()) in known:
            return f"{candidate.split('_', 1)[0].lower()}_{region}"
    return None


class Redactor:
    """Replaces personal data with placeholders such as `{{NAME}}`, `{{PHONE}}`, `{{EMAIL}}`."""

    def __init__(
        self,
        *,
        locale: str = "en_GB",
        regions: Iterable[str] = (),
        known_names: Iterable[str] = (),
        extra_detectors: Sequence[Detector] = (),
    ) -> None:
        """`regions`: ISO country codes whose phone numbers, postcodes and other regional formats
        are looked for, besides the locale's own."""
        self._locale = locale.replace("-", "_")
        language = self._locale.split("_", 1)[0]
        own = region_of(self._locale)
        self._locales = [self._locale]
        self._bare_regions: list[str] = []
        """Regions Python knows no locale of: only their phone numbers are looked for."""
        for region in sorted({region.upper() for region in regions if region} - {own}):
            regional = region_locale(language, region)
            if regional is not None:
                self._locales.append(regional)
            else:
                self._bare_regions.append(region)
        self._known = sorted({name.strip() for name in known_names if name.strip()})
        self._extra = list(extra_detectors)

    @property
    def locales(self) -> list[str]:
        """The locales whose regional formats are looked for, the redactor's own first."""
        return list(self._locales)

    @property
    def regions(self) -> list[str]:
        """The regions whose phone numbers are looked for, the redactor's own first."""
        own = [region for region in map(region_of, self._locales) if region is not None]
        return [*own, *self._bare_regions]

    def redact(self, text: str, *, known_names: Iterable[str] = ()) -> tuple[str, int]:
        """The redacted text and how many pieces of personal data it has in placeholders, those
        it had already included. `known_names` may hold `ProfileValue`s of other kinds."""
        # scrubadub is imported here, not at the top: it takes seconds (see `names`).
        import scrubadub
        from scrubadub.detectors import UserSuppliedFilthDetector
        from scrubadub.post_processors import FilthReplacer, PrefixSuffixReplacer

        from warmline.annotation.detectors import FirstNameDetector, LowerCaseNameDetector
        from warmline.annotation.identifier_detectors import (
            BirthDateDetector,
            CardNumberDetector,
            IbanDetector,
            IpAddressDetector,
            ReferenceNumberDetector,
            StreetAddressDetector,
            UkBankDetailsDetector,
            WholeEmailDetector,
            ZipCodeDetector,
        )

        # Placeholders through post-processors: scrubadub deprecated its default replace_with.
        scrubber = scrubadub.Scrubber(
            detector_list=[],
            locale=self._locale,
            post_processor_list=[FilthReplacer(), PrefixSuffixReplacer(prefix="{{", suffix="}}")],
        )
        detectors = [
            *self._catalogue_detectors(),
            WholeEmailDetector(locale=self._locale),
            CardNumberDetector(locale=self._locale),
            IbanDetector(locale=self._locale),
            UkBankDetailsDetector(locale=self._locale),
            ReferenceNumberDetector(locale=self._locale),
            StreetAddressDetector(locale=self._locale),
            ZipCodeDetector(locale=self._locale),
            BirthDateDetector(locale=self._locale),
            IpAddressDetector(locale=self._locale),
            FirstNameDetector(locale=self._locale),
            LowerCaseNameDetector(locale=self._locale),
            *self._extra,
        ]
        known = known_filth([*self._known, *known_names])
        for entry in known:
            # Matched against the compatibility form of the text, so in that form themselves.
            entry["match"] = unicodedata.normalize("NFKC", entry["match"])
        if known:
            detectors.append(UserSuppliedFilthDetector(known, locale=self._locale))
        for detector in detectors:
            # Another region's detectors are wanted here: no warning that the scrubber's differs.
            scrubber.add_detector(detector, warn=False)

        placeholders = [match.span() for match in PLACEHOLDER.finditer(text)]
        masked = text
        for beg, end in placeholders:
            masked = masked[:beg] + _MASK * (end - beg) + masked[end:]
        # The mask keeps every offset, and each character of the compatibility form comes from
        # one of the masked text: a find in the form is the span of the text its ends come from.
        form, origin = compatibility_form(masked)
        found: list[tuple[int, int, str]] = []
        for filth in sorted(scrubber.iter_filth(form), key=lambda filth: filth.beg):
            beg, end = origin[filth.beg], origin[filth.end - 1] + 1
            if found and beg < found[-1][1]:
                # Two finds in the form of one character ("ﬁ" is "fi"): one placeholder.
                found[-1] = (found[-1][0], max(end, found[-1][1]), found[-1][2])
                continue
            found.append((beg, end, filth.replacement_string))
        chunks: list[str] = []
        done = 0
        for beg, end, replacement in found:
            chunks += [text[done:beg], replacement]
            done = end
        chunks.append(text[done:])
        # A find that reaches over a placeholder (none of scrubadub's should, as the mask is no
        # part of a word, number or address) takes it in: that leaks nothing, a dropped find would.
        kept = [
            (beg, end)
            for beg, end in placeholders
            if not any(f_beg < end and beg < f_end for f_beg, f_end, _ in found)
        ]
        return "".join(chunks), len(kept) + len(found)

    def _catalogue_detectors(self) -> list[Detector]:
        """scrubadub's detectors a scrubber loads by default, those of a region once for each of
        the redactor's regions (a scrubber of its own loads them for one region only)."""
        from scrubadub.detectors.catalogue import detector_catalogue

        from warmline.annotation.identifier_detectors import (
            PossiblePhoneDetector,
            WholeWordNinoDetector,
        )

        chosen: dict[str, Detector] = {}
        replacing: dict[str, type[Detector]] = {
            _WHOLE_WORD_NINO: WholeWordNinoDetector,
            _POSSIBLE_PHONE: PossiblePhoneDetector,
        }
        for locale in self._locales:
            for name, catalogued in detector_catalogue.get_all().items():
                if not catalogued.autoload or name in _REPLACED_DETECTORS:
                    continue
                detector_cls = replacing.get(name, catalogued)
                supported = getattr(detector_cls, "supported_locale", None)
                if supported is None:
                    if name not in chosen:
                        chosen[name] = detector_cls(locale=self._locale)
                elif supported(locale):
                    regional = f"{name}_{region_of(locale)}"
                    if regional not in chosen:
                        chosen[regional] = detector_cls(locale=locale, name=regional)
        for region in self._bare_regions:
            # scrubadub takes the region from a locale; `phonenumbers` needs only the region.
            phone = PossiblePhoneDetector(locale=self._locale, name=f"phone_{region}")
            phone.region = region
            chosen[phone.name] = phone
        return list(chosen.values())
