"""Seconds and peak memory to produce the nightly drift report for 100,000 rows x 25 columns.

Side by side in the same run: the full Evidently report as Gyre configures it (drift per column, PSI, data
summary, HTML + JSON), the same report left to Evidently's defaults (each column's test chosen again in every
metric that measures it, PSI as a second ValueDrift per column), and the obvious hand-rolled alternative,
NumPy PSI plus SciPy's KS test per column, which gives numbers but no report. Each measurement runs in a
fresh process so peak RSS is its own.

    .venv/bin/python bench/drift.py [--rows 100000] [--false-alarm-samples 0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

NUMERIC, CATEGORICAL = 20, 5


def frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {f"num_{i}": rng.gamma(2.0 + i % 5, 10.0, rows) * (1 + shift) for i in range(NUMERIC)}
    data |= {f"cat_{i}": rng.choice(list("abcdef"), rows) for i in range(CATEGORICAL - 1)}
    data["score"] = rng.beta(1, 30, rows)
    return pd.DataFrame(data)


def columns() -> list[str]:
    return [f"num_{i}" for i in range(NUMERIC)] + [f"cat_{i}" for i in range(CATEGORICAL - 1)]


def run_evidently(rows: int) -> dict:
    from gyre.monitoring.drift import run_drift_report

    reference, current = frame(rows, 1), frame(rows, 2, shift=0.1)
    started, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as out:
        result = run_drift_report(reference, current, columns(), "score", Path(out), "bench")
        size = result.html_path.stat().st_size
    return {
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "drifted": len(result.drifted_features),
        "html_bytes": size,
    }


def run_evidently_defaults(rows: int) -> dict:
    """The same report with every test left to Evidently and PSI measured by a ValueDrift per column."""
    from gyre.monitoring.drift import ColumnDrift

    reference, current = frame(rows, 1), frame(rows, 2, shift=0.1)
    started, cpu = time.perf_counter(), time.process_time()
    from evidently import DataDefinition, Dataset, Report  # timed, as run_drift_report imports it when called
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    names = [*columns(), "score"]
    numeric = [c for c in names if c.startswith("num_") or c == "score"]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=[c for c in names if c not in numeric])
    metrics = [DataDriftPreset(columns=names), *(ValueDrift(column=c, method="psi") for c in names)]
    datasets = [Dataset.from_pandas(f[names], data_definition=definition) for f in (current, reference)]
    snapshot = Report([*metrics, DataSummaryPreset(columns=names)]).run(*datasets)
    with tempfile.TemporaryDirectory() as out:
        snapshot.save_html(f"{out}/bench.html")
        snapshot.save_json(f"{out}/bench.json")
        size = Path(f"{out}/bench.html").stat().st_size
    drifted = sum(
        ColumnDrift(c["column"], str(c["method"]), float(m["value"]), c["threshold"]).drifted
        for m in snapshot.dict()["metrics"]
        if str((c := m["config"])["type"]).endswith(":ValueDrift") and c["method"] != "psi"
    )
    return {
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "drifted": drifted,
        "html_bytes": size,
    }


def run_numpy(rows: int) -> dict:
    from scipy.stats import ks_2samp

    reference, current = frame(rows, 1), frame(rows, 2, shift=0.1)
    started, cpu = time.perf_counter(), time.process_time()
    drifted = 0
    for column in [*columns(), "score"]:
        ref, cur = reference[column], current[column]
        if ref.dtype.kind in "if":
            edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)))
            ref_share = np.histogram(ref, edges)[0] / len(ref)
            cur_share = np.histogram(np.clip(cur, edges[0], edges[-1]), edges)[0] / len(cur)
            drifted += ks_2samp(ref, cur).pvalue < 0.05
        else:
            ref_share = ref.value_counts(normalize=True)
            cur_share = cur.value_counts(normalize=True).reindex(ref_share.index, fill_value=0)
        ref_share, cur_share = np.clip(ref_share, 1e-4, None), np.clip(cur_share, 1e-4, None)
        float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu, "drifted": int(drifted)}


def false_alarms(samples: int) -> dict:
    from gyre.monitoring.decision import DriftRules, drift_reasons
    from gyre.monitoring.drift import run_drift_report

    reference = frame(20_000, 1)
    rules = DriftRules(key_features=("num_0",))
    alarms = 0
    with tempfile.TemporaryDirectory() as out:
        for i in range(samples):
            current = frame(5_000, 1000 + i)
            result = run_drift_report(reference, current, columns(), "score", Path(out), f"s{i}", with_summary=False)
            alarms += bool(drift_reasons(result, rules))
    return {"samples": samples, "alarms": alarms}


def measure(kind: str, rows: int) -> dict:
    """Run one measurement in a fresh interpreter and add its peak resident memory."""
    code = (
        f"import json, resource, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import drift; "
        f"result = drift.{kind}({rows}); "
        "result['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(result))"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--false-alarm-samples", type=int, default=0)
    args = parser.parse_args()
    numpy_run = measure("run_numpy", args.rows)
    evidently_run = measure("run_evidently", args.rows)
    defaults_run = measure("run_evidently_defaults", args.rows)
    print(f"drift on {args.rows:,} rows x {NUMERIC + CATEGORICAL} columns")
    for name, run in (("Evidently report as configured", evidently_run), ("Evidently defaults", defaults_run)):
        print(
            f"  {name} (HTML+JSON): {run['seconds']:.1f} s ({run['cpu']:.1f} s CPU), peak {run['peak_mb']:,.0f} MB, "
            f"{run['drifted']} columns drifted, HTML {run['html_bytes'] / 1e6:.1f} MB"
        )
    ratio, cpu_ratio = defaults_run["seconds"] / evidently_run["seconds"], defaults_run["cpu"] / evidently_run["cpu"]
    print(f"  ratio: configured {ratio:.2f}x faster than Evidently's defaults ({cpu_ratio:.2f}x in CPU time)")
    print(
        f"  NumPy PSI + SciPy KS (numbers only): {numpy_run['seconds']:.2f} s ({numpy_run['cpu']:.2f} s CPU), "
        f"peak {numpy_run['peak_mb']:,.0f} MB, {numpy_run['drifted']} columns drifted"
    )
    print(f"  ratio Evidently / hand-rolled: {evidently_run['seconds'] / numpy_run['seconds']:.0f}x time")
    if args.false_alarm_samples:
        result = false_alarms(args.false_alarm_samples)
        print(
            f"false alarms on clean samples: {result['alarms']}/{result['samples']} "
            f"= {result['alarms'] / result['samples']:.1%}"
        )


if __name__ == "__main__":
    main()
