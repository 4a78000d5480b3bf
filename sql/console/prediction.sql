-- The prediction log's rows of one scoring request (champion, and the challenger's shadow score if any).
select role, model_name, model_version, score, decision, threshold, features, unknown_entity, feature_age_s,
       latency_ms, scored_at
from prediction_log
where request_id = :request_id
order by role desc
