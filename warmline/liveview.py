"""The Redis live view: waiting escalations by queue, open offers by specialist, and claims.

Temporal is the source of truth; this view is a fast copy for specialist clients that can be lost
(a FLUSHALL, a restart without persistence, a failover) and rebuilt from Temporal with `rebuild`.
The escalation workflow applies its whole `EscalationView` after every change, so each apply
replaces everything the view knows about that escalation in one Lua script.

Keys, under the prefix `P` (ids are escaped: `%` becomes `%25` and `:` becomes `%3A`):

- `P:escalation:<escalation>` (hash): a waiting escalation's `view` (JSON) and where it is listed
  (`queue`, `queue_key`, `queues_key`, `member`).
- `P:escalation:<escalation>:offers` (hash): offer id → JSON `[offer key, index key, channel]`.
- `P:escalation:<escalation>:version`: the applied version while waiting (no TTL).
- `P:escalation:<escalation>:tombstone`: the last version once no longer waiting (TTL one day).
- `P:offer:<offer>`: an open offer (JSON of `Offer`).
- `P:specialist:<specialist>:offers` (sorted set): open offer ids, scored by `expires_at`.
- `P:specialist:<specialist>:changed` (channel): the escalation id, when the offers change.
- `P:queue:<tenant>:<queue>` (sorted set): waiting escalations, scored by `-priority`, member
  `<entered_queue_at in µs, 20 digits>|<escalation>` (equal scores sort by member).
- `P:tenant:<tenant>:queues` (set): the tenant's queues with someone waiting.
- `P:claim:<tenant>:<conversation>`: the specialist holding the claim (no TTL).
- `P:built`: present once a rebuild finished; a FLUSHALL removes it.

The apply script computes no key from ids itself: Python builds every key, and the script keeps the
keys of what it stored so the next apply can remove them. All keys of one deployment therefore live
on one Redis node (use a hash tag prefix such as `{warmline}` on a cluster).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import redis
from pydantic import BaseModel
from redis.backoff import NoBackoff
from redis.client import PubSub
from redis.retry import Retry
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from warmline.conversation import ConversationView
from warmline.escalation import EscalationStatus, EscalationView, Offer, OfferStatus

ESCALATIONS_QUERY: Final = "WorkflowType = 'EscalationWorkflow' AND ExecutionStatus = 'Running'"
CONVERSATIONS_QUERY: Final = "WorkflowType = 'ConversationWorkflow' AND ExecutionStatus = 'Running'"
VIEW_QUERY: Final = "view"
"""The query name both workflows answer with their view."""

TOMBSTONE_TTL: Final = timedelta(days=1)
"""How long a finished escalation's last version outlives it: longer than any activity retry."""
SOCKET_TIMEOUT_S: Final = 2.0
QUERY_TIMEOUT: Final = timedelta(seconds=10)
"""A rebuild fails (and can be run again) rather than hang on a workflow with no worker."""
REBUILD_CONCURRENCY: Final = 8

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

_ModelT = TypeVar("_ModelT", bound=BaseModel)

# KEYS: 1 escalation record, 2 escalation offers, 3 version, 4 tombstone.
# ARGV: 1 version, 2 "1" while waiting, 3 view JSON, 4 queue key, 5 tenant's queues key,
# 6 queue name, 7 queue member, 8 queue score, 9 offers JSON, 10 tombstone TTL (s),
# 11 escalation id (the notification's message).
_APPLY: Final = """
local version = tonumber(ARGV[1])
local function number_at(key)
  local value = redis.call('GET', key)
  if value then return tonumber(value) end
  return nil
end
local current = number_at(KEYS[3])
local buried = number_at(KEYS[4])
if buried and (current == nil or buried > current) then current = buried end
if current and current >= version then return 0 end

local changed = {}
local offers = cjson.decode(ARGV[9])
local keep = {}
for _, offer in ipairs(offers) do keep[offer.id] = offer end
local stored = redis.call('HGETALL', KEYS[2])
for i = 1, #stored, 2 do
  local id = stored[i]
  local where = cjson.decode(stored[i + 1])
  local offer = keep[id]
  if offer == nil or offer.index ~= where[2] then
    redis.call('DEL', where[1])
    redis.call('ZREM', where[2], id)
    changed[where[3]] = true
  end
end
redis.call('DEL', KEYS[2])
for _, offer in ipairs(offers) do
  if redis.call('GET', offer.key) ~= offer.json then
    redis.call('SET', offer.key, offer.json)
    redis.call('ZADD', offer.index, offer.score, offer.id)
    changed[offer.channel] = true
  end
  redis.call('HSET', KEYS[2], offer.id, cjson.encode({offer.key, offer.index, offer.channel}))
end

local queue_key = redis.call('HGET', KEYS[1], 'queue_key')
if queue_key then
  redis.call('ZREM', queue_key, redis.call('HGET', KEYS[1], 'member'))
  if redis.call('ZCARD', queue_key) == 0 then
    local queues_key = redis.call('HGET', KEYS[1], 'queues_key')
    redis.call('SREM', queues_key, redis.call('HGET', KEYS[1], 'queue'))
  end
end
redis.call('DEL', KEYS[1])
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'view', ARGV[3], 'queue_key', ARGV[4], 'queues_key', ARGV[5],
    'queue', ARGV[6], 'member', ARGV[7])
  redis.call('ZADD', ARGV[4], ARGV[8], ARGV[7])
  redis.call('SADD', ARGV[5], ARGV[6])
  redis.call('SET', KEYS[3], ARGV[1])
else
  redis.call('DEL', KEYS[3])
  redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[10])
end
for channel in pairs(changed) do redis.call('PUBLISH', channel, ARGV[11]) end
return 1
"""

_CLAIM: Final = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return ARGV[1] end
return redis.call('GET', KEYS[1])
"""

_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _part(value: str) -> str:
    """One id inside a key: escaped so that no id can reach into another key's name."""
    return value.replace("%", "%25").replace(":", "%3A")


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _text(value: object) -> str:
    """A reply as text, whether or not the client decodes responses."""
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def parse_conversation_workflow_id(workflow_id: str) -> tuple[str, str] | None:
    """(tenant id, conversation id) of `conversation/<tenant>/<conversation>`, else None."""
    kind, _, rest = workflow_id.partition("/")
    tenant_id, _, conversation_id = rest.partition("/")
    if kind != "conversation" or not tenant_id or not conversation_id:
        return None
    return tenant_id, conversation_id


class LiveView:
    """The live view of one deployment, under one key prefix."""

    def __init__(self, client: redis.Redis, *, prefix: str = "warmline") -> None:
        self._client = client
        self._prefix = prefix
        self._apply = client.register_script(_APPLY)
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

    @classmethod
    def connect(cls, url: str, *, prefix: str = "warmline") -> LiveView:
        """A live view on `url` whose client retries nothing: Temporal retries the activity."""
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
        )
        return cls(client, prefix=prefix)

    def close(self) -> None:
        self._client.close()

    # --- keys -------------------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    def _escalation_key(self, escalation_id: str) -> str:
        return self._key("escalation", _part(escalation_id))

    def _offer_key(self, offer_id: str) -> str:
        return self._key("offer", _part(offer_id))

    def _offers_index_key(self, specialist_id: str) -> str:
        return self._key("specialist", _part(specialist_id), "offers")

    def _channel(self, specialist_id: str) -> str:
        return self._key("specialist", _part(specialist_id), "changed")

    def _queue_key(self, tenant_id: str, queue: str) -> str:
        return self._key("queue", _part(tenant_id), _part(queue))

    def _queues_key(self, tenant_id: str) -> str:
        return self._key("tenant", _part(tenant_id), "queues")

    def _claim_key(self, tenant_id: str, conversation_id: str) -> str:
        return self._key("claim", _part(tenant_id), _part(conversation_id))

    def _built_key(self) -> str:
        return self._key("built")

    # --- the escalation workflow's side -----------------------------------------------------------

    def apply(self, view: EscalationView) -> bool:
        """Replace everything known about `view`'s escalation; False if a newer view was applied.

        Only a waiting escalation is listed in its queue and keeps its open offers: once accepted
        or cancelled, nothing of it stays but its tombstone.
        """
        waiting = view.status is EscalationStatus.WAITING
        offers = [
            {
                "id": offer.offer_id,
                "key": self._offer_key(offer.offer_id),
                "index": self._offers_index_key(offer.specialist_id),
                "channel": self._channel(offer.specialist_id),
                "score": repr(_micros(offer.expires_at) / 1_000_000),
                "json": offer.model_dump_json(),
            }
            for offer in view.offers
            if waiting and offer.status is OfferStatus.OPEN
        ]
        escalation = self._escalation_key(view.escalation_id)
        applied = self._apply(
            keys=[
                escalation,
                f"{escalation}:offers",
                f"{escalation}:version",
                f"{escalation}:tombstone",
            ],
            args=[
                view.version,
                "1" if waiting else "0",
                view.model_dump_json(),
                self._queue_key(view.tenant_id, view.queue),
                self._queues_key(view.tenant_id),
                view.queue,
                f"{_micros(view.entered_queue_at):020d}|{view.escalation_id}",
                -view.priority,
                json.dumps(offers),
                int(TOMBSTONE_TTL.total_seconds()),
                view.escalation_id,
            ],
        )
        return bool(applied)

    # --- the specialists' side --------------------------------------------------------------------

    def offers_for(self, specialist_id: str) -> list[Offer]:
        """The specialist's open offers not yet past `expires_at`, soonest expiry first."""
        now = time.time()
        ids = self._client.zrangebyscore(self._offers_index_key(specialist_id), f"({now}", "+inf")
        offers = self._models(Offer, [self._offer_key(_text(i)) for i in ids])
        return [offer for offer in offers if offer.expires_at.timestamp() > now]

    def offer(self, offer_id: str) -> Offer | None:
        """An open offer by id, or None once it is no longer open."""
        raw = self._client.get(self._offer_key(offer_id))
        return None if raw is None else Offer.model_validate_json(raw)

    def waiting(self, tenant_id: str, queue: str) -> list[EscalationView]:
        """The queue's waiting escalations: highest priority first, then longest waiting."""
        members = self._client.zrange(self._queue_key(tenant_id, queue), 0, -1)
        escalation_ids = [_text(member).split("|", 1)[1] for member in members]
        pipe = self._client.pipeline(transaction=False)
        for escalation_id in escalation_ids:
            pipe.hget(self._escalation_key(escalation_id), "view")
        views: list[Any] = pipe.execute()
        # An escalation can leave between the two reads; it is simply no longer listed.
        return [EscalationView.model_validate_json(v) for v in views if v is not None]

    def queue_depths(self, tenant_id: str) -> dict[str, int]:
        """How many escalations wait in each of the tenant's queues (queues nobody waits in are
        left out)."""
        queues = sorted(_text(q) for q in self._client.smembers(self._queues_key(tenant_id)))
        pipe = self._client.pipeline(transaction=False)
        for queue in queues:
            pipe.zcard(self._queue_key(tenant_id, queue))
        depths: list[Any] = pipe.execute()
        return {queue: int(depth) for queue, depth in zip(queues, depths, strict=True) if depth}

    def claim(self, tenant_id: str, conversation_id: str, specialist_id: str) -> str:
        """Claim the conversation for `specialist_id`; returns whoever holds the claim now."""
        holder = self._claim(
            keys=[self._claim_key(tenant_id, conversation_id)], args=[specialist_id]
        )
        return _text(holder)

    def release_claim(self, tenant_id: str, conversation_id: str, specialist_id: str) -> bool:
        """Release the claim if `specialist_id` holds it; True if it was released."""
        released = self._release(
            keys=[self._claim_key(tenant_id, conversation_id)], args=[specialist_id]
        )
        return bool(released)

    def claim_holder(self, tenant_id: str, conversation_id: str) -> str | None:
        holder = self._client.get(self._claim_key(tenant_id, conversation_id))
        return None if holder is None else _text(holder)

    def wait_for_change(self, specialist_id: str, timeout_s: float) -> bool:
        """Block until the specialist's offers change or `timeout_s` passes; True on a change.

        Only changes after the subscription count: a caller re-reads `offers_for` after every
        return, whether it woke or timed out, so a change between its read and this call costs at
        most one timeout.
        """
        deadline = time.monotonic() + timeout_s
        pubsub: PubSub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self._channel(specialist_id))
            while (left := deadline - time.monotonic()) > 0:
                # Wait in slices shorter than the socket timeout, which also bounds pub/sub reads.
                if pubsub.get_message(timeout=min(left, SOCKET_TIMEOUT_S / 2)) is not None:
                    return True
            return False
        finally:
            pubsub.close()

    def is_built(self) -> bool:
        """Whether a rebuild completed since the view was last lost."""
        return bool(self._client.exists(self._built_key()))

    # --- rebuilding from Temporal -----------------------------------------------------------------

    async def rebuild(self, client: Client, *, task_queue: str | None = None) -> int:
        """Apply every running escalation's view and restore the claims of owned conversations.

        With `task_queue`, only the workflows of that task queue (one deployment) are read.

        Returns how many escalation views were applied (a view already newer in Redis is not).
        The marker is set only once everything was read, so a failed rebuild is simply run again.
        """
        gate = asyncio.Semaphore(REBUILD_CONCURRENCY)

        async def rebuild_escalation(workflow_id: str, run_id: str | None) -> bool:
            async with gate:
                view = await _query(client, workflow_id, run_id, EscalationView)
                return view is not None and await asyncio.to_thread(self.apply, view)

        async def restore_claim(workflow_id: str, run_id: str | None) -> None:
            ids = parse_conversation_workflow_id(workflow_id)
            if ids is None:
                return
            async with gate:
                view = await _query(client, workflow_id, run_id, ConversationView)
                if view is not None and view.owner is not None:
                    await asyncio.to_thread(self.claim, *ids, view.owner)

        scope = f" AND TaskQueue = '{task_queue}'" if task_queue else ""
        escalations = [
            (e.id, e.run_id) async for e in client.list_workflows(ESCALATIONS_QUERY + scope)
        ]
        applied = await asyncio.gather(*(rebuild_escalation(*e) for e in escalations))
        conversations = [
            (c.id, c.run_id) async for c in client.list_workflows(CONVERSATIONS_QUERY + scope)
        ]
        await asyncio.gather(*(restore_claim(*c) for c in conversations))
        await asyncio.to_thread(self._client.set, self._built_key(), datetime.now(UTC).isoformat())
        return sum(applied)

    def _models(self, model: type[_ModelT], keys: list[str]) -> list[_ModelT]:
        if not keys:
            return []
        raws = self._client.mget(keys)
        return [model.model_validate_json(raw) for raw in raws if raw is not None]


async def _query(
    client: Client, workflow_id: str, run_id: str | None, result_type: type[_ModelT]
) -> _ModelT | None:
    """A workflow's `view`, or None if the workflow is gone since it was listed."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    try:
        view: _ModelT = await handle.query(
            VIEW_QUERY, result_type=result_type, rpc_timeout=QUERY_TIMEOUT
        )
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    return view
