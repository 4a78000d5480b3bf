-- Nearest chunks of one version by cosine distance; the benchmark runs it with and without the HNSW index.
select chunk_id, embedding <=> cast(:embedding as vector) as distance
from rag_chunks
where version_id = :version_id
order by embedding <=> cast(:embedding as vector)
limit :k
