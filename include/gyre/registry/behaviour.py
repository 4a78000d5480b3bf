"""Behavioural tests: properties a model must keep on real holdout rows, checked before any promotion.

Metrics can improve while a model learns something absurd (larger amounts look safer, an identifier
carries signal); these cases catch that directly, by scoring the same rows before and after a change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gyre.training.spec import BehaviourCase

Scorer = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class BehaviourResult:
    name: str
    description: str
    passed: bool
    rows: int
    worst_change: float
    detail: str


def check(score: Scorer, rows: pd.DataFrame, case: BehaviourCase) -> BehaviourResult:
    """Score ``rows`` in the case's context, change them, score again, and judge every row."""
    missing = case.columns - set(rows.columns)
    if missing:
        return BehaviourResult(
            case.name, case.description, False, 0, float("nan"), f"needs columns absent here: {sorted(missing)}"
        )
    for column, least in case.at_least.items():
        rows = rows[rows[column] >= least]
    if rows.empty:
        return BehaviourResult(case.name, case.description, False, 0, float("nan"), "no holdout rows to test it on")
    before_rows = rows.assign(**case.context)
    after_rows = before_rows.copy()
    for column, factor in case.scale.items():
        after_rows[column] = after_rows[column] * factor
    after_rows = after_rows.assign(**case.replace)
    if case.shuffle_columns:
        after_rows = after_rows[list(reversed(after_rows.columns))]
    change = score(after_rows) - score(before_rows)
    if case.expect == "not_lower":
        worst = float(change.min())
        failing = int((change < -case.tolerance).sum())
    else:
        worst = float(np.abs(change).max())
        failing = int((np.abs(change) > case.tolerance).sum())
    allowed = int(case.max_failing_share * len(rows))
    detail = (
        f"{failing} of {len(rows)} rows break it, {allowed} allowed "
        f"(worst score change {worst:+.4g}, tolerance {case.tolerance:g})"
    )
    return BehaviourResult(case.name, case.description, failing <= allowed, len(rows), worst, detail)


def check_all(
    score: Scorer, holdout: pd.DataFrame, cases: tuple[BehaviourCase, ...], sample: int = 500
) -> list[BehaviourResult]:
    rows = holdout.sample(min(sample, len(holdout)), random_state=0)
    return [check(score, rows, case) for case in cases]
