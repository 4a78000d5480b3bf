"""Register, gate and promote: MLflow aliases (`challenger`, `champion`, `previous-champion`), audited moves."""
