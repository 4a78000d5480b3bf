-- Offline rows of the intraday features: one per transaction and entity, the entity's state right after the
-- transaction, stamped when it becomes available (a microsecond after the transaction; one more per earlier
-- transaction of the entity at the same instant). Written by gyre.streaming.backfill with the same code the
-- stream consumer runs; Feast's push sources name these tables as their batch sources.
create table if not exists customer_intraday_features (
    customer_id                text not null,
    event_timestamp            timestamptz not null,
    transaction_id             text not null,
    transaction_at             timestamptz not null,
    cust_rt_txn_count_1h       bigint not null,
    cust_rt_txn_count_24h      bigint not null,
    cust_rt_txn_count_7d       bigint not null,
    cust_rt_txn_count_30d      bigint not null,
    cust_rt_amount_sum_1h      double precision not null,
    cust_rt_amount_sum_24h     double precision not null,
    cust_rt_amount_sum_7d      double precision not null,
    cust_rt_amount_sum_30d     double precision not null,
    cust_rt_amount_mean_1h     double precision not null,
    cust_rt_amount_mean_24h    double precision not null,
    cust_rt_amount_mean_7d     double precision not null,
    cust_rt_amount_mean_30d    double precision not null,
    cust_rt_last_txn_epoch_s   double precision not null,
    primary key (customer_id, event_timestamp)
);
create index if not exists customer_intraday_features_transaction_at on customer_intraday_features (transaction_at);

create table if not exists merchant_intraday_features (
    merchant_id                text not null,
    event_timestamp            timestamptz not null,
    transaction_id             text not null,
    transaction_at             timestamptz not null,
    merch_rt_txn_count_1h      bigint not null,
    merch_rt_txn_count_24h     bigint not null,
    merch_rt_txn_count_7d      bigint not null,
    merch_rt_txn_count_30d     bigint not null,
    merch_rt_amount_sum_1h     double precision not null,
    merch_rt_amount_sum_24h    double precision not null,
    merch_rt_amount_sum_7d     double precision not null,
    merch_rt_amount_sum_30d    double precision not null,
    merch_rt_amount_mean_1h    double precision not null,
    merch_rt_amount_mean_24h   double precision not null,
    merch_rt_amount_mean_7d    double precision not null,
    merch_rt_amount_mean_30d   double precision not null,
    merch_rt_last_txn_epoch_s  double precision not null,
    primary key (merchant_id, event_timestamp)
);
create index if not exists merchant_intraday_features_transaction_at on merchant_intraday_features (transaction_at);
