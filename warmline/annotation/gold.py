"""Gold labels: the agreed labels of annotated items, which retraining learns from.

The annotation workflow records each gold label here (through an activity) and emits it as an
event; the retraining workflow reads them back by position. A Redis stream per deployment and
taxonomy keeps them in order; an item's gold label is recorded once (a set of item ids guards
against a retried activity counting it twice).

Keys, under `<prefix>:<deployment>:<taxonomy>`:
- `...:stream` (stream): one entry per gold label, field `label` = the JSON of `GoldLabel`.
- `...:items` (set): item ids already recorded.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from redis import Redis

DEFAULT_PREFIX = "warmline:gold"

_RECORD = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[1], '*', 'label', ARGV[2])
return 1
"""


class GoldLabel(BaseModel):
    """The agreed labels of one item, in the model's taxonomy."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    text: str
    """The redacted text the annotators saw (what the model trains on)."""
    labels: list[str]
    """Labels in the model's taxonomy (after the configured label mapping)."""
    taxonomy: str
    """The model taxonomy: `original`, `group` or `ekman`."""
    source: str
    """Why the item was sampled (low_confidence, escalation, crisis, random, disagreement,
    correction)."""
    alpha: float | None = None
    """Krippendorff's alpha of the item's batch when the label was agreed."""
    adjudicated: bool = False
    annotators: list[str] = Field(default_factory=list)
    model_version: str | None = None
    """The model whose triage was annotated."""
    created_at: datetime
    candidate_labels: list[str] = Field(default_factory=list)
    """A specialist's correction that put the item in the loop (model taxonomy), if any."""


class GoldLabelStore:
    """The gold labels of one deployment, per taxonomy."""

    def __init__(self, client: Redis, *, deployment: str, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = f"{prefix}:{deployment}:"
        self._record = client.register_script(_RECORD)

    @classmethod
    def connect(cls, url: str, *, deployment: str, prefix: str = DEFAULT_PREFIX) -> GoldLabelStore:
        return cls(Redis.from_url(url), deployment=deployment, prefix=prefix)

    def _keys(self, taxonomy: str) -> tuple[str, str]:
        base = self._prefix + taxonomy
        return f"{base}:stream", f"{base}:items"

    def record(self, label: GoldLabel) -> bool:
        """Keep the label; False (nothing kept) when the item already has one."""
        kept = self._record(
            keys=self._keys(label.taxonomy), args=[label.item_id, label.model_dump_json()]
        )
        return bool(kept)

    def count(self, taxonomy: str) -> int:
        return int(self._client.xlen(self._keys(taxonomy)[0]))

    def read(self, taxonomy: str, *, start: int = 0, limit: int | None = None) -> list[GoldLabel]:
        """Gold labels in the order recorded, from position `start` (0 = the first)."""
        stream = self._keys(taxonomy)[0]
        entries: list[tuple[bytes, dict[bytes, bytes]]] = self._client.xrange(stream)  # type: ignore[assignment]
        end = None if limit is None else start + limit
        return [GoldLabel.model_validate_json(fields[b"label"]) for _, fields in entries[start:end]]

    def close(self) -> None:
        self._client.close()
