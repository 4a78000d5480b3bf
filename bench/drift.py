"""Seconds and peak memory to produce the nightly drift report for 100,000 rows x 25 columns.

Side by side in the same run: the full Evidently report as Gyre configures it (drift per column, PSI, data
summary, HTML + JSON), the same report as it was configured before (each column's test named once, but
each column's drift still measured three times and each summary chart drawn seven times), the same report
left to Evidently's defaults (each column's test chosen again in every metric that measures it, PSI as a
second ValueDrift per column), and the obvious hand-rolled alternative, NumPy PSI plus SciPy's KS test per
column, which gives numbers but no report. Each measurement runs in a fresh process so peak RSS is its own,
and each counts importing Evidently (which the nightly task pays too) apart as well as in its total.

``--compiled`` first fills a bytecode cache in a temporary directory and measures with it: what an install
with compiled bytecode (pip's default, ``uv pip install --compile-bytecode``) gives, where an environment
without .pyc files (uv's default, or PYTHONDONTWRITEBYTECODE=1) compiles Evidently's modules on every import.

    .venv/bin/python bench/drift.py [--rows 100000] [--compiled] [--false-alarm-samples 0]
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


def _import_evidently() -> float:
    """Seconds to import what the report uses (timed apart, and within each total)."""
    started = time.perf_counter()
    import evidently.metrics
    import evidently.presets  # noqa: F401

    return time.perf_counter() - started


def run_evidently(rows: int) -> dict:
    from gyre.monitoring.drift import run_drift_report

    reference, current = frame(rows, 1), frame(rows, 2, shift=0.1)
    started, cpu = time.perf_counter(), time.process_time()
    imported = _import_evidently()
    with tempfile.TemporaryDirectory() as out:
        result = run_drift_report(reference, current, columns(), "score", Path(out), "bench")
        size = result.html_path.stat().st_size
    return _figures(started, cpu, imported, len(result.drifted_features), size)


def _run_saved(metrics: list, frames: tuple, names: list[str], numeric: list[str]) -> tuple[object, int]:
    """Evidently's report on ``(reference, current)``, saved as HTML and JSON as the nightly report is; the
    snapshot and the HTML's size."""
    from evidently import DataDefinition, Dataset, Report

    reference, current = frames
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=[c for c in names if c not in numeric])
    datasets = [Dataset.from_pandas(f[names], data_definition=definition) for f in (current, reference)]
    snapshot = Report(metrics).run(*datasets)
    with tempfile.TemporaryDirectory() as out:
        snapshot.save_html(f"{out}/bench.html")
        snapshot.save_json(f"{out}/bench.json")
        return snapshot, Path(f"{out}/bench.html").stat().st_size


def _figures(started: float, cpu: float, imported: float, drifted: int, html_bytes: int) -> dict:
    return {
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "import": imported,
        "drifted": drifted,
        "html_bytes": html_bytes,
    }


def run_evidently_before(rows: int) -> dict:
    """The report as configured before: each column's test picked once and named, nothing measured once."""
    from gyre.monitoring.drift import ColumnDrift, _clean, _psi

    reference, current = frame(rows, 1), frame(rows, 2, shift=0.1)
    started, cpu = time.perf_counter(), time.process_time()
    imported = _import_evidently()
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    names = [*columns(), "score"]
    numeric = [c for c in names if c.startswith("num_") or c == "score"]
    kinds = {c: ColumnType.Numerical if c in numeric else ColumnType.Categorical for c in names}
    tests = {c: get_stattest(_clean(reference[c]), _clean(current[c]), kind, None) for c, kind in kinds.items()}
    metrics = [
        DataDriftPreset(columns=names, per_column_method={c: t.name for c, t in tests.items()}),
        DataSummaryPreset(columns=names),
    ]
    snapshot, size = _run_saved(metrics, (reference, current), names, numeric)
    for c in names:
        _psi(_clean(reference[c]), _clean(current[c]), c in numeric)
    drifted = sum(
        ColumnDrift(c["column"], tests[c["column"]].display_name, float(m["value"]), c["threshold"]).drifted
        for m in snapshot.dict()["metrics"]
        if str((c := m["config"])["type"]).endswith(":ValueDrift") and c["column"] != "score"
    )
    return _figures(started, cpu, imported, drifted, size)


def run_evidently_defaults(rows: int) -> dict:
    """The same report with every test left to Evidently and PSI measured by a ValueDrift per column."""
    from gyre.monitoring.drift import ColumnDrift

    reference, current = frame(rows, 1), frame(rows, 2, shift=0.1)
    started, cpu = time.perf_counter(), time.process_time()
    imported = _import_evidently()
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    names = [*columns(), "score"]
    numeric = [c for c in names if c.startswith("num_") or c == "score"]
    metrics = [DataDriftPreset(columns=names), *(ValueDrift(column=c, method="psi") for c in names)]
    snapshot, size = _run_saved([*metrics, DataSummaryPreset(columns=names)], (reference, current), names, numeric)
    drifted = sum(
        ColumnDrift(c["column"], str(c["method"]), float(m["value"]), c["threshold"]).drifted
        for m in snapshot.dict()["metrics"]
        if str((c := m["config"])["type"]).endswith(":ValueDrift") and c["method"] != "psi" and c["column"] != "score"
    )
    return _figures(started, cpu, imported, drifted, size)


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


def measure(kind: str, rows: int, env: dict | None = None) -> dict:
    """Run one measurement in a fresh interpreter and add its peak resident memory."""
    code = (
        f"import json, resource, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import drift; "
        f"result = drift.{kind}({rows}); "
        "result['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(result))"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return json.loads(child.stdout.strip().splitlines()[-1])


def compiled_env(cache: str) -> dict:
    """An environment whose imports read (and first write) bytecode under ``cache``, warmed once."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONPYCACHEPREFIX": cache}
    warm = "import gyre.monitoring.drift, evidently.metrics, evidently.presets, scipy.stats"
    subprocess.run([sys.executable, "-c", warm], check=True, env=env)
    return env


def describe(name: str, run: dict) -> str:
    return (
        f"  {name} (HTML+JSON): {run['seconds']:.1f} s ({run['cpu']:.1f} s CPU; import {run['import']:.1f} s, "
        f"report {run['seconds'] - run['import']:.1f} s), peak {run['peak_mb']:,.0f} MB, "
        f"{run['drifted']} of {NUMERIC + CATEGORICAL - 1} features drifted, HTML {run['html_bytes'] / 1e6:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--compiled", action="store_true", help="measure with a warmed bytecode cache")
    parser.add_argument("--false-alarm-samples", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        env = compiled_env(cache) if args.compiled else None
        numpy_run = measure("run_numpy", args.rows, env)
        now, before = measure("run_evidently", args.rows, env), measure("run_evidently_before", args.rows, env)
        defaults = measure("run_evidently_defaults", args.rows, env)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    bytecode = (
        "compiled bytecode" if args.compiled else f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE')}"
    )
    print(f"drift on {args.rows:,} rows x {NUMERIC + CATEGORICAL} columns ({bytecode}; load average {load})")
    for name, run in (("configured", now), ("configured before", before), ("Evidently defaults", defaults)):
        print(describe(name, run))
    for name, other in (("before", before), ("Evidently's defaults", defaults)):
        report = (other["seconds"] - other["import"]) / (now["seconds"] - now["import"])
        print(
            f"  ratio: configured {other['seconds'] / now['seconds']:.2f}x faster than {name} "
            f"({other['cpu'] / now['cpu']:.2f}x in CPU time, {report:.2f}x without the import)"
        )
    print(
        f"  NumPy PSI + SciPy KS (numbers only): {numpy_run['seconds']:.2f} s ({numpy_run['cpu']:.2f} s CPU), "
        f"peak {numpy_run['peak_mb']:,.0f} MB, {numpy_run['drifted']} columns drifted"
    )
    print(f"  ratio Evidently / hand-rolled: {now['seconds'] / numpy_run['seconds']:.0f}x time")
    if args.false_alarm_samples:
        result = false_alarms(args.false_alarm_samples)
        print(
            f"false alarms on clean samples: {result['alarms']}/{result['samples']} "
            f"= {result['alarms'] / result['samples']:.1%}"
        )


if __name__ == "__main__":
    main()
