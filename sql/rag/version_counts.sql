select (select count(*) from rag_documents where version_id = :version_id) as documents,
       (select count(*) from rag_chunks where version_id = :version_id) as chunks
