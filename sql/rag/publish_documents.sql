insert into rag_documents (version_id, source, content_hash, title, doc_type, category, team, tags, chunks)
select version_id, source, content_hash, title, doc_type, category, team, tags, chunks
from rag_staged_documents
where version_id = :version_id
