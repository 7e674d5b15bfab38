"""Domain events: the CloudEvents warmline emits on Kafka and the types that name them."""

from warmline.events.types import EventType

__all__ = ["EventType"]
