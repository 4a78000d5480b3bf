drop index if exists rag_chunks_embedding_hnsw
