"""Feature correctness on the real Postgres and Redis: the tables sql/features computes, Feast's point-in-time
join, materialization into Redis, the checks that guard it, and the feature server.

The transactions are written by hand in 2041 (no other test uses those days), so every expected value is
worked out below from them: windows, distinct counts, fraud known only from chargebacks reported before the
day's batch, and rows that become visible only at the end of their day, when the batch lands.
"""

from __future__ import annotations

import datetime as dt
import math

import httpx
import pandas as pd
import pytest
import redis
import sqlalchemy as sa

pytestmark = pytest.mark.integration

UTC = dt.UTC
DAY1 = dt.datetime(2041, 2, 1, tzinfo=UTC)
DAY2 = DAY1 + dt.timedelta(days=1)
DAY3 = DAY2 + dt.timedelta(days=1)
US = dt.timedelta(microseconds=1)

# id, time, customer, merchant, amount, merchant country, customer country
TRANSACTIONS = [
    ("FT-1", DAY1.replace(hour=10), "FTC1", "FTM1", 10.0, "DE", "DE"),
    ("FT-4", DAY1.replace(hour=10, minute=15), "FTC2", "FTM1", 100.0, "DE", "DE"),
    ("FT-2", DAY1.replace(hour=10, minute=30), "FTC1", "FTM2", 20.0, "FR", "DE"),
    ("FT-3", DAY1.replace(hour=12), "FTC1", "FTM1", 30.0, "DE", "DE"),
    ("FT-5", DAY2.replace(hour=9), "FTC1", "FTM3", 40.0, "US", "DE"),
]
# FT-1 was fraud, reported the same day: known to FTM1's day-1 row. FT-4 was reported on day 2, after the
# day-1 batch: unknown to that row.
LABELS = [("FT-1", DAY1.replace(hour=11)), ("FT-4", DAY2.replace(hour=8))]
CUSTOMER_VIEW = [
    *(f"cust_txn_count_{w}" for w in ("1h", "24h", "7d", "30d")),
    *(f"cust_amount_sum_{w}" for w in ("1h", "24h", "7d", "30d")),
    *(f"cust_amount_mean_{w}" for w in ("1h", "24h", "7d", "30d")),
    "cust_amount_std_30d",
    "cust_amount_max_30d",
    "cust_distinct_merchants_30d",
    "cust_distinct_countries_30d",
    "cust_last_txn_epoch_s",
]
MERCHANT_VIEW = ["merch_txn_count_30d", "merch_amount_sum_30d", "merch_fraud_count_30d", "merch_fraud_rate_30d"]


def _insert(connection: sa.Connection) -> None:
    connection.execute(sa.text("delete from labels where transaction_id like 'FT-%'"))
    connection.execute(sa.text("delete from transactions where transaction_id like 'FT-%'"))
    for line, (tx, at, customer, merchant, amount, m_country, c_country) in enumerate(TRANSACTIONS):
        connection.execute(
            sa.text(
                "insert into transactions (transaction_id, event_timestamp, customer_id, merchant_id, mcc, "
                "merchant_country, customer_country, channel, card_age_days, amount, currency, source_file, "
                "line_number) values (:tx, :at, :customer, :merchant, 5411, :m_country, :c_country, 'pos', 400, "
                ":amount, 'EUR', 'test_features', :line)"
            ),
            {"tx": tx, "at": at, "customer": customer, "merchant": merchant, "amount": amount,
             "m_country": m_country, "c_country": c_country, "line": line},
        )  # fmt: skip
    for line, (tx, reported) in enumerate(LABELS):
        connection.execute(
            sa.text(
                "insert into labels (transaction_id, reported_at, reason_code, source_file, line_number) "
                "values (:tx, :reported, 'fraud', 'test_features', :line)"
            ),
            {"tx": tx, "reported": reported, "line": line},
        )


@pytest.fixture(scope="module")
def store(database_url: str, redis_url: str):
    """Hand-written transactions loaded, both days' features computed, definitions applied."""
    from gyre.db import engine
    from gyre.features.compute import compute_interval, ensure_schema
    from gyre.features.materialize import apply_if_changed
    from gyre.features.store import feature_store

    ensure_schema()
    with engine().begin() as connection:
        _insert(connection)
    compute_interval(DAY1, DAY2)
    compute_interval(DAY2, DAY3)
    apply_if_changed()
    return feature_store(fresh=True)


def _table(name: str, key: str, ids: list[str]) -> pd.DataFrame:
    from gyre.db import engine

    with engine().connect() as connection:
        frame = pd.read_sql(
            sa.text(f"select * from {name} where {key} = any(:ids) order by {key}, event_timestamp"),  # noqa: S608
            connection,
            params={"ids": ids},
        )
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return frame


def test_feature_rows_are_each_days_last_state_stamped_when_the_batch_lands(store) -> None:
    customer = _table("customer_features", "customer_id", ["FTC1"]).set_index("event_timestamp")
    assert list(customer.index) == [DAY2, DAY3]  # one row per day transacted, at the day's end
    day1 = customer.loc[DAY2]  # after 12:00, the last of day 1: 10:30 lies outside the hour before it
    assert (day1.cust_txn_count_1h, day1.cust_txn_count_24h, day1.cust_amount_sum_24h) == (1, 3, 60.0)
    assert (day1.cust_distinct_merchants_30d, day1.cust_distinct_countries_30d) == (2, 2)
    assert day1.cust_amount_std_30d == pytest.approx(math.sqrt(200 / 3))
    assert day1.cust_amount_max_30d == 30.0
    assert day1.cust_last_txn_epoch_s == DAY1.replace(hour=12).timestamp()
    day2 = customer.loc[DAY3]
    # [day1 09:00, day2 09:00] holds all four; the 1 h window only the transaction itself.
    assert (day2.cust_txn_count_1h, day2.cust_txn_count_24h, day2.cust_amount_mean_30d) == (1, 4, 25.0)
    assert (day2.cust_distinct_merchants_30d, day2.cust_distinct_countries_30d) == (3, 3)
    assert day2.cust_last_txn_epoch_s == DAY2.replace(hour=9).timestamp()

    merchant = _table("merchant_features", "merchant_id", ["FTM1"]).set_index("event_timestamp")
    assert list(merchant.index) == [DAY2]
    day1 = merchant.loc[DAY2]
    assert (day1.merch_txn_count_30d, day1.merch_amount_sum_30d, day1.merch_fraud_count_30d) == (3, 140.0, 1)
    assert day1.merch_fraud_rate_30d == pytest.approx(1 / 3)


def test_computing_an_interval_again_gives_the_same_rows(store) -> None:
    from gyre.features.compute import compute_interval

    before = _table("customer_features", "customer_id", ["FTC1", "FTC2"])
    merchants_before = _table("merchant_features", "merchant_id", ["FTM1", "FTM2", "FTM3"])
    rows = compute_interval(DAY1, DAY2)
    assert (rows.customer_rows, rows.merchant_rows) == (2, 2)
    pd.testing.assert_frame_equal(before, _table("customer_features", "customer_id", ["FTC1", "FTC2"]))
    pd.testing.assert_frame_equal(
        merchants_before, _table("merchant_features", "merchant_id", ["FTM1", "FTM2", "FTM3"])
    )


def _as_of_by_hand(entities: pd.DataFrame, rows: pd.DataFrame, key: str, ttl: dt.timedelta) -> pd.DataFrame:
    """The latest row at or before each event, unless older than the TTL: what Feast must return."""
    out = []
    for _, entity in entities.iterrows():
        candidates = rows[(rows[key] == entity[key]) & (rows["event_timestamp"] <= entity["event_timestamp"])]
        candidates = candidates[candidates["event_timestamp"] >= entity["event_timestamp"] - ttl]
        out.append(candidates.iloc[-1] if len(candidates) else pd.Series(dtype=object))
    return pd.DataFrame(out).reset_index(drop=True)


def test_historical_retrieval_matches_a_hand_built_as_of_frame(store) -> None:
    customer_rows = _table("customer_features", "customer_id", ["FTC1"])
    merchant_rows = _table("merchant_features", "merchant_id", ["FTM1"])
    last = customer_rows["event_timestamp"].iloc[-1]  # the end of day 2
    cases = {
        "exactly_at_a_feature_timestamp": DAY2,
        "just_before_the_batch_lands": DAY2 - US,
        "later_the_same_day_is_not_seen": DAY2.replace(hour=10),
        "before_any_row": DAY1.replace(hour=9),
        "last_moment_inside_ttl": last + dt.timedelta(days=30),
        "just_past_ttl": last + dt.timedelta(days=30) + US,
    }
    entities = pd.DataFrame(
        {
            "case": list(cases),
            "customer_id": "FTC1",
            "merchant_id": "FTM1",
            "event_timestamp": pd.to_datetime(list(cases.values()), utc=True),
        }
    )
    refs = [f"customer_features:{f}" for f in CUSTOMER_VIEW] + [f"merchant_features:{f}" for f in MERCHANT_VIEW]
    got = store.get_historical_features(entity_df=entities, features=refs).to_df()
    got = got.set_index("case").loc[list(cases)].reset_index()
    expected_c = _as_of_by_hand(entities, customer_rows, "customer_id", dt.timedelta(days=30))
    expected_m = _as_of_by_hand(entities, merchant_rows, "merchant_id", dt.timedelta(days=7))
    for name in CUSTOMER_VIEW:
        pd.testing.assert_series_equal(
            pd.to_numeric(got[name]).astype(float), pd.to_numeric(expected_c[name]).astype(float), check_names=False
        )
    for name in MERCHANT_VIEW:
        pd.testing.assert_series_equal(
            pd.to_numeric(got[name]).astype(float), pd.to_numeric(expected_m[name]).astype(float), check_names=False
        )
    by_case = got.set_index("case")
    assert by_case.loc["exactly_at_a_feature_timestamp", "cust_txn_count_24h"] == 3
    assert pd.isna(by_case.loc["just_before_the_batch_lands", "cust_txn_count_24h"])
    # Day 2's 09:00 transaction lands with day 2's batch: at 10:00 the row is still day 1's.
    assert by_case.loc["later_the_same_day_is_not_seen", "cust_txn_count_24h"] == 3
    assert pd.isna(by_case.loc["before_any_row", "cust_txn_count_1h"])
    assert by_case.loc["last_moment_inside_ttl", "cust_txn_count_24h"] == 4
    assert pd.isna(by_case.loc["just_past_ttl", "cust_txn_count_24h"])
    assert pd.isna(by_case.loc["just_past_ttl", "merch_txn_count_30d"])  # merchants live 7 days


def test_training_set_rows_see_only_what_serving_has_when_each_transaction_arrives(store) -> None:
    """The spine of training (sql/training/spine.sql) through the FeatureService, request features included."""
    from gyre.db import engine, query
    from gyre.features.online import feature_names, feature_service

    with engine().connect() as connection:
        params = {"start": DAY1, "end": DAY3, "labels_as_of": DAY3}
        spine = pd.read_sql(query("training/spine.sql"), connection, params=params)
    spine = spine[spine["transaction_id"].str.startswith("FT-")]
    service = feature_service(store)
    frame = store.get_historical_features(entity_df=spine, features=service).to_df().set_index("transaction_id")
    assert set(feature_names(service)) <= set(frame.columns)
    first, noon, next_day = frame.loc["FT-1"], frame.loc["FT-3"], frame.loc["FT-5"]
    assert pd.isna(first["cust_txn_count_30d"]) and pd.isna(first["seconds_since_prev_txn"])
    # Day 1's earlier transactions are not in the online store until day 1's batch lands: none for noon either.
    assert pd.isna(noon["cust_txn_count_24h"]) and pd.isna(noon["merch_fraud_count_30d"])
    assert noon["hour_of_day"] == 12.0
    # Day 2 at 09:00 sees day 1's last state: three transactions, the last 21 h earlier, a mean of 20.
    assert (next_day["cust_txn_count_24h"], next_day["seconds_since_prev_txn"], next_day["hour_of_day"]) == (
        3,
        21 * 3600.0,
        9.0,
    )
    assert next_day["amount_to_customer_mean_30d"] == pytest.approx(40.0 / 20.0)
    assert (next_day["is_foreign"], next_day["txn_amount"], next_day["txn_mcc"]) == (1.0, 40.0, "5411")
    assert bool(spine.set_index("transaction_id").loc["FT-1", "is_fraud"])


def _redis_snapshot() -> dict[bytes, dict[bytes, bytes]]:
    from gyre.services.endpoints import redis_url

    client = redis.Redis.from_url(redis_url())
    try:
        return {key: client.hgetall(key) for key in client.scan_iter(count=1000) if client.type(key) == b"hash"}
    finally:
        client.close()


@pytest.fixture(scope="module")
def materialized(store):
    from gyre.features.materialize import materialize_interval

    first = materialize_interval(DAY1, DAY2, store)
    second = materialize_interval(DAY2, DAY3, store)
    return first, second


def test_online_equals_offline_as_of_and_rematerializing_changes_nothing(store, materialized) -> None:
    from gyre.features.materialize import check_freshness, check_skew

    assert [m.entities for m in materialized] == [4, 2]  # day 1: FTC1, FTC2, FTM1, FTM2; day 2: FTC1, FTM3
    refs = [f"customer_features:{f}" for f in CUSTOMER_VIEW] + [f"merchant_features:{f}" for f in MERCHANT_VIEW]
    pairs = [("FTC1", "FTM1"), ("FTC2", "FTM2"), ("FTC1", "FTM3")]
    online = store.get_online_features(
        features=refs, entity_rows=[{"customer_id": c, "merchant_id": m} for c, m in pairs]
    ).to_df()
    entities = pd.DataFrame({"customer_id": [c for c, _ in pairs], "merchant_id": [m for _, m in pairs]})
    entities["event_timestamp"] = pd.Timestamp(DAY3)
    offline = store.get_historical_features(entity_df=entities, features=refs).to_df()
    offline = offline.set_index(["customer_id", "merchant_id"]).loc[pairs].reset_index()
    for name in CUSTOMER_VIEW + MERCHANT_VIEW:
        assert online[name].astype(float).to_numpy() == pytest.approx(offline[name].astype(float).to_numpy(), rel=1e-6)
    assert online["cust_txn_count_24h"].tolist() == [4, 1, 4]

    assert check_freshness(DAY1, DAY2, store).entities == 4
    assert check_skew(DAY2, DAY3, store).rows >= 1

    before = _redis_snapshot()
    from gyre.features.materialize import materialize_interval

    materialize_interval(DAY1, DAY2, store)
    materialize_interval(DAY2, DAY3, store)
    assert _redis_snapshot() == before


def test_unknown_entities_give_nulls_not_errors(store, materialized) -> None:
    from gyre.features.online import online_features

    request = {
        "customer_id": "FT-nobody",
        "merchant_id": "FT-nowhere",
        "amount": 12.5,
        "merchant_country": "FR",
        "customer_country": "DE",
        "channel": "ecom",
        "mcc": 5999,
        "card_age_days": None,
        "event_timestamp": DAY3,
    }
    known = {**request, "customer_id": "FTC1", "merchant_id": "FTM1", "amount": 80.0}
    frame = online_features([request, known], store)
    unknown, seen = frame.iloc[0], frame.iloc[1]
    assert all(pd.isna(unknown[name]) for name in CUSTOMER_VIEW[:-1] + MERCHANT_VIEW)
    assert pd.isna(unknown["amount_to_customer_mean_30d"]) and pd.isna(unknown["seconds_since_prev_txn"])
    assert (unknown["txn_amount"], unknown["is_foreign"], unknown["hour_of_day"]) == (12.5, 1.0, 0.0)
    # FTC1's latest row is day 2 09:00 (mean 25 over four transactions); the request comes 15 h later.
    assert seen["amount_to_customer_mean_30d"] == pytest.approx(80.0 / 25.0)
    assert seen["seconds_since_prev_txn"] == pytest.approx(15 * 3600.0)
    assert seen["merch_fraud_count_30d"] == 1


def test_checks_fail_loudly_on_stale_or_skewed_online_values(store, materialized) -> None:
    from gyre.db import engine
    from gyre.features.compute import compute_interval
    from gyre.features.materialize import FeatureCheckFailed, check_freshness, check_skew

    with engine().begin() as connection:
        connection.execute(
            sa.text(
                "update customer_features set cust_amount_sum_30d = cust_amount_sum_30d + 0.01 "
                "where customer_id = 'FTC1' and event_timestamp = :at"
            ),
            {"at": DAY3},
        )
    try:
        with pytest.raises(FeatureCheckFailed, match="cust_amount_sum_30d"):
            check_skew(DAY2, DAY3, store)
    finally:
        compute_interval(DAY2, DAY3)
    check_skew(DAY2, DAY3, store)

    # A day computed but never materialized is not fresh.
    late = ("FT-6", DAY3.replace(hour=8), "FTC3", "FTM1", 5.0, "DE", "DE")
    with engine().begin() as connection:
        connection.execute(sa.text("delete from transactions where transaction_id = 'FT-6'"))
        connection.execute(
            sa.text(
                "insert into transactions (transaction_id, event_timestamp, customer_id, merchant_id, mcc, "
                "merchant_country, customer_country, channel, card_age_days, amount, currency, source_file, "
                "line_number) values (:tx, :at, :c, :m, 5411, 'DE', 'DE', 'pos', 1, :amount, 'EUR', "
                "'test_features', 99)"
            ),
            {"tx": late[0], "at": late[1], "c": late[2], "m": late[3], "amount": late[4]},
        )
    compute_interval(DAY3, DAY3 + dt.timedelta(days=1))
    with pytest.raises(FeatureCheckFailed, match="not fresh"):
        check_freshness(DAY3, DAY3 + dt.timedelta(days=1), store)


def test_feature_server_serves_what_the_sdk_reads(store, materialized) -> None:
    """The feature server as `gyre up` starts it: healthy on 127.0.0.1, the same values as the in-process SDK
    for a caller with its API key."""
    from gyre.config import get_settings
    from gyre.features.online import online_features
    from gyre.services.credentials import load_or_create
    from gyre.services.feature_server import EmbeddedFeatureServer
    from gyre.services.process import wait_ready

    settings = get_settings()
    creds = load_or_create(settings.home)[0]
    server = EmbeddedFeatureServer(settings, creds)
    assert server.url.startswith("http://127.0.0.1:")
    server.prepare()
    processes = server.processes()
    for process in processes:
        process.start()
    try:
        wait_ready(processes, server.ready, 180)
        request = {
            "customer_id": ["FTC1", "FT-nobody"],
            "merchant_id": ["FTM1", "FT-nowhere"],
            "amount": [80.0, 1.0],
            "merchant_country": ["DE", "DE"],
            "customer_country": ["DE", "DE"],
            "channel": ["pos", "pos"],
            "mcc": [5411, 5411],
            "card_age_days": [400.0, 1.0],
            "event_timestamp": [int(DAY3.timestamp())] * 2,
        }
        response = httpx.post(
            f"{server.url}/get-online-features",
            json={"feature_service": settings.feature_service, "entities": request},
            headers={"X-API-Key": creds.feature_server_api_key},
            timeout=30,
        )
        assert response.status_code == 200, response.text[:500]
        body = response.json()
        served = {
            name: [result["values"][0], result["values"][1]]
            for name, result in zip(body["metadata"]["feature_names"], body["results"], strict=True)
        }
        rows = [{k: v[i] for k, v in request.items()} | {"event_timestamp": DAY3} for i in range(2)]
        sdk = online_features(rows, store)
        for name in sdk.columns:
            for i in range(2):
                a, b = served[name][i], sdk[name].iloc[i]
                if isinstance(b, str):
                    assert a == b, name
                elif b is None or pd.isna(b):
                    assert a is None, name
                else:
                    assert float(a) == pytest.approx(float(b), rel=1e-9), name
        bad = httpx.post(
            f"{server.url}/get-online-features",
            json={"feature_service": "nope", "entities": {}},
            headers={"X-API-Key": creds.feature_server_api_key},
        )
        assert 400 <= bad.status_code < 500 or bad.status_code == 404, bad.status_code
    finally:
        for process in reversed(processes):
            process.stop()


def test_validated_days_without_features_are_caught_up(store) -> None:
    """A day whose ingest events the scheduler coalesced away is still found: validated, but no feature rows.
    A day with only one feed in is not validated."""
    from gyre.db import engine
    from gyre.features.compute import compute_interval, day_interval, days_without_features, validated_days

    day = dt.date(2041, 3, 15)
    with engine().begin() as connection:
        connection.execute(
            sa.text(
                "insert into transactions (transaction_id, event_timestamp, customer_id, merchant_id, mcc, "
                "merchant_country, customer_country, channel, card_age_days, amount, currency, source_file, "
                "line_number) values ('FT-CATCHUP', :at, 'FTC9', 'FTM9', 5411, 'DE', 'DE', 'pos', 400, 12.5, "
                "'EUR', 'test_features', 0)"
            ),
            {"at": dt.datetime.combine(day, dt.time(9), UTC)},
        )
        for feed in ("transactions", "labels"):
            connection.execute(
                sa.text("insert into ingest_snapshot (feed, batch_date, rows, digest) values (:feed, :day, 1, 'x')"),
                {"feed": feed, "day": day},
            )
    try:
        assert validated_days([(day + dt.timedelta(days=1)).isoformat(), day.isoformat()]) == [day.isoformat()]
        assert day.isoformat() in days_without_features()
        compute_interval(*day_interval(day))
        assert day.isoformat() not in days_without_features()
    finally:
        with engine().begin() as connection:
            connection.execute(sa.text("delete from ingest_snapshot where batch_date = :day"), {"day": day})
            connection.execute(sa.text("delete from customer_features where customer_id = 'FTC9'"))
            connection.execute(sa.text("delete from merchant_features where merchant_id = 'FTM9'"))
            connection.execute(sa.text("delete from transactions where transaction_id = 'FT-CATCHUP'"))


def test_serving_read_plan_equals_feasts_own_online_read_values_and_scores(store, materialized) -> None:
    """Serving's one-round-trip read (gyre.serving.features) against Feast's get_online_features for the same
    transactions, known and never materialized: every feature value, the unknown flags and the model's scores."""
    import numpy as np

    from gyre.config import get_settings
    from gyre.export.onnx import OnnxScorer, convert
    from gyre.features.online import feature_names, feature_service
    from gyre.serving.features import OnlineFeatures, sdk_features
    from gyre.serving.model import Deployed
    from gyre.serving.schema import Transaction
    from gyre.training.pipeline import build_pipeline

    features = OnlineFeatures(get_settings())
    assert features.plan is not None, features.error
    pairs = [("FTC1", "FTM1"), ("FTC2", "FTM2"), ("FTC1", "FTM3"), ("FT-never-seen", "FTM1"), ("FTC2", "FT-nowhere")]
    transactions = [
        Transaction(
            transaction_id=f"FTP-{i}",
            customer_id=customer,
            merchant_id=merchant,
            event_timestamp=DAY3 + dt.timedelta(hours=i),
            amount=12.5 * (i + 1),
            channel="ecom",
            mcc="5999",
            merchant_country="FR",
            customer_country="DE" if i % 2 else "FR",
            card_age_days=30 * i,
        )
        for i, (customer, merchant) in enumerate(pairs)
    ]
    fast, reference = features(transactions), sdk_features(transactions, features)
    names = feature_names(feature_service(store))
    for got, want in zip(fast.rows, reference.rows, strict=True):
        for name in names:
            a, b = got[name], want[name]
            assert (a is None or a != a) == (b is None or b != b), (name, a, b)
            if a is not None and a == a and isinstance(b, float):
                assert a == pytest.approx(b, rel=1e-12), name
            elif a is not None and a == a:
                assert a == b, name
    assert fast.unknown == reference.unknown == [False, False, False, True, True]
    assert fast.rows[0]["cust_txn_count_24h"] == 4 and fast.rows[3]["cust_txn_count_24h"] is None

    numeric = [n for n in names if n not in ("txn_channel", "txn_mcc")]
    categorical = ["txn_channel", "txn_mcc"]
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({n: rng.normal(size=200) for n in numeric})
    frame["txn_channel"], frame["txn_mcc"] = rng.choice(["ecom", "pos"], 200), rng.choice(["5999", "5411"], 200)
    pipeline = build_pipeline(numeric, categorical, "logistic_regression")
    pipeline.fit(frame, rng.integers(0, 2, 200))
    model = Deployed(
        "parity", "1", "champion", OnnxScorer(convert(pipeline, numeric, categorical), numeric, categorical), 0.5
    )
    assert model.score(fast.rows).tolist() == model.score(reference.rows).tolist()
