-- Rows of transactions in [:start, :end) carry timestamps in (:start, :end] (transaction time + 1 us).
delete from customer_features where event_timestamp > :start and event_timestamp <= :end
