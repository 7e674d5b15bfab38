"""Creating topics before anything subscribes to them.

A consumer group formed while its topic does not exist yet must rebalance again once the topic's
metadata arrives, and kafka-python 3.0 now and then never finishes that second rebalance: the
group then holds no partitions and consumes nothing. Creating topics first (deployments, tests)
and having consumers wait for them (the connector runner) avoids that path altogether.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

DEFAULT_PARTITIONS = 3


VISIBLE_WITHIN_S = 10.0
"""How long `ensure_topics` waits for topics it created to show in the cluster's metadata."""


def ensure_topics(
    bootstrap: str, topics: Iterable[str], *, partitions: int = DEFAULT_PARTITIONS
) -> None:
    """Create the topics that do not exist yet (replication 1 suits a single test broker), and
    return once every one shows in the cluster's metadata.

    The controller answers a creation before every broker's metadata has the topic: a consumer
    that looked in that moment (the bridge, `warmline services up`'s callers) would wait for it,
    and a producer's first send would wait too, so the wait is taken here, once.
    """
    wanted = list(topics)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        missing = [t for t in wanted if t not in set(admin.list_topics())]
        for topic in missing:
            try:
                admin.create_topics(
                    [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
                )
            except TopicAlreadyExistsError:
                continue
        deadline = time.monotonic() + VISIBLE_WITHIN_S
        while missing and time.monotonic() < deadline:
            listed = set(admin.list_topics())
            missing = [t for t in missing if t not in listed]
            if missing:
                time.sleep(0.05)
    finally:
        admin.close()


def delete_topics(bootstrap: str, topics: Iterable[str]) -> None:
    """Delete the topics that exist (a run's own, once it is over); one already gone is skipped.

    Raises `KafkaError` when the broker refuses or cannot be reached: a caller cleaning up after
    itself decides whether that hides anything."""
    wanted = list(topics)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        present = [t for t in wanted if t in set(admin.list_topics())]
        if present:
            admin.delete_topics(present)
    finally:
        admin.close()
