update rag_index_versions set status = 'retired' where status = 'live'
