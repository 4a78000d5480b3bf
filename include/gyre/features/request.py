"""Request-time features: one function that Feast's on-demand view runs in training and that serving runs too.

Training gets the inputs from the spine (the transaction's own attributes) joined point-in-time with the
customer's features; serving gets the same names from the request and the online store. Both run
``request_columns``: Feast's on-demand view (pandas mode) calls it through ``transaction_features``, and the
scoring path calls it on plain columns for the rows it read from Feast's online store, without a DataFrame
(a frame costs more than the model there). A change here changes both at once: no training-serving skew.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

# What a request must carry besides the entity keys (the RequestSource of feature_repo/).
REQUEST_FIELDS = (
    "amount",
    "merchant_country",
    "customer_country",
    "channel",
    "mcc",
    "card_age_days",
    "event_timestamp",
)
NUMERIC_OUTPUTS = (
    "txn_amount",
    "amount_to_customer_mean_30d",
    "hour_of_day",
    "is_foreign",
    "seconds_since_prev_txn",
    "txn_card_age_days",
)
TEXT_OUTPUTS = ("txn_channel", "txn_mcc")
MISSING_TEXT = "__missing__"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

Column = Sequence[Any] | np.ndarray | pd.Series


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value))


def _numbers(column: Column) -> np.ndarray:
    if isinstance(column, pd.Series):
        return pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    out = np.empty(len(column), dtype="float64")
    for i, value in enumerate(column):
        try:
            out[i] = np.nan if _missing(value) else float(value)
        except (TypeError, ValueError):
            out[i] = np.nan
    return out


def _text(column: Column) -> list[str]:
    values = column.tolist() if isinstance(column, pd.Series | np.ndarray) else column
    return [MISSING_TEXT if _missing(v) else str(v) for v in values]


def _code(column: Column) -> list[str]:
    """A numeric code as text ("5411"), the same whether it arrives as int, float or string."""
    return [MISSING_TEXT if np.isnan(v) else str(int(v)) for v in _numbers(column)]


def _epoch_s(column: Column) -> np.ndarray:
    """Seconds since the epoch from datetimes, ISO strings or epoch seconds (the feature server's JSON)."""
    if isinstance(column, pd.Series):
        if pd.api.types.is_numeric_dtype(column):
            return _numbers(column)
        at = pd.to_datetime(column, utc=True)
        return ((at - pd.Timestamp(0, tz="UTC")).dt.total_seconds()).to_numpy(dtype="float64", na_value=np.nan)
    if all(isinstance(v, dt.datetime) and v.tzinfo is not None for v in column):
        return np.array([(v - _EPOCH).total_seconds() for v in column], dtype="float64")
    return _epoch_s(pd.Series(list(column)))


def request_columns(inputs: Mapping[str, Column]) -> dict[str, Any]:
    """Amount against the customer's usual (30-day mean) amount, hour of day (UTC), foreign or not, time since
    the customer's last transaction the online state knows of, and the transaction's own attributes as inputs.

    Takes and returns columns (lists, arrays or Series of equal length): NumPy on whole columns for training's
    millions of rows, and no pandas per-operation cost for serving's single row.
    """
    amount = _numbers(inputs["amount"])
    usual = _numbers(inputs["cust_amount_mean_30d"])
    epoch_s = _epoch_s(inputs["event_timestamp"])
    merchant_country = _text(inputs["merchant_country"])
    customer_country = _text(inputs["customer_country"])
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(usual > 0, amount / np.where(usual > 0, usual, 1.0), np.nan)
        hour = np.floor(np.mod(epoch_s, 86400.0) / 3600.0)
    foreign = np.array(
        [
            np.nan if MISSING_TEXT in (m, c) else float(m != c)
            for m, c in zip(merchant_country, customer_country, strict=True)
        ],
        dtype="float64",
    )
    return {
        "txn_amount": amount,
        "amount_to_customer_mean_30d": ratio,
        "hour_of_day": hour,
        "is_foreign": foreign,
        "seconds_since_prev_txn": epoch_s - _numbers(inputs["cust_last_txn_epoch_s"]),
        "txn_card_age_days": _numbers(inputs["card_age_days"]),
        "txn_channel": _text(inputs["channel"]),
        "txn_mcc": _code(inputs["mcc"]),
    }


def transaction_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """``request_columns`` as Feast's pandas on-demand view calls it: a frame in, a frame on the same index out."""
    return pd.DataFrame(request_columns(inputs), index=inputs.index)


INTRADAY_OUTPUTS = ("cust_rt_seconds_since_last_txn", "merch_rt_seconds_since_last_txn")


def intraday_columns(inputs: Mapping[str, Column]) -> dict[str, Any]:
    """Seconds since the customer's and the merchant's previous transaction, from the streamed state (the
    intraday views' ``*_rt_last_txn_epoch_s``) and the request's time; null for an entity the stream has not seen."""
    epoch_s = _epoch_s(inputs["event_timestamp"])
    return {
        "cust_rt_seconds_since_last_txn": epoch_s - _numbers(inputs["cust_rt_last_txn_epoch_s"]),
        "merch_rt_seconds_since_last_txn": epoch_s - _numbers(inputs["merch_rt_last_txn_epoch_s"]),
    }


def intraday_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """``intraday_columns`` as Feast's pandas on-demand view calls it."""
    return pd.DataFrame(intraday_columns(inputs), index=inputs.index)
