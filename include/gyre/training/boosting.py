"""LightGBM as the ONNX graph computes it: float32 inputs and float32 split thresholds.

ONNX tree ensembles compare float32 features with float32 thresholds, while LightGBM compares float64 values
with float64 thresholds placed halfway between two training values. When those two values are neighbouring
float32 numbers (5.38 read two ways), the halfway threshold rounds onto one of them and that value takes the
other branch in the graph, which moves a probability by 1e-3 where parity allows 1e-5. So this classifier
learns and predicts on float32 values, and after fitting lowers every threshold to the largest float32 not
above it: the same splits for every float32 input, and a threshold the graph holds exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from lightgbm import Booster, LGBMClassifier


def _float32_floor(value: float) -> float:
    """The largest float32 number not above ``value``."""
    rounded = np.float32(value)
    # Compared as Python floats: NumPy would compare in float32, where ``value`` rounds to ``rounded``.
    return float(rounded) if float(rounded) <= value else float(np.nextafter(rounded, np.float32(-np.inf)))


def float32_thresholds(model: str) -> str:
    """The model text with every numerical split threshold lowered to a float32 number.

    Categorical splits (bit 0 of ``decision_type``) hold category indices, not numbers; they are left alone.
    The header's ``tree_sizes`` (bytes per tree, which LightGBM reads trees by) follow the shorter lines.
    """
    lines = model.split("\n")
    sizes_at = next(i for i, line in enumerate(lines) if line.startswith("tree_sizes="))
    sizes = [int(x) for x in lines[sizes_at].removeprefix("tree_sizes=").split()]
    tree = -1
    for index, line in enumerate(lines):
        if line.startswith("Tree="):
            tree += 1
        if not line.startswith("threshold="):
            continue
        decisions = next(x for x in lines[index + 1 :] if x.startswith("decision_type="))
        kinds = [int(x) for x in decisions.removeprefix("decision_type=").split()]
        values = line.removeprefix("threshold=").split()
        lowered = [v if kind & 1 else repr(_float32_floor(float(v))) for v, kind in zip(values, kinds, strict=True)]
        lines[index] = "threshold=" + " ".join(lowered)
        sizes[tree] += len(lines[index]) - len(line)
    lines[sizes_at] = "tree_sizes=" + " ".join(map(str, sizes))
    return "\n".join(lines)


class Float32LGBMClassifier(LGBMClassifier):
    """``LGBMClassifier`` whose splits give the same branch in scikit-learn and in its ONNX twin."""

    def fit(self, X: Any, y: Any, **kwargs: Any) -> Float32LGBMClassifier:  # noqa: N803 - scikit-learn's name
        super().fit(np.asarray(X, dtype=np.float32), y, **kwargs)
        self._Booster = Booster(model_str=float32_thresholds(self._Booster.model_to_string()))
        return self

    def predict_proba(self, X: Any, **kwargs: Any) -> np.ndarray:  # noqa: N803
        return super().predict_proba(np.asarray(X, dtype=np.float32), **kwargs)

    def decision_function(self, X: Any, **kwargs: Any) -> np.ndarray:  # noqa: N803
        return super().decision_function(np.asarray(X, dtype=np.float32), **kwargs)

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:  # noqa: N803
        return super().predict(np.asarray(X, dtype=np.float32), **kwargs)
