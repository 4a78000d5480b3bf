"""What the consumer scores a batch's events on: the rows the batch's earlier events left, as Feast's
point-in-time join would give them, and the online store for an entity the batch has not touched yet."""

from __future__ import annotations

import datetime as dt

from gyre.streaming.aggregate import Event, apply_event
from gyre.streaming.consumer import held_before

T0 = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)


def rows_of(*events: tuple[str, str, str, int, float]) -> dict:
    """The batch applied in order, as ``StateStore.apply`` hands it to the scorer."""
    states: dict = {}
    out = {}
    for tid, customer, merchant, seconds, amount in events:
        out[tid] = apply_event(states, Event(tid, customer, merchant, T0 + dt.timedelta(seconds=seconds), amount))
    return out


def held_by_kind(held: list) -> dict[str, dict]:
    return {("customer" if "cust_rt_txn_count_1h" in h.values else "merchant"): h.values for h in held}


def test_an_entitys_later_event_holds_the_row_its_earlier_one_left() -> None:
    batch = rows_of(("a", "c1", "m1", 0, 10.0), ("b", "c2", "m2", 5, 20.0), ("c", "c1", "m2", 60, 5.0))
    held = held_before(batch)
    assert held["a"] == [] and held["b"] == []
    by_kind = held_by_kind(held["c"])
    assert by_kind["customer"]["cust_rt_txn_count_1h"] == 1 and by_kind["customer"]["cust_rt_amount_sum_1h"] == 10.0
    assert by_kind["merchant"]["merch_rt_amount_sum_1h"] == 20.0  # m2's row after "b", not after "c" itself
    (customer_row,) = [r for r in batch["a"] if r.entity.kind == "customer"]
    assert [h.at_s for h in held["c"] if "cust_rt_txn_count_1h" in h.values] == [customer_row.available_at.timestamp()]


def test_events_of_one_entity_at_one_instant_do_not_see_each_other() -> None:
    batch = rows_of(("a", "c1", "m1", 0, 10.0), ("b", "c1", "m2", 0, 20.0), ("c", "c1", "m3", 1, 1.0))
    held = held_before(batch)
    assert held["a"] == [] and held["b"] == []  # the state before the instant: from the store
    # After the instant, the newest of the two siblings' rows: both transactions counted.
    assert held_by_kind(held["c"])["customer"]["cust_rt_txn_count_1h"] == 2


def test_a_late_event_does_not_see_a_later_transactions_row() -> None:
    batch = rows_of(("a", "c1", "m1", 0, 10.0), ("b", "c1", "m2", 100, 20.0), ("c", "c1", "m3", 50, 1.0))
    held = held_by_kind(held_before(batch)["c"])
    assert held["customer"]["cust_rt_txn_count_1h"] == 1 and held["customer"]["cust_rt_amount_sum_1h"] == 10.0
