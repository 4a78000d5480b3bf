"""Traffic for the monitoring tests, written the way serving writes it: scored rows in ``prediction_log``.

``prediction_log`` is the contract between serving (writer) and monitoring (reader); these helpers write
it directly, with scores from the real champion, and write chargebacks into ``labels`` as ingest would.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pandas as pd
import sqlalchemy as sa

from gyre.db import apply_schema, engine
from gyre.training.pipeline import model_input
from gyre.training.synthetic import fraud_frame

_INSERT = sa.text(
    "insert into prediction_log (request_id, role, scored_at, event_timestamp, transaction_id, customer_id,"
    " merchant_id, model_name, model_version, score, decision, threshold, features, latency_ms)"
    " values (:request_id, 'champion', :scored_at, :event_timestamp, :transaction_id, :customer_id, :merchant_id,"
    " :model_name, :model_version, :score, :decision, 0.5, cast(:features as jsonb), 1.0)"
)
_LABEL = sa.text(
    "insert into labels (transaction_id, reported_at, reason_code, source_file, line_number)"
    " values (:transaction_id, :reported_at, '10.4', 'test', 0) on conflict do nothing"
)


def night_traffic(day: dt.date, scenario: str = "baseline", history_days: int = 6) -> pd.DataFrame:
    """The day's feature rows under ``scenario``, with a week of normal history behind the rolling windows."""
    frame = fraud_frame(day - dt.timedelta(days=history_days), history_days + 1, scenario=scenario, scenario_from=day)
    return frame[frame["event_timestamp"].dt.date == day].reset_index(drop=True)


def log_predictions(frame: pd.DataFrame, loaded: object, tag: str) -> int:
    """Score ``frame`` with a loaded registry version and log every row as its champion would."""
    apply_schema(("ingest/schema.sql", "serving/schema.sql"))
    inputs = model_input(frame, loaded.numeric, loaded.categorical)
    scores = loaded.proba(inputs)
    rows = [
        {
            "request_id": uuid.uuid4(),
            "scored_at": row.event_timestamp,
            "event_timestamp": row.event_timestamp,
            # Ids are made unique per call: several nights may reuse the generator's day numbering.
            "transaction_id": f"{tag}-{row.transaction_id}",
            "customer_id": row.customer_id,
            "merchant_id": row.merchant_id,
            "model_name": loaded.name,
            "model_version": loaded.version,
            "score": float(score),
            "decision": bool(score >= 0.5),
            "features": json.dumps(record),
        }
        for row, score, record in zip(
            frame.itertuples(index=False),
            scores,
            inputs.astype(object).where(inputs.notna(), None).to_dict(orient="records"),
            strict=True,
        )
    ]
    with engine().begin() as connection:
        connection.execute(_INSERT, rows)
    return len(rows)


def report_chargebacks(frame: pd.DataFrame, tag: str, after: dt.timedelta) -> int:
    """Labels for the frame's fraud, reported ``after`` the transaction (as the chargeback feed would)."""
    fraud = frame[frame["is_fraud"]]
    rows = [
        {"transaction_id": f"{tag}-{tx}", "reported_at": ts + after}
        for tx, ts in zip(fraud["transaction_id"], fraud["event_timestamp"], strict=True)
    ]
    with engine().begin() as connection:
        connection.execute(_LABEL, rows)
    return len(rows)
