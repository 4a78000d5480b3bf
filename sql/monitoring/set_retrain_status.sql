update retrain_decisions set status = :status where interval_start = :interval_start and retrain
