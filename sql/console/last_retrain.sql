-- The newest night whose drift check asked for a retrain, and how far that retrain got.
select interval_start, model_version, status, reasons
from retrain_decisions
where retrain
order by interval_start desc
limit 1
