"""The Redis live view: waiting escalations by queue, open offers by specialist, and claims.

Temporal is the source of truth; this view is a fast copy for specialist clients that can be lost
(a FLUSHALL, a restart without persistence, a failover) and rebuilt from Temporal with `rebuild`.
The escalation workflow applies its `EscalationView` after every change, with only the open offers
(`EscalationView.for_live_view`: the view keeps nothing of a closed one), so each apply replaces
everything the view knows about that escalation in one Lua script. An escalation whose
last apply failed is removed by `reconcile` (part of every `rebuild`) once its workflow has ended,
and so is a claim on a conversation whose workflow has ended.

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
- `P:claim-check:<tenant>:<conversation>`: the holder a reconcile saw before it asked Temporal
  whether the conversation still runs; every `claim` deletes it (TTL `CLAIM_CHECK_TTL`).
- `P:claim-in-use:<tenant>:<conversation>`: the holder, set by each of their claims, while an
  accept of theirs may still be running (TTL `CLAIM_IN_USE`); past it, a claim whose holder does
  not own the conversation can be taken over (`take_over_claim`).
- `P:built`: present once a rebuild finished; a FLUSHALL removes it.

The apply script computes no key from ids itself: Python builds every key, and the script keeps the
keys of what it stored so the next apply can remove them. All keys of one deployment therefore live
on one Redis node (use a hash tag prefix such as `{warmline}` on a cluster).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import redis
from pydantic import BaseModel
from redis.backoff import NoBackoff
from redis.client import PubSub
from redis.retry import Retry
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError, RPCStatusCode

from warmline.conversation import ConversationView
from warmline.conversation import workflow_id as conversation_workflow_id
from warmline.escalation import EscalationStatus, EscalationView, Offer

log = logging.getLogger(__name__)

ESCALATIONS_QUERY: Final = "WorkflowType = 'EscalationWorkflow' AND ExecutionStatus = 'Running'"
CONVERSATIONS_QUERY: Final = "WorkflowType = 'ConversationWorkflow' AND ExecutionStatus = 'Running'"
VIEW_QUERY: Final = "view"
"""The query name both workflows answer with their view."""

TOMBSTONE_TTL: Final = timedelta(days=1)
"""How long a finished escalation's last version outlives it: longer than any activity retry."""
SOCKET_TIMEOUT_S: Final = 2.0
QUERY_TIMEOUT: Final = timedelta(seconds=10)
"""How long a rebuild waits for one workflow's answer before it skips that workflow."""
REBUILD_CONCURRENCY: Final = 8
CLAIM_CHECK_TTL: Final = timedelta(minutes=5)
"""How long a reconcile's check of a claim stays valid: far longer than one `describe`."""
CLAIM_IN_USE: Final = timedelta(minutes=1)
"""How long a claim counts as backing an accept still running: an accept claims, then runs the
escalation's update for at most 15 s (`DeskService`'s RPC timeout), and a retried accept claims
again. A claim older than this whose holder does not own the conversation was left by a desk that
stopped between its claim and its accept."""
UNANSWERED: Final = frozenset({RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED})
"""How a query that ran out of time fails (CANCELLED is what the SDK's `rpc_timeout` gives)."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

_ModelT = TypeVar("_ModelT", bound=BaseModel)

# Both scripts: the escalation leaves the queue its record says it is listed in (KEYS[1]).
_LEAVE_QUEUE: Final = """
local queue_key = redis.call('HGET', KEYS[1], 'queue_key')
if queue_key then
  redis.call('ZREM', queue_key, redis.call('HGET', KEYS[1], 'member'))
  if redis.call('ZCARD', queue_key) == 0 then
    local queues_key = redis.call('HGET', KEYS[1], 'queues_key')
    redis.call('SREM', queues_key, redis.call('HGET', KEYS[1], 'queue'))
  end
end
redis.call('DEL', KEYS[1])
"""

# KEYS: 1 escalation record, 2 escalation offers, 3 version, 4 tombstone.
# ARGV: 1 version, 2 "1" while waiting, 3 view JSON, 4 queue key, 5 tenant's queues key,
# 6 queue name, 7 queue member, 8 queue score, 9 offers JSON, 10 tombstone TTL (s),
# 11 escalation id (the notification's message).
_APPLY: Final = (
    """
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

"""
    + _LEAVE_QUEUE
    + """
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
)

# What the final view of an ended escalation does, for an escalation whose workflow has ended
# without it: its offers, its queue entry and its version go, a tombstone keeps the version. Only
# if the version is still the one read before the workflow was seen to have ended: a newer apply
# (the escalation's id used again by a conversation's next run) is left alone.
# KEYS: as for _APPLY. ARGV: 1 the version read ('' for none), 2 tombstone TTL (s),
# 3 escalation id (the notification's message).
_BURY: Final = (
    """
local version = redis.call('GET', KEYS[3])
if (version or '') ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) == 0 then return 0 end
local changed = {}
local stored = redis.call('HGETALL', KEYS[2])
for i = 1, #stored, 2 do
  local where = cjson.decode(stored[i + 1])
  redis.call('DEL', where[1])
  redis.call('ZREM', where[2], stored[i])
  changed[where[3]] = true
end
redis.call('DEL', KEYS[2])
"""
    + _LEAVE_QUEUE
    + """
if version then
  redis.call('DEL', KEYS[3])
  local buried = tonumber(redis.call('GET', KEYS[4]) or '0')
  if tonumber(version) > buried then
    redis.call('SET', KEYS[4], version, 'EX', ARGV[2])
  end
end
for channel in pairs(changed) do redis.call('PUBLISH', channel, ARGV[3]) end
return 1
"""
)

# KEYS: 1 claim, 2 its check, 3 in use. ARGV: 1 specialist, 2 in-use TTL (s). Any claim, won or
# already held, voids a reconcile's check: the conversation may have started again since that
# reconcile asked Temporal. The holder's own claim marks the claim in use again.
_CLAIM: Final = """
redis.call('DEL', KEYS[2])
local holder = ARGV[1]
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then holder = redis.call('GET', KEYS[1]) end
if holder == ARGV[1] then redis.call('SET', KEYS[3], holder, 'EX', ARGV[2]) end
return holder
"""

# KEYS: 1 claim, 2 its check, 3 in use. ARGV: 1 the holder seen, 2 specialist, 3 in-use TTL (s).
# The claim passes to the specialist only if the holder seen still holds it and has not claimed
# it within the in-use TTL; a claim released meanwhile is simply taken. Returns the holder now.
_TAKE_OVER: Final = """
local holder = redis.call('GET', KEYS[1])
if holder and (holder ~= ARGV[1] or redis.call('EXISTS', KEYS[3]) == 1) then return holder end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[3])
return ARGV[2]
"""

# Before a reconcile asks Temporal whether a claim's conversation still runs: note the holder.
# KEYS: 1 claim, 2 its check. ARGV: 1 the check's TTL (s). Returns the holder, or nil.
_CHECK_CLAIM: Final = """
local holder = redis.call('GET', KEYS[1])
if holder then redis.call('SET', KEYS[2], holder, 'EX', ARGV[1]) end
return holder
"""

# The conversation has ended: drop the claim only if nobody claimed it since the check (the claim
# script deleted the check) and the holder is still the one checked.
# KEYS: 1 claim, 2 its check, 3 in use. ARGV: 1 the holder checked.
_END_CLAIM: Final = """
local checked = redis.call('GET', KEYS[2])
redis.call('DEL', KEYS[2])
if checked ~= ARGV[1] or redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[3])
return redis.call('DEL', KEYS[1])
"""

# KEYS: 1 claim, 2 its check, 3 in use. ARGV: 1 the specialist releasing.
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[3])
return redis.call('DEL', KEYS[1])
"""


def _part(value: str) -> str:
    """One id inside a key: escaped so that no id can reach into another key's name."""
    return value.replace("%", "%25").replace(":", "%3A")


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _seconds(duration: timedelta) -> int:
    return int(duration.total_seconds())


def _text(value: object) -> str:
    """A reply as text, whether or not the client decodes responses."""
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _unescape(part: str) -> str:
    return part.replace("%3A", ":").replace("%25", "%")


def _glob(text: str) -> str:
    """`text` matched literally by a Redis glob pattern."""
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did."""

    applied: int
    """Escalation views applied (a view already newer in Redis is not)."""
    removed: tuple[str, ...] = ()
    """Escalations whose workflow no longer runs (in scope), removed from the view."""
    skipped: tuple[str, ...] = ()
    """Workflows that did not answer their query in time or failed it; left as they were."""
    released: tuple[str, ...] = ()
    """Conversation workflows that no longer run whose claim was released."""


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
        self._bury = client.register_script(_BURY)
        self._claim = client.register_script(_CLAIM)
        self._take_over = client.register_script(_TAKE_OVER)
        self._release = client.register_script(_RELEASE)
        self._check_claim = client.register_script(_CHECK_CLAIM)
        self._end_claim = client.register_script(_END_CLAIM)

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

    def _claim_keys(self, tenant_id: str, conversation_id: str) -> list[str]:
        """The claim, its reconcile check and its in-use mark (every claim script's keys)."""
        ids = (_part(tenant_id), _part(conversation_id))
        return [
            self._key("claim", *ids),
            self._key("claim-check", *ids),
            self._key("claim-in-use", *ids),
        ]

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
            for offer in view.live_offers()
        ]
        applied = self._apply(
            keys=self._escalation_keys(view.escalation_id),
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
                _seconds(TOMBSTONE_TTL),
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
        """Claim the conversation for `specialist_id`; returns whoever holds the claim now. The
        holder's claim (won now or held already) marks it in use for `CLAIM_IN_USE`."""
        holder = self._claim(
            keys=self._claim_keys(tenant_id, conversation_id),
            args=[specialist_id, _seconds(CLAIM_IN_USE)],
        )
        return _text(holder)

    def claim_in_use(self, tenant_id: str, conversation_id: str) -> bool:
        """Whether the claim's holder claimed it within `CLAIM_IN_USE` (an accept may run)."""
        return bool(self._client.exists(self._claim_keys(tenant_id, conversation_id)[2]))

    def take_over_claim(
        self, tenant_id: str, conversation_id: str, holder: str, specialist_id: str
    ) -> str:
        """Pass `holder`'s claim to `specialist_id` unless `holder` claimed it within
        `CLAIM_IN_USE` or no longer holds it; returns whoever holds the claim now.

        For a claim left by a desk that stopped between its claim and its accept: the caller has
        checked that `holder` does not own the conversation. Without this, nobody else could
        accept the conversation until it ended.
        """
        now = self._take_over(
            keys=self._claim_keys(tenant_id, conversation_id),
            args=[holder, specialist_id, _seconds(CLAIM_IN_USE)],
        )
        return _text(now)

    def release_claim(self, tenant_id: str, conversation_id: str, specialist_id: str) -> bool:
        """Release the claim if `specialist_id` holds it; True if it was released."""
        released = self._release(
            keys=self._claim_keys(tenant_id, conversation_id), args=[specialist_id]
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

    async def rebuild(
        self,
        client: Client,
        *,
        task_queue: str | None = None,
        query_timeout: timedelta = QUERY_TIMEOUT,
    ) -> Rebuilt:
        """Apply every running escalation's view, remove the escalations that no longer run
        (`reconcile`), restore the claims of owned conversations and release those of conversations
        that no longer run; then set the built marker.

        With `task_queue`, only the workflows of that task queue (one deployment) are read, and an
        escalation of the view that runs on another task queue is removed as not this deployment's.

        A workflow that does not answer its query within `query_timeout` (its workers are down) or
        fails it is skipped and logged: its own next change applies it once its workers are back.
        Anything else that fails (Temporal or Redis unreachable) fails the rebuild before the
        marker is set, so it is simply run again.
        """
        gate = asyncio.Semaphore(REBUILD_CONCURRENCY)
        skipped: list[str] = []

        async def rebuild_escalation(workflow_id: str, run_id: str | None) -> bool:
            async with gate:
                view = await _answer(
                    client, workflow_id, run_id, EscalationView, query_timeout, skipped
                )
                if view is None:
                    return False
                # The query shows every offer of the run; the view keeps the open ones.
                return await asyncio.to_thread(self.apply, view.for_live_view())

        async def restore_claim(workflow_id: str, run_id: str | None) -> None:
            ids = parse_conversation_workflow_id(workflow_id)
            if ids is None:
                return
            async with gate:
                view = await _answer(
                    client, workflow_id, run_id, ConversationView, query_timeout, skipped
                )
                if view is not None and view.owner is not None:
                    await asyncio.to_thread(self.claim, *ids, view.owner)

        scope = _scope(task_queue)
        escalations = [
            (e.id, e.run_id) async for e in client.list_workflows(ESCALATIONS_QUERY + scope)
        ]
        applied = await asyncio.gather(*(rebuild_escalation(*e) for e in escalations))
        removed = await self._bury_ended(
            client, {workflow_id for workflow_id, _ in escalations}, task_queue
        )
        conversations = [
            (c.id, c.run_id) async for c in client.list_workflows(CONVERSATIONS_QUERY + scope)
        ]
        await asyncio.gather(*(restore_claim(*c) for c in conversations))
        released = await self._release_ended_claims(client, {c for c, _ in conversations})
        await asyncio.to_thread(self._client.set, self._built_key(), datetime.now(UTC).isoformat())
        return Rebuilt(
            applied=sum(applied),
            removed=removed,
            skipped=tuple(sorted(skipped)),
            released=released,
        )

    async def reconcile(self, client: Client, *, task_queue: str | None = None) -> tuple[str, ...]:
        """Remove from the view every escalation whose workflow no longer runs; returns their ids.
        Release every claim whose conversation's workflow no longer runs too (logged).

        An escalation's last apply (accepted, cancelled) can fail for good (Redis unreachable for
        longer than the activity's few attempts): nothing else would then take it out of its
        queue or close its offers. Each such escalation gets what its final view would have done
        (see `_BURY`). With `task_queue`, one running on another task queue is removed too.
        Likewise a conversation can end without freeing its owner's slot (terminated, timed out,
        or freed by a history from before the free named the tenant): its claim would refuse
        everyone else's accept when the customer writes again. Workflows are only read, not
        queried, so this is cheap enough to run at every worker start; the built marker is left
        as it is.
        """
        running = {
            e.id async for e in client.list_workflows(ESCALATIONS_QUERY + _scope(task_queue))
        }
        removed = await self._bury_ended(client, running, task_queue)
        await self._release_ended_claims(client, set())
        return removed

    async def _release_ended_claims(self, client: Client, running: set[str]) -> tuple[str, ...]:
        """Release the claims on conversations whose workflow, asked by id, no longer runs (those
        in `running`, workflow ids listed as running, are not asked); returns their workflow ids.

        A claim on a running conversation stays whoever holds it, whatever task queue it runs
        on: an accept claims before its escalation's `accept` update, so a claim can precede its
        owner. The holder is noted before Temporal is asked and the claim dropped only if nobody
        claimed it since (`_CHECK_CLAIM`, `_END_CLAIM`): the customer may have written again, and
        the new run's specialist accepted, meanwhile.
        """
        gate = asyncio.Semaphore(REBUILD_CONCURRENCY)

        async def release_if_ended(tenant_id: str, conversation_id: str) -> str | None:
            workflow_id = conversation_workflow_id(tenant_id, conversation_id)
            keys = self._claim_keys(tenant_id, conversation_id)
            async with gate:
                holder = await asyncio.to_thread(
                    self._check_claim, keys=keys, args=[_seconds(CLAIM_CHECK_TTL)]
                )
                if holder is None:
                    return None
                why = await _has_ended(client, workflow_id)
                if why is None:
                    # Still running: leave the check to expire; the next claim deletes it anyway.
                    return None
                ended = await asyncio.to_thread(self._end_claim, keys=keys, args=[_text(holder)])
            if not ended:
                return None
            log.warning("live view: released %s's claim on %s: %s", _text(holder), workflow_id, why)
            return workflow_id

        claims = await asyncio.to_thread(self._claims_held)
        candidates = sorted(c for c in claims if conversation_workflow_id(*c) not in running)
        released = await asyncio.gather(*(release_if_ended(*c) for c in candidates))
        return tuple(w for w in released if w is not None)

    def _claims_held(self) -> set[tuple[str, str]]:
        """(tenant id, conversation id) of every claim the view holds."""
        start = f"{self._key('claim')}:"
        found: set[tuple[str, str]] = set()
        for key in self._client.scan_iter(match=f"{_glob(start)}*", count=500):
            tenant, _, conversation = _text(key).removeprefix(start).partition(":")
            if tenant and conversation and ":" not in conversation:
                found.add((_unescape(tenant), _unescape(conversation)))
        return found

    async def _bury_ended(
        self, client: Client, running: set[str], task_queue: str | None
    ) -> tuple[str, ...]:
        """Bury the view's escalations that are not in `running` and, asked one by one, have
        ended (visibility lags: one listed late is still running and stays)."""
        gate = asyncio.Semaphore(REBUILD_CONCURRENCY)

        async def bury_if_ended(escalation_id: str) -> bool:
            keys = self._escalation_keys(escalation_id)
            async with gate:
                # Read before asking Temporal: a new run that applies after this read changes the
                # version, and the script then leaves it alone.
                seen = await asyncio.to_thread(self._client.get, keys[2])
                why = await _not_running(client, escalation_id, task_queue)
                if why is None:
                    return False
                buried = await asyncio.to_thread(
                    self._bury,
                    keys=keys,
                    args=[
                        "" if seen is None else _text(seen),
                        _seconds(TOMBSTONE_TTL),
                        escalation_id,
                    ],
                )
            if buried:
                log.warning("live view: removed escalation %s: %s", escalation_id, why)
            return bool(buried)

        listed = await asyncio.to_thread(self._escalations_listed)
        candidates = sorted(listed - running)
        buried = await asyncio.gather(*(bury_if_ended(e) for e in candidates))
        return tuple(e for e, done in zip(candidates, buried, strict=True) if done)

    def _escalations_listed(self) -> set[str]:
        """The ids of every escalation the view holds anything of but a tombstone."""
        start = f"{self._key('escalation')}:"
        found: set[str] = set()
        for key in self._client.scan_iter(match=f"{_glob(start)}*", count=500):
            escaped, _, suffix = _text(key).removeprefix(start).partition(":")
            if suffix != "tombstone":
                found.add(_unescape(escaped))
        return found

    def _escalation_keys(self, escalation_id: str) -> list[str]:
        escalation = self._escalation_key(escalation_id)
        return [
            escalation,
            f"{escalation}:offers",
            f"{escalation}:version",
            f"{escalation}:tombstone",
        ]

    def _models(self, model: type[_ModelT], keys: list[str]) -> list[_ModelT]:
        if not keys:
            return []
        raws = self._client.mget(keys)
        return [model.model_validate_json(raw) for raw in raws if raw is not None]


async def _query(
    client: Client,
    workflow_id: str,
    run_id: str | None,
    result_type: type[_ModelT],
    rpc_timeout: timedelta = QUERY_TIMEOUT,
) -> _ModelT | None:
    """A workflow's `view`, or None if the workflow is gone since it was listed."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    try:
        view: _ModelT = await handle.query(
            VIEW_QUERY, result_type=result_type, rpc_timeout=rpc_timeout
        )
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    return view


async def _answer(
    client: Client,
    workflow_id: str,
    run_id: str | None,
    result_type: type[_ModelT],
    rpc_timeout: timedelta,
    skipped: list[str],
) -> _ModelT | None:
    """The workflow's view; None (and `workflow_id` in `skipped`) if it cannot answer."""
    try:
        return await _query(client, workflow_id, run_id, result_type, rpc_timeout)
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as error:
        reason = f"its {VIEW_QUERY} query failed: {error}"
    except RPCError as error:
        if error.status not in UNANSWERED:
            raise
        reason = f"it did not answer within {rpc_timeout.total_seconds():g} s (are its workers up?)"
    log.warning("live view rebuild skipped %s: %s", workflow_id, reason)
    skipped.append(workflow_id)
    return None


async def _not_running(client: Client, workflow_id: str, task_queue: str | None) -> str | None:
    """Why the workflow's latest run is not one of this deployment's running workflows; None if
    it is running (on `task_queue`, if given)."""
    description = await _describe(client, workflow_id)
    if description is None:
        return _GONE
    status = description.status
    if status is not WorkflowExecutionStatus.RUNNING:
        return f"{_ended(status)}, and its last view never reached the live view"
    if task_queue is not None and description.task_queue != task_queue:
        return f"it runs on task queue {description.task_queue!r}, another deployment's"
    return None


_GONE: Final = "its workflow is gone (ended longer ago than the namespace keeps histories)"


async def _describe(client: Client, workflow_id: str) -> WorkflowExecutionDescription | None:
    """The workflow's latest run, or None if Temporal no longer knows the workflow."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.describe(rpc_timeout=QUERY_TIMEOUT)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise


def _ended(status: WorkflowExecutionStatus | None) -> str:
    return f"its workflow has {status.name.lower() if status is not None else 'ended'}"


async def _has_ended(client: Client, workflow_id: str) -> str | None:
    """Why the workflow's latest run no longer runs; None while it runs (on any task queue)."""
    description = await _describe(client, workflow_id)
    if description is None:
        return _GONE
    if description.status is not WorkflowExecutionStatus.RUNNING:
        return _ended(description.status)
    return None


def _scope(task_queue: str | None) -> str:
    """The visibility filter for one deployment's workflows (none: the whole namespace)."""
    if task_queue is None:
        return ""
    quoted = task_queue.replace("\\", "\\\\").replace("'", "\\'")
    return f" AND TaskQueue = '{quoted}'"
