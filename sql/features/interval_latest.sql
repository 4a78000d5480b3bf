-- Latest feature row per entity among the rows of transactions in [:start, :end) (what Redis must hold).
select customer_id as entity_id, max(event_timestamp) as event_timestamp, 'customer' as view
from customer_features where event_timestamp > :start and event_timestamp <= :end group by customer_id
union all
select merchant_id, max(event_timestamp), 'merchant'
from merchant_features where event_timestamp > :start and event_timestamp <= :end group by merchant_id
