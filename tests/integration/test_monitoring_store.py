"""Nightly results land in Postgres once per night: a re-run replaces, never duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gyre.db import engine
from gyre.monitoring.decision import Decision
from gyre.monitoring.drift import ColumnDrift, DriftResult
from gyre.monitoring.store import past_retrains, record_night, set_retrain_status

pytestmark = pytest.mark.integration

NIGHT = datetime(2026, 3, 10, tzinfo=UTC)


def result(share_drifted_feature: bool) -> DriftResult:
    score = 0.3 if share_drifted_feature else 0.01
    return DriftResult(
        features={
            "amount": ColumnDrift("amount", "Wasserstein distance (normed)", score, 0.1, psi=score),
            "hour": ColumnDrift("hour", "Wasserstein distance (normed)", 0.02, 0.1, psi=0.01),
        },
        prediction=ColumnDrift("score", "Wasserstein distance (normed)", 0.2, 0.1, psi=0.25),
        reference_rows=1000,
        current_rows=900,
        html_path=Path("/reports/n.html"),
        json_path=Path("/reports/n.json"),
    )


def counts() -> tuple[int, int, int]:
    with engine().connect() as connection:
        return tuple(
            connection.exec_driver_sql(f"select count(*) from {table}").scalar_one()
            for table in ("drift_reports", "feature_drift", "retrain_decisions")
        )


def test_a_rerun_of_the_same_night_replaces_its_rows(database_url: str) -> None:
    decision = Decision(retrain=True, reasons=["prediction drifted"])
    record_night(NIGHT, NIGHT + timedelta(days=1), "3", result(True), decision)
    first = counts()
    record_night(NIGHT, NIGHT + timedelta(days=1), "3", result(True), decision)
    assert counts() == first
    with engine().connect() as connection:
        row = connection.exec_driver_sql(
            "select drifted_features, prediction_psi from drift_reports where model_version = '3'"
        ).one()
    assert row.drifted_features == ["amount"] and row.prediction_psi == pytest.approx(0.25)


def test_guardrail_history_follows_the_retrain_status(database_url: str) -> None:
    night = NIGHT + timedelta(days=1)
    record_night(night, night + timedelta(days=1), "3", result(True), Decision(retrain=True, reasons=["drift"]))
    assert [p.finished for p in past_retrains(before=night + timedelta(days=1))][-1] is False
    set_retrain_status(night, "running")
    # A re-run of the night while the retrain runs must not reset it to "requested".
    record_night(night, night + timedelta(days=1), "3", result(True), Decision(retrain=True, reasons=["drift"]))
    with engine().connect() as connection:
        status = connection.exec_driver_sql(
            "select status from retrain_decisions where interval_start = %(night)s", {"night": night}
        ).scalar_one()
    assert status == "running"
    set_retrain_status(night, "done")
    assert [p.finished for p in past_retrains(before=night + timedelta(days=1))][-1] is True
