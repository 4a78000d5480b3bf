"""Request-time features: one function that Feast's on-demand view runs in training and in serving.

Training gets the inputs from the spine (the transaction's own attributes) joined point-in-time with the
customer's features; serving gets the same names from the request and the online store. Because both go
through this function inside Feast, a change here changes both at once: no training-serving skew.
"""

from __future__ import annotations

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


def _numbers(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _text(column: pd.Series) -> list[str]:
    return [MISSING_TEXT if _missing(v) else str(v) for v in column.tolist()]


def _code(column: pd.Series) -> list[str]:
    """A numeric code as text ("5411"), the same whether it arrives as int, float or string."""
    return [MISSING_TEXT if np.isnan(v) else str(int(v)) for v in _numbers(column)]


def _epoch_s(column: pd.Series) -> np.ndarray:
    """Seconds since the epoch from datetimes, ISO strings or epoch seconds (the feature server's JSON)."""
    if pd.api.types.is_numeric_dtype(column):
        return _numbers(column)
    at = pd.to_datetime(column, utc=True)
    return ((at - pd.Timestamp(0, tz="UTC")).dt.total_seconds()).to_numpy(dtype="float64", na_value=np.nan)


def transaction_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """Amount against the customer's usual (30-day mean) amount, hour of day (UTC), foreign or not, time since
    the customer's last transaction the daily batch knows of, and the transaction's own attributes as inputs.

    Plain NumPy on columns: serving runs it per request on one row, where pandas' per-operation cost dominates.
    """
    amount = _numbers(inputs["amount"])
    usual = _numbers(inputs["cust_amount_mean_30d"])
    epoch_s = _epoch_s(inputs["event_timestamp"])
    merchant_country = inputs["merchant_country"].tolist()
    customer_country = inputs["customer_country"].tolist()
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(usual > 0, amount / np.where(usual > 0, usual, 1.0), np.nan)
        hour = np.floor(np.mod(epoch_s, 86400.0) / 3600.0)
    foreign = np.array(
        [
            np.nan if _missing(m) or _missing(c) else float(m != c)
            for m, c in zip(merchant_country, customer_country, strict=True)
        ],
        dtype="float64",
    )
    return pd.DataFrame(
        {
            "txn_amount": amount,
            "amount_to_customer_mean_30d": ratio,
            "hour_of_day": hour,
            "is_foreign": foreign,
            "seconds_since_prev_txn": epoch_s - _numbers(inputs["cust_last_txn_epoch_s"]),
            "txn_card_age_days": _numbers(inputs["card_age_days"]),
            "txn_channel": _text(inputs["channel"]),
            "txn_mcc": _code(inputs["mcc"]),
        },
        index=inputs.index,
    )
