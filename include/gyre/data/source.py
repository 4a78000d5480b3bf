"""A card-transaction source that behaves like a payments system's daily export.

Customers and merchants are a fixed population drawn from the seed; each day's transactions are drawn from
``(seed, day)`` alone, so any day can be regenerated on its own and a backfill sees the same files. Fraud
comes from mechanisms a fraud team would recognise (card-testing bursts, stolen cards used abroad at night
for large amounts, compromised merchants) and is only known later, through chargebacks that arrive days
after the transaction. Named scenarios inject what breaks models in real life.
"""

from __future__ import annotations

import datetime as dt
import functools
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gyre.data.scenarios import SCENARIOS
from gyre.validation.contract import CHARGEBACK_REASONS

# Merchant category codes with the median ticket (in the merchant's currency) and the share of e-commerce.
MCC: dict[int, tuple[str, float, float]] = {
    5411: ("grocery", 35.0, 0.05),
    5812: ("restaurants", 28.0, 0.10),
    5541: ("fuel", 50.0, 0.0),
    5999: ("misc retail", 40.0, 0.30),
    4829: ("money transfer", 200.0, 0.90),
    5732: ("electronics", 250.0, 0.50),
    5912: ("pharmacy", 20.0, 0.10),
    7995: ("gambling", 80.0, 0.95),
    5311: ("department stores", 70.0, 0.30),
    4121: ("taxi and rides", 18.0, 0.80),
    5815: ("digital goods", 12.0, 1.0),
    7011: ("hotels", 180.0, 0.60),
}
COUNTRIES: dict[str, tuple[float, str]] = {  # share of customers, currency
    "DE": (0.22, "EUR"),
    "FR": (0.18, "EUR"),
    "NL": (0.10, "EUR"),
    "ES": (0.10, "EUR"),
    "IT": (0.10, "EUR"),
    "GB": (0.12, "GBP"),
    "US": (0.06, "USD"),
    "PL": (0.06, "PLN"),
    "SE": (0.04, "SEK"),
    "CH": (0.02, "CHF"),
}
# Share of the day's transactions by hour (UTC), and a weekly rhythm (Monday first).
HOURLY = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 4, 4.5, 5, 6, 5.5, 4.5, 4.5, 5, 6, 6.5, 6, 5, 4, 3, 2])
WEEKLY = np.array([0.95, 0.97, 1.0, 1.02, 1.10, 1.15, 0.85])

MAX_LABEL_DELAY_DAYS = 30


@dataclass(frozen=True)
class Population:
    customers: pd.DataFrame
    merchants: pd.DataFrame


def _rng(*parts: int | str) -> np.random.Generator:
    """A generator seeded by the parts alone: same parts, same numbers, on any machine."""
    return np.random.default_rng([p if isinstance(p, int) else zlib.crc32(p.encode()) for p in parts])


@functools.cache
def population(seed: int, customers: int = 2000, merchants: int = 400) -> Population:
    """Customers (home country, card issue date, spending profile) and merchants (MCC, country, risk)."""
    rng = _rng(seed, "population")
    countries = np.array(list(COUNTRIES))
    shares = np.array([share for share, _ in COUNTRIES.values()])
    cust = pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(customers)],
            "home_country": rng.choice(countries, customers, p=shares),
            "card_issued": pd.Timestamp("2023-01-01") - pd.to_timedelta(rng.exponential(500, customers), unit="D"),
            "spend_factor": rng.lognormal(0.0, 0.5, customers),
            "daily_rate": rng.gamma(2.0, 0.75, customers),
        }
    )
    codes = np.array(list(MCC))
    merch = pd.DataFrame(
        {
            "merchant_id": [f"M{i:05d}" for i in range(merchants)],
            "mcc": rng.choice(codes, merchants),
            "country": rng.choice(countries, merchants, p=shares),
            "risk": rng.beta(1.0, 8.0, merchants),
            "compromised": rng.random(merchants) < 0.02,
        }
    )
    return Population(cust, merch)


def _merchant_weights(merch: pd.DataFrame, home: str, scenario: str) -> np.ndarray:
    weights = np.where(merch["country"].to_numpy() == home, 8.0, 0.15)
    if scenario == "new_mcc_mix":
        weights = weights * np.where(merch["mcc"].isin([5815, 5732, 7995]).to_numpy(), 5.0, 1.0)
    return weights / weights.sum()


def _timestamps(rng: np.random.Generator, day: dt.date, n: int, hours: np.ndarray | None = None) -> pd.Series:
    if hours is None:
        hours = rng.choice(24, n, p=HOURLY / HOURLY.sum())
    seconds = hours * 3600 + rng.integers(0, 3600, n)
    start = pd.Timestamp(day, tz="UTC")
    return pd.Series(start + pd.to_timedelta(seconds, unit="s"))


@functools.lru_cache(maxsize=64)
def transactions(seed: int, day: dt.date, scenario: str = "baseline") -> pd.DataFrame:
    """The day's transactions with their hidden truth (``is_fraud``, ``mechanism``), before export bugs."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    pop = population(seed)
    cust, merch = pop.customers, pop.merchants
    rng = _rng(seed, day.toordinal())
    counts = rng.poisson(cust["daily_rate"].to_numpy() * WEEKLY[day.weekday()])
    rows = np.repeat(np.arange(len(cust)), counts)
    n = len(rows)
    home = cust["home_country"].to_numpy()[rows]
    merchant = np.empty(n, dtype=np.int64)
    for country in COUNTRIES:
        mask = home == country
        merchant[mask] = rng.choice(len(merch), int(mask.sum()), p=_merchant_weights(merch, country, scenario))
    mcc = merch["mcc"].to_numpy()[merchant]
    median = np.array([MCC[int(code)][1] for code in mcc])
    ecom_share = np.array([MCC[int(code)][2] for code in mcc])
    amount = rng.lognormal(np.log(median * cust["spend_factor"].to_numpy()[rows]), 0.6)
    frame = pd.DataFrame(
        {
            "customer_idx": rows,
            "merchant_idx": merchant,
            "event_timestamp": _timestamps(rng, day, n),
            "channel": np.where(rng.random(n) < ecom_share, "ecom", "pos"),
            "amount": amount,
            "is_fraud": False,
            "mechanism": "",
        }
    )
    frame = _inject_fraud(frame, rng, day, scenario, pop)
    frame = frame.sort_values("event_timestamp", kind="stable").reset_index(drop=True)
    frame.insert(0, "transaction_id", [f"T{day:%Y%m%d}{i:07d}" for i in range(len(frame))])
    return _with_attributes(frame, pop, day, scenario)


def _inject_fraud(
    frame: pd.DataFrame, rng: np.random.Generator, day: dt.date, scenario: str, pop: Population
) -> pd.DataFrame:
    """Label rows by plausible mechanisms; about 1 % of transactions end up fraudulent."""
    merch = pop.merchants
    n = len(frame)
    compromised = merch["compromised"].to_numpy()[frame["merchant_idx"]]
    risk = merch["risk"].to_numpy()[frame["merchant_idx"]]
    at_compromised = compromised & (rng.random(n) < 0.10)
    background = rng.random(n) < 0.001 * (1 + 4 * risk)
    frame.loc[at_compromised, ["is_fraud", "mechanism"]] = [True, "compromised_merchant"]
    frame.loc[background & ~at_compromised, ["is_fraud", "mechanism"]] = [True, "background"]
    if scenario == "concept_drift":
        # Account takeover: domestic, office hours, recently issued cards, electronics and money transfers. A wave
        # of 2 % of the day: at 0.8 % a night held about 20 reported frauds, a third of them the old kind, and the
        # champion's ROC-AUC drop on them sometimes stayed within its sampling error (the demo saw no drift).
        targets = merch[merch["mcc"].isin([5732, 4829])]
        k = int(n * 0.02)
        victims = rng.choice(n, k, replace=False)
        home = pop.customers["home_country"].to_numpy()[frame["customer_idx"].to_numpy()[victims]]
        for country in COUNTRIES:
            local = targets.index[targets["country"].to_numpy() == country].to_numpy()
            mask = home == country
            frame.loc[victims[mask], "merchant_idx"] = rng.choice(
                local if len(local) else targets.index, int(mask.sum())
            )
        frame.loc[victims, "event_timestamp"] = _timestamps(rng, day, k, rng.integers(9, 18, k)).to_numpy()
        frame.loc[victims, "amount"] = frame.loc[victims, "amount"].to_numpy() * rng.uniform(1.2, 2.0, k)
        frame.loc[victims, ["is_fraud", "mechanism"]] = [True, "account_takeover"]
        return frame
    # Stolen card: used abroad, at night, for several times the usual amount.
    k = int(n * 0.005)
    victims = rng.choice(n, k, replace=False)
    frame.loc[victims, "merchant_idx"] = rng.choice(len(merch), k)
    frame.loc[victims, "event_timestamp"] = _timestamps(rng, day, k, rng.integers(0, 5, k)).to_numpy()
    frame.loc[victims, "amount"] = frame.loc[victims, "amount"].to_numpy() * rng.uniform(3, 10, k)
    frame.loc[victims, "channel"] = "ecom"
    frame.loc[victims, ["is_fraud", "mechanism"]] = [True, "stolen_card"]
    # Card testing: a few cards hit digital-goods merchants with tiny amounts within minutes.
    digital = merch.index[merch["mcc"].to_numpy() == 5815].to_numpy()
    bursts = []
    for customer in rng.choice(len(pop.customers), 2, replace=False):
        size = int(rng.integers(5, 15))
        start = _timestamps(rng, day, 1).iloc[0].floor("h")
        bursts.append(
            pd.DataFrame(
                {
                    "customer_idx": customer,
                    "merchant_idx": rng.choice(digital, size),
                    "event_timestamp": start + pd.to_timedelta(np.sort(rng.integers(0, 1800, size)), unit="s"),
                    "channel": "ecom",
                    "amount": rng.uniform(0.5, 3.0, size),
                    "is_fraud": True,
                    "mechanism": "card_testing",
                }
            )
        )
    return pd.concat([frame, *bursts], ignore_index=True)


def _with_attributes(frame: pd.DataFrame, pop: Population, day: dt.date, scenario: str) -> pd.DataFrame:
    cust, merch = pop.customers, pop.merchants
    amount = frame["amount"].to_numpy() * (1.3 if scenario == "amount_inflation" else 1.0)
    issued = cust["card_issued"].to_numpy()[frame["customer_idx"]]
    country = merch["country"].to_numpy()[frame["merchant_idx"]]
    out = pd.DataFrame(
        {
            "transaction_id": frame["transaction_id"],
            "event_timestamp": frame["event_timestamp"],
            "customer_id": cust["customer_id"].to_numpy()[frame["customer_idx"]],
            "merchant_id": merch["merchant_id"].to_numpy()[frame["merchant_idx"]],
            "mcc": merch["mcc"].to_numpy()[frame["merchant_idx"]],
            "merchant_country": country,
            "customer_country": cust["home_country"].to_numpy()[frame["customer_idx"]],
            "channel": frame["channel"],
            "card_age_days": (pd.Timestamp(day) - pd.DatetimeIndex(issued)).days.to_numpy(),
            "amount": np.round(amount, 2),
            "currency": [COUNTRIES[c][1] for c in country],
            "is_fraud": frame["is_fraud"].to_numpy(),
            "mechanism": frame["mechanism"].to_numpy(),
        }
    )
    if scenario == "concept_drift":
        takeover = out["mechanism"] == "account_takeover"
        out.loc[takeover, "card_age_days"] = (np.arange(int(takeover.sum())) % 30).astype(int)
    return out


def export(frame: pd.DataFrame, seed: int, day: dt.date, scenario: str) -> pd.DataFrame:
    """The transactions file as upstream exports it: no hidden truth, and the scenario's export bugs."""
    out = frame.drop(columns=["is_fraud", "mechanism"])
    rng = _rng(seed, day.toordinal(), scenario, "export")
    if scenario == "amounts_in_cents":
        out["amount"] = (out["amount"] * 100).round().astype("int64")
    elif scenario == "null_spike":
        out["amount"] = out["amount"].astype(object)
        out.loc[rng.random(len(out)) < 0.33, ["merchant_id", "amount"]] = None
    elif scenario == "renamed_column":
        out = out.rename(columns={"amount": "amt"})
    return out


def labels(seed: int, day: dt.date, scenario: str = "baseline") -> pd.DataFrame:
    """Chargebacks reported on ``day``: fraud from earlier days, each reported 1-30 days after it happened.

    About 90 % of fraud is ever reported; the delay for a transaction is drawn from its own id, so the
    feed for any day is the same however the days are generated.
    """
    rows = []
    for back in range(1, MAX_LABEL_DELAY_DAYS + 1):
        origin = day - dt.timedelta(days=back)
        fraud = transactions(seed, origin, scenario)
        fraud = fraud[fraud["is_fraud"]]
        for tx_id, ts in zip(fraud["transaction_id"], fraud["event_timestamp"], strict=True):
            rng = _rng(seed, tx_id, "chargeback")
            if rng.random() >= 0.9 or 1 + min(int(rng.geometric(0.15)), MAX_LABEL_DELAY_DAYS - 1) != back:
                continue
            reported = pd.Timestamp(day, tz="UTC") + pd.Timedelta(seconds=int(rng.integers(0, 86400)))
            rows.append((tx_id, reported, str(rng.choice(CHARGEBACK_REASONS)), ts))
    out = pd.DataFrame(rows, columns=["transaction_id", "reported_at", "reason_code", "event_timestamp"])
    return out.sort_values(["reported_at", "transaction_id"]).drop(columns="event_timestamp").reset_index(drop=True)
