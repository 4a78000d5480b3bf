insert into rag_staged_documents (version_id, source, content_hash, title, doc_type, category, team, tags, chunks)
values (:version_id, :source, :content_hash, :title, :doc_type, :category, :team, :tags, :chunks)
