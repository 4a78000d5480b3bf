"""Drift of the serving traffic against the champion's training sample, measured by Evidently 0.7.

One Evidently report per night holds everything a person wants to look at (per-feature drift with
distribution charts, prediction drift, a data summary, classification quality once labels have matured);
the same run yields the numbers the retrain decision needs, so the picture and the decision never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

# Evidently reports a p-value for statistical tests (drift when below the threshold) and a distance
# for the rest (drift when at or above it); the method's name says which.
_P_VALUE_MARK = "p_value"


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str
    score: float
    threshold: float
    psi: float | None = None

    @property
    def drifted(self) -> bool:
        if _P_VALUE_MARK in self.method:
            return self.score < self.threshold
        return self.score >= self.threshold


@dataclass(frozen=True)
class Quality:
    """Classification quality on rows whose labels have arrived."""

    rows: int
    roc_auc: float | None
    precision: float | None
    recall: float | None
    positives: int = 0


@dataclass(frozen=True)
class DriftResult:
    features: dict[str, ColumnDrift]
    prediction: ColumnDrift | None
    reference_rows: int
    current_rows: int
    html_path: Path
    json_path: Path
    quality: Quality | None = None

    @property
    def drifted_features(self) -> list[str]:
        return sorted(name for name, drift in self.features.items() if drift.drifted)

    @property
    def drifted_share(self) -> float:
        return len(self.drifted_features) / len(self.features) if self.features else 0.0


def _clean(column: pd.Series) -> pd.Series:
    """The values Evidently's drift tests see: infinities and missing values dropped."""
    return column.replace([np.inf, -np.inf], np.nan).dropna()


def _methods(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str]) -> dict:
    """Each column's drift test as Evidently itself picks it (by size and distinct values), picked once.

    Left to choose, Evidently repeats the choice (a distinct count over both samples) in each of the three
    places the preset measures a column; naming the test it would pick gives the same statistic.
    """
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    kinds = {**dict.fromkeys(numeric, ColumnType.Numerical), **dict.fromkeys(categorical, ColumnType.Categorical)}
    return {c: get_stattest(_clean(reference[c]), _clean(current[c]), kind, None) for c, kind in kinds.items()}


def _psi(reference: pd.Series, current: pd.Series, numeric: bool) -> float:
    """PSI by Evidently's own test (its bins and floor), without a second chart per column in the report."""
    from evidently.legacy.calculations.stattests import psi_stat_test
    from evidently.legacy.core import ColumnType

    kind = ColumnType.Numerical if numeric else ColumnType.Categorical
    return float(psi_stat_test(_clean(reference), _clean(current), kind, None).drift_score)


def _value_drifts(metrics: list[dict], names: dict[str, str]) -> dict[str, dict]:
    """Each column's drift result from Evidently's ValueDrift metrics, its method by display name."""
    default: dict[str, dict] = {}
    for metric in metrics:
        config = metric.get("config") or {}
        if not str(config.get("type", "")).endswith(":ValueDrift"):
            continue
        column = config["column"]
        method = names.get(column, str(config.get("method")))
        default[column] = {"method": method, "score": float(metric["value"]), "threshold": config["threshold"]}
    return default


def _quality(metrics: list[dict]) -> dict[str, float]:
    wanted = {"RocAuc": "roc_auc", "Precision": "precision", "Recall": "recall"}
    found: dict[str, float] = {}
    for metric in metrics:
        kind = str((metric.get("config") or {}).get("type", "")).rsplit(":", 1)[-1]
        if kind in wanted and isinstance(metric.get("value"), int | float):
            found[wanted[kind]] = float(metric["value"])
    return found


def run_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    prediction: str,
    out_dir: Path,
    name: str,
    label: str | None = None,
    min_labelled_rows: int = 200,
    with_summary: bool = True,
) -> DriftResult:
    """Run the report, save it as HTML and JSON under ``out_dir/name.*``, and return its numbers.

    Classification quality is added when ``label`` is given and at least ``min_labelled_rows`` current
    rows carry a matured label (labels arrive days after the transaction). The data summary is for people
    reading the report and costs most of its time; ``with_summary=False`` leaves it out where nobody will.
    """
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset, DataSummaryPreset

    missing = [c for c in [*features, prediction] if c not in current.columns or c not in reference.columns]
    if missing:
        raise ValueError(f"columns missing from the reference or current data: {missing}")
    if current.empty or reference.empty:
        raise ValueError(f"nothing to compare: reference {len(reference)} rows, current {len(current)} rows")

    columns = [*features, prediction]
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(reference[c])]
    categorical = [c for c in columns if c not in numeric]
    labelled = current if label is None else current[current[label].notna()] if label in current else current.iloc[:0]
    with_quality = label is not None and len(labelled) >= min_labelled_rows and label in reference

    if with_quality:
        current = labelled  # drift, too, is measured on the rows whose quality is
    tests = _methods(reference, current, numeric, categorical)
    metrics: list = [DataDriftPreset(columns=columns, per_column_method={c: t.name for c, t in tests.items()})]
    if with_summary:
        metrics.append(DataSummaryPreset(columns=columns))
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    if with_quality:
        metrics.append(ClassificationPreset())
        definition = DataDefinition(
            numerical_columns=numeric,
            categorical_columns=categorical,
            classification=[BinaryClassification(target=label, prediction_probas=prediction)],
        )
    keep = [*columns, label] if with_quality else columns
    snapshot = Report(metrics).run(
        Dataset.from_pandas(current[keep].reset_index(drop=True), data_definition=definition),
        Dataset.from_pandas(reference[keep].reset_index(drop=True), data_definition=definition),
        name=name,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, json_path = out_dir / f"{name}.html", out_dir / f"{name}.json"
    snapshot.save_html(str(html_path))
    snapshot.save_json(str(json_path))

    results = snapshot.dict()["metrics"]
    default = _value_drifts(results, {c: test.display_name for c, test in tests.items()})
    psi = {c: _psi(reference[c], current[c], c in numeric) for c in columns}
    drifts = {c: ColumnDrift(column=c, psi=psi.get(c), **default[c]) for c in columns if c in default}
    quality = None
    if with_quality:
        found = _quality(results)
        positives = int(labelled[label].astype(bool).sum())
        quality = Quality(
            len(labelled), found.get("roc_auc"), found.get("precision"), found.get("recall"), positives=positives
        )
    return DriftResult(
        features={c: drifts[c] for c in features if c in drifts},
        prediction=drifts.get(prediction),
        reference_rows=len(reference),
        current_rows=len(current),
        html_path=html_path,
        json_path=json_path,
        quality=quality,
    )
