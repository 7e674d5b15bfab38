"""Redaction: what the audit found leaking or damaged, and ordinary words that must stay.

No services: the redactor and the activities' preparing of texts are called directly.
"""

from __future__ import annotations

from typing import cast

import pytest
from temporalio.client import Client

from activities.annotation import AnnotationActivities, TextCall
from tests.api.conftest import load_peer_support
from warmline.annotation.gold import GoldLabelStore
from warmline.annotation.model import ItemKind, ItemRequest, Source, TextItem
from warmline.annotation.redact import Redactor, profile_kind, profile_values
from warmline.config.model import Tenant
from warmline.conversation import ConversationView, Status, Turn
from warmline.handoff import HandoffPackage
from warmline.runtime import redactor_for
from warmline.triage.types import Role
from warmline.wellness.view import WellnessStateStore

# --- 1. card numbers written in groups ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my card 4532 0151 1283 0366 pls", "my card {{CREDIT_CARD}} pls"),
        ("4532-0151-1283-0366", "{{CREDIT_CARD}}"),
        ("card 4532015112830366", "card {{CREDIT_CARD}}"),
        ("amex 3782 822463 10005 thanks", "amex {{CREDIT_CARD}} thanks"),
        ("My card is 4111 1111 1111 1111 exp 12/25", "My card is {{CREDIT_CARD}} exp 12/25"),
    ],
)
def test_redact_card_numbers_with_separators(text: str, expected: str) -> None:
    assert Redactor().redact(text) == (expected, 1)


@pytest.mark.parametrize(
    "text",
    [
        "page 12345",
        "a date 2026-12-07",
        "room 101",
        # Grouped like a card, but not one: the Luhn check fails.
        "batch 4532 0151 1283 0367",
        "batch 12-34-56",
    ],
)
def test_redact_leaves_numbers_that_are_no_card(text: str) -> None:
    assert Redactor().redact(text) == (text, 0)


@pytest.mark.parametrize(
    ("text", "expected", "count"),
    [
        ("my IBAN is GB82 WEST 1234 5698 7654 32 thanks", "my IBAN is {{IBAN}} thanks", 1),
        ("DE89370400440532013000", "{{IBAN}}", 1),
        ("to fr14 2004 1010 0505 0001 3m02 606 pls", "to {{IBAN}} pls", 1),
        (
            "GB82 WEST 1234 5698 7654 32 and DE89 3704 0044 0532 0130 00",
            "{{IBAN}} and {{IBAN}}",
            2,
        ),
    ],
)
def test_redact_bank_account_numbers(text: str, expected: str, count: int) -> None:
    assert Redactor().redact(text) == (expected, count)


@pytest.mark.parametrize(
    "text",
    [
        # The shape of an IBAN, but the mod-97 check fails, or no country has that length.
        "code GB82 WEST 1234 5698 7654 33 ok",
        "code AB12CDEF3456789XYZ",
    ],
)
def test_redact_leaves_codes_that_are_no_iban(text: str) -> None:
    assert Redactor().redact(text) == (text, 0)


@pytest.mark.parametrize(
    ("text", "expected", "count"),
    [
        ("my sort code is 12-34-56", "my sort code is {{SORT_CODE}}", 1),
        ("sort code 123456", "sort code {{SORT_CODE}}", 1),
        ("s/c 12 34 56", "s/c {{SORT_CODE}}", 1),
        ("Sort-code: 12.34.56 thanks", "Sort-code: {{SORT_CODE}} thanks", 1),
        ("account number 12345678", "account number {{ACCOUNT_NUMBER}}", 1),
        ("acc no. 12345678", "acc no. {{ACCOUNT_NUMBER}}", 1),
        ("my account number is 1234 5678 ok", "my account number is {{ACCOUNT_NUMBER}} ok", 1),
        ("A/C: 87654321.", "A/C: {{ACCOUNT_NUMBER}}.", 1),
        (
            "sort code: 12-34-56 account number: 12345678",
            "sort code: {{SORT_CODE}} account number: {{ACCOUNT_NUMBER}}",
            2,
        ),
        # An account number straight after the sort code, with or without its own keyword.
        ("sort code 12-34-56 12345678", "sort code {{SORT_CODE}} {{ACCOUNT_NUMBER}}", 2),
        (
            "sort code and account number are 12-34-56 and 12345678",
            "sort code and account number are {{SORT_CODE}} and {{ACCOUNT_NUMBER}}",
            2,
        ),
        ("acc 12345678 s/c 12 34 56", "acc {{ACCOUNT_NUMBER}} s/c {{SORT_CODE}}", 2),
    ],
)
def test_redact_uk_sort_codes_and_account_numbers(text: str, expected: str, count: int) -> None:
    assert Redactor().redact(text) == (expected, count)


@pytest.mark.parametrize(
    "text",
    [
        # The same digits with no sort-code or account keyword: dates, times, amounts, orders.
        "see you on 12-03-24 at 10:30",
        "parcel #123456, sent 12.03.24",
        "I paid 12345678 pounds into my account",
        "my account was charged 123456 yesterday",
        "account 12345 and sort code 12-34",
        # Too many digits for a sort code or an account number: not taken in part.
        "sort code 12-34-567 and account number 12345678901",
    ],
)
def test_redact_leaves_numbers_with_no_bank_keyword(text: str) -> None:
    assert Redactor().redact(text) == (text, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("parcel 123456 arrived", "parcel 123456 arrived"),
        ("the 2nd box 654321 bad", "the 2nd box 654321 bad"),
        ("my NI number is AB 12 34 56 C", "my NI number is {{NATIONAL_INSURANCE_NUMBER}}"),
        ("ni: ab123456c.", "ni: {{NATIONAL_INSURANCE_NUMBER}}."),
    ],
)
def test_redact_national_insurance_numbers_as_whole_words(text: str, expected: str) -> None:
    """scrubadub's pattern read the letters of the words around a six-digit number as a NINO:
    "order 123456 arrived" became "ord{{NATIONAL_INSURANCE_NUMBER}}rrived"."""
    assert Redactor().redact(text)[0] == expected


def test_redact_phone_number_after_an_account_keyword_stays_a_phone_number() -> None:
    """A phone number is longer than an account number: its own detector takes it."""
    text = "account number 07911 123456"
    assert Redactor().redact(text) == ("account number {{PHONE}}", 1)


# --- 2. phone numbers of every configured tenant's region -------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call (212) 736-5000", "call {{PHONE}}"),
        ("call 212-736-5000 tomorrow", "call {{PHONE}} tomorrow"),
        ("call me on 07911 123456", "call me on {{PHONE}}"),
        ("ring 020 7123 4567 now", "ring {{PHONE}} now"),
    ],
)
def test_redact_phone_numbers_of_the_configured_regions(text: str, expected: str) -> None:
    """The peer-support example has a tenant in Great Britain and one in the US."""
    assert redactor_for(load_peer_support()).redact(text) == (expected, 1)


@pytest.mark.parametrize(
    ("locale", "country"),
    [("en-US", "GB"), ("en-GB", "US"), ("en", "US")],
)
def test_redact_phone_regions_come_from_tenant_locale_and_country(
    locale: str, country: str
) -> None:
    base = load_peer_support()
    tenant = Tenant(id="t1", name="One", locale=locale, country=country)
    redactor = redactor_for(base.model_copy(update={"tenants": [tenant]}))
    assert redactor.redact("call (212) 736-5000") == ("call {{PHONE}}", 1)
    assert redactor.redact("call me on 07911 123456") == ("call me on {{PHONE}}", 1)


def test_redact_phone_regions_without_an_english_locale() -> None:
    """scrubadub accepts only locales Python knows: Germany's is `de_DE` (there is no `en_DE`),
    and Kosovo has none, so only its phone numbers are looked for."""
    base = load_peer_support()
    tenant = Tenant(id="t1", name="Eins", locale="de-DE", country="DE")
    redactor = redactor_for(base.model_copy(update={"tenants": [tenant]}))
    assert redactor.redact("ruf mich an: 0176 12345678") == ("ruf mich an: {{PHONE}}", 1)
    kosovo = Redactor(regions=["XK"])
    assert kosovo.regions == ["GB", "XK"]
    assert kosovo.redact("call 044 123 456") == ("call {{PHONE}}", 1)


def test_redact_phone_regions_are_given_to_the_redactor() -> None:
    assert Redactor(regions=["US"]).redact("call (212) 736-5000") == ("call {{PHONE}}", 1)
    assert Redactor(locale="en-US", regions=["GB", "DE"]).locales == ["en_US", "de_DE", "en_GB"]


# --- 3. e-mail addresses taken whole ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Email me at jane.doe@example.com please", "Email me at {{EMAIL}} please"),
        ("reach me at jane.doe@example.com", "reach me at {{EMAIL}}"),
        ("mail jane.doe@example.com", "mail {{EMAIL}}"),
        ("write to me at bob+help@mail.example.co.uk.", "write to me at {{EMAIL}}."),
        ("my email is john at gmail dot com", "my email is {{EMAIL}}"),
    ],
)
def test_redact_email_addresses_whole(text: str, expected: str) -> None:
    assert Redactor().redact(text) == (expected, 1)


def test_redact_leaves_a_time_said_with_at() -> None:
    assert Redactor().redact("meet me at 10.30 at the station") == (
        "meet me at 10.30 at the station",
        0,
    )


# --- 4. surnames with apostrophes, hyphens and inner capitals ---------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This is Siobhan O'Neill", "This is {{NAME}}"),
        ("This is Siobhan O’Neill, my husband died", "This is {{NAME}}, my husband died"),
        ("this is Mohammed Al-Fayed", "this is {{NAME}}"),
        ("I am John McDonald", "I am {{NAME}}"),
        ("ask for Mary Smith-Jones", "ask for {{NAME}}"),
        ("Mary's mum called", "{{NAME}}'s mum called"),
    ],
)
def test_redact_surnames_whole(text: str, expected: str) -> None:
    assert Redactor().redact(text) == (expected, 1)


@pytest.mark.parametrize(
    "text",
    [
        "I feel O.K.",
        "Don't worry about it",
        "Ok thanks",
        "So I called again",
        "I am so scared and alone tonight",
    ],
)
def test_redact_leaves_ordinary_words(text: str) -> None:
    assert Redactor().redact(text) == (text, 0)


# --- 5. known names word by word, and the profile's other values ------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "count"),
    [
        ("hi it's Priya here", "hi it's {{NAME}} here", 1),
        ("sharma is my surname", "{{NAME}} is my surname", 1),
        ("I'm Priya Sharma", "I'm {{NAME}}", 1),
        ("PRIYA and priya", "{{NAME}} and {{NAME}}", 2),
    ],
)
def test_redact_known_name_parts(text: str, expected: str, count: int) -> None:
    assert Redactor().redact(text, known_names=["Priya Sharma"]) == (expected, count)
    assert Redactor(known_names=["Priya Sharma"]).redact(text) == (expected, count)


@pytest.mark.parametrize(
    ("known", "text"),
    [
        (["Dee"], "Deep down I know"),
        (["Will Brown"], "I will post the brown envelope"),
        (["Mr Al de Souza"], "I put mr on the form, the film was de rigueur"),
    ],
)
def test_redact_known_name_parts_leave_ordinary_words(known: list[str], text: str) -> None:
    assert Redactor().redact(text, known_names=known) == (text, 0)


def test_redact_known_name_parts_that_are_words_when_capitalised() -> None:
    assert Redactor().redact("Will called, he will call again", known_names=["Will Brown"]) == (
        "{{NAME}} called, he will call again",
        1,
    )


PROFILE = {
    "name": "Priya Sharma",
    "contact_email": "ps1985@example.org",
    "mobilePhone": "07911 123456",
    "address": "12 Elm Row, Leith",
    "tier": "gold",
    "country": "GB",
    "hubspot_contact_id": "12345",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I live at 12 Elm Row, Leith", "I live at {{ADDRESS}}"),
        ("I moved to leith last year", "I moved to {{ADDRESS}} last year"),
        ("it's Priya, mail PS1985@example.org", "it's {{NAME}}, mail {{EMAIL}}"),
        # Not personal: the tier, the country and the CRM's id stay.
        ("my gold tier in GB, 12345 points", "my gold tier in GB, 12345 points"),
    ],
)
def test_redact_profile_values(text: str, expected: str) -> None:
    assert Redactor().redact(text, known_names=profile_values(PROFILE))[0] == expected


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("name", "name"),
        ("firstname", "name"),
        ("nickname", "name"),
        ("Last Name", "name"),
        ("contact_email", "email"),
        ("mobilePhone", "phone"),
        ("tel", "phone"),
        ("zip", "postalcode"),
        ("home_address", "address"),
        ("dob", "date_of_birth"),
        ("tier", None),
        ("country", None),
        ("lifecycle_stage", None),
        ("hubspot_contact_id", None),
        ("mailing_list", None),
        ("hotel_booking", None),
    ],
)
def test_redact_profile_keys_by_kind(key: str, kind: str | None) -> None:
    assert profile_kind(key) == kind


def test_prepared_item_redacts_the_profile_of_the_handoff() -> None:
    view = ConversationView(
        status=Status.HANDOFF,
        message_count=1,
        trajectory=[],
        escalation=None,
        turns=[Turn(role=Role.CUSTOMER, message_id="m1", text="hi it's Priya from Leith")],
        handoff=HandoffPackage(
            specialist_id="sp-1", queue="general", rendered="", customer_profile=PROFILE
        ),
    )
    request = ItemRequest(
        tenant_id="t1", conversation_id="c1", message_id="m1", sources=[Source.RANDOM]
    )
    prepared = activities(Redactor())._prepare(request, view, 0.0)
    [item] = prepared.items
    assert item.kind is ItemKind.EMOTION
    assert (item.text, item.redactions) == ("hi it's {{NAME}} from {{ADDRESS}}", 2)


# --- 6. redacting again changes nothing -------------------------------------------------------

TWICE = [
    "Mail Dee at dee.smith@gmail.com or ring 07911 123456, my card 4532015112830366",
    "Email me at jane.doe@example.com please",
    "This is Siobhan O'Neill, call (212) 736-5000",
    "Hi I'm Mary, call 07700 900123 or 07911 123456",
]


@pytest.mark.parametrize("text", TWICE)
def test_redact_twice_is_redact_once(text: str) -> None:
    redactor = Redactor(known_names=["Sam Mills", "Dee"])
    once = redactor.redact(text)
    assert once[1] >= 1
    assert redactor.redact(once[0]) == once


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("Hi {{NAME}}, call {{PHONE}}", 2),
        ("Mail {{EMAIL+NAME}} today", 1),
        ("{{NAME}}{{PHONE}}", 2),
    ],
)
def test_redact_keeps_placeholders_and_counts_them(text: str, count: int) -> None:
    assert Redactor().redact(text) == (text, count)


def test_redact_finds_more_beside_placeholders() -> None:
    assert Redactor().redact("{{NAME}} here, mail jane.doe@example.com") == (
        "{{NAME}} here, mail {{EMAIL}}",
        2,
    )


@pytest.mark.parametrize("text", TWICE)
def test_prepared_text_keeps_the_count_of_the_callers_redaction(text: str) -> None:
    """`submit_texts` redacts before sending, then the activity redacts again."""
    redactor = Redactor(known_names=["Sam Mills", "Dee"])
    sent, count = redactor.redact(text)
    prepared = activities(redactor).prepare_text(TextCall(item=TextItem(item_id="i1", text=sent)))
    assert (prepared.text, prepared.redactions) == (sent, count)


def activities(redactor: Redactor) -> AnnotationActivities:
    """Activities whose client and stores are never used by the preparing of texts."""
    return AnnotationActivities(
        cast(Client, None),
        cast(GoldLabelStore, None),
        cast(WellnessStateStore, None),
        redactor,
    )


# --- compatibility characters: full-width and other NFKC forms ---------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ please", "mail {{EMAIL}} please"),
        ("Ｍａｉｌ ｍｅ：ｊａｎｅ．ｄｏｅ＠ｅｘａｍｐｌｅ．ｃｏｍ！", "Ｍａｉｌ ｍｅ：{{EMAIL}}！"),
        ("card ４５３２ ０１５１ １２８３ ０３６６ ok", "card {{CREDIT_CARD}} ok"),
        ("card 4532\u00a00151\u00a01283\u00a00366 ok", "card {{CREDIT_CARD}} ok"),
        ("see ｈｔｔｐｓ：／／ｅｘａｍｐｌｅ．ｃｏｍ／ｍｅ now", "see {{URL}} now"),
        ("call ０２０７ ９４６ ０９５８ now", "call {{PHONE}} now"),
        ("my sort code is １２－３４－５６", "my sort code is {{SORT_CODE}}"),
        ("ａｃｃ ｎｏ． １２３４５６７８ ok", "ａｃｃ ｎｏ． {{ACCOUNT_NUMBER}} ok"),
    ],
)
def test_redact_compatibility_forms(text: str, expected: str) -> None:
    """Full-width (and other compatibility) characters are read in their NFKC form; the text the
    annotator sees keeps its own characters around the placeholder."""
    assert Redactor().redact(text) == (expected, 1)


def test_redact_compatibility_forms_of_known_values() -> None:
    """A profile value is matched in its compatibility form, whichever form either is in."""
    profile = profile_values({"email": "jane@example.com", "name": "Ｐｒｉｙａ Sharma"})
    text = "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ, I'm Priya"
    assert Redactor().redact(text, known_names=profile) == ("{{EMAIL}}, I'm {{NAME}}", 2)


@pytest.mark.parametrize(
    "text",
    [
        "Café – naïve “quotes”, ½ a cup… ﬁne",
        "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ ﬁne …",
    ],
)
def test_redact_keeps_the_characters_it_does_not_replace(text: str) -> None:
    """Offsets of the compatibility form map back to the text: what is not personal data is
    returned exactly as written, and redacting twice is redacting once."""
    once, count = Redactor().redact(text)
    assert once.replace("{{EMAIL}}", "") == text.replace("ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "")
    assert Redactor().redact(once) == (once, count)
