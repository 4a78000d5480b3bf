"""Train: a time-split, calibrated scikit-learn pipeline with cost-based threshold, metrics, plots and a model card."""
