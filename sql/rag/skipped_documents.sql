select source, reason, detail, content_hash, duplicate_of
from rag_skipped_documents
where version_id = :version_id
order by source
