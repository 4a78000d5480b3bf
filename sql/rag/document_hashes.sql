select source, content_hash from rag_documents where version_id = :version_id
