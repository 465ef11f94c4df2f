-- Least privilege: each process logs in as its own role, and only the
-- migrations (tools/migrate, run by a deploy step) run as a superuser.
--   tally_materializer  keeps the read model: reads and writes the rows of
--                       its tables and its offsets in tally.kafka_offsets.
--                       It owns no object, so it cannot drop or alter a
--                       table, redefine a view (views run with their owner's
--                       rights: a view it owned could hand any table to the
--                       Control Panel), grant anything or rewrite the
--                       migration history. It never deletes a row.
--   tally_reader        the Control Panel (0004): SELECT on its views only;
--                       here it may log in.
-- A role logs in without a password on the local cluster (trust on
-- 127.0.0.1); in production the operator sets its password or certificate
-- (ALTER ROLE ... PASSWORD), which is no migration's business.

-- Roles are cluster-wide and every database runs this migration, maybe at
-- the same moment (test databases): create once, tolerate a concurrent
-- creator in another database (as 0004 does).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tally_materializer') THEN
        CREATE ROLE tally_materializer LOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- 0004 made tally_reader NOLOGIN. A concurrent ALTER of the same role from
-- another database fails with "tuple concurrently updated" once the other
-- committed: then the role can log in, which is all this asks.
DO $$
BEGIN
    IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'tally_reader') THEN
        ALTER ROLE tally_reader LOGIN;
    END IF;
EXCEPTION WHEN OTHERS THEN
    IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'tally_reader') THEN
        RAISE;
    END IF;
END
$$;

-- The grants are per database. Every table the materializer writes, by
-- name: a new table needs its own grant in its migration (the privilege
-- test in tests/consumers/materializer/test_roles.c runs the real
-- materializer as this role).
GRANT USAGE ON SCHEMA tally TO tally_materializer;
GRANT SELECT, INSERT, UPDATE ON
    tally.kafka_offsets,
    tally.tenants, tally.environments, tally.members, tally.api_keys, tally.license_terms,
    tally.api_usage_daily, tally.seat_usage_daily,
    tally.product_events, tally.product_daily, tally.product_daily_installs
    TO tally_materializer;

-- Temporary tables: the materializer stages its COPY rows in them; nobody
-- else needs one (PostgreSQL grants TEMPORARY to PUBLIC by default).
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO tally_materializer', current_database());
END
$$;
