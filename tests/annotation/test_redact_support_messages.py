"""Personal data in support messages that scrubadub's own detectors missed, found by warmline's
detectors registered with it, and the words around it (emotions, times, amounts, counts, months)
that must stay for the annotator.

No services: the redactor is called directly.
"""

from __future__ import annotations

import pytest

from warmline.annotation.redact import Redactor

REGIONS = ["GB", "US", "DE"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Phone numbers `phonenumbers` knows as possible but not issued, written as phones.
        ("Please call +44 7700 900123, I'm desperate", "Please call {{PHONE}}, I'm desperate"),
        ("Call me on (555) 123-4567 I'm furious", "Call me on {{PHONE}} I'm furious"),
        ("my US cell is 555-123-4567, since 3:30", "my US cell is {{PHONE}}, since 3:30"),
        # Street addresses and US ZIP codes.
        ("I live at 14 Elm Road, Leeds", "I live at {{ADDRESS}}, Leeds"),
        ("Send it to 221B Baker Street please", "Send it to {{ADDRESS}} please"),
        ("ship to 42 wallaby way please", "ship to {{ADDRESS}} please"),
        (
            "Springfield, IL 62704-1234. I'm grieving",
            "Springfield, IL {{POSTALCODE}}. I'm grieving",
        ),
        ("my zip is 90210 and I paid £120", "my zip is {{POSTALCODE}} and I paid £120"),
        # Dates of birth.
        (
            "my date of birth is 12/03/1985 and I'm scared",
            "my date of birth is {{DATE_OF_BIRTH}} and I'm scared",
        ),
        ("I was born on 3 March 1985, so stressed", "I was born on {{DATE_OF_BIRTH}}, so stressed"),
        ("DOB: 1985-03-12, account frozen", "DOB: {{DATE_OF_BIRTH}}, account frozen"),
        # Customer numbers a keyword names.
        ("order #A-99812 never arrived, gutted", "order {{REFERENCE}} never arrived, gutted"),
        ("policy no. PX-4471-22 was cancelled", "policy no. {{REFERENCE}} was cancelled"),
        ("member ID 8812-3341, 10 years a member", "member ID {{REFERENCE}}, 10 years a member"),
        ("ref: ZK4492 - still waiting", "ref: {{REFERENCE}} - still waiting"),
        ("customer ref 77812934, exhausted", "customer ref {{REFERENCE}}, exhausted"),
        ("my booking reference is XJ7K2L", "my booking reference is {{REFERENCE}}"),
        ("my NI number is QQ 12 34 56 C", "my NI number is {{REFERENCE}}"),
        # IP addresses.
        ("my IP was 192.168.1.20 when it locked", "my IP was {{IP_ADDRESS}} when it locked"),
        ("it showed 2001:db8::1 to me", "it showed {{IP_ADDRESS}} to me"),
        # Names a phrase introduces: a title, a relative, someone the customer spoke to.
        ("my name is Priya Sharma and I waited", "my name is {{NAME}} and I waited"),
        (
            "my daughter's teacher, Mrs Patel, said so",
            "my daughter's teacher, Mrs {{NAME}}, said so",
        ),
        ("I spoke with Mr Okafor at 3:30", "I spoke with Mr {{NAME}} at 3:30"),
        ("please ask Dr Nguyen to call me", "please ask Dr {{NAME}} to call me"),
        ("my wife grace is in hospital", "my wife {{NAME}} is in hospital"),
        ("i spoke to john yesterday, i'm angry", "i spoke to {{NAME}} yesterday, i'm angry"),
        ("i spoke to mark on monday", "i spoke to {{NAME}} on monday"),
        ("my brother Kwame Mensah is handling it", "my brother {{NAME}} is handling it"),
    ],
)
def test_redact_personal_data_of_support_messages(text: str, expected: str) -> None:
    assert Redactor(regions=REGIONS).redact(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        # Months that are census first names, said as months.
        "I've been waiting since April, I'm so sad",
        "paid $300 on 12 June, still nothing. so angry",
        "my son will be 18 in May and I'm worried",
        "no heating since 12 January",
        # Relatives and titles before everyday words.
        "my son will call you tomorrow at 11:15, he's furious too",
        "my mum may ring later, I'm anxious",
        "I spoke to someone last week and they said 5 working days",
        "I put mr on the form and felt ashamed",
        # Counts, times, amounts and numbers that name no customer.
        "I drove 3 hours down the motorway, devastated",
        "we waited 2 hours on the road with 2 kids",
        "order 2 pizzas, 45 minutes late, I'm livid",
        "I've been a member since 2015 and I'm disgusted",
        "it's version 2.4.1 of the app and it crashes at 10:45",
        "the bill was £1,250 and I have 3 children",
        "the score was 3:1 and I felt hopeless",
        "my gold tier in GB, 12345 points",
        "code GB82 WEST 1234 5698 7654 33 ok",
    ],
)
def test_redact_keeps_words_that_are_no_personal_data(text: str) -> None:
    assert Redactor(regions=REGIONS).redact(text) == (text, 0)
