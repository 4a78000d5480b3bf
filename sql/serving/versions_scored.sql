-- Which model versions answered these transactions (role 'champion': the answer, not a shadow), and how many each.
select model_version, count(distinct transaction_id) as transactions
from prediction_log
where role = 'champion' and transaction_id = any(cast(:transaction_ids as text[]))
group by model_version
