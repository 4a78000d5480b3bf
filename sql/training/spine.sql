-- The training spine: every validated transaction of the window, labelled fraud when a chargeback for it
-- was reported before :labels_as_of. Request-time attributes ride along for on-demand features.
select t.transaction_id, t.customer_id, t.merchant_id, t.event_timestamp,
       t.amount::double precision as amount, t.mcc, t.merchant_country, t.customer_country, t.channel,
       t.card_age_days, t.currency,
       (l.transaction_id is not null) as is_fraud
from transactions t
left join labels l on l.transaction_id = t.transaction_id and l.reported_at < :labels_as_of
where t.event_timestamp >= :start and t.event_timestamp < :end
order by t.event_timestamp, t.transaction_id
