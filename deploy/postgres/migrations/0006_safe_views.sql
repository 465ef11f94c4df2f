-- The Control Panel views without an overflow. 0004 cast sums of bigint
-- counters back to bigint: once two rollups near the bigint maximum were
-- summed (a tenant whose counters saturated, as the aggregator's do at
-- 9223372036854775807), the cast failed with "bigint out of range" and the
-- view failed for every tenant, not only that one. Sums now saturate at the
-- bigint maximum, as the aggregator's sums do: a figure of
-- 9223372036854775807 reads "at least that", and it is over any limit. The
-- columns keep their names and types (CREATE OR REPLACE keeps the grants and
-- the views that depend on these).

-- API usage per tenant, environment and calendar month (UTC days).
CREATE OR REPLACE VIEW tally.monthly_usage AS
SELECT a.tenant_id,
       a.environment_id,
       e.name                                  AS environment_name,
       e.kind                                  AS environment_kind,
       date_trunc('month', a.day)::date        AS month,
       least(sum(a.api_calls), 9223372036854775807)::bigint  AS api_calls,
       least(sum(a.status_4xx), 9223372036854775807)::bigint AS status_4xx,
       least(sum(a.status_5xx), 9223372036854775807)::bigint AS status_5xx,
       least(sum(a.exec_ms), 9223372036854775807)::bigint    AS exec_ms,
       count(*)::integer                       AS days_reported
FROM tally.api_usage_daily a
LEFT JOIN tally.environments e USING (tenant_id, environment_id)
GROUP BY a.tenant_id, a.environment_id, e.name, e.kind, date_trunc('month', a.day);

-- One row per limit checked in a contract period (0004 describes the rows and
-- the status thresholds); the monthly sum saturates.
CREATE OR REPLACE VIEW tally.compliance_detail AS
WITH checks AS (
    SELECT t.tenant_id, t.valid_from, t.valid_until,
           'monthly_api_calls'::text AS metric,
           NULL::text AS environment_id,
           greatest(t.valid_from, m.month::date) AS period_start,
           least(t.valid_until, (m.month + interval '1 month' - interval '1 day')::date) AS period_end,
           least(coalesce((SELECT sum(a.api_calls) FROM tally.api_usage_daily a
                           WHERE a.tenant_id = t.tenant_id
                             AND a.day >= greatest(t.valid_from, m.month::date)
                             AND a.day <= least(t.valid_until, (m.month + interval '1 month' - interval '1 day')::date)),
                          0),
                 9223372036854775807)::bigint AS used,
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
