"""Export: the whole pipeline as one ONNX graph, proven equal to scikit-learn on the holdout before it can serve."""
