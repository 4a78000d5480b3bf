-- Exact nearest-neighbour search for this transaction: no index scans, so the HNSW index is not used.
select set_config('enable_indexscan', 'off', true)
