"""Drift of the serving traffic against the champion's training sample, measured by Evidently 0.7.

One Evidently report per night holds everything a person wants to look at (per-feature drift with
distribution charts, prediction drift, a data summary, classification quality once labels have matured);
the same run yields the numbers the retrain decision needs, so the picture and the decision never disagree.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _method(reference: pd.Series, current: pd.Series, numeric: bool) -> Any:
    """The drift test Evidently picks for a column (by size and distinct values), of cleaned values.

    Picked once and named in the report, so that no metric picks it again. Evidently counts the distinct
    values over both samples (twice) to tell a numeric column with at most five values from the rest; once
    more than five show among the first rows, the full count cannot change the pick.
    """
    from evidently.legacy.calculations import stattests
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    if numeric and len(reference) > 1000 and pd.concat([reference.iloc[:500], current.iloc[:500]]).nunique() > 5:
        return stattests.wasserstein_stat_test
    return get_stattest(reference, current, ColumnType.Numerical if numeric else ColumnType.Categorical, None)


def _psi(reference: pd.Series, current: pd.Series, numeric: bool) -> float:
    """PSI of cleaned values by Evidently's own test (its bins and floor), without a second chart per column."""
    from evidently.legacy.calculations.stattests import psi_stat_test
    from evidently.legacy.core import ColumnType

    kind = ColumnType.Numerical if numeric else ColumnType.Categorical
    return float(psi_stat_test(reference, current, kind, None).drift_score)


# One report at a time per process while Evidently's functions are swapped for their run-scoped memos.
_ONCE_LOCK = threading.Lock()


def _drift_once(compute: Callable[..., Any]) -> Callable[..., Any]:
    """Evidently's one-column drift, computed once per column and test in a report run.

    The drift preset measures each column three times (its ValueDrift, the drifted-columns count, the table
    under the charts), each time with the same data, test, threshold and bins: the test, both distribution
    histograms and the binned line. Those calls differ only in the correlations they pass along, which
    nothing of the drift metrics shows or returns, so the first result stands for the other two.
    """
    done: dict[tuple, tuple[Any, Any, Any]] = {}

    def once(**kwargs: Any) -> Any:
        current, reference = kwargs["current_data"], kwargs["reference_data"]
        column, kind, options = kwargs["column_name"], kwargs["column_type"], kwargs["options"]
        utility = kwargs["dataset_columns"].utility_columns
        key = (
            id(current),
            id(reference),
            column,
            kind,
            kwargs["agg_data"],
            repr(options.get_feature_stattest_func(column, kind.value)),
            options.get_threshold(column, kind.value),
            options.get_nbinsx_or_none(column),
            options.get_nbinsx(column),
            column == utility.target,
            column == utility.prediction and kwargs["dataset_columns"].target_names is not None,
        )
        found = done.get(key)
        if found is not None and found[0] is current and found[1] is reference:
            return found[2]
        result = compute(**kwargs)
        done[key] = (current, reference, result)  # holding the frames keeps their ids from being reused
        return result

    return once


def _chart_once(chart: Callable[..., list]) -> Callable[..., list]:
    """The data summary's distribution chart, drawn once per column in a report run.

    Each numeric column's min, max, mean, std and three quantiles draw the same chart under their own title;
    the summary shows one of them. The chart depends on the column's values alone, so it is drawn once and
    each statistic gets its own widget (its own title and id) over the same figure.
    """
    from evidently.legacy.model.widget import BaseWidgetInfo

    drawn: dict[tuple, tuple[Any, Any, list]] = {}

    def once(title: str, current: Any, reference: Any) -> list:
        ref_data = None if reference is None else reference.data
        key = (id(current.data), id(ref_data), current.type)
        found = drawn.get(key)
        if found is None or found[0] is not current.data or found[1] is not ref_data:
            widgets = chart(title, current, reference)
            drawn[key] = (current.data, ref_data, widgets)
            return widgets
        return [BaseWidgetInfo(type=w.type, title=title, size=w.size, params=dict(w.params)) for w in found[2]]

    return once


@contextmanager
def _each_column_once() -> Iterator[None]:
    """Within a report run: each column's drift measured once, its summary chart drawn once.

    The drift preset's per-column ValueDrift widgets are shown nowhere (the preset renders the dataset
    headline and the drift table in their place, and the JSON holds values, not widgets), so they are not
    drawn. Evidently's own functions are restored when the run ends.
    """
    from evidently.legacy.calculations import data_drift
    from evidently.metrics import column_statistics

    drift_calc = column_statistics.ValueDriftCalculation
    with _ONCE_LOCK:
        saved = (data_drift.get_one_column_drift, column_statistics.distribution, drift_calc._render)
        once = _drift_once(saved[0])
        data_drift.get_one_column_drift = column_statistics.get_one_column_drift = once
        column_statistics.distribution = _chart_once(saved[1])
        drift_calc._render = lambda self, result, options, color_options: []
        try:
            yield
        finally:
            data_drift.get_one_column_drift = column_statistics.get_one_column_drift = saved[0]
            column_statistics.distribution = saved[1]
            drift_calc._render = saved[2]


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
    each_column_once: bool = True,
) -> DriftResult:
    """Run the report, save it as HTML and JSON under ``out_dir/name.*``, and return its numbers.

    Classification quality is added when ``label`` is given and at least ``min_labelled_rows`` current
    rows carry a matured label (labels arrive days after the transaction). The data summary is for people
    reading the report and costs a third of its time; ``with_summary=False`` leaves it out where nobody will.
    ``each_column_once=False`` runs the report as Evidently does by itself (each column's drift measured three
    times, its summary chart drawn seven times): the same report, for comparison.
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
    tests, psi = {}, {}
    for c in columns:  # PSI is measured outside the report, where it draws no second chart per column
        ref_values, cur_values = _clean(reference[c]), _clean(current[c])
        tests[c], psi[c] = _method(ref_values, cur_values, c in numeric), _psi(ref_values, cur_values, c in numeric)
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
    datasets = (
        Dataset.from_pandas(current[keep].reset_index(drop=True), data_definition=definition),
        Dataset.from_pandas(reference[keep].reset_index(drop=True), data_definition=definition),
    )
    if each_column_once:
        with _each_column_once():
            snapshot = Report(metrics).run(*datasets, name=name)
    else:
        snapshot = Report(metrics).run(*datasets, name=name)

    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, json_path = out_dir / f"{name}.html", out_dir / f"{name}.json"
    snapshot.save_html(str(html_path))
    snapshot.save_json(str(json_path))

    results = snapshot.dict()["metrics"]
    default = _value_drifts(results, {c: test.display_name for c, test in tests.items()})
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
