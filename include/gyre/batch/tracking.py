"""A batch run in MLflow (experiment ``<model>-batch``): what was scored, by which version, and how it scored.

The run is opened before the first row is written, so every score row carries its id; it ends FAILED when the
batch fails, and FINISHED with the counts, quantiles and a histogram of the scores when it succeeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gyre.batch.scoring import Distribution


@contextmanager
def batch_run(model_name: str, run_name: str, tags: dict[str, str]) -> Iterator[Any]:
    import mlflow

    from gyre.training.tracking import use_experiment

    experiment = use_experiment(f"{model_name}-batch")
    with mlflow.start_run(experiment_id=experiment.experiment_id, run_name=run_name, tags=tags) as run:
        yield run


def log_distribution(distribution: Distribution, extra: dict[str, float]) -> None:
    """Counts and score quantiles as metrics; the histogram as an image (skipped for an empty batch)."""
    import mlflow

    mlflow.log_metrics({**distribution.metrics(), **extra})
    if not distribution.rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = distribution.histogram()
    edges = np.linspace(0.0, 1.0, len(counts) + 1)
    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.bar(edges[:-1], counts, width=edges[1] - edges[0], align="edge")
    axes.axvline(distribution.threshold, color="red", linestyle="--", label=f"threshold {distribution.threshold:.3f}")
    axes.set(xlabel="score", ylabel="transactions", yscale="log", title=f"{distribution.rows:,} scores")
    axes.legend()
    figure.tight_layout()
    mlflow.log_figure(figure, "batch/score_histogram.png")
    plt.close(figure)
