insert into batch_scores (source, transaction_id, event_timestamp, customer_id, merchant_id, score, decision,
                          model_name, model_version, model_run_id, batch_run_id, interval_start, interval_end)
values (:source, :transaction_id, :event_timestamp, :customer_id, :merchant_id, :score, :decision,
        :model_name, :model_version, :model_run_id, :batch_run_id, :interval_start, :interval_end)
