-- Feature tables Feast reads as its offline store (PostgreSQLSource) and materializes into Redis.
-- One row per entity and interval (day) it transacted: the state right after its last transaction of the
-- interval, stamped at the interval's end, when the batch that computes it lands. Serving reads Redis, which
-- holds rows up to the last materialized interval, so a transaction is scored on the state as of the end of
-- the previous day; Feast's point-in-time join (rows with timestamp <= the event) gives training exactly
-- that, and never a row built from the transaction itself or from later ones the same day.
create table if not exists customer_features (
    customer_id                 text not null,
    event_timestamp             timestamptz not null,
    cust_txn_count_1h           bigint not null,
    cust_txn_count_24h          bigint not null,
    cust_txn_count_7d           bigint not null,
    cust_txn_count_30d          bigint not null,
    cust_amount_sum_1h          double precision not null,
    cust_amount_sum_24h         double precision not null,
    cust_amount_sum_7d          double precision not null,
    cust_amount_sum_30d         double precision not null,
    cust_amount_mean_1h         double precision not null,
    cust_amount_mean_24h        double precision not null,
    cust_amount_mean_7d         double precision not null,
    cust_amount_mean_30d        double precision not null,
    cust_amount_std_30d         double precision not null,
    cust_amount_max_30d         double precision not null,
    cust_distinct_merchants_30d bigint not null,
    cust_distinct_countries_30d bigint not null,
    cust_last_txn_epoch_s       double precision not null,
    primary key (customer_id, event_timestamp)
);
create index if not exists customer_features_event_timestamp on customer_features (event_timestamp);

create table if not exists merchant_features (
    merchant_id           text not null,
    event_timestamp       timestamptz not null,
    merch_txn_count_30d   bigint not null,
    merch_amount_sum_30d  double precision not null,
    merch_fraud_count_30d bigint not null,
    merch_fraud_rate_30d  double precision not null,
    primary key (merchant_id, event_timestamp)
);
create index if not exists merchant_features_event_timestamp on merchant_features (event_timestamp);

-- The digest of feature_repo/ that was last applied to the Feast registry (apply only when it changed).
create table if not exists feature_repo_applied (
    project    text primary key,
    digest     text not null,
    applied_at timestamptz not null default now()
);
