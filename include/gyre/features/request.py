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


def _numbers(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column, errors="coerce").astype("float64")


def _text(column: pd.Series) -> pd.Series:
    return column.map(lambda v: MISSING_TEXT if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))


def _code(column: pd.Series) -> pd.Series:
    """A numeric code as text ("5411"), the same whether it arrives as int, float or string."""
    numbers = pd.to_numeric(column, errors="coerce")
    return numbers.map(lambda v: MISSING_TEXT if pd.isna(v) else str(int(v)))


def _instants(column: pd.Series) -> pd.Series:
    """UTC instants from datetimes, ISO strings or epoch seconds (what the feature server's JSON carries)."""
    if pd.api.types.is_numeric_dtype(column):
        return pd.to_datetime(column, unit="s", utc=True)
    return pd.to_datetime(column, utc=True)


def transaction_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """Amount against the customer's usual (30-day mean) amount, hour of day (UTC), foreign or not, time since
    the customer's previous transaction, and the transaction's own attributes as model inputs."""
    amount = _numbers(inputs["amount"])
    usual = _numbers(inputs["cust_amount_mean_30d"])
    at = _instants(inputs["event_timestamp"])
    epoch_s = (at - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    merchant_country = inputs["merchant_country"].astype("string")
    customer_country = inputs["customer_country"].astype("string")
    out = pd.DataFrame(index=inputs.index)
    out["txn_amount"] = amount
    out["amount_to_customer_mean_30d"] = (amount / usual.where(usual > 0)).astype("float64")
    out["hour_of_day"] = at.dt.hour.astype("float64")
    out["is_foreign"] = (merchant_country != customer_country).astype("float64")
    out.loc[merchant_country.isna() | customer_country.isna(), "is_foreign"] = np.nan
    out["seconds_since_prev_txn"] = (epoch_s - _numbers(inputs["cust_last_txn_epoch_s"])).astype("float64")
    out["txn_card_age_days"] = _numbers(inputs["card_age_days"])
    out["txn_channel"] = _text(inputs["channel"])
    out["txn_mcc"] = _code(inputs["mcc"])
    return out
