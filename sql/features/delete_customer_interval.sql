-- The interval's rows are stamped :end (when its batch makes them available); (:start, :end] holds them.
delete from customer_features where event_timestamp > :start and event_timestamp <= :end
