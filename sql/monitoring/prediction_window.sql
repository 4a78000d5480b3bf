-- The champion's scored traffic of one window, one row per transaction (the latest score if it was retried),
-- with its label as known at :labels_as_of: a chargeback reported by then means fraud.
-- During a canary rollout the answers of the canary arm carry the canary's version, so they are left out here.
select distinct on (p.transaction_id)
       p.transaction_id, p.event_timestamp, p.features, p.score,
       l.transaction_id is not null as reported_fraud
from prediction_log p
left join labels l on l.transaction_id = p.transaction_id and l.reported_at < :labels_as_of
where p.model_name = :model_name and p.model_version = :model_version and p.role = 'champion'
  and p.event_timestamp >= :start and p.event_timestamp < :end
order by p.transaction_id, p.scored_at desc
