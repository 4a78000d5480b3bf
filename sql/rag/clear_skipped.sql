delete from rag_skipped_documents where version_id = :version_id
