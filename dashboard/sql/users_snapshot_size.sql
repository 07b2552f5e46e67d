-- How many product counters the users' snapshot would hold (PostgreSQL's
-- estimate, no scan): above the API's limit, users are read one by one.
SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'cdm.user_product_counters'::regclass
