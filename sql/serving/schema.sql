-- The prediction log: one row per scored request and model role. The serving endpoint writes it through a
-- bounded background writer; monitoring reads it as the "current" data of the nightly drift report.
create table if not exists prediction_log (
    request_id      uuid        not null,
    role            text        not null check (role in ('champion', 'challenger')),
    scored_at       timestamptz not null,
    event_timestamp timestamptz not null,
    transaction_id  text        not null,
    customer_id     text        not null,
    merchant_id     text        not null,
    model_name      text        not null,
    model_version   text        not null,
    score           double precision not null,
    decision        boolean     not null,
    threshold       double precision not null,
    features        jsonb       not null,  -- the model's inputs by name, exactly as scored
    unknown_entity  boolean     not null default false,
    feature_age_s   double precision,      -- age of the freshest online feature row used
    latency_ms      double precision not null,
    primary key (request_id, role)
);
create index if not exists prediction_log_event_timestamp on prediction_log (event_timestamp);
create index if not exists prediction_log_model on prediction_log (model_name, model_version);
