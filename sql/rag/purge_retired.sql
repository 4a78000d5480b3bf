-- Documents and chunks of versions no longer served; the version rows stay as history with their metrics.
-- A rejected version keeps its rows, so that trying it again (after the golden set or documents change)
-- only re-embeds what changed.
delete from rag_documents
where version_id in (select version_id from rag_index_versions where status = 'retired')
