-- One scored request and model role; a retried write of the same row changes nothing.
insert into prediction_log (
    request_id, role, scored_at, event_timestamp, transaction_id, customer_id, merchant_id, model_name,
    model_version, score, decision, threshold, features, unknown_entity, feature_age_s, latency_ms,
    arm, error
) values (
    :request_id, :role, :scored_at, :event_timestamp, :transaction_id, :customer_id, :merchant_id, :model_name,
    :model_version, :score, :decision, :threshold, cast(:features as jsonb), :unknown_entity, :feature_age_s,
    :latency_ms, :arm, :error
)
on conflict (request_id, role) do nothing
