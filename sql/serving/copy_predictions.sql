-- Rows in the order gyre.serving.predlog.COLUMNS writes them.
copy prediction_log_stage (
    request_id, role, scored_at, event_timestamp, transaction_id, customer_id, merchant_id, model_name,
    model_version, score, decision, threshold, features, unknown_entity, feature_age_s, latency_ms, arm, error
) from stdin
