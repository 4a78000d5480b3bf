-- One merchant intraday row (gyre.streaming.backfill runs it for every row of an interval).
insert into merchant_intraday_features (
    merchant_id, event_timestamp, transaction_id, transaction_at, merch_rt_txn_count_1h, merch_rt_txn_count_24h, merch_rt_txn_count_7d, merch_rt_txn_count_30d, merch_rt_amount_sum_1h, merch_rt_amount_sum_24h, merch_rt_amount_sum_7d, merch_rt_amount_sum_30d, merch_rt_amount_mean_1h, merch_rt_amount_mean_24h, merch_rt_amount_mean_7d, merch_rt_amount_mean_30d, merch_rt_last_txn_epoch_s
) values (
    :merchant_id, :event_timestamp, :transaction_id, :transaction_at, :merch_rt_txn_count_1h, :merch_rt_txn_count_24h, :merch_rt_txn_count_7d, :merch_rt_txn_count_30d, :merch_rt_amount_sum_1h, :merch_rt_amount_sum_24h, :merch_rt_amount_sum_7d, :merch_rt_amount_sum_30d, :merch_rt_amount_mean_1h, :merch_rt_amount_mean_24h, :merch_rt_amount_mean_7d, :merch_rt_amount_mean_30d, :merch_rt_last_txn_epoch_s
)
