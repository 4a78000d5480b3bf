-- Chunks go with their documents (on delete cascade).
delete from rag_documents where version_id = :version_id and source = any(cast(:sources as text[]))
