-- Staged documents no longer wanted (changed again, deleted, or now skipped); :keep lists the ones to resume.
delete from rag_staged_documents where version_id = :version_id and source <> all(cast(:keep as text[]))
