"""Gold labels: the agreed labels of annotated items, which retraining learns from.

The annotation workflow records each gold label here (through an activity) and emits it as an
event; the retraining workflow reads them back by position. A Redis stream per deployment and
taxonomy keeps them in order; an item's gold label is recorded once (a set of item ids guards
against a retried activity counting it twice). Recording is idempotent: the same label again (an
activity retried after its first attempt kept the label but was lost) is answered as recorded,
and kept once, so the workflow still counts it and emits its event; another label for the item
is not kept.

Keys, under `<prefix>:<deployment>:<taxonomy>`:
- `...:stream` (stream): one entry per gold label, field `label` = the JSON of `GoldLabel`.
- `...:items` (set): item ids already recorded.
- `...:digests` (hash): item id -> SHA-256 of the label recorded for it (labels recorded before
  the digests were kept have none: a repeat of one of those reads as another label).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from redis import Redis

DEFAULT_PREFIX = "warmline:gold"

_RECORD = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  if redis.call('HGET', KEYS[3], ARGV[1]) == ARGV[3] then return 1 end
  return 0
end
redis.call('XADD', KEYS[1], '*', 'label', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
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

    def _keys(self, taxonomy: str) -> tuple[str, str, str]:
        base = self._prefix + taxonomy
        return f"{base}:stream", f"{base}:items", f"{base}:digests"

    def record(self, label: GoldLabel) -> bool:
        """Keep the label; True also when this very label was kept before (a retry), False
        (nothing kept) when the item already has another one."""
        data = label.model_dump_json()
        digest = hashlib.sha256(data.encode()).hexdigest()
        kept = self._record(keys=self._keys(label.taxonomy), args=[label.item_id, data, digest])
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
