"""`verify_signature` answers False, not an exception, for any forged or garbled request.

A receiver calls it on whatever arrives. A timestamp of hundreds of digits raised OverflowError
(compared with the float clock), and a signature with a non-ASCII character raised TypeError
(`hmac.compare_digest` compares ASCII strings only): the receiver answered 500 with a traceback
rather than refusing the request.
"""

from __future__ import annotations

import time

import pytest

from connectors.webhook import sign, verify_signature

SECRET = "whsec-test"
BODY = b'{"id":"e-1"}'


@pytest.mark.parametrize(
    ("timestamp", "why"),
    [
        ("9" * 400, "a timestamp too large for the clock's float"),
        ("-" + "9" * 400, "a negative one as large"),
    ],
)
def test_a_timestamp_that_is_not_unix_seconds_is_refused(timestamp: str, why: str) -> None:
    signature = sign(SECRET, timestamp, BODY)
    assert verify_signature(SECRET, timestamp, BODY, signature) is False, why


@pytest.mark.parametrize("signature", ["sha256=\u00e9", "sha256=\u2603", "\ud83d"])
def test_a_signature_that_is_not_ascii_is_refused(signature: str) -> None:
    now = int(time.time())
    assert verify_signature(SECRET, now, BODY, signature) is False


def test_the_real_signature_still_passes() -> None:
    now = int(time.time())
    assert verify_signature(SECRET, str(now), BODY, sign(SECRET, now, BODY))
    assert verify_signature(SECRET, f" {now} ", BODY, f" {sign(SECRET, now, BODY)} ")
