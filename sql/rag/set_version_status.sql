update rag_index_versions set status = :status where version_id = :version_id
