"""The one implementation of the intraday aggregates, used by the stream consumer and the batch backfill alike.

Per entity (customer or merchant) the state is the entity's recent transactions, as integer microseconds and
amounts, sorted by event time. Applying a transaction inserts it and returns the entity's row *as of that
transaction*: count, sum and mean over the windows ``[t - w, t]`` (both ends included, as the daily SQL's
``range ... preceding``) and the transaction's own time (what "time since the previous transaction" is
computed from at request time). Times are integers so that window edges compare exactly; sums run left to
right over the same slice in both paths, so the stream and the backfill give bit-identical floats.

The state keeps ``KEEP_US`` of history behind the entity's newest transaction: the longest window plus the
allowed lateness, so an event up to ``ALLOWED_LATENESS_US`` late still sees its whole 30-day window.
"""

from __future__ import annotations

import datetime as dt
import functools
import struct
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
WINDOWS: tuple[tuple[str, int], ...] = (("1h", HOUR_US), ("24h", DAY_US), ("7d", 7 * DAY_US), ("30d", 30 * DAY_US))
ALLOWED_LATENESS_US = DAY_US
KEEP_US = WINDOWS[-1][1] + ALLOWED_LATENESS_US
# A row is available the instant after its transaction (one microsecond more per earlier transaction of the
# entity at the same instant, so one entity's rows never share a timestamp): Feast's point-in-time join (rows
# stamped <= the event) then gives a transaction the state before it, never its own.
TICK = dt.timedelta(microseconds=1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_HEADER = struct.Struct("<BI")
_VERSION = 1


def epoch_us(at: dt.datetime) -> int:
    """Exact integer microseconds since the epoch of a tz-aware datetime."""
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class Entity:
    """One kind of entity: its join key in Feast and the prefix of its feature names."""

    kind: str
    key: str
    prefix: str

    @functools.cached_property  # read per row by the consumer and the sink
    def features(self) -> list[str]:
        names = [f"{self.prefix}_rt_{stat}_{label}" for stat in ("txn_count", "amount_sum", "amount_mean")
                 for label, _ in WINDOWS]  # fmt: skip
        return [*names, f"{self.prefix}_rt_last_txn_epoch_s"]


CUSTOMER = Entity("customer", "customer_id", "cust")
MERCHANT = Entity("merchant", "merchant_id", "merch")
ENTITIES = (CUSTOMER, MERCHANT)


@dataclass
class State:
    """An entity's recent transactions, oldest first."""

    times: array = field(default_factory=lambda: array("q"))
    amounts: array = field(default_factory=lambda: array("d"))

    def dumps(self) -> bytes:
        return _HEADER.pack(_VERSION, len(self.times)) + self.times.tobytes() + self.amounts.tobytes()

    @classmethod
    def loads(cls, raw: bytes | None) -> State:
        if not raw:
            return cls()
        version, n = _HEADER.unpack_from(raw)
        if version != _VERSION:
            raise ValueError(f"unknown aggregate state version {version}")
        start = _HEADER.size
        times, amounts = array("q"), array("d")
        times.frombytes(raw[start : start + 8 * n])
        amounts.frombytes(raw[start + 8 * n : start + 16 * n])
        return cls(times, amounts)

    def apply(self, at_us: int, amount: float) -> tuple[list[float | int], int]:
        """Insert one transaction; its row as of the transaction (the order of ``Entity.features``) and how
        many of the entity's transactions were already at that instant."""
        times, amounts = self.times, self.amounts
        if not times or at_us > times[-1]:
            times.append(at_us)
            amounts.append(amount)
            right, ties = len(times), 0
        else:  # at the same instant as the newest, or late: in place, after those at the same instant
            index = bisect_right(times, at_us)
            ties = index - bisect_left(times, at_us, 0, index)
            times.insert(index, at_us)
            amounts.insert(index, amount)
            right = index + 1
        counts, sums = [], []
        for _, width in WINDOWS:
            left = bisect_left(times, at_us - width, 0, right)
            counts.append(right - left)
            sums.append(sum(amounts[left:right]))
        self._prune()
        return [*counts, *sums, *(s / c for s, c in zip(sums, counts, strict=True)), at_us / 1_000_000], ties

    def newest_available_us(self) -> int | None:
        """When the entity's newest row became available (its ``Row.available_at``, in epoch microseconds): the
        newest transaction's instant plus one microsecond per transaction at that instant."""
        if not self.times:
            return None
        newest = self.times[-1]
        return newest + len(self.times) - bisect_left(self.times, newest)

    def _prune(self) -> None:
        cut = bisect_left(self.times, self.times[-1] - KEEP_US)
        if cut:
            del self.times[:cut]
            del self.amounts[:cut]


@dataclass(frozen=True)
class Event:
    """What the aggregates need of a transaction."""

    transaction_id: str
    customer_id: str
    merchant_id: str
    at: dt.datetime
    amount: float


@dataclass(frozen=True)
class Row:
    """One entity's features right after one transaction, stamped when they become available."""

    entity: Entity
    entity_id: str
    transaction_id: str
    transaction_at: dt.datetime
    available_at: dt.datetime
    values: tuple[float | int, ...]


def apply_event(states: dict[tuple[str, str], State], event: Event) -> list[Row]:
    """Apply one transaction to its customer's and merchant's states (created when new); one row per entity."""
    at_us = epoch_us(event.at)
    rows = []
    for entity, entity_id in ((CUSTOMER, event.customer_id), (MERCHANT, event.merchant_id)):
        state = states.setdefault((entity.kind, entity_id), State())
        values, ties = state.apply(at_us, event.amount)
        available = event.at + TICK * (1 + ties)
        rows.append(Row(entity, entity_id, event.transaction_id, event.at, available, tuple(values)))
    return rows


def ordered(events: Iterable[Event]) -> list[Event]:
    """Event-time order, ties by transaction id: the order replay publishes and the backfill applies."""
    return sorted(events, key=lambda e: (e.at, e.transaction_id))


def run(events: Iterable[Event], states: dict[tuple[str, str], State] | None = None) -> Iterator[Row]:
    """Apply ``events`` in the order given (the backfill passes them ``ordered``)."""
    states = {} if states is None else states
    for event in events:
        yield from apply_event(states, event)
