-- Plan every execution with this transaction's settings: a prepared statement's cached generic plan would
-- otherwise keep whatever access path (HNSW or exact scan) was chosen when it was cached.
select set_config('plan_cache_mode', 'force_custom_plan', true)
