-- How many validated transactions [:start, :end) holds (the replay's progress total).
select count(*) from transactions where event_timestamp >= :start and event_timestamp < :end
