insert into rag_staged_chunks (version_id, source, ordinal, heading, content, category, team, tags, embedding)
values (:version_id, :source, :ordinal, :heading, :content, :category, :team, :tags, cast(:embedding as vector))
