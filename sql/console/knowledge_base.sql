-- The live document index: its version, when it went live and how many documents and chunks it holds.
select v.version_id, v.swapped_at, count(d.source) as documents, coalesce(sum(d.chunks), 0) as chunks
from rag_index_versions v
left join rag_documents d on d.version_id = v.version_id
where v.status = 'live'
group by v.version_id, v.swapped_at
