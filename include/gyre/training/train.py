"""Fit one model on a training frame: split by time, fit the pipeline, choose the threshold, measure, explain.

This takes a plain DataFrame and a label column, so it runs the same on Feast's historical features, on a
DVC-tracked Parquet file or on a benchmark's synthetic rows.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pandas as pd
from sklearn.pipeline import Pipeline

from gyre.config import Settings, get_settings
from gyre.training.metrics import Metrics, Threshold, choose_threshold, evaluate
from gyre.training.pipeline import build_pipeline, column_kinds, feature_importance, model_input
from gyre.training.spec import TrainingSpec
from gyre.training.split import TimeSplit, check_size, time_split

log = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    pipeline: Pipeline
    spec: TrainingSpec
    estimator: str
    numeric: list[str]
    categorical: list[str]
    split: TimeSplit
    validation: Metrics
    test: Metrics
    threshold: Threshold
    importance: pd.Series
    fit_seconds: float

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        return model_input(frame, self.numeric, self.categorical)

    def score(self, frame: pd.DataFrame) -> pd.Series:
        return pd.Series(self.pipeline.predict_proba(self.inputs(frame))[:, 1], index=frame.index)

    def holdout(self) -> pd.DataFrame:
        """The test part as the gate freezes it: keys, timestamp, label and model inputs."""
        test = self.split.test
        keys = [c for c in (*self.spec.keys, self.spec.timestamp, self.spec.label) if c in test.columns]
        return pd.concat([test[keys], self.inputs(test)], axis=1)


def fit(frame: pd.DataFrame, spec: TrainingSpec, settings: Settings | None = None, seed: int = 0) -> TrainedModel:
    """Train and judge one model; raises ``TrainingSetTooSmall`` before any fitting when data is short."""
    settings = settings or get_settings()
    check_size(frame, spec.label, settings.training_min_rows, settings.training_min_positives)
    split = time_split(
        frame, spec.timestamp, spec.label, settings.training_validation_share, settings.training_test_share
    )
    numeric, categorical = column_kinds(frame, spec.features(list(frame.columns)))
    if not numeric and not categorical:
        raise ValueError(f"the training frame has no feature columns beyond {sorted(spec.not_features)}")
    log.info(
        "training %s on %d rows (%d positives), %d numeric + %d categorical features; validation %d, test %d rows",
        settings.training_estimator,
        len(split.train),
        int(split.train[spec.label].sum()),
        len(numeric),
        len(categorical),
        len(split.validation),
        len(split.test),
    )
    pipeline = build_pipeline(numeric, categorical, settings.training_estimator, seed)
    started = time.perf_counter()
    pipeline.fit(model_input(split.train, numeric, categorical), split.train[spec.label].astype(int))
    fit_seconds = time.perf_counter() - started
    log.info("fitted in %.1f s", fit_seconds)

    def proba(part: pd.DataFrame) -> pd.Series:
        return pipeline.predict_proba(model_input(part, numeric, categorical))[:, 1]

    y_val, y_test = split.validation[spec.label].astype(int), split.test[spec.label].astype(int)
    p_val, p_test = proba(split.validation), proba(split.test)
    threshold = choose_threshold(y_val.to_numpy(), p_val, settings.cost_missed_fraud, settings.cost_false_alarm)
    validation = evaluate(y_val.to_numpy(), p_val, settings.recall_at_fpr)
    test = evaluate(y_test.to_numpy(), p_test, settings.recall_at_fpr)
    log.info(
        "validation PR-AUC %.4f, test PR-AUC %.4f, threshold %.4f", validation.pr_auc, test.pr_auc, threshold.value
    )
    importance = feature_importance(pipeline, model_input(split.test, numeric, categorical), y_test, seed)
    return TrainedModel(
        pipeline=pipeline,
        spec=spec,
        estimator=settings.training_estimator,
        numeric=numeric,
        categorical=categorical,
        split=split,
        validation=validation,
        test=test,
        threshold=threshold,
        importance=importance,
        fit_seconds=fit_seconds,
    )
