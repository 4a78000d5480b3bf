"""Export a tracked run's pipeline to ONNX, prove parity on its frozen holdout, and store the files in the run.

The ONNX file lives in the same MLflow run as the registered version (``onnx/model.onnx``), so resolving
``champion`` gives both the scikit-learn model and its ONNX twin; the verdict is the run tag
``gyre.onnx_parity`` that the gate reads.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from gyre.config import Settings, get_settings
from gyre.export.onnx import ONNX_ARTIFACT, OnnxScorer, convert, parity, try_int8
from gyre.registry.gate import PARITY_TAG
from gyre.registry.models import TrackedRun, client

log = logging.getLogger(__name__)


def export_run(run_id: str, label: str, settings: Settings | None = None) -> dict[str, object]:
    """Convert, check parity, try int8; log artifacts, metric and tags to the run. Safe to run twice."""
    settings = settings or get_settings()
    run = TrackedRun(run_id)
    if PARITY_TAG in run.run_tags:
        metrics = client().get_run(run_id).data.metrics
        log.info("run %s was already exported (parity %s)", run_id, run.run_tags[PARITY_TAG])
        return {
            "parity": run.run_tags[PARITY_TAG],
            "max_abs_diff": metrics["onnx_parity_max_abs_diff"],
            "rows": len(run.holdout),
            "int8": run.run_tags.get("gyre.onnx_int8", ""),
        }
    pipeline = run.pipeline
    numeric, categorical = run.numeric, run.categorical
    holdout = run.holdout
    inputs = holdout[numeric + categorical]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(ONNX_ARTIFACT).name
        path.write_bytes(convert(pipeline, numeric, categorical))
        check = parity(pipeline, OnnxScorer(path, numeric, categorical), inputs, settings.onnx_parity_tolerance)
        int8 = try_int8(
            path, pipeline, inputs, holdout[label].to_numpy(int), numeric, categorical, settings.onnx_parity_tolerance
        )
        mlflow_client = client()
        mlflow_client.log_artifact(run_id, str(path), str(Path(ONNX_ARTIFACT).parent))
        if int8.path is not None:
            mlflow_client.log_artifact(run_id, str(int8.path), str(Path(ONNX_ARTIFACT).parent))
        verdict = "pass" if check.ok else f"fail: max |diff| {check.max_abs_diff:.3g} > {check.tolerance:g}"
        mlflow_client.log_metric(run_id, "onnx_parity_max_abs_diff", check.max_abs_diff)
        mlflow_client.log_metric(run_id, "onnx_bytes", path.stat().st_size)
        for key, value in {
            PARITY_TAG: verdict,
            "gyre.onnx_uri": f"runs:/{run_id}/{ONNX_ARTIFACT}",
            "gyre.onnx_int8": int8.reason,
        }.items():
            mlflow_client.set_tag(run_id, key, value)
    log.info("run %s: ONNX parity %s over %d rows; %s", run_id, verdict, check.rows, int8.reason)
    return {"parity": verdict, "max_abs_diff": check.max_abs_diff, "rows": check.rows, "int8": int8.reason}
