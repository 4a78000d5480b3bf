select pg_advisory_unlock(hashtext('gyre:rag-sync'), :version_id)
