-- How many transactions the interval holds (the denominator of the task log's progress).
select count(*) from transactions where event_timestamp >= :start and event_timestamp < :end
