-- Releases a counter family's lock taken by verify_lock.sql.
SELECT pg_advisory_unlock(1869967212, $1::int)
