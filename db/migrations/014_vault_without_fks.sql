-- CONTRACT §6 and issue 12: the vault keeps no FOREIGN KEY constraints.
-- Every link and satellite insert paid one or two index probes of a hub per
-- row (l_order_product alone ~2.5 probes per order), and hubs had to commit
-- before anything that names them could load. Integrity is checked instead
-- by `orderflow verify` (verify_orphans.sql: no link or satellite names a
-- missing hub), which runs daily and on demand. Hubs are still loaded in the
-- same activity as their links, and every statement is idempotent, so a
-- retried LoadDdsVault completes a partial load.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT conrelid::regclass AS tbl, conname
        FROM pg_constraint
        WHERE contype = 'f' AND connamespace = 'dds'::regnamespace
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
    END LOOP;
END $$;
