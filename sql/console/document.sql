-- One document of the live index with its chunks in order: what a cited passage links to.
select d.source, d.title, d.category, d.team, d.tags, c.chunk_id, c.ordinal, c.heading, c.content
from rag_documents d
join rag_index_versions v on v.version_id = d.version_id and v.status = 'live'
join rag_chunks c on c.version_id = d.version_id and c.source = d.source
where d.source = :source
order by c.ordinal
