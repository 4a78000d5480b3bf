-- A deterministic sample of the interval's customers, each with its last transaction of the interval (the
-- request attributes the on-demand features need). The same interval always gives the same sample.
select transaction_id, customer_id, merchant_id, amount::double precision as amount, merchant_country,
       customer_country, channel, mcc, card_age_days
from (
    select distinct on (customer_id) *
    from transactions
    where event_timestamp >= :start and event_timestamp < :end
    order by customer_id, event_timestamp desc, transaction_id desc
) last_per_customer
order by md5(customer_id || cast(:start as text)), customer_id
limit :sample
