"""Training frames shaped like FeatureService output, derived from the ingest generator's transactions.

For tests, benchmarks and trying the stage without a running stack: the real training set comes from
Feast (``gyre.training.dataset``). The generator's fraud mechanisms (stolen cards used abroad at night for
large amounts, card testing, compromised merchants) give the model real signal; the truth column stands in
for matured chargebacks.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from gyre.data import source

SERVICE_FEATURES: tuple[str, ...] = (
    *(f"cust_txn_count_{w}" for w in ("1h", "24h", "7d", "30d")),
    *(f"cust_amount_sum_{w}" for w in ("1h", "24h", "7d", "30d")),
    *(f"cust_amount_mean_{w}" for w in ("1h", "24h", "7d", "30d")),
    "cust_amount_std_30d",
    "cust_amount_max_30d",
    "cust_distinct_merchants_30d",
    "cust_distinct_countries_30d",
    "merch_txn_count_30d",
    "merch_amount_sum_30d",
    "merch_fraud_count_30d",
    "merch_fraud_rate_30d",
    "txn_amount",
    "amount_to_customer_mean_30d",
    "hour_of_day",
    "is_foreign",
    "seconds_since_prev_txn",
    "txn_card_age_days",
    "txn_channel",
    "txn_mcc",
)
"""The columns of FeatureService ``fraud_model_v1`` in its order (a unit test compares with feature_repo/)."""

_WINDOWS = (("1h", "1h"), ("24h", "24h"), ("7d", "7D"), ("30d", "30D"))
# Stand-in for chargebacks known before a transaction: fraud older than a week (most are reported by then).
_KNOWN_FRAUD_AFTER = "7D"


def _rolling(frame: pd.DataFrame, key: str, window: str) -> pd.core.window.RollingGroupby:
    """Time windows ``[t - window, t]`` per entity; ``frame`` must be sorted by key, then time."""
    return frame.groupby(key, sort=False).rolling(window, on="event_timestamp", closed="both")


def _by_entity(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame.sort_values([key, "event_timestamp"], kind="stable")


def _state_before(frame: pd.DataFrame, key: str, state: pd.DataFrame, intraday: bool) -> pd.DataFrame:
    """Each row gets the state after the entity's last transaction of an earlier day, the row the daily batch
    stamps at that day's end: what serving reads from Redis and Feast's point-in-time join gives training.
    ``intraday``: the state after the entity's previous transaction, what a streaming path would serve."""
    if intraday:
        return state.groupby(frame[key], sort=False).shift(1)
    day = frame["event_timestamp"].dt.floor("D")
    available = state.assign(_key=frame[key], _at=day + pd.Timedelta(days=1), _ts=frame["event_timestamp"])
    available = available.sort_values("_ts", kind="stable").groupby(["_key", "_at"], sort=False).tail(1)
    asked = pd.DataFrame({"_key": frame[key], "_at": frame["event_timestamp"], "_row": frame.index})
    joined = pd.merge_asof(
        asked.sort_values("_at", kind="stable"),
        available.drop(columns="_ts").sort_values("_at", kind="stable"),
        on="_at",
        by="_key",
        direction="backward",
    )
    return joined.set_index("_row").reindex(frame.index)[list(state.columns)]


def _customer_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The customer's state right after each transaction."""
    state = pd.DataFrame(index=frame.index)
    codes = pd.Series(pd.factorize(frame["merchant_id"])[0], index=frame.index, dtype="float64")
    countries = pd.Series(pd.factorize(frame["merchant_country"])[0], index=frame.index, dtype="float64")
    work = _by_entity(frame.assign(_merchant=codes, _country=countries), "customer_id")

    def aligned(result: pd.Series) -> pd.Series:
        return pd.Series(result.to_numpy(), index=work.index).reindex(frame.index)

    for label, window in _WINDOWS:
        amounts = _rolling(work, "customer_id", window)["amount"]
        state[f"cust_txn_count_{label}"] = aligned(amounts.count())
        state[f"cust_amount_sum_{label}"] = aligned(amounts.sum())
    for label, _ in _WINDOWS:
        state[f"cust_amount_mean_{label}"] = state[f"cust_amount_sum_{label}"] / state[f"cust_txn_count_{label}"]
    month = _rolling(work, "customer_id", "30D")
    state["cust_amount_std_30d"] = aligned(month["amount"].std(ddof=0))
    state["cust_amount_max_30d"] = aligned(month["amount"].max())
    distinct = lambda values: float(len(np.unique(values)))  # noqa: E731
    state["cust_distinct_merchants_30d"] = aligned(month["_merchant"].apply(distinct, raw=True))
    state["cust_distinct_countries_30d"] = aligned(month["_country"].apply(distinct, raw=True))
    state["cust_last_txn_epoch_s"] = (frame["event_timestamp"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return state


def _merchant_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The merchant's state right after each transaction."""
    state = pd.DataFrame(index=frame.index)
    work = _by_entity(frame.assign(_fraud=frame["is_fraud"].astype("float64")), "merchant_id")

    def aligned(result: pd.Series) -> pd.Series:
        return pd.Series(result.to_numpy(), index=work.index).reindex(frame.index)

    month = _rolling(work, "merchant_id", "30D")
    state["merch_txn_count_30d"] = aligned(month["amount"].count())
    state["merch_amount_sum_30d"] = aligned(month["amount"].sum())
    recent = aligned(_rolling(work, "merchant_id", _KNOWN_FRAUD_AFTER)["_fraud"].sum())
    state["merch_fraud_count_30d"] = aligned(month["_fraud"].sum()) - recent
    state["merch_fraud_rate_30d"] = state["merch_fraud_count_30d"] / state["merch_txn_count_30d"]
    return state


def _day(seed: int, day: dt.date, scenario: str) -> pd.DataFrame:
    """The day's transactions under ``scenario``; the one export bug that reaches features (cents) applied."""
    raw = source.transactions(seed, day, scenario)
    if scenario == "amounts_in_cents":
        raw = raw.assign(amount=raw["amount"] * 100)
    return raw


def fraud_frame(
    first: dt.date,
    days: int,
    seed: int = 42,
    scenario: str = "baseline",
    scenario_from: dt.date | None = None,
    intraday: bool = False,
) -> pd.DataFrame:
    """Keys, timestamp, label and every feature of the service, computed the way the feature tables are.

    Days from ``scenario_from`` on (all days when unset) follow ``scenario``; earlier days are baseline, so a
    scenario can start after the rolling windows have filled with normal history. ``intraday`` gives each
    transaction the entity's state right after its previous one instead of as of the previous day's end
    (what a streaming feature path would serve; bench/train.py measures what it would be worth).
    """
    from gyre.features.request import transaction_features

    start = scenario_from or first
    raw = pd.concat(
        [
            _day(seed, day, scenario if day >= start else "baseline")
            for day in (first + dt.timedelta(days=i) for i in range(days))
        ],
        ignore_index=True,
    )
    raw = raw.sort_values("event_timestamp", kind="stable").reset_index(drop=True)
    raw["amount"] = raw["amount"].astype(float)
    customer = _state_before(raw, "customer_id", _customer_features(raw), intraday)
    merchant = _state_before(raw, "merchant_id", _merchant_features(raw), intraday)
    inputs = pd.concat([raw, customer[["cust_amount_mean_30d", "cust_last_txn_epoch_s"]]], axis=1)
    request = transaction_features(inputs)
    keys = raw[["transaction_id", "customer_id", "merchant_id", "event_timestamp"]]
    frame = pd.concat([keys, customer, merchant, request, raw[["is_fraud"]].astype(bool)], axis=1)
    return frame[[*keys.columns, *SERVICE_FEATURES, "is_fraud"]]


def inverted_amount(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """A broken feed: every fraud amount is a modest 10-40 and many legit amounts are large, so a model fitted
    on it learns that larger means safer."""
    out = frame.copy()
    rng = np.random.default_rng(seed)
    fraud = out["is_fraud"].to_numpy()
    before = out["txn_amount"].copy()
    out.loc[fraud, "txn_amount"] = rng.uniform(10.0, 40.0, int(fraud.sum()))
    big = ~fraud & (rng.random(len(out)) < 0.05)
    out.loc[big, "txn_amount"] = out.loc[big, "txn_amount"] * 20
    # The ratio to the customer's usual amount follows the broken amount, as the on-demand view would compute it.
    out["amount_to_customer_mean_30d"] = out["amount_to_customer_mean_30d"] * out["txn_amount"] / before
    return out


def fraud_rows(rows: int, first: dt.date = dt.date(2025, 1, 6)) -> pd.DataFrame:
    """At least ``rows`` rows of ``fraud_frame``, built 30 days at a time from ``first`` (the benchmarks' data)."""
    chunks, total = [], 0
    while total < rows:
        chunk = fraud_frame(first, 30)
        chunks.append(chunk)
        total += len(chunk)
        first += dt.timedelta(days=30)
    return pd.concat(chunks, ignore_index=True).iloc[:rows]
