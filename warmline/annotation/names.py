"""Census first names as a scrubadub detector (see `warmline.annotation.redact`).

Importing scrubadub imports nltk and with it scipy, seconds of start-up; this module is imported
only when the first text is redacted, so a worker or a command that never redacts does not pay.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from functools import lru_cache
from importlib import resources

from scrubadub.detectors import Detector
from scrubadub.filth import Filth, NameFilth

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
