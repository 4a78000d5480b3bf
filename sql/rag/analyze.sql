-- Fresh planner statistics after a sync changed the index: how many chunks a version holds and how common
-- each word is decide between the GIN, HNSW and version indexes in hybrid_search.sql.
analyze rag_documents, rag_chunks
