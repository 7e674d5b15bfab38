"""Creating topics before anything subscribes to them.

A consumer group formed while its topic does not exist yet must rebalance again once the topic's
metadata arrives, and kafka-python 3.0 now and then never finishes that second rebalance: the
group then holds no partitions and consumes nothing. Creating topics first (deployments, tests)
and having consumers wait for them (the connector runner) avoids that path altogether.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

DEFAULT_PARTITIONS = 3


def ensure_topics(
    bootstrap: str, topics: Iterable[str], *, partitions: int = DEFAULT_PARTITIONS
) -> None:
    """Create the topics that do not exist yet (replication 1 suits a single test broker)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        missing = [t for t in topics if t not in set(admin.list_topics())]
        for topic in missing:
            try:
                admin.create_topics(
                    [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
                )
            except TopicAlreadyExistsError:
                continue
    finally:
        admin.close()
