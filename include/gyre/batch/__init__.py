"""Batch inference: score every transaction of an interval (or of a table a user names) with the champion.

The features are Feast's offline, point-in-time values through the same code training uses
(``gyre.training.dataset``), and the scores come from the same ONNX session code serving runs
(``gyre.serving.model.Deployed``), so a batch score equals the endpoint's for the same feature values.
Modules: ``source`` (what to score, streamed), ``scoring`` (features and scores of a chunk, the score
distribution), ``store`` (the idempotent write), ``tracking`` (MLflow), ``run`` (the whole job).
"""
