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

With a scorer (the champion, ``gyre.serving.runtime.Runtime``: the endpoint's feature read, model and
prediction log), each event is scored on the state *before* it, the state training's point-in-time join gives
it: the whole batch is scored at once, between the state's read and its commit, on the online store for an
entity the batch has not touched yet, and otherwise on the newest row the batch's earlier events left it that
was available at the event's time (``held_before``): what the online store would hold had each event been
written before the next. An event already applied (a redelivery, a replay) is neither scored nor logged again.

A failed step leaves the batch pending (it is re-read from this consumer's pending list, with a back-off),
so a Redis or Postgres outage stalls the consumer instead of dropping events.
"""

from __future__ import annotations

import bisect
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gyre.serving.features import HeldRow
from gyre.serving.schema import Transaction
from gyre.streaming.aggregate import Event, Row
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
    scored: int = 0


class Scorer(Protocol):
    """Scores and logs transactions (``Runtime.score``); raises ``NotReady`` while there is no champion."""

    def score(self, transactions: Sequence[Transaction], held: Sequence[Sequence[HeldRow]]) -> list[Any]: ...


def held_before(rows_of: Mapping[str, list[Row]]) -> dict[str, list[HeldRow]]:
    """For each transaction of a batch (``rows_of`` in the order applied), the rows of its entities that the
    batch's earlier transactions left and that were available at its time: per entity the newest of them, as
    Feast's point-in-time join picks it (rows of one entity at the transaction's own instant come a microsecond
    after it, so a transaction never sees a sibling's). An entity without such a row is read from the store."""
    seen: dict[tuple[str, str], list[Row]] = {}  # per entity, its rows so far, the newest last
    held: dict[str, list[HeldRow]] = {}
    for transaction_id, rows in rows_of.items():
        own = []
        for row in rows:
            earlier = seen.setdefault((row.entity.kind, row.entity_id), [])
            # In time order the entity's newest row is visible; a late event looks further back.
            newest = next((r for r in reversed(earlier) if r.available_at <= row.transaction_at), None)
            if newest is not None:
                own.append(HeldRow(dict(zip(newest.entity.features, newest.values, strict=True)),
                                   newest.available_at.timestamp()))  # fmt: skip
        held[transaction_id] = own
        for row in rows:
            earlier = seen[(row.entity.kind, row.entity_id)]
            earlier.insert(bisect.bisect_right(earlier, row.available_at, key=lambda r: r.available_at), row)
    return held


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
        scorer: Scorer | None = None,
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
        self.scorer = scorer
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
        transactions, ids = [], []
        for message in messages:
            transaction, reason = parse(message.fields)
            if transaction is None:
                self.stream.dead_letter(message, reason or "invalid")
                self.metrics.dead_letters.labels((reason or "invalid").split(":", 1)[0]).inc()
                result.dead_letters += 1
                continue
            transactions.append(transaction)
            ids.append(message.id)
        if transactions:
            self._apply(transactions, result)
            self.stream.ack(ids)
            self.metrics.ready.set(1)
        self.metrics.events.labels("applied").inc(result.applied)
        self.metrics.events.labels("duplicate").inc(result.duplicates)
        self.metrics.events.labels("dead_letter").inc(result.dead_letters)
        self.metrics.scored.inc(result.scored)
        self.metrics.batch_seconds.observe(time.perf_counter() - began)
        return result

    def _apply(self, transactions: list[Transaction], result: Step) -> None:
        """Score what is not applied yet on the state before it (with a scorer), then apply and write."""
        score = None
        if self.scorer is not None:
            first = {t.transaction_id: t for t in reversed(transactions)}  # the occurrence the state applies
            score = functools.partial(self._score, self.scorer, first, result)
        applied = self.state.apply([event(t) for t in transactions], before_commit=score)
        result.pushed += self.sink.push(applied.current)
        result.applied += applied.applied
        result.duplicates += applied.duplicates

    def _score(
        self,
        scorer: Scorer,
        first: dict[str, Transaction],
        result: Step,
        fresh: list[Event],
        rows_of: Mapping[str, list[Row]],
    ) -> None:
        """Score the events the state read found not applied yet, before their commit: the read that tells what
        is done is the commit's own, so an event already applied is neither scored nor logged again."""
        from gyre.serving.runtime import NotReady

        held = held_before(rows_of)
        try:
            scored = scorer.score([first[e.transaction_id] for e in fresh], [held[e.transaction_id] for e in fresh])
            result.scored += len(scored)
        except NotReady as why:  # features still flow while no champion is served
            self.metrics.unscored.labels(str(why)[:80]).inc(len(fresh))

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
