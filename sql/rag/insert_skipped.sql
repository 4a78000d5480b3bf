insert into rag_skipped_documents (version_id, source, reason, detail, content_hash, duplicate_of)
values (:version_id, :source, :reason, :detail, :content_hash, :duplicate_of)
