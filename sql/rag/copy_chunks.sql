copy rag_chunks (version_id, source, ordinal, heading, content, category, team, tags, embedding) from stdin with (format binary)
