-- The prediction log: one row per scored request and model role. The serving endpoint writes it through a
-- bounded background writer; monitoring reads it as the "current" data of the nightly drift report. ``role`` says
-- whether a row is the answer ('champion', whichever arm gave it) or the shadow ('challenger'); ``arm`` and
-- ``model_version`` say which model answered, so the champion's traffic is role 'champion' of its version.
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
    arm             text,                  -- the model the request was routed to: champion, canary; challenger
    error           text,                  -- why the routed canary failed (the champion answered instead)
    primary key (request_id, role)
);
-- Tables made before canary rollouts get the two columns; checked first, so no lock is taken once done.
do $$
begin
    if not exists (
        select 1 from information_schema.columns
        where table_schema = current_schema() and table_name = 'prediction_log' and column_name = 'arm'
    ) then
        alter table prediction_log add column arm text, add column error text;
    end if;
end $$;
create index if not exists prediction_log_event_timestamp on prediction_log (event_timestamp);
create index if not exists prediction_log_model on prediction_log (model_name, model_version);
create index if not exists prediction_log_scored_at on prediction_log (scored_at);  -- a canary step's window
