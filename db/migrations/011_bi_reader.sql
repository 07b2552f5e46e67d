-- orderflow_reader (010_roles.sql: the role of dashboards, the API and
-- operators' queries) reads the bi views as well, which the dashboard draws
-- from (004_tags_bi.sql).
GRANT USAGE ON SCHEMA bi TO orderflow_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA bi TO orderflow_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA bi GRANT SELECT ON TABLES TO orderflow_reader;
