"""Monitor: nightly drift of serving traffic against the champion's training sample, and the retrain call."""
