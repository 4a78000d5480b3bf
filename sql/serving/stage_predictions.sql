-- This session's staging table for one batch of prediction-log rows: COPY fills it, then one insert moves them
-- (COPY itself cannot skip a row that is already there). Emptied at every commit.
create temp table if not exists prediction_log_stage (like prediction_log including defaults) on commit delete rows
