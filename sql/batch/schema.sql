-- Batch scores: one row per transaction of a scored source, with the model version and the MLflow runs it is
-- traceable by (the version's training run, and the batch run that wrote it). Re-scoring an interval deletes
-- and inserts its rows in one transaction (delete_interval.sql, insert_scores.sql).
create table if not exists batch_scores (
    source text not null,
    transaction_id text not null,
    event_timestamp timestamptz not null,
    customer_id text not null,
    merchant_id text not null,
    score double precision not null,
    decision boolean not null,
    model_name text not null,
    model_version text not null,
    model_run_id text not null,
    batch_run_id text not null,
    interval_start timestamptz not null,
    interval_end timestamptz not null,
    primary key (source, transaction_id)
);
create index if not exists batch_scores_source_time on batch_scores (source, event_timestamp);
