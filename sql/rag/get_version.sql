select version_id, config_hash, status, embedding_model, chunk_words, chunk_overlap, recall_at_5, mrr
from rag_index_versions
where version_id = :version_id
