"""Personal data out of a text before any annotator (or the annotation history) sees it.

scrubadub does the work with its detectors for e-mail addresses, phone numbers (Google's
`phonenumbers`), URLs, credentials, postcodes, national insurance and tax numbers, card and
licence numbers. Names need a model scrubadub does not ship offline (spaCy or TextBlob corpora),
so a detector plugged into scrubadub looks capitalised words up in the US census first-name lists
the `names` package ships, and takes a following capitalised word as the surname; names warmline
knows (the customer's profile, the configured people) are matched exactly as well. A redaction
errs towards removing too much: "Grace" at the start of a sentence is lost.

The census lists miss many names (most that are not common in the US, e.g. "Priya"). A deployment
with a spaCy model installed should add scrubadub's model-based detector through
`extra_detectors` (e.g. `scrubadub_spacy.detectors.SpacyEntityDetector`).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Sequence
from functools import lru_cache
from importlib import resources

import scrubadub
from scrubadub.detectors import Detector, UserSuppliedFilthDetector
from scrubadub.filth import Filth, NameFilth
from scrubadub.post_processors import FilthReplacer, PrefixSuffixReplacer

NAME_LISTS = ("dist.female.first", "dist.male.first")
_WORD = re.compile(r"\b[A-Z][a-z'’-]+\b")


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    """Upper-case first names from the census lists shipped in the `names` package."""
    found: set[str] = set()
    for list_name in NAME_LISTS:
        text = resources.files("names").joinpath(list_name).read_text(encoding="ascii")
        found.update(line.split(None, 1)[0] for line in text.splitlines() if line.strip())
    return frozenset(found)


# scrubadub ships no type information, so its base class is Any to mypy.
class FirstNameDetector(Detector):  # type: ignore[misc]
    """Capitalised census first names, with the capitalised word after them as a surname."""

    filth_cls = NameFilth
    name = "census_name"

    def iter_filth(
        self, text: str, document_name: str | None = None
    ) -> Generator[Filth, None, None]:
        known = first_names()
        matches = list(_WORD.finditer(text))
        index = 0
        while index < len(matches):
            match = matches[index]
            if match.group().upper() not in known:
                index += 1
                continue
            end = match.end()
            following = matches[index + 1] if index + 1 < len(matches) else None
            if following is not None and text[end : following.start()] == " ":
                end = following.end()
                index += 1
            index += 1
            yield NameFilth(
                beg=match.start(),
                end=end,
                text=text[match.start() : end],
                detector_name=self.name,
                document_name=document_name,
                locale=self.locale,
            )


class Redactor:
    """Replaces personal data with placeholders such as `{{NAME}}`, `{{PHONE}}`, `{{EMAIL}}`."""

    def __init__(
        self,
        *,
        locale: str = "en_GB",
        known_names: Iterable[str] = (),
        extra_detectors: Sequence[Detector] = (),
    ) -> None:
        self._locale = locale
        self._known = sorted({name.strip() for name in known_names if name.strip()})
        self._extra = list(extra_detectors)

    def redact(self, text: str, *, known_names: Iterable[str] = ()) -> tuple[str, int]:
        """The redacted text and how many pieces of personal data were replaced."""
        # Placeholders through post-processors: scrubadub deprecated its default replace_with.
        scrubber = scrubadub.Scrubber(
            locale=self._locale,
            post_processor_list=[FilthReplacer(), PrefixSuffixReplacer(prefix="{{", suffix="}}")],
        )
        scrubber.add_detector(FirstNameDetector(locale=self._locale))
        for detector in self._extra:
            scrubber.add_detector(detector)
        names = sorted({*self._known, *(n.strip() for n in known_names if n.strip())})
        if names:
            scrubber.add_detector(
                UserSuppliedFilthDetector(
                    [{"match": name, "filth_type": "name", "ignore_case": True} for name in names],
                    locale=self._locale,
                )
            )
        filth = list(scrubber.iter_filth(text))
        return scrubber.clean(text), len(filth)
