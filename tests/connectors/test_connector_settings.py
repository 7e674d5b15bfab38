"""What `warmline validate` refuses in the reference connectors' settings, at the line to fix: what
would fail every event at run time, and what would put a credential or a forged header on the
wire. Each case is the insurer-claims example with one line changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.hubspot import HubSpotSettings
from connectors.sdk.check import check_connectors
from connectors.sdk.connector import ConnectorContext
from connectors.webhook import WebhookSettings
from warmline.config.loader import check_paths

CLAIMS = Path(__file__).resolve().parents[2] / "examples" / "insurer-claims"
WEBHOOK_URL = "url: https://claims.internal.harbour-mutual.example/hooks/warmline"
HUBSPOT_PIPELINE = "pipeline: claims-support"
GATEWAY = """  - name: gateway
    type: grpc
    settings:
      listen: 0.0.0.0:99999
      ack_timeout: 0s
    secrets:
      token: ${GATEWAY_TOKEN}
"""


def variant(tmp_path: Path, old: str, new: str) -> Path:
    """The example's configuration with `old` replaced by `new` (once)."""
    shutil.copytree(CLAIMS, tmp_path / "claims")
    config = tmp_path / "claims" / "warmline.yaml"
    text = config.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    config.write_text(text.replace(old, new), encoding="utf-8")
    return config


def problems(config: Path) -> list[str]:
    return [d.render() for d in check_paths([config], extra=check_connectors).errors]


def line_of(config: Path, fragment: str) -> int:
    lines = config.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if fragment in line)


def test_the_example_is_valid() -> None:
    assert problems(CLAIMS / "warmline.yaml") == []


def test_a_url_with_credentials_is_refused_at_its_line(tmp_path: Path) -> None:
    config = variant(
        tmp_path, WEBHOOK_URL, "url: https://svc:Hunter2@claims.example/hooks?api_key=abc"
    )
    at = line_of(config, "Hunter2")
    assert problems(config) == [
        f"{config}:{at}:12: connectors[2].settings.url: the URL carries credentials "
        "(user:password@), and URLs are written to logs and error messages: remove them; have "
        "the receiver check the X-Warmline-Signature instead, made with the `signing_secret` "
        "from `secrets:`"
    ]
    with pytest.raises(ValidationError, match=r"secrets:` as `access_token`"):
        HubSpotSettings(base_url="https://me:pat-na1-xyz@api.hubapi.com")


def test_extra_headers_cannot_shadow_the_webhooks_own_or_the_clients(tmp_path: Path) -> None:
    headers = "headers:\n        content-type: text/plain\n        X-Team: claims\n"
    headers += "        x-warmline-signature: sha256=forged\n        HOST: evil.example\n"
    config = variant(tmp_path, "timeout_seconds: 5\n", f"timeout_seconds: 5\n      {headers}")
    found = problems(config)
    expected = [
        (line_of(config, "content-type"), "content-type", "is set by the webhook itself"),
        (line_of(config, "x-warmline-signature"), "x-warmline-signature", "is set by the webhook"),
        (line_of(config, "HOST"), "HOST", "is the HTTP client's to set"),
    ]
    assert len(found) == len(expected), found
    for problem, (at, name, says) in zip(found, expected, strict=True):
        prefix = f"{config}:{at}:9: connectors[2].settings.headers.{name}: header {name!r} {says}"
        assert problem.startswith(prefix), problem
    with pytest.raises(ValidationError, match="line breaks"):
        WebhookSettings(url="https://x.example/h", headers={"X-Team": "a\r\nX-Injected: 1"})


def test_a_base_url_without_scheme_is_refused_at_its_line(tmp_path: Path) -> None:
    config = variant(
        tmp_path, HUBSPOT_PIPELINE, f"base_url: api.hubapi.com\n      {HUBSPOT_PIPELINE}"
    )
    at = line_of(config, "base_url: api")
    assert problems(config) == [
        f"{config}:{at}:17: connectors[0].settings.base_url: 'api.hubapi.com' is not an http:// "
        "or https:// URL with a host (e.g. https://api.example.com); did you mean "
        "'https://api.hubapi.com'?"
    ]


def test_a_gateway_that_cannot_listen_or_wait_is_refused(tmp_path: Path) -> None:
    config = variant(tmp_path, "connectors:\n", f"connectors:\n{GATEWAY}")
    listen, ack = line_of(config, "listen:"), line_of(config, "ack_timeout:")
    assert problems(config) == [
        f"{config}:{listen}:15: connectors[0].settings.listen: port 99999 does not exist: use "
        "1-65535, or 0 for a free one",
        f"{config}:{ack}:20: connectors[0].settings.ack_timeout: must be at least 1s (got 0s)",
    ]


def test_a_ticket_property_that_does_not_compile_is_reported_at_its_key(tmp_path: Path) -> None:
    config = variant(tmp_path, 'content: "{{ data.reason }}"', 'content: "{{ data.reason }"')
    at = line_of(config, "content:")
    assert problems(config) == [
        f"{config}:{at}:18: connectors[0].settings.ticket_properties.content: template "
        "ticket_properties.content: line 1: unexpected '}'"
    ]


def test_a_contexts_repr_shows_no_secret() -> None:
    context = ConnectorContext(name="crm", secrets={"access_token": "pat-na1-s3cret"})
    assert "pat-na1-s3cret" not in repr(context)
    assert "crm" in repr(context)


def test_a_misspelt_field_in_a_template_is_reported_where_it_is_written(tmp_path: Path) -> None:
    config = variant(tmp_path, 'content: "{{ data.reason }}"', 'content: "{{ data.reasn }}"')
    at = line_of(config, "content:")
    assert problems(config) == [
        f"{config}:{at}:18: connectors[0].settings.ticket_properties.content: data.reasn is not "
        "in the data of io.warmline.conversation.escalated.v1; did you mean 'reason'?"
    ]

    config = variant(tmp_path / "note", "{{ data.specialist }}", "{{ data.specialst }}")
    at = line_of(config, "note_template:")
    assert problems(config) == [
        f"{config}:{at}:22: connectors[0].settings.note_template: data.specialst is not in the "
        "data of io.warmline.handoff.accepted.v1; did you mean 'specialist'?"
    ]


def test_a_payload_template_reads_only_what_its_events_have(tmp_path: Path) -> None:
    """The example's webhook narrowed to closings: its template reads `data.queue`, which only
    escalations have, through `| default(none)`, so it passes; read bare, it is reported."""
    both = "      - io.warmline.conversation.escalated.v1\n      - io.warmline.conversation.closed"
    config = variant(tmp_path, both, "      - io.warmline.conversation.closed")
    assert problems(config) == []
    template = config.parent / "templates" / "claims-webhook.json.j2"
    source = template.read_text(encoding="utf-8")
    template.write_text(
        source.replace("event.data.queue | default(none)", "data.queue").replace(
            "event.subject", "event.subjet"
        ),
        encoding="utf-8",
    )
    lines = template.read_text(encoding="utf-8").splitlines()
    subject = next(n for n, line in enumerate(lines, 1) if "event.subjet" in line)
    queue = next(n for n, line in enumerate(lines, 1) if "data.queue" in line)
    assert problems(config) == [
        f"{template}:{subject}:1: template claims-webhook.json.j2: line {subject}: event.subjet "
        "is not in an event; did you mean 'subject'?",
        f"{template}:{queue}:1: template claims-webhook.json.j2: line {queue}: data.queue is not "
        "in the data of io.warmline.conversation.closed.v1; expected one of: messages, outcome, "
        "reason, satisfaction",
    ]


def test_reads_a_template_guards_are_left_alone(tmp_path: Path) -> None:
    guarded = (
        'content: "{{ data.reason }}{% if data.note is defined %} {{ data.note }}{% endif %}'
        "{{ data.extra | default('') }}{{ data.items() | length }}\""
    )
    config = variant(tmp_path, 'content: "{{ data.reason }}"', guarded)
    assert problems(config) == []


def test_a_misspelt_secret_is_reported_at_validate_not_at_start(tmp_path: Path) -> None:
    config = variant(
        tmp_path, "access_token: ${HARBOUR_HUBSPOT_TOKEN}", "acess_token: ${HARBOUR_HUBSPOT_TOKEN}"
    )
    at = line_of(config, "acess_token")
    assert problems(config) == [
        f"{config}:{at}:7: connectors[0].secrets: hubspot needs the secret access_token under "
        "`secrets:`; did you mean 'acess_token'?"
    ]


def test_a_gateway_needs_a_token_secret(tmp_path: Path) -> None:
    config = variant(
        tmp_path,
        "  - name: claims-system\n",
        GATEWAY.replace("99999", "7070").replace("0s", "30s").replace("token:", "tokn:")
        + "  - name: claims-system\n",
    )
    at = line_of(config, "tokn:")
    assert problems(config) == [
        f"{config}:{at}:7: connectors[2].secrets: grpc needs a `token` secret, or "
        "`token.<connector_name>` per connector process (found: tokn)"
    ]


def test_webhook_headers_httpx_cannot_send_are_refused_at_their_line(tmp_path: Path) -> None:
    """httpx sends only ASCII header values: one that is not failed every event at send time (a
    `UnicodeEncodeError`, retried, then dead-lettered), and so did such a `content_type`. A
    `content_type` that is not a media type silently picked no escaping for a JSON body."""
    headers = "headers:\n        X-Team: Équipe sinistres\n      content_type: json\n"
    config = variant(tmp_path, "timeout_seconds: 5\n", f"timeout_seconds: 5\n      {headers}")
    team, media = line_of(config, "X-Team"), line_of(config, "content_type")
    assert problems(config) == [
        f"{config}:{team}:17: connectors[2].settings.headers.X-Team: a header value must be "
        "ASCII ('É' is not): percent-encode it or leave it out",
        f"{config}:{media}:21: connectors[2].settings.content_type: 'json' is not a media type "
        "(type/subtype, e.g. application/json or text/plain)",
    ]
    with pytest.raises(ValidationError, match="must be ASCII"):
        WebhookSettings(url="https://x.example/h", content_type="text/plain; charset=ütf-8")


def test_bamboohr_addresses_are_checked_like_the_others(tmp_path: Path) -> None:
    """Each of these passed `validate`, then failed every request (a full host as the subdomain,
    a base URL without scheme), put the API key in logged URLs, or failed every shift pull."""
    config = variant(
        tmp_path,
        "      subdomain: harbourmutual\n",
        "      subdomain: harbourmutual.bamboohr.com\n"
        "      base_url: https://4f2a:x@api.bamboohr.com\n"
        "      inbound_topic: hr inbound\n",
    )
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "kafka.harbour-mutual.internal:9092", "kafka.harbour-mutual.internal:90920"
        ),
        encoding="utf-8",
    )
    subdomain, base_url = line_of(config, "subdomain:"), line_of(config, "base_url: https://4f")
    topic, bootstrap = line_of(config, "inbound_topic:"), line_of(config, "kafka_bootstrap:")
    assert problems(config) == [
        f"{config}:{subdomain}:18: connectors[1].settings.subdomain: 'harbourmutual.bamboohr.com' "
        "is not a BambooHR subdomain: write only the company's part, `acme` for "
        "acme.bamboohr.com: did you mean 'harbourmutual'?",
        f"{config}:{base_url}:17: connectors[1].settings.base_url: the URL carries credentials "
        "(user:password@), and URLs are written to logs and error messages: remove them; the "
        "API key goes in `secrets:` as `api_key`",
        f'{config}:{topic}:22: connectors[1].settings.inbound_topic: Topic name "hr inbound" is '
        'illegal, it contains a character other than ASCII alphanumerics, ".", "_" and "-"',
        f"{config}:{bootstrap}:24: connectors[1].settings.kafka_bootstrap: "
        "'kafka.harbour-mutual.internal:90920' is not host:port, comma-separated (e.g. "
        "kafka.internal:9092): port 90920 is out of range",
    ]


def test_a_template_reading_a_name_it_is_not_given_is_reported(tmp_path: Path) -> None:
    """`{{ reason }}` for `{{ data.reason }}`, or a misspelt `dta`, passed `validate` and then
    dead-lettered every escalation at send time (StrictUndefined). Names a template sets, loop
    and macro names, jinja2's own and guarded ones are fine."""
    content = (
        'content: "{{ reason }}{% for f in [1] %}{{ loop.index }}{{ f }}{% endfor %}'
        "{% set x = 1 %}{{ x }}{{ range(2) | list }}{{ note | default('') }}\""
    )
    config = variant(tmp_path, 'content: "{{ data.reason }}"', content)
    config.write_text(
        config.read_text(encoding="utf-8").replace("({{ data.queue }})", "({{ dta.queue }})"),
        encoding="utf-8",
    )
    subject, at = line_of(config, "dta.queue"), line_of(config, "content:")
    assert problems(config) == [
        f"{config}:{subject}:18: connectors[0].settings.ticket_properties.subject: dta is not "
        "defined: a template sees only data and event; did you mean 'data'?",
        f"{config}:{at}:18: connectors[0].settings.ticket_properties.content: reason is not "
        "defined: a template sees only data and event; did you mean 'data.reason'?",
    ]
