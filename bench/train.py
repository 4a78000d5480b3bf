"""Training time of each learner on the same large window, and ONNX against scikit-learn latency in one run.

    .venv/bin/python bench/train.py                 # 1,000,000 rows (about 330 generated days), both learners
    .venv/bin/python bench/train.py --rows 200000 --learners lightgbm
    .venv/bin/python bench/train.py --only-freshness      # day-old vs intraday features: PR-AUC

Rows come from the ingest generator (realistic fraud mechanisms, ~1 % positives), shaped like the
FeatureService output. Every learner is fitted on the same time split (scikit-learn's GradientBoosting, then
LightGBM), its ONNX twin checked for parity on the test rows, and a last line compares them. Latency is
measured for one row and for batches of 1,000, each engine single-threaded, on each fitted pipeline and its
ONNX twin. Last, what feature freshness is worth: the same days trained
and tested on the features the daily batch serves (the state as of the previous day's end) and on intraday
state (right after each entity's previous transaction, what a streaming path would serve).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd


def _timed(fn, repeats: int) -> list[float]:  # noqa: ANN001
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--learners", default="gradient_boosting,lightgbm", help="GYRE_TRAINING_ESTIMATOR values")
    parser.add_argument("--freshness-days", type=int, default=14, help="days for the freshness comparison")
    parser.add_argument("--only-freshness", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.only_freshness:
        training_and_latency(args.rows, args.learners.split(","))
    freshness(args.freshness_days)


def freshness(days: int) -> None:
    """PR-AUC on the same days with day-old (served) and intraday (streaming) features; a week of history first."""
    from gyre.config import load_settings
    from gyre.training.spec import FRAUD
    from gyre.training.synthetic import fraud_frame
    from gyre.training.train import fit

    first = dt.date(2026, 3, 1)
    scored = {}
    for label, intraday in (("day-old (daily batch)", False), ("intraday (streaming)", True)):
        frame = fraud_frame(first, days + 7, intraday=intraday)
        frame = frame[frame["event_timestamp"] >= pd.Timestamp(first + dt.timedelta(days=7), tz="UTC")]
        scored[label] = fit(frame, FRAUD, load_settings()).test.pr_auc
    day_old, intraday = scored.values()
    print(
        f"freshness on {days} days: test PR-AUC day-old {day_old:.4f} | intraday {intraday:.4f} | "
        f"day-old keeps {day_old / intraday:.0%} of it"
    )


def training_and_latency(rows: int, learners: list[str]) -> None:
    from gyre.config import load_settings
    from gyre.training.synthetic import fraud_rows

    started = time.perf_counter()
    frame = fraud_rows(rows)
    print(
        f"generated {len(frame):,} rows ({frame['is_fraud'].mean():.2%} fraud) in {time.perf_counter() - started:.1f} s"
    )
    fitted = {learner: train_and_score(frame, load_settings(training_estimator=learner)) for learner in learners}
    (old, old_fit, old_cpu, old_pr), *rest = ((k, *v) for k, v in fitted.items())
    for new, new_fit, new_cpu, new_pr in rest:
        print(
            f"{new} vs {old}: pipeline fit {new_fit:.1f} s vs {old_fit:.1f} s ({old_fit / new_fit:.1f}x faster), "
            f"training {new_cpu:.1f} vs {old_cpu:.1f} CPU s ({old_cpu / new_cpu:.1f}x), "
            f"test PR-AUC {new_pr:.4f} vs {old_pr:.4f} ({new_pr - old_pr:+.4f})"
        )


def train_and_score(frame: pd.DataFrame, settings: object) -> tuple[float, float, float]:
    """Fit one learner, check its ONNX twin and time both; ``(fit seconds, training CPU seconds, test PR-AUC)``."""
    from threadpoolctl import threadpool_limits

    from gyre.export.onnx import OnnxScorer, convert, parity
    from gyre.training.spec import FRAUD
    from gyre.training.train import fit

    started, cpu = time.perf_counter(), time.process_time()
    model = fit(frame, FRAUD, settings)
    total_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    # CPU seconds too: both learners run on one thread, so they compare fairly on a machine others load.
    print(
        f"{model.estimator} on {len(model.split.train):,} rows: pipeline fit {model.fit_seconds:.1f} s; with "
        f"threshold, metrics and permutation importance {total_s:.1f} s, {cpu_s:.1f} CPU s "
        f"(test PR-AUC {model.test.pr_auc:.4f})"
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        started = time.perf_counter()
        path.write_bytes(convert(model.pipeline, model.numeric, model.categorical))
        print(f"ONNX conversion {time.perf_counter() - started:.2f} s, {path.stat().st_size / 1e6:.2f} MB")
        scorer = OnnxScorer(path, model.numeric, model.categorical)
        test = model.inputs(model.split.test)
        check = parity(model.pipeline, scorer, test, 1e-5)
        print(
            f"parity on {check.rows:,} test rows: max |diff| {check.max_abs_diff:.2e} ({'ok' if check.ok else 'FAIL'})"
        )
        one, batch = test.iloc[:1], test.iloc[:1000]
        with threadpool_limits(1):
            for label, rows, repeats in (("1 row", one, 300), ("1,000 rows", batch, 50)):
                sk = _timed(lambda rows=rows: model.pipeline.predict_proba(rows), repeats)
                ox = _timed(lambda rows=rows: scorer.proba(rows), repeats * 5)
                print(
                    f"{label:>10}: scikit-learn p50 {statistics.median(sk) * 1e3:8.3f} ms "
                    f"p99 {_p(sk, 99) * 1e3:8.3f} ms"
                    f" | ONNX p50 {statistics.median(ox) * 1e3:7.3f} ms p99 {_p(ox, 99) * 1e3:7.3f} ms"
                    f" | ONNX {statistics.median(sk) / statistics.median(ox):.0f}x faster"
                )
    return model.fit_seconds, cpu_s, model.test.pr_auc


if __name__ == "__main__":
    main()
