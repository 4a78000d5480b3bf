"""The evidence a model version carries: four PNG plots and a markdown model card, drawn from the same facts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gyre.training.metrics import Metrics, Threshold, confusion


def plots(y: np.ndarray, proba: np.ndarray, threshold: Threshold, importance: pd.Series, out: Path) -> dict[str, Path]:
    """PR curve, calibration, confusion matrix at the threshold and feature importance, on the test part."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def save(name: str, fig: plt.Figure) -> None:
        files[name] = out / f"{name}.png"
        fig.tight_layout()
        fig.savefig(files[name], dpi=90)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    PrecisionRecallDisplay.from_predictions(y, proba, ax=ax, plot_chance_level=True)
    ax.plot([threshold.recall], [threshold.precision], "o", label=f"threshold {threshold.value:.3f}")
    ax.legend(loc="upper right")
    save("pr_curve", fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    CalibrationDisplay.from_predictions(y, proba, n_bins=10, strategy="quantile", ax=ax)
    save("calibration", fig)

    fig, ax = plt.subplots(figsize=(4, 4))
    ConfusionMatrixDisplay(confusion(y, proba, threshold.value), display_labels=["legit", "fraud"]).plot(
        ax=ax, colorbar=False, values_format="d"
    )
    ax.set_title(f"at threshold {threshold.value:.3f}")
    save("confusion_matrix", fig)

    fig, ax = plt.subplots(figsize=(5, max(2.5, 0.3 * len(importance))))
    importance.iloc[::-1].plot.barh(ax=ax)
    ax.set_xlabel("PR-AUC lost when shuffled")
    save("feature_importance", fig)
    return files


def _table(rows: dict[str, object]) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows.items()]
    return "\n".join(lines)


def model_card(
    model_name: str,
    estimator: str,
    features: list[str],
    lineage: dict[str, str],
    bounds: dict[str, str],
    validation: Metrics,
    test: Metrics,
    threshold: Threshold,
    importance: pd.Series,
) -> str:
    """Markdown a reviewer can read without opening MLflow: data, inputs, quality, threshold and limits."""
    metric_rows = "\n".join(
        f"| {name} | {getattr(validation, name):.4f} | {getattr(test, name):.4f} |"
        for name in ("pr_auc", "roc_auc", "recall_at_fpr", "brier", "ece")
    )
    top = "\n".join(f"{i}. `{name}` ({value:.4f})" for i, (name, value) in enumerate(importance.head(10).items(), 1))
    return f"""# Model card: {model_name}

**Estimator:** {estimator}, sigmoid-calibrated, in one scikit-learn pipeline with its preprocessing.

## Where it comes from

{_table(lineage)}

## Data and split (by time, no overlap)

{_table(bounds)}

Rows: validation {validation.rows} ({validation.positives} positives), test {test.rows} ({test.positives} positives).

## Inputs ({len(features)})

{", ".join(f"`{f}`" for f in features)}

## Quality

| metric | validation | test (frozen holdout) |
|---|---|---|
{metric_rows}

PR-AUC is the primary metric; recall is measured at the configured false-positive rate; ECE is the
expected calibration error over ten equal-count bins.

## Decision threshold

{threshold.value:.4f}, chosen on validation to minimise {threshold.cost_miss:g} x misses +
{threshold.cost_false_alarm:g} x false alarms (precision {threshold.precision:.3f}, recall {threshold.recall:.3f}).

## What drives it (permutation importance on the test part)

{top}

## Limits

Labels are chargebacks, which arrive days late: the newest fraud in the window may still look legitimate.
The model knows only the patterns present in its window; the gate and monitoring decide whether it serves.
"""
