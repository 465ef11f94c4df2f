-- Views for the Control Panel, and the tally_reader role that may read them
-- and nothing else. Views run with their owner's rights, so granting SELECT
-- on a view gives no access to the tables under it.

-- API usage per tenant, environment and calendar month (UTC days).
CREATE VIEW tally.monthly_usage AS
SELECT a.tenant_id,
       a.environment_id,
       e.name                                  AS environment_name,
       e.kind                                  AS environment_kind,
       date_trunc('month', a.day)::date        AS month,
       sum(a.api_calls)::bigint                AS api_calls,
       sum(a.status_4xx)::bigint               AS status_4xx,
       sum(a.status_5xx)::bigint               AS status_5xx,
       sum(a.exec_ms)::bigint                  AS exec_ms,
       count(*)::integer                       AS days_reported
FROM tally.api_usage_daily a
LEFT JOIN tally.environments e USING (tenant_id, environment_id)
GROUP BY a.tenant_id, a.environment_id, e.name, e.kind, date_trunc('month', a.day);

-- Seats per tenant and calendar month: the highest daily peak, and the seats
-- in use on the last day reported.
CREATE VIEW tally.monthly_seats AS
SELECT s.tenant_id,
       date_trunc('month', s.day)::date AS month,
       max(s.seats_peak)::bigint        AS seats_peak,
       (array_agg(s.seats_in_use ORDER BY s.day DESC))[1]::bigint AS seats_in_use
FROM tally.seat_usage_daily s
GROUP BY s.tenant_id, date_trunc('month', s.day);

-- One row per limit checked in a contract period (a license_terms row):
--   monthly_api_calls        every calendar month the period touches: the
--                            tenant's calls on the period's days of that month
--                            against monthly_api_calls_max;
--   daily_api_calls_nonprod  every day a non-production environment reported:
--                            its calls against daily_api_calls_max_nonprod;
--   seats_peak               the highest daily seat peak in the period
--                            against seats_max.
-- status: over above 100 %, warning from 80 % up to 100 %, ok below 80 %
-- (nothing used is ok even against a maximum of 0).
CREATE VIEW tally.compliance_detail AS
WITH checks AS (
    SELECT t.tenant_id, t.valid_from, t.valid_until,
           'monthly_api_calls'::text AS metric,
           NULL::text AS environment_id,
           greatest(t.valid_from, m.month::date) AS period_start,
           least(t.valid_until, (m.month + interval '1 month' - interval '1 day')::date) AS period_end,
           coalesce((SELECT sum(a.api_calls) FROM tally.api_usage_daily a
                     WHERE a.tenant_id = t.tenant_id
                       AND a.day >= greatest(t.valid_from, m.month::date)
                       AND a.day <= least(t.valid_until, (m.month + interval '1 month' - interval '1 day')::date)),
                    0)::bigint AS used,
           t.monthly_api_calls_max AS maximum
    FROM tally.license_terms t
    CROSS JOIN LATERAL generate_series(date_trunc('month', t.valid_from::timestamp),
                                       t.valid_until::timestamp, interval '1 month') AS m(month)
    UNION ALL
    SELECT t.tenant_id, t.valid_from, t.valid_until,
           'daily_api_calls_nonprod', a.environment_id, a.day, a.day,
           a.api_calls, t.daily_api_calls_max_nonprod
    FROM tally.license_terms t
    JOIN tally.api_usage_daily a
      ON a.tenant_id = t.tenant_id AND a.day BETWEEN t.valid_from AND t.valid_until
    JOIN tally.environments e
      ON e.tenant_id = a.tenant_id AND e.environment_id = a.environment_id AND e.kind <> 'production'
    UNION ALL
    SELECT t.tenant_id, t.valid_from, t.valid_until,
           'seats_peak', NULL, t.valid_from, t.valid_until,
           coalesce((SELECT max(s.seats_peak) FROM tally.seat_usage_daily s
                     WHERE s.tenant_id = t.tenant_id AND s.day BETWEEN t.valid_from AND t.valid_until),
                    0)::bigint,
           t.seats_max
    FROM tally.license_terms t
)
SELECT c.tenant_id, c.valid_from, c.valid_until, c.metric, c.environment_id,
       c.period_start, c.period_end, c.used, c.maximum,
       round(100.0 * c.used / nullif(c.maximum, 0), 2) AS percent,
       CASE WHEN c.used > c.maximum THEN 'over'
            WHEN c.used > 0 AND c.used::numeric * 5 >= c.maximum::numeric * 4 THEN 'warning'
            ELSE 'ok' END AS status
FROM checks c;

-- Compliance per tenant and contract period: the highest figure of each limit
-- with its status, and the worst status overall.
CREATE VIEW tally.compliance AS
WITH ranked AS (
    SELECT d.*, CASE d.status WHEN 'ok' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END AS severity
    FROM tally.compliance_detail d
)
SELECT t.tenant_id,
       tn.name AS tenant_name,
       t.valid_from,
       t.valid_until,
       coalesce(max(r.used) FILTER (WHERE r.metric = 'monthly_api_calls'), 0)::bigint AS api_calls_month_peak,
       t.monthly_api_calls_max,
       (ARRAY['ok', 'warning', 'over'])[coalesce(max(r.severity) FILTER (WHERE r.metric = 'monthly_api_calls'), 1)]
           AS monthly_api_calls_status,
       coalesce(max(r.used) FILTER (WHERE r.metric = 'daily_api_calls_nonprod'), 0)::bigint AS nonprod_day_peak,
       t.daily_api_calls_max_nonprod,
       (ARRAY['ok', 'warning', 'over'])[coalesce(max(r.severity) FILTER (WHERE r.metric = 'daily_api_calls_nonprod'), 1)]
           AS nonprod_daily_status,
       coalesce(max(r.used) FILTER (WHERE r.metric = 'seats_peak'), 0)::bigint AS seats_peak,
       t.seats_max,
       (ARRAY['ok', 'warning', 'over'])[coalesce(max(r.severity) FILTER (WHERE r.metric = 'seats_peak'), 1)]
           AS seats_status,
       (ARRAY['ok', 'warning', 'over'])[coalesce(max(r.severity), 1)] AS status
FROM tally.license_terms t
LEFT JOIN tally.tenants tn ON tn.tenant_id = t.tenant_id
LEFT JOIN ranked r ON r.tenant_id = t.tenant_id AND r.valid_from = t.valid_from
GROUP BY t.tenant_id, tn.name, t.valid_from, t.valid_until, t.monthly_api_calls_max,
         t.daily_api_calls_max_nonprod, t.seats_max;

-- Daily product analytics per event, source and version, with distinct installs.
CREATE VIEW tally.product_analytics_daily AS
SELECT p.day, p.event, p.source, nullif(p.version, '') AS version, p.events, p.installs
FROM tally.product_daily p;

-- The role is cluster-wide and every database runs this migration: create it
-- once, tolerating a concurrent creator in another database.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tally_reader') THEN
        CREATE ROLE tally_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- The grants are per database.
REVOKE ALL ON ALL TABLES IN SCHEMA tally FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA tally FROM tally_reader;
GRANT USAGE ON SCHEMA tally TO tally_reader;
GRANT SELECT ON tally.monthly_usage, tally.monthly_seats, tally.compliance_detail, tally.compliance,
                tally.product_analytics_daily TO tally_reader;
