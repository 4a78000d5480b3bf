-- The merchant intraday rows of transactions in [:start, :end) (replaced by a backfill of that interval).
delete from merchant_intraday_features where transaction_at >= :start and transaction_at < :end
