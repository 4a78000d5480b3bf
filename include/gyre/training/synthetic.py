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


def fraud_frame(first: dt.date, days: int, seed: int = 42, scenario: str = "baseline") -> pd.DataFrame:
    raw = pd.concat(
        [source.transactions(seed, first + dt.timedelta(days=i), scenario) for i in range(days)], ignore_index=True
    )
    return pd.DataFrame(
        {
            "transaction_id": raw["transaction_id"],
            "customer_id": raw["customer_id"],
            "merchant_id": raw["merchant_id"],
            "event_timestamp": raw["event_timestamp"],
            "amount": raw["amount"].astype(float),
            "hour_of_day": raw["event_timestamp"].dt.hour.astype(float),
            "is_foreign": (raw["merchant_country"] != raw["customer_country"]).astype(float),
            "card_age_days": raw["card_age_days"].astype(float),
            "channel": raw["channel"].astype(str),
            "mcc": raw["mcc"].astype(str),
            "is_fraud": raw["is_fraud"].astype(bool),
        }
    )


def inverted_amount(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """A broken feed: every fraud amount is a modest 10-40 and many legit amounts are large, so a model fitted
    on it learns that larger means safer."""
    out = frame.copy()
    rng = np.random.default_rng(seed)
    fraud = out["is_fraud"].to_numpy()
    out.loc[fraud, "amount"] = rng.uniform(10.0, 40.0, int(fraud.sum()))
    big = ~fraud & (rng.random(len(out)) < 0.05)
    out.loc[big, "amount"] = out.loc[big, "amount"] * 20
    return out
