-- HNSW search breadth for this transaction only.
select set_config('hnsw.ef_search', :ef_search, true)
