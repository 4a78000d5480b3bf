-- Validated transactions in [:start, :end), in the order the stream carries them (event time, then id).
select transaction_id, event_timestamp, customer_id, merchant_id, mcc, merchant_country, customer_country,
       channel, card_age_days, amount, currency
from transactions
where event_timestamp >= :start and event_timestamp < :end
order by event_timestamp, transaction_id
