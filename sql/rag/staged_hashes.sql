-- Documents a sync that stopped had already staged completely.
select source, content_hash from rag_staged_documents where version_id = :version_id
