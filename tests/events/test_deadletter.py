"""Dead letters on real Kafka: a record the dead-letter topic refuses for its size is kept cut short
rather than retried for ever, and records kafka-python cannot write as they came are kept too."""

from __future__ import annotations

import pytest
from kafka.consumer.fetcher import ConsumerRecord

from connectors.sdk.testkit import read_dead_letters
from tests.events.topics import small_topic
from warmline.events.deadletter import TRUNCATED_BYTES, DeadLetterError, DeadLetters, Origin


def origin(offset: int, *, value: bytes, headers: list[tuple[str, bytes]]) -> Origin:
    return Origin(
        topic="inbound", partition=0, offset=offset, key=b"c-1", value=value, headers=headers
    )


def test_a_dead_letter_too_large_for_the_topic_is_kept_cut_short(kafka_bootstrap: str) -> None:
    topic = small_topic(kafka_bootstrap, "deadletters-small")
    ce = [("ce_id", b"e-1"), ("ce_type", b"io.warmline.inbound.message.received.v1")]
    # Fits a topic of the same limit as sent; not with the dlq.* headers added.
    near_the_limit = origin(1, value=b"x" * 3950, headers=ce)
    # Too large even with the value cut: the original headers are left out as well.
    big_header = origin(2, value=b"y" * 2000, headers=[*ce, ("trace", b"t" * 5000)])
    # A tombstone without a key and a header without a value, as Java producers send them.
    bare = Origin.of(
        ConsumerRecord(
            topic="inbound",
            partition=0,
            leader_epoch=0,
            offset=3,
            timestamp=0,
            timestamp_type=0,
            key=None,
            value=None,
            headers=[("traceparent", None)],
            checksum=None,
            serialized_key_size=-1,
            serialized_value_size=-1,
            serialized_header_size=-1,
        )
    )
    dead_letters = DeadLetters.connect(kafka_bootstrap, consumer="test", topic=topic)
    try:
        for letter in (near_the_limit, big_header, bare):
            dead_letters.send(letter, f"record {letter.offset} is bad")
    finally:
        dead_letters.close()

    letters = {
        int(letter.headers["dlq.offset"]): letter
        for letter in read_dead_letters(kafka_bootstrap, topic, expect=3)
    }
    assert sorted(letters) == [1, 2, 3]
    cut = letters[1]
    assert cut.reason == "record 1 is bad"
    assert cut.value == b"x" * TRUNCATED_BYTES
    assert cut.key == b"c-1"
    assert cut.headers["dlq.truncated"] == b"3950"
    assert cut.headers["ce_type"] == b"io.warmline.inbound.message.received.v1"
    assert "dlq.headers-dropped" not in cut.headers

    stripped = letters[2]
    assert stripped.value == b"y" * TRUNCATED_BYTES
    assert stripped.headers["dlq.truncated"] == b"2000"
    assert stripped.headers["dlq.headers-dropped"] == b"3"
    assert "trace" not in stripped.headers
    assert stripped.headers["dlq.topic"] == b"inbound"

    kept = letters[3]
    assert kept.headers["traceparent"] == b""
    assert (kept.key, kept.value) == (None, b"")
    assert "dlq.truncated" not in kept.headers


def test_a_producer_that_failed_a_send_is_made_again_for_the_next(kafka_bootstrap: str) -> None:
    """kafka-python's idempotent producer can fail every send for good once it has failed one
    (its broker lost its producer state, an embedded broker restarted; here: closed under it).
    Before, every later dead letter failed as well, and the bridge and the connector runner, which
    retry a dead letter until it is written, retried for ever; a fresh producer writes it."""
    topic = small_topic(kafka_bootstrap, "deadletters-fresh-producer")
    dead_letters = DeadLetters.connect(kafka_bootstrap, consumer="test", topic=topic)
    letter = origin(7, value=b"v", headers=[])
    try:
        dead_letters._open_producer().close(timeout=1)  # a producer that can send no more
        with pytest.raises(DeadLetterError):
            dead_letters.send(letter, "first try")
        dead_letters.send(letter, "second try")
    finally:
        dead_letters.close()
    [written] = read_dead_letters(kafka_bootstrap, topic, expect=1)
    assert written.reason == "second try"
