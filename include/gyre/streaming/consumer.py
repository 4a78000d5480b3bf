"""The stream consumer: read a batch, dead-letter what is malformed, apply the rest exactly once, push, ack.

Each step, in this order, is what makes a crash anywhere harmless:

1. read: this consumer's own pending events after a restart, stale events of a dead consumer
   (``claim_stale``, every ``claim_every_s``), then new ones;
2. validate with the endpoint's contract; a bad event goes to the dead-letter stream with its reason and is
   acked in the same MULTI/EXEC;
3. apply (``StateStore.apply``): aggregates and the transaction's ``done`` mark in one atomic commit; an
   event already done returns its stored rows instead;
4. push each entity's newest row to the online store through Feast;
5. ack. A crash before 3 re-applies the batch from the old state, after 3 re-pushes the same rows: no event
   is lost or counted twice.

A failed step leaves the batch pending (it is re-read from this consumer's pending list, with a back-off),
so a Redis or Postgres outage stalls the consumer instead of dropping events.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from gyre.streaming.events import event, parse
from gyre.streaming.metrics import StreamMetrics
from gyre.streaming.sink import FeastSink
from gyre.streaming.state import StateStore
from gyre.streaming.stream import Message, RedisStream

log = logging.getLogger(__name__)


@dataclass
class Step:
    """What one batch did."""

    read: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    pushed: int = 0


class Consumer:
    def __init__(
        self,
        stream: RedisStream,
        state: StateStore,
        sink: FeastSink,
        name: str,
        batch: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        claim_every_s: float = 5.0,
        metrics: StreamMetrics | None = None,
    ) -> None:
        self.stream = stream
        self.state = state
        self.sink = sink
        self.name = name
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.claim_every_s = claim_every_s
        self.metrics = metrics or StreamMetrics()
        self._next_claim = 0.0
        self._stop = False

    def _read(self) -> list[Message]:
        now = time.monotonic()
        if now >= self._next_claim:
            self._next_claim = now + self.claim_every_s
            claimed = self.stream.claim_stale(self.name, self.claim_idle_ms, self.batch)
            if claimed:
                self.metrics.claimed.inc(len(claimed))
                return claimed
        return self.stream.read(self.name, self.batch, self.block_ms)

    def step(self) -> Step:
        """One batch, read to ack; raises (leaving it pending) when applying or pushing fails."""
        messages = self._read()
        result = Step(read=len(messages))
        if not messages:
            return result
        began = time.perf_counter()
        events, ids = [], []
        for message in messages:
            transaction, reason = parse(message.fields)
            if transaction is None:
                self.stream.dead_letter(message, reason or "invalid")
                self.metrics.dead_letters.labels((reason or "invalid").split(":", 1)[0]).inc()
                result.dead_letters += 1
                continue
            events.append(event(transaction))
            ids.append(message.id)
        if events:
            applied = self.state.apply(events)
            result.pushed = self.sink.push(applied.rows)
            self.stream.ack(ids)
            result.applied, result.duplicates = applied.applied, applied.duplicates
            self.metrics.ready.set(1)
        self.metrics.events.labels("applied").inc(result.applied)
        self.metrics.events.labels("duplicate").inc(result.duplicates)
        self.metrics.events.labels("dead_letter").inc(result.dead_letters)
        self.metrics.batch_seconds.observe(time.perf_counter() - began)
        return result

    def stop(self) -> None:
        self._stop = True

    def run(self, max_idle_s: float | None = None) -> None:
        """Consume until ``stop()`` (or, with ``max_idle_s``, until the stream has been empty that long)."""
        self.stream.ensure_group()
        idle_since = time.monotonic()
        backoff = 0.5
        last_backlog = 0.0
        while not self._stop:
            try:
                done = self.step()
                backoff = 0.5
                now = time.monotonic()
                if now - last_backlog >= 5.0:
                    last_backlog = now
                    lag, pending = self.stream.backlog()
                    self.metrics.lag.set(lag)
                    self.metrics.pending.set(pending)
            except Exception:
                self.metrics.failures.inc()
                log.exception("batch failed; it stays pending and is retried in %.1f s", backoff)
                self.stream.retry_own_pending(self.name)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if done.read:
                idle_since = now
            elif max_idle_s is not None and now - idle_since >= max_idle_s:
                return
