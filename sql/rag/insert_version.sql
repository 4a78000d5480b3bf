-- A new configuration starts as 'building'; asking again for the same configuration returns the same row.
insert into rag_index_versions (config_hash, embedding_model, chunk_words, chunk_overlap, status)
values (:config_hash, :embedding_model, :chunk_words, :chunk_overlap, 'building')
on conflict (config_hash) do update set config_hash = excluded.config_hash
returning version_id, status
