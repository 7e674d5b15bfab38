"""Names customers type in lower case or in capitals are redacted; census names that are everyday
words stay where they are used as words.

No services: the redactor is called directly.
"""

from __future__ import annotations

import pytest

from warmline.annotation.redact import Redactor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "hi im sarah jones and my husband david died",
            "hi im {{NAME}} and my husband {{NAME}} died",
        ),
        ("my daughter emily is in hospital", "my daughter {{NAME}} is in hospital"),
        ("this is tom, calling about my bill", "this is {{NAME}}, calling about my bill"),
        ("my name's kevin", "my name's {{NAME}}"),
        ("thanks for the help\n- tom", "thanks for the help\n- {{NAME}}"),
        ("sarah's account is locked", "{{NAME}}'s account is locked"),
        # After "my name is" a word the lexicon does not know is a name, in any case.
        ("my name is priya sharma", "my name is {{NAME}}"),
        ("My name is Priya", "My name is {{NAME}}"),
        # Census names that are everyday words, where the text says they are names.
        ("my name is will", "my name is {{NAME}}"),
        ("hi this is mark", "hi this is {{NAME}}"),
        ("hello, it's grace again", "hello, it's {{NAME}} again"),
        ("thanks for everything - mark", "thanks for everything - {{NAME}}"),
        ("ok.\nthanks, will", "ok.\nthanks, {{NAME}}"),
        # In capitals, as a customer in distress may write, and a surname in lower case after a
        # capitalised name.
        ("MY HUSBAND DAVID DIED LAST WEEK", "MY HUSBAND {{NAME}} DIED LAST WEEK"),
        ("HI IM SARAH JONES", "HI IM {{NAME}}"),
        ("HI THIS IS MARK", "HI THIS IS {{NAME}}"),
        ("Sarah jones here, about my bill", "{{NAME}} here, about my bill"),
    ],
)
def test_redact_lower_case_names(text: str, expected: str) -> None:
    assert Redactor().redact(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "is there a grace period for the payment",
        "i will pay next week",
        "please mark it as urgent",
        "i hope you can help",
        "no joy with the app, my bill is too high",
        "to be frank i am angry and prices rose again",
        "i will sue you",
        "my name is on the account",
        "this is hope for us",
        "call me back please",
        "it's may already and my husband died",
        "thanks, i will",
        "I WILL SUE YOU",
        "MARK MY WORDS, I AM LEAVING",
        "NO JOY WITH THE APP ASAP",
    ],
)
def test_redact_keeps_everyday_words_that_are_names(text: str) -> None:
    assert Redactor().redact(text) == (text, 0)
