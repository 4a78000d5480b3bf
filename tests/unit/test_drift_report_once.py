"""The drift report measured once per column is the report measured the way Evidently does it by itself.

Within a report run Gyre measures each column's drift once (Evidently's drift preset measures it three
times) and draws each column's summary chart once (seven times otherwise). On the drift scenarios' data and a
clean night, both ways must give the same statistics, the same per-column and dataset drift verdicts, the
same JSON and the same HTML (but for the random widget ids), and leave Evidently's own functions in place.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gyre.monitoring.drift import DriftResult, _clean, _method, run_drift_report
from tests.integration.monitoring_support import night_traffic

NIGHT = dt.date(2026, 3, 20)
SCENARIOS = ("baseline", "amount_inflation", "new_mcc_mix", "concept_drift", "amounts_in_cents")
CATEGORICAL = ["txn_channel", "txn_mcc"]
_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|metric_[0-9a-f]{32}")


def scored(frame: pd.DataFrame) -> pd.DataFrame:
    """The night's model inputs with a score that moves with the amounts and the merchant's fraud rate."""
    numeric = [c for c in frame.columns if frame[c].dtype == np.float64]
    logit = np.log1p(frame["txn_amount"].clip(lower=0)) / 3 + 20 * frame["merch_fraud_rate_30d"].fillna(0) - 4
    return frame[[*numeric, *CATEGORICAL]].assign(
        score=1 / (1 + np.exp(-logit)), is_fraud=frame["is_fraud"].astype(int)
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return scored(night_traffic(NIGHT - dt.timedelta(days=1)))


def features(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("score", "is_fraud")]


def html(result: DriftResult) -> str:
    return _IDS.sub("ID", result.html_path.read_text())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_measuring_each_column_once_changes_nothing_in_the_report(
    scenario: str, reference: pd.DataFrame, tmp_path: Path
) -> None:
    from evidently.legacy.calculations import data_drift
    from evidently.metrics import column_statistics

    originals = (data_drift.get_one_column_drift, column_statistics.distribution)
    current = scored(night_traffic(NIGHT, scenario))
    names = features(reference)
    once = run_drift_report(reference, current, names, "score", tmp_path, f"{scenario}-once")
    thrice = run_drift_report(
        reference, current, names, "score", tmp_path, f"{scenario}-thrice", each_column_once=False
    )

    assert (data_drift.get_one_column_drift, column_statistics.distribution) == originals
    assert column_statistics.get_one_column_drift is originals[0]
    assert once.features == thrice.features and once.prediction == thrice.prediction
    assert once.drifted_features == thrice.drifted_features
    if scenario != "baseline":
        assert once.drifted_features, f"{scenario}: no feature drifted"
    assert json.loads(once.json_path.read_text()) == json.loads(thrice.json_path.read_text())
    assert html(once) == html(thrice)
    assert "Dataset Drift" in html(once) and "Drift is detected for" in html(once)


def test_the_quality_report_is_unchanged_too(reference: pd.DataFrame, tmp_path: Path) -> None:
    current = scored(night_traffic(NIGHT, "concept_drift"))
    names = features(reference)
    kwargs = {"label": "is_fraud", "with_summary": False}
    once = run_drift_report(reference, current, names, "score", tmp_path, "q-once", **kwargs)
    thrice = run_drift_report(
        reference, current, names, "score", tmp_path, "q-thrice", each_column_once=False, **kwargs
    )
    assert once.quality == thrice.quality and once.quality is not None
    assert once.features == thrice.features and once.prediction == thrice.prediction
    assert json.loads(once.json_path.read_text()) == json.loads(thrice.json_path.read_text())
    assert html(once) == html(thrice)


def test_each_column_gets_the_test_evidently_picks(reference: pd.DataFrame) -> None:
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    current = scored(night_traffic(NIGHT, "amounts_in_cents"))
    for column in [*features(reference), "score"]:
        ref, cur = _clean(reference[column]), _clean(current[column])
        numeric = column not in CATEGORICAL
        kind = ColumnType.Numerical if numeric else ColumnType.Categorical
        assert _method(ref, cur, numeric) is get_stattest(ref, cur, kind, None), column
        assert _method(ref.iloc[:800], cur.iloc[:800], numeric) is get_stattest(
            ref.iloc[:800], cur.iloc[:800], kind, None
        )
