-- Chunks go with their document (on delete cascade).
delete from rag_documents where version_id = :version_id and source = :source
