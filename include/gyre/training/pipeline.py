"""The model as one scikit-learn Pipeline: preprocessing, classifier and probability calibration together.

Everything that turns a feature row into a probability lives in the pipeline, so the ONNX export and the
serving path cannot drift from training. Estimators are limited to those that convert exactly: skl2onnx's
(GradientBoosting, RandomForest, LogisticRegression) and LightGBM through onnxmltools (``training.boosting``);
calibration is a sigmoid fitted on later data than the trees (time-ordered folds), which keeps the
probabilities honest on the imbalanced classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# The serving path imports this module for MISSING_CATEGORY alone, so scikit-learn is imported where it is used.
MISSING_CATEGORY = "missing"


def column_kinds(frame: pd.DataFrame, features: list[str]) -> tuple[list[str], list[str]]:
    """Numeric and categorical features; booleans count as numeric (0/1)."""
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])]
    return numeric, [c for c in features if c not in numeric]


def model_input(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """The exact input the pipeline, its signature and the ONNX graph share: float64 numbers, text categories."""
    out = pd.DataFrame(index=frame.index)
    for column in numeric:
        out[column] = frame[column].astype("float64")
    for column in categorical:
        out[column] = frame[column].astype("string").fillna(MISSING_CATEGORY).astype(object)
    return out


def _estimator(kind: str, seed: int) -> object:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if kind == "gradient_boosting":
        # Leaves of at least 20 rows: with a few hundred positives, unconstrained leaves fit single frauds and
        # a week's model fell to PR-AUC 0.08 on its own holdout where this one holds at 0.7-0.8.
        return GradientBoostingClassifier(
            n_estimators=150, max_depth=3, learning_rate=0.1, subsample=0.8, min_samples_leaf=20, random_state=seed
        )
    if kind == "lightgbm":
        from gyre.training.boosting import Float32LGBMClassifier

        # min_child_samples is min_samples_leaf above: leaves of at least 20 rows, for the same reason. One
        # thread: OpenMP threads that wait on each other ran 25x slower on a shared, loaded two-core machine.
        return Float32LGBMClassifier(
            n_estimators=200,
            learning_rate=0.05,
            num_leaves=31,
            min_child_samples=20,
            subsample=0.8,
            subsample_freq=1,
            n_jobs=1,
            random_state=seed,
            verbose=-1,
        )
    if kind == "random_forest":
        return RandomForestClassifier(
            n_estimators=200, min_samples_leaf=20, class_weight="balanced_subsample", n_jobs=-1, random_state=seed
        )
    if kind == "logistic_regression":
        return LogisticRegression(class_weight="balanced", max_iter=1000)
    raise ValueError(f"unknown estimator {kind!r}")


def build_pipeline(numeric: list[str], categorical: list[str], estimator: str, seed: int = 0) -> Pipeline:
    """Impute and (for linear models) scale numbers, one-hot the categories, then a calibrated classifier."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import TimeSeriesSplit
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers: list[tuple[str, object]] = [("impute", SimpleImputer(strategy="median"))]
    if estimator == "logistic_regression":
        numbers.append(("scale", StandardScaler()))
    prep = ColumnTransformer(
        [
            ("num", Pipeline(numbers), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
        ],
        remainder="drop",
        sparse_threshold=0,
    )
    calibrated = CalibratedClassifierCV(_estimator(estimator, seed), method="sigmoid", cv=TimeSeriesSplit(3))
    return Pipeline([("prep", prep), ("model", calibrated)])


def feature_importance(pipeline: Pipeline, frame: pd.DataFrame, label: pd.Series, seed: int = 0) -> pd.Series:
    """Permutation importance on raw input columns (PR-AUC lost when a column is shuffled), largest first.

    Measured on inputs rather than one-hot columns or tree splits, so it reads the same for any estimator.
    """
    from sklearn.inspection import permutation_importance

    sample = frame.sample(min(len(frame), 20_000), random_state=seed)
    result = permutation_importance(
        pipeline, sample, label.loc[sample.index], scoring="average_precision", n_repeats=3, random_state=seed
    )
    return pd.Series(result.importances_mean, index=frame.columns).sort_values(ascending=False)
