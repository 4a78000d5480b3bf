-- One customer intraday row (gyre.streaming.backfill runs it for every row of an interval).
insert into customer_intraday_features (
    customer_id, event_timestamp, transaction_id, transaction_at, cust_rt_txn_count_1h, cust_rt_txn_count_24h, cust_rt_txn_count_7d, cust_rt_txn_count_30d, cust_rt_amount_sum_1h, cust_rt_amount_sum_24h, cust_rt_amount_sum_7d, cust_rt_amount_sum_30d, cust_rt_amount_mean_1h, cust_rt_amount_mean_24h, cust_rt_amount_mean_7d, cust_rt_amount_mean_30d, cust_rt_last_txn_epoch_s
) values (
    :customer_id, :event_timestamp, :transaction_id, :transaction_at, :cust_rt_txn_count_1h, :cust_rt_txn_count_24h, :cust_rt_txn_count_7d, :cust_rt_txn_count_30d, :cust_rt_amount_sum_1h, :cust_rt_amount_sum_24h, :cust_rt_amount_sum_7d, :cust_rt_amount_sum_30d, :cust_rt_amount_mean_1h, :cust_rt_amount_mean_24h, :cust_rt_amount_mean_7d, :cust_rt_amount_mean_30d, :cust_rt_last_txn_epoch_s
)
