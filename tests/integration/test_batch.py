"""Batch inference on the real Postgres, Redis, Feast and MLflow: the `score_batch` DAG once end to end, and
batch scores equal to the endpoint's for the same transactions.

Hand-written transactions in 2043 (no other test uses those days) for a few customers and merchants, so
most day-2 transactions have day-1 features. Day 1 is materialized into Redis: what the endpoint reads on
day 2 is what Feast's point-in-time join gives the batch for day 2.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from tests.integration.airflow_support import migrated_airflow_env
from tests.integration.serving_support import promote, register_versions, serving_env

pytestmark = pytest.mark.integration
DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "score_batch.py"
UTC = dt.UTC
DAY1 = dt.datetime(2043, 5, 1, tzinfo=UTC)
DAY2, DAY3 = DAY1 + dt.timedelta(days=1), DAY1 + dt.timedelta(days=2)
PER_DAY = 30

_RUN = """
import json, runpy
dag = runpy.run_path({dag_file!r})["dag"]
run = dag.test(run_conf={{"start": {day!r}, "end": {day!r}}})
print("RESULT", json.dumps({{"state": str(run.state)}}))
"""


def _transactions() -> list[dict]:
    rng = np.random.default_rng(17)
    rows = []
    for day in (DAY1, DAY2):
        for i in range(PER_DAY):
            rows.append(
                {
                    "tx": f"BT-{day:%d}-{i:03d}",
                    "at": day + dt.timedelta(minutes=int(rng.integers(0, 24 * 60)), seconds=i),
                    "customer": f"BTC{rng.integers(1, 6)}",
                    "merchant": f"BTM{rng.integers(1, 4)}",
                    "mcc": int(rng.choice([5411, 5999, 4829])),
                    "m_country": str(rng.choice(["DE", "FR", "US"])),
                    "c_country": str(rng.choice(["DE", "FR"])),
                    "channel": str(rng.choice(["pos", "ecom"])),
                    "card_age": int(rng.integers(1, 900)),
                    "amount": round(float(rng.gamma(2.0, 40.0)) + 0.01, 2),
                    "line": len(rows),
                }
            )
    return rows


@pytest.fixture(scope="module")
def world(database_url: str, redis_url: str, mlflow_tracking_uri: str) -> Iterator[dict]:
    """Two days of transactions with features computed and day 1 online; a champion of a fresh model name."""
    from gyre.config import get_settings
    from gyre.db import apply_schema, engine
    from gyre.features.compute import compute_interval, ensure_schema
    from gyre.features.materialize import apply_if_changed, materialize_interval
    from gyre.features.store import feature_store

    apply_schema(("ingest/schema.sql",))
    ensure_schema()
    rows = _transactions()
    with engine().begin() as connection:
        connection.execute(sa.text("delete from labels where transaction_id like 'BT-%'"))
        connection.execute(sa.text("delete from transactions where transaction_id like 'BT-%'"))
        connection.execute(
            sa.text(
                "insert into transactions (transaction_id, event_timestamp, customer_id, merchant_id, mcc, "
                "merchant_country, customer_country, channel, card_age_days, amount, currency, source_file, "
                "line_number) values (:tx, :at, :customer, :merchant, :mcc, :m_country, :c_country, :channel, "
                ":card_age, :amount, 'EUR', 'test_batch', :line)"
            ),
            rows,
        )
        connection.execute(  # two day-1 frauds reported that day: known to the merchants' day-1 rows
            sa.text(
                "insert into labels (transaction_id, reported_at, reason_code, source_file, line_number) "
                "values (:tx, :reported, 'fraud', 'test_batch', 0)"
            ),
            [{"tx": r["tx"], "reported": DAY2 - dt.timedelta(minutes=1)} for r in rows[:2]],
        )
    compute_interval(DAY1, DAY2)
    compute_interval(DAY2, DAY3)
    apply_if_changed()
    materialize_interval(DAY1, DAY2, feature_store(fresh=True))
    name = f"fraud_batch_{uuid.uuid4().hex[:8]}"
    with serving_env(GYRE_MODEL_NAME=name):
        settings = get_settings()
        (version,) = register_versions(settings, 1)
        promote(settings, version)
        yield {"name": name, "version": version, "day2": [r for r in rows if r["at"] >= DAY2]}


def _written(source: str) -> pd.DataFrame:
    from gyre.db import engine

    with engine().connect() as connection:
        return pd.read_sql(
            sa.text("select * from batch_scores where source = :source and transaction_id like 'BT-%'"),
            connection,
            params={"source": source},
        ).set_index("transaction_id")


def test_batch_scores_equal_the_endpoints_for_the_same_transactions(world: dict) -> None:
    """Offline point-in-time features through the batch code and online features through serving's read
    path, for day 2's transactions, scored by the same champion: equal features, equal scores."""
    from gyre.batch.scoring import chunk_features, feature_rows, score_frame
    from gyre.batch.source import Interval, Source
    from gyre.config import get_settings
    from gyre.registry import models
    from gyre.serving.features import OnlineFeatures
    from gyre.serving.model import CHAMPION, load_version
    from gyre.serving.schema import Transaction
    from gyre.training.dataset import feature_store

    model = load_version(world["name"], CHAMPION, models.onnx_for)
    assert model.version == world["version"]
    store = feature_store()
    service = store.get_feature_service(get_settings().feature_service)
    (spine,) = list(Source(None, Interval(DAY2, DAY3)).chunks(1000))
    spine = spine[spine["transaction_id"].str.startswith("BT-")]
    offline = chunk_features(spine, store, service).set_index("transaction_id").loc[spine["transaction_id"]]
    batch = score_frame(model, offline.reset_index())

    transactions = [
        Transaction(
            transaction_id=r["tx"], customer_id=r["customer"], merchant_id=r["merchant"], event_timestamp=r["at"],
            amount=r["amount"], channel=r["channel"], mcc=str(r["mcc"]), merchant_country=r["m_country"],
            customer_country=r["c_country"], card_age_days=r["card_age"],
        )
        for r in sorted(world["day2"], key=lambda r: list(spine["transaction_id"]).index(r["tx"]))
    ]  # fmt: skip
    assert [t.transaction_id for t in transactions] == list(offline.index)
    online = OnlineFeatures(get_settings())
    assert online.plan is not None, online.error
    read = online(transactions)
    assert read.unknown == [False] * PER_DAY  # every day-2 customer and merchant has a day-1 row online
    batch_inputs = feature_rows(model, offline.reset_index())
    for got, want in zip(batch_inputs, read.rows, strict=True):
        for name in model.inputs:
            a, b = got[name], want[name]
            assert (a is None or a != a) == (b is None or b != b), (name, a, b)
            if a is not None and a == a:
                assert a == (pytest.approx(b, rel=1e-12) if isinstance(a, float) else b), name
    assert sum(row["cust_txn_count_30d"] is not None for row in batch_inputs) >= PER_DAY // 2
    online_scores = model.score(read.rows)
    np.testing.assert_allclose(batch, online_scores, rtol=0, atol=1e-9)
    assert len(set(np.round(batch, 6))) > 5  # different inputs, different scores: the comparison means something
    world["scores"] = dict(zip(offline.index, batch, strict=True))


def test_the_dag_scores_a_day_idempotently_and_refuses_unknown_inputs(world: dict, tmp_path: Path) -> None:
    """dag.test() for day 2 in chunks of 7; then, in process: a re-run replaces the rows, a named table scores
    the same, an empty day succeeds with zero, an unknown table or a missing column is a clear error."""
    from mlflow import MlflowClient

    from gyre.batch.run import BatchRequest, score_interval
    from gyre.batch.source import Interval, MissingColumns, UnknownTable
    from gyre.db import engine
    from gyre.registry import models

    env = migrated_airflow_env(tmp_path, DAG_FILE.parent, GYRE_MODEL_NAME=world["name"], GYRE_BATCH_CHUNK_ROWS="7")
    script = _RUN.format(dag_file=str(DAG_FILE), day=DAY2.date().isoformat())
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    logs = result.stdout + result.stderr
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line and json.loads(line.removeprefix("RESULT "))["state"].endswith("success"), logs[-4000:]
    with engine().connect() as connection:
        day_rows = connection.execute(
            sa.text("select count(*) from transactions where event_timestamp >= :s and event_timestamp < :e"),
            {"s": DAY2, "e": DAY3},
        ).scalar_one()
    assert f"chunk {-(-day_rows // 7)}: {day_rows} of {day_rows} rows scored (100%)" in logs

    written = _written("transactions")
    run_id = models.client().get_model_version(world["name"], world["version"]).run_id
    assert len(written) == PER_DAY
    assert set(written["model_version"]) == {world["version"]} and set(written["model_run_id"]) == {run_id}
    assert set(written["model_name"]) == {world["name"]}
    for tx, score in world["scores"].items():  # the DAG's scores are the endpoint's (previous test)
        assert written.loc[tx, "score"] == pytest.approx(score, abs=1e-9)
    (batch_run,) = set(written["batch_run_id"])
    tracked = MlflowClient().get_run(batch_run)
    assert tracked.data.metrics["rows"] == day_rows and 0 < tracked.data.metrics["score_p50"] <= 1
    assert MlflowClient().get_experiment(tracked.info.experiment_id).name == f"{world['name']}-batch"
    assert "batch/score_histogram.png" in [a.path for a in MlflowClient().list_artifacts(batch_run, "batch")]

    day2 = Interval(DAY2, DAY3)
    again = score_interval(BatchRequest(day2))
    rewritten = _written("transactions")
    assert again["rows"] == day_rows and len(rewritten) == PER_DAY
    assert set(rewritten["batch_run_id"]) == {again["batch_run_id"]} != {batch_run}
    pd.testing.assert_series_equal(rewritten["score"].sort_index(), written["score"].sort_index())

    with engine().begin() as connection:
        connection.execute(sa.text("drop table if exists batch_test_rescore, batch_test_partial"))
        connection.execute(
            sa.text("create table batch_test_rescore as select * from transactions where transaction_id like 'BT-%'")
        )
        connection.execute(sa.text("create table batch_test_partial as select transaction_id from transactions"))
    named = score_interval(BatchRequest(day2, "public.batch_test_rescore"))
    assert named["rows"] == PER_DAY and named["source"] == "public.batch_test_rescore"
    pd.testing.assert_series_equal(
        _written("public.batch_test_rescore")["score"].sort_index(), written["score"].sort_index()
    )

    empty = score_interval(BatchRequest(Interval(DAY3 + dt.timedelta(days=30), DAY3 + dt.timedelta(days=31))))
    assert empty["rows"] == 0
    assert "no rows to score" in MlflowClient().get_run(empty["batch_run_id"]).data.tags["gyre.note"]
    with pytest.raises(UnknownTable, match="'no_such_table' does not exist"):
        score_interval(BatchRequest(day2, "no_such_table"))
    with pytest.raises(MissingColumns, match="lacks column.*merchant_id"):
        score_interval(BatchRequest(day2, "batch_test_partial"))
