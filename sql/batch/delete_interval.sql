-- The rows a re-run of the interval replaces.
delete from batch_scores
where source = :source and event_timestamp >= :start and event_timestamp < :end
