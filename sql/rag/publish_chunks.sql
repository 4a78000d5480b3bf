insert into rag_chunks (version_id, source, ordinal, heading, content, category, team, tags, embedding)
select version_id, source, ordinal, heading, content, category, team, tags, embedding
from rag_staged_chunks
where version_id = :version_id
order by source, ordinal
