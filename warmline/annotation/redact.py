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

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrubadub.detectors import Detector


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
        # scrubadub is imported here, not at the top: it takes seconds (see `names`).
        import scrubadub
        from scrubadub.detectors import UserSuppliedFilthDetector
        from scrubadub.post_processors import FilthReplacer, PrefixSuffixReplacer

        from warmline.annotation.names import FirstNameDetector

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
