-- Monitoring: one row per nightly report, PSI per feature as a time series, and every retrain decision.
create table if not exists drift_reports (
    interval_start   timestamptz not null,
    interval_end     timestamptz not null,
    model_version    text        not null,
    reference_rows   integer     not null,
    current_rows     integer     not null,
    drifted_share    double precision not null,
    drifted_features text[]      not null,
    prediction_psi   double precision,
    roc_auc          double precision,
    html_path        text        not null,
    json_path        text        not null,
    mlflow_run_id    text,
    primary key (interval_start, model_version)
);

create table if not exists feature_drift (
    interval_start timestamptz not null,
    model_version  text        not null,
    feature        text        not null,
    method         text        not null,
    score          double precision not null,
    threshold      double precision not null,
    drifted        boolean     not null,
    psi            double precision,
    primary key (interval_start, model_version, feature)
);

create table if not exists retrain_decisions (
    interval_start timestamptz not null primary key,
    interval_end   timestamptz not null,
    model_version  text        not null,
    retrain        boolean     not null,
    reasons        jsonb       not null,
    blocked_by     jsonb       not null,
    -- requested -> running -> done | failed, set by train_model; 'none' when no retrain was asked for
    status         text        not null check (status in ('none', 'requested', 'running', 'done', 'failed'))
);
