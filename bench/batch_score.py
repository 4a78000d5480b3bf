"""Rows per second and peak memory scoring 1 million transactions with the batch code, against MLflow pyfunc.

    .venv/bin/python bench/batch_score.py                 # 1,000,000 rows
    .venv/bin/python bench/batch_score.py --rows 200000

What is measured: the scoring loop of ``gyre.batch`` on feature rows already built (shaped like the
FeatureService output, from ``gyre.training.synthetic``), chunk by chunk (``--chunk-rows``, the
GYRE_BATCH_CHUNK_ROWS default): ``scoring.score_frame`` (feature frame -> the champion's ONNX session
in a ``Deployed``, fed column by column) plus the bounded ``Distribution`` of the scores. Not measured:
Feast's point-in-time join and the Postgres write, which the DAG adds (their cost is in the task log's rows/s).
The alternative is what MLflow offers for the same model: ``mlflow.pyfunc.load_model(...).predict`` of the
scikit-learn pipeline (``predict_proba``) on the same chunks. Each side runs in a fresh process, single-threaded,
so its peak RSS is its own. For reference, the same chunks through ``Deployed.score`` on row dicts (the
endpoint's request path) show why the batch feeds ONNX by column.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CATEGORICAL = ["txn_channel", "txn_mcc"]
NOT_INPUTS = {"transaction_id", "customer_id", "merchant_id", "event_timestamp", "is_fraud"}


def prepare(rows: int, out: Path) -> dict:
    """Feature rows as Parquet, a fitted pipeline as ONNX and as an MLflow model (outside the timings)."""
    import mlflow.sklearn

    from gyre.config import load_settings
    from gyre.export.onnx import convert
    from gyre.training.pipeline import build_pipeline
    from gyre.training.synthetic import fraud_rows
    from gyre.training.tracking import _own_types

    started = time.perf_counter()
    frame = fraud_rows(rows)
    frame.to_parquet(out / "features.parquet", row_group_size=50_000)
    numeric = [c for c in frame.columns if c not in NOT_INPUTS and c not in CATEGORICAL]
    sample = frame.sample(min(len(frame), 50_000), random_state=0)
    estimator = load_settings().training_estimator
    pipeline = build_pipeline(numeric, CATEGORICAL, estimator)
    pipeline.fit(sample[numeric + CATEGORICAL], sample["is_fraud"])
    (out / "model.onnx").write_bytes(convert(pipeline, numeric, CATEGORICAL))
    model_dir = str(out / "mlflow_model")
    mlflow.sklearn.save_model(
        pipeline,
        model_dir,
        pyfunc_predict_fn="predict_proba",
        pip_requirements=[],
        skops_trusted_types=_own_types(pipeline),  # what training logs with (gyre.training.tracking)
    )
    spec = {"numeric": numeric, "categorical": CATEGORICAL, "estimator": estimator, "rows": len(frame)}
    (out / "inputs.json").write_text(json.dumps(spec))
    print(f"prepared {len(frame):,} feature rows and a {estimator} model in {time.perf_counter() - started:.0f} s")
    return spec


def _chunks(out: Path, chunk_rows: int):  # noqa: ANN202
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(out / "features.parquet").iter_batches(batch_size=chunk_rows):
        yield batch.to_pandas()


def batch_side(out: Path, chunk_rows: int) -> dict:
    """The batch module's loop: score_frame on each chunk, the scores into the bounded Distribution."""
    from gyre.batch.scoring import Distribution, score_frame
    from gyre.serving.model import CHAMPION, load_version

    spec = json.loads((out / "inputs.json").read_text())
    model = load_version("bench", CHAMPION, lambda _n, _r: ("1", out / "model.onnx", spec))
    distribution, scoring = Distribution(model.threshold), 0.0
    started = time.perf_counter()
    for chunk in _chunks(out, chunk_rows):
        began = time.perf_counter()
        distribution.add(score_frame(model, chunk))
        scoring += time.perf_counter() - began
    return {"rows": distribution.rows, "seconds": time.perf_counter() - started, "scoring_s": scoring,
            "mean": distribution.total / distribution.rows}  # fmt: skip


def rows_side(out: Path, chunk_rows: int) -> dict:
    """For reference: the same chunks through ``Deployed.score`` on row dicts, the endpoint's request path."""
    from gyre.batch.scoring import feature_rows
    from gyre.serving.model import CHAMPION, load_version

    spec = json.loads((out / "inputs.json").read_text())
    model = load_version("bench", CHAMPION, lambda _n, _r: ("1", out / "model.onnx", spec))
    rows, total, scoring = 0, 0.0, 0.0
    started = time.perf_counter()
    for chunk in _chunks(out, chunk_rows):
        began = time.perf_counter()
        scores = model.score(feature_rows(model, chunk))
        scoring += time.perf_counter() - began
        rows, total = rows + len(scores), total + float(scores.sum())
    return {"rows": rows, "seconds": time.perf_counter() - started, "scoring_s": scoring, "mean": total / rows}


def pyfunc_side(out: Path, chunk_rows: int) -> dict:
    """MLflow's generic path: the logged scikit-learn pipeline's pyfunc predict on the same chunks."""
    import mlflow.pyfunc

    spec = json.loads((out / "inputs.json").read_text())
    columns = spec["numeric"] + spec["categorical"]
    model = mlflow.pyfunc.load_model(str(out / "mlflow_model"))
    rows, total, scoring = 0, 0.0, 0.0
    started = time.perf_counter()
    for chunk in _chunks(out, chunk_rows):
        began = time.perf_counter()
        scores = model.predict(chunk[columns])[:, 1]
        scoring += time.perf_counter() - began
        rows, total = rows + len(scores), total + float(scores.sum())
    return {"rows": rows, "seconds": time.perf_counter() - started, "scoring_s": scoring, "mean": total / rows}


def measure(kind: str, out: Path, chunk_rows: int) -> dict:
    """One side in a fresh, single-threaded interpreter; its peak resident memory added.

    Peak is VmHWM, the high-water mark of the child's own address space: Linux carries ``ru_maxrss`` across
    exec, so the child would report this (larger) parent's peak instead.
    """
    code = (
        f"import json, re, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import batch_score; "
        "from pathlib import Path; from threadpoolctl import threadpool_limits\n"
        f"with threadpool_limits(1): result = batch_score.{kind}(Path({str(out)!r}), {chunk_rows})\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+) kB', Path('/proc/self/status').read_text()).group(1)\n"
        "result['peak_mb'] = int(hwm) / 1024; print(json.dumps(result))"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if child.returncode != 0:
        raise RuntimeError(child.stderr[-3000:])
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gyre-bench-batch-") as tmp:
        out = Path(tmp)
        spec = prepare(args.rows, out)
        batch = measure("batch_side", out, args.chunk_rows)
        pyfunc = measure("pyfunc_side", out, args.chunk_rows)
        by_row = measure("rows_side", out, args.chunk_rows)
    rows = spec["rows"]
    sides = (
        ("gyre.batch score_frame (ONNX)", batch),
        ("mlflow.pyfunc predict (sklearn)", pyfunc),
        ("Deployed.score on row dicts (ONNX)", by_row),
    )
    for label, result in sides:
        print(
            f"{label:>36}: {rows / result['seconds']:>9,.0f} rows/s end to end ({result['seconds']:.1f} s), "
            f"scoring alone {rows / result['scoring_s']:>9,.0f} rows/s, peak {result['peak_mb']:,.0f} MB, "
            f"mean score {result['mean']:.4f}"
        )
    print(
        f"{rows:,} rows in chunks of {args.chunk_rows:,}, {spec['estimator']}: gyre.batch is "
        f"{pyfunc['seconds'] / batch['seconds']:.2f}x the rows/s of pyfunc "
        f"(peak memory {batch['peak_mb'] / pyfunc['peak_mb']:.2f}x)"
    )


if __name__ == "__main__":
    main()
