"""The consumer's scoring waves: each entity's events in order, one per wave but at one instant."""

from __future__ import annotations

import datetime as dt

from gyre.serving.schema import Transaction
from gyre.streaming.consumer import waves

T0 = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)


def tx(tid: str, customer: str, merchant: str, seconds: int) -> Transaction:
    at = T0 + dt.timedelta(seconds=seconds)
    return Transaction(
        transaction_id=tid, customer_id=customer, merchant_id=merchant, event_timestamp=at, amount=10.0,
        channel="pos", mcc="5411", merchant_country="DE", customer_country="DE", card_age_days=100,
    )  # fmt: skip


def ids(groups: list[list[Transaction]]) -> list[list[str]]:
    return [[t.transaction_id for t in group] for group in groups]


def test_an_entity_appears_once_per_wave_and_its_events_keep_their_order() -> None:
    batch = [tx("a", "c1", "m1", 0), tx("b", "c2", "m1", 1), tx("c", "c3", "m2", 2), tx("d", "c2", "m2", 3)]
    assert ids(waves(batch)) == [["a", "c"], ["b"], ["d"]]


def test_events_of_one_entity_at_one_instant_share_a_wave() -> None:
    batch = [tx("a", "c1", "m1", 0), tx("b", "c2", "m1", 0), tx("c", "c3", "m1", 5)]
    assert ids(waves(batch)) == [["a", "b"], ["c"]]


def test_without_shared_entities_one_wave() -> None:
    batch = [tx(str(i), f"c{i}", f"m{i}", i) for i in range(50)]
    assert ids(waves(batch)) == [[str(i) for i in range(50)]]
