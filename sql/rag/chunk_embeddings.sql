-- The embeddings of a version's chunks: the centres bench/rag.py draws its synthetic index around.
select embedding::text as embedding from rag_chunks where version_id = :version_id order by chunk_id
