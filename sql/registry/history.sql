select id, moved_at, action, alias, from_version, to_version, metrics, reason
from model_alias_audit
where model_name = :model_name
order by moved_at desc, id desc
limit :limit
