update rag_index_versions set status = 'live', swapped_at = now()
where version_id = :version_id and status = 'building'
