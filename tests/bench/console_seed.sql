-- Rows for tests/bench/console.sh, written straight into the read model of
-- a migrated database (as the materializer would have them):
--   the tenant :'tenant' with 10 environments (4 production, 3 staging,
--   3 development), 13 months of daily API rollups per environment (the
--   current month up to today and the 12 before it), daily seats, 25
--   members and two contract periods (the current one started 6 months
--   ago);
--   :others other tenants with 3 environments each over the same days, so
--   the tenant's rows are a small part of each table and a plan without
--   an index shows up;
--   four months of product events (:'tenant' is not involved) for the
--   vendor page's plans.
-- Usage: psql -v tenant=bench -v others=300 -f console_seed.sql
\set ON_ERROR_STOP on
BEGIN;

CREATE TEMP TABLE bench_days AS
SELECT d::date AS day
FROM generate_series(date_trunc('month', current_date) - interval '12 months', current_date, interval '1 day') d;

CREATE TEMP TABLE bench_tenants AS
SELECT :'tenant'::text AS tenant_id, 'Bench Tenant'::text AS name, 10 AS envs
UNION ALL
SELECT 'other-' || n, 'Other ' || n, 3 FROM generate_series(1, :others) n;

INSERT INTO tally.tenants SELECT tenant_id, name, now() - interval '2 years' FROM bench_tenants;

INSERT INTO tally.environments
SELECT t.tenant_id, 'env-' || e, 'Environment ' || e,
       CASE WHEN e <= t.envs * 4 / 10 THEN 'production' WHEN e <= t.envs * 7 / 10 THEN 'staging' ELSE 'development' END,
       'owner', now() - interval '2 years', NULL
FROM bench_tenants t CROSS JOIN LATERAL generate_series(1, t.envs) e;

INSERT INTO tally.api_usage_daily
SELECT e.tenant_id, e.environment_id, d.day,
       1000 + (hashtext(e.tenant_id || e.environment_id || d.day) & 8191),
       (hashtext(d.day || e.environment_id) & 63), (hashtext(e.environment_id || d.day) & 7),
       50000, now(), 0, 0
FROM tally.environments e CROSS JOIN bench_days d;

INSERT INTO tally.seat_usage_daily
SELECT t.tenant_id, d.day, 5 + (hashtext(t.tenant_id || d.day) & 7), 8 + (hashtext(d.day || t.tenant_id) & 7),
       now(), 0, 0
FROM bench_tenants t CROSS JOIN bench_days d;

INSERT INTO tally.license_terms
SELECT t.tenant_id, p.valid_from, p.valid_until, 14, 3000000, 12000, '{}', now()
FROM bench_tenants t
CROSS JOIN LATERAL (VALUES
    ((date_trunc('month', current_date) - interval '18 months')::date,
     (date_trunc('month', current_date) - interval '6 months' - interval '1 day')::date),
    ((date_trunc('month', current_date) - interval '6 months')::date,
     (date_trunc('month', current_date) + interval '6 months' - interval '1 day')::date)) p(valid_from, valid_until);

INSERT INTO tally.members
SELECT :'tenant', 'member-' || n, 'First' || n, 'Last' || n, 'member' || n || '@bench.example', 'developer',
       now() - interval '1 year', NULL
FROM generate_series(1, 25) n;

-- 60,000 product events in the three months before this one (written
-- first: events arrive in time order, which the BRIN index relies on), then
-- 20,000 this month, from 400 installations.
INSERT INTO tally.product_events (event_id, source, event, occurred_at, received_at, install_ref, project_ref,
                                  version, ci, new_user, properties, error_message, error_stack)
SELECT md5('old' || n)::uuid, 'CLI',
       (ARRAY['project.create.start', 'project.create.end', 'deploy.start', 'deploy.end', 'project.create.error'])[1 + n % 5],
       date_trunc('month', current_date) - interval '3 months' + (n * 2) * interval '1 minute',
       now(), 'install-' || (n % 400), NULL, '1.' || (n % 5) || '.0', n % 4 = 0, NULL, '{}',
       CASE WHEN n % 5 = 4 THEN 'error ' || (n % 11) END, NULL
FROM generate_series(1, 60000) n;
INSERT INTO tally.product_events (event_id, source, event, occurred_at, received_at, install_ref, project_ref,
                                  version, ci, new_user, properties, error_message, error_stack)
SELECT md5('bench' || n)::uuid, 'CLI',
       (ARRAY['project.create.start', 'project.create.end', 'deploy.start', 'deploy.end', 'project.create.error'])[1 + n % 5],
       date_trunc('month', current_date) + (n % (extract(day FROM current_date)::int * 1440)) * interval '1 minute',
       now(), 'install-' || (n % 400), NULL, '2.' || (n % 7) || '.0', n % 3 = 0, NULL, '{}',
       CASE WHEN n % 5 = 4 THEN 'error ' || (n % 13) END, NULL
FROM generate_series(1, 20000) n;
INSERT INTO tally.product_daily_installs
SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date, event, source, coalesce(version, ''), install_ref
FROM tally.product_events;
INSERT INTO tally.product_daily
SELECT (occurred_at AT TIME ZONE 'UTC')::date, event, source, coalesce(version, ''), count(*),
       count(DISTINCT install_ref)
FROM tally.product_events GROUP BY 1, 2, 3, 4;

COMMIT;
-- What autovacuum does to rows that stopped changing (the visibility map
-- lets the overview's index-only scans skip the heap), and statistics.
VACUUM ANALYZE;
SELECT (SELECT count(*) FROM tally.api_usage_daily) AS api_rows,
       (SELECT count(*) FROM tally.api_usage_daily WHERE tenant_id = :'tenant') AS tenant_api_rows,
       (SELECT count(*) FROM tally.seat_usage_daily) AS seat_rows,
       (SELECT count(*) FROM tally.product_events) AS product_events;
