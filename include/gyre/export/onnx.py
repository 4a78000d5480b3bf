"""ONNX export of the full pipeline (preprocessing, trees, calibration) with a parity proof and an int8 attempt.

The graph takes one input per feature column (float for numbers, string for categories), so a serving
process feeds it the same named columns the model was trained on. A version whose ONNX probabilities differ
from scikit-learn's by more than the tolerance anywhere on the holdout is not promotable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

PROBABILITY_OUTPUT = "probabilities"
ONNX_ARTIFACT = "onnx/model.onnx"
INT8_ARTIFACT = "onnx/model.int8.onnx"
# Operators that show quantize_dynamic actually rewrote something.
_INT8_OPS = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "QLinearMatMul", "DynamicQuantizeMatMul"}


def _convert_lightgbm(scope: object, operator: object, container: object) -> None:
    """onnxmltools' LightGBM converter, plus the raw margin (``raw_scores``) that calibration is fitted on.

    scikit-learn calibrates LightGBM's ``decision_function`` (the margin); skl2onnx's calibration asks the
    classifier's converter for raw scores, which onnxmltools does not offer: its tree ensemble ends in a
    logistic transform, dropped here so the second column is the margin.
    """
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

    first = len(container.nodes)
    convert_lightgbm(scope, operator, container)
    if container.get_options(operator.raw_operator, {"raw_scores": False})["raw_scores"]:
        (trees,) = (node for node in container.nodes[first:] if node.op_type == "TreeEnsembleClassifier")
        (transform,) = (attribute for attribute in trees.attribute if attribute.name == "post_transform")
        transform.s = b"NONE"


def _register_lightgbm() -> None:
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    from gyre.training.boosting import Float32LGBMClassifier

    update_registered_converter(
        Float32LGBMClassifier,
        "GyreFloat32LGBMClassifier",
        calculate_linear_classifier_output_shapes,
        _convert_lightgbm,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"], "raw_scores": [True, False]},
    )


def convert(pipeline: object, numeric: list[str], categorical: list[str]) -> bytes:
    """Serialized ONNX model of ``pipeline``; outputs ``label`` and ``probabilities`` (n x 2, no ZipMap)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    _register_lightgbm()

    inputs = [(c, FloatTensorType([None, 1])) for c in numeric] + [
        (c, StringTensorType([None, 1])) for c in categorical
    ]
    model = convert_sklearn(
        pipeline,
        initial_types=inputs,
        options={id(pipeline): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    return model.SerializeToString()


def feed(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> dict[str, np.ndarray]:
    """The ONNX input dict for model-input rows: one (n, 1) array per column."""
    columns = {c: frame[c].to_numpy(np.float32).reshape(-1, 1) for c in numeric}
    columns.update({c: frame[c].astype(str).to_numpy().reshape(-1, 1) for c in categorical})
    return columns


class OnnxScorer:
    """An onnxruntime session that scores model-input frames; the same class serves and checks parity."""

    def __init__(self, model: bytes | Path, numeric: list[str], categorical: list[str]) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        source = str(model) if isinstance(model, Path) else model
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self.numeric, self.categorical = numeric, categorical

    def proba(self, frame: pd.DataFrame) -> np.ndarray:
        (probabilities,) = self.session.run([PROBABILITY_OUTPUT], feed(frame, self.numeric, self.categorical))
        return probabilities[:, 1].astype(np.float64)


@dataclass(frozen=True)
class Parity:
    max_abs_diff: float
    rows: int
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def parity(pipeline: object, scorer: OnnxScorer, inputs: pd.DataFrame, tolerance: float) -> Parity:
    """Largest |ONNX - scikit-learn| fraud probability over every holdout row."""
    expected = pipeline.predict_proba(inputs)[:, 1]
    diff = float(np.max(np.abs(scorer.proba(inputs) - expected)))
    log.info("ONNX parity on %d rows: max |diff| %.3g (tolerance %.0e)", len(inputs), diff, tolerance)
    return Parity(diff, len(inputs), tolerance)


@dataclass(frozen=True)
class Int8Attempt:
    kept: bool
    reason: str
    path: Path | None = None


def try_int8(
    float_model: Path,
    pipeline: object,
    inputs: pd.DataFrame,
    labels: np.ndarray,
    numeric: list[str],
    categorical: list[str],
    tolerance: float,
    max_pr_auc_loss: float = 0.001,
) -> Int8Attempt:
    """Dynamic int8 quantization, kept only if it rewrote something and parity and PR-AUC still hold."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sklearn.metrics import average_precision_score

    target = float_model.with_name("model.int8.onnx")
    try:
        quantize_dynamic(float_model, target, weight_type=QuantType.QInt8)
    except Exception as error:  # noqa: BLE001 - any quantizer failure means "keep the float model"
        return Int8Attempt(False, f"quantization failed: {type(error).__name__}: {error}")
    ops = {node.op_type for node in onnx.load(target).graph.node}
    if not ops & _INT8_OPS:
        target.unlink()
        return Int8Attempt(
            False, f"nothing to quantize: the graph's operators ({', '.join(sorted(ops))}) have no int8 form"
        )
    check = parity(pipeline, OnnxScorer(target, numeric, categorical), inputs, tolerance)
    loss = average_precision_score(labels, pipeline.predict_proba(inputs)[:, 1]) - average_precision_score(
        labels, OnnxScorer(target, numeric, categorical).proba(inputs)
    )
    if not check.ok or loss > max_pr_auc_loss:
        target.unlink()
        return Int8Attempt(False, f"int8 drifts: max |diff| {check.max_abs_diff:.3g}, PR-AUC loss {loss:.4f}")
    return Int8Attempt(True, f"int8 kept: max |diff| {check.max_abs_diff:.3g}, PR-AUC loss {loss:.4f}", target)
