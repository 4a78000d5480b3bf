-- Chunks without a staged document: an unfinished document of a sync that stopped, or a discarded one.
delete from rag_staged_chunks c
where c.version_id = :version_id
  and not exists (select 1 from rag_staged_documents d where d.version_id = c.version_id and d.source = c.source)
