-- The answers of one canary step, newest first and at most :per_arm per arm: score, latency, whether the canary
-- failed on it (the champion answered), and, for transactions old enough to have matured, the label as known now.
select p.arm, p.score, p.latency_ms, p.error is not null as failed,
       p.event_timestamp < :matured_before as matured,
       l.transaction_id is not null as reported_fraud
from (
    select arm, score, latency_ms, error, event_timestamp, transaction_id,
           row_number() over (partition by arm order by scored_at desc) as newest
    from prediction_log
    where model_name = :model_name and role = 'champion' and arm in ('champion', 'canary')
      and scored_at >= :since and scored_at < :until
) p
left join labels l on l.transaction_id = p.transaction_id and l.reported_at < :until
where p.newest <= :per_arm
