-- One sync per index version at a time (they share its staging rows); held by the session, released below.
select pg_try_advisory_lock(hashtext('gyre:rag-sync'), :version_id)
