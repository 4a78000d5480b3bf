-- Whether Feast's SQL registry (same database) holds the feature service; a registry never created has no table.
select to_regclass('feature_services') is not null
   and exists (
       select 1 from feature_services where project_id = :project and feature_service_name = :service
   )
