-- What tally-console reads as tally_reader, besides the Control Panel views
-- of 0004/0006 (the overview and the vendor tenants page use tally.compliance
-- and tally.compliance_detail, so the console and the Control Panel agree on
-- what "over" means).
--
-- Views run with their owner's rights: SELECT on one gives no access to the
-- table under it. They leave out what no page shows: Kafka offsets, API key
-- hashes, removed members, deleted environments' keys. Members' names and
-- e-mails are readable here; the console shows them only to that tenant's
-- own members (consumers/console/pages_team.c).
--
-- Product analytics are functions, not views: each takes its date range as
-- parameters (so a query is bounded and uses the day indexes), refuses a
-- range longer than 62 days, and returns only aggregates with their
-- distinct installation counts, never an install_ref, so the console can
-- hide every figure computed from fewer than 5 installations.

CREATE VIEW tally.console_tenants AS
SELECT t.tenant_id, t.name, t.registered_at
FROM tally.tenants t;

CREATE VIEW tally.console_environments AS
SELECT e.tenant_id, e.environment_id, e.name, e.kind, e.created_at
FROM tally.environments e
WHERE e.deleted_at IS NULL;

CREATE VIEW tally.console_members AS
SELECT m.tenant_id, m.member_id, m.first_name, m.last_name, m.email, m.role, m.added_at
FROM tally.members m
WHERE m.removed_at IS NULL;

-- The contract periods with their limits (the seats page draws the maximum of
-- each day).
CREATE VIEW tally.console_license_terms AS
SELECT l.tenant_id, l.valid_from, l.valid_until, l.seats_max, l.monthly_api_calls_max,
       l.daily_api_calls_max_nonprod, l.features
FROM tally.license_terms l;

-- One environment's API usage on one UTC day (a deleted environment's past
-- usage still counts, as in tally.compliance_detail).
CREATE VIEW tally.console_usage_daily AS
SELECT a.tenant_id, a.environment_id,
       e.name AS environment_name,
       e.kind AS environment_kind,
       a.day, a.api_calls, a.status_4xx, a.status_5xx, a.exec_ms
FROM tally.api_usage_daily a
LEFT JOIN tally.environments e ON e.tenant_id = a.tenant_id AND e.environment_id = a.environment_id;

CREATE VIEW tally.console_seats_daily AS
SELECT s.tenant_id, s.day, s.seats_in_use, s.seats_peak
FROM tally.seat_usage_daily s;

-- The range guard of the product functions: [p_from, p_until), 1 to 62 days.
CREATE FUNCTION tally.console_range_check(p_from date, p_until date) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_from IS NULL OR p_until IS NULL OR p_until <= p_from OR p_until - p_from > 62 THEN
        RAISE EXCEPTION 'range % to % is not 1 to 62 days', p_from, p_until USING ERRCODE = '22023';
    END IF;
END
$$;

-- Events per day and event name, and the distinct installations behind them.
CREATE FUNCTION tally.console_product_events_daily(p_from date, p_until date)
RETURNS TABLE (day date, event text, events bigint, installs bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM tally.console_range_check(p_from, p_until);
    RETURN QUERY
    SELECT d.day, d.event, d.events, coalesce(i.installs, 0)::bigint
    FROM (SELECT p.day, p.event, least(sum(p.events), 9223372036854775807)::bigint AS events
          FROM tally.product_daily p
          WHERE p.day >= p_from AND p.day < p_until
          GROUP BY p.day, p.event) d
    LEFT JOIN (SELECT x.day, x.event, count(DISTINCT x.install_ref)::bigint AS installs
               FROM tally.product_daily_installs x
               WHERE x.day >= p_from AND x.day < p_until
               GROUP BY x.day, x.event) i ON i.day = d.day AND i.event = d.event
    ORDER BY d.day, d.event;
END
$$;

-- Installations seen per week (Monday) and version, any event.
CREATE FUNCTION tally.console_product_versions_weekly(p_from date, p_until date)
RETURNS TABLE (week date, source text, version text, installs bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM tally.console_range_check(p_from, p_until);
    RETURN QUERY
    SELECT date_trunc('week', x.day::timestamp)::date, x.source, nullif(x.version, ''),
           count(DISTINCT x.install_ref)::bigint
    FROM tally.product_daily_installs x
    WHERE x.day >= p_from AND x.day < p_until
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3;
END
$$;

-- Project creation by CLI version: starts and successful ends, each with its
-- distinct installations.
CREATE FUNCTION tally.console_product_create_rate(p_from date, p_until date)
RETURNS TABLE (version text, starts bigint, start_installs bigint, ends bigint, end_installs bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM tally.console_range_check(p_from, p_until);
    RETURN QUERY
    WITH ev AS (
        SELECT p.version,
               least(coalesce(sum(p.events) FILTER (WHERE p.event = 'project.create.start'), 0),
                     9223372036854775807)::bigint AS starts,
               least(coalesce(sum(p.events) FILTER (WHERE p.event = 'project.create.end'), 0),
                     9223372036854775807)::bigint AS ends
        FROM tally.product_daily p
        WHERE p.day >= p_from AND p.day < p_until AND p.source = 'CLI'
          AND p.event IN ('project.create.start', 'project.create.end')
        GROUP BY p.version),
    ins AS (
        SELECT x.version,
               count(DISTINCT x.install_ref) FILTER (WHERE x.event = 'project.create.start')::bigint AS si,
               count(DISTINCT x.install_ref) FILTER (WHERE x.event = 'project.create.end')::bigint AS ei
        FROM tally.product_daily_installs x
        WHERE x.day >= p_from AND x.day < p_until AND x.source = 'CLI'
          AND x.event IN ('project.create.start', 'project.create.end')
        GROUP BY x.version)
    SELECT nullif(ev.version, ''), ev.starts, coalesce(ins.si, 0), ev.ends, coalesce(ins.ei, 0)
    FROM ev LEFT JOIN ins ON ins.version = ev.version
    ORDER BY ev.version;
END
$$;

-- Events and events carrying an error, by source and version, each with its
-- distinct installations.
CREATE FUNCTION tally.console_product_errors(p_from date, p_until date)
RETURNS TABLE (source text, version text, events bigint, installs bigint, errors bigint, error_installs bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM tally.console_range_check(p_from, p_until);
    RETURN QUERY
    SELECT e.source, e.version, count(*)::bigint, count(DISTINCT e.install_ref)::bigint,
           count(*) FILTER (WHERE e.error_message IS NOT NULL)::bigint,
           count(DISTINCT e.install_ref) FILTER (WHERE e.error_message IS NOT NULL)::bigint
    FROM tally.product_events e
    WHERE e.occurred_at >= (p_from::timestamp AT TIME ZONE 'UTC')
      AND e.occurred_at < (p_until::timestamp AT TIME ZONE 'UTC')
    GROUP BY e.source, e.version
    ORDER BY e.source, e.version;
END
$$;

-- The most frequent (scrubbed) error messages reported by at least
-- p_min_installs distinct installations: a message fewer installations sent
-- is not returned at all, since its text could point at one of them.
CREATE FUNCTION tally.console_product_top_errors(p_from date, p_until date, p_min_installs integer,
                                                 p_limit integer)
RETURNS TABLE (error_message text, events bigint, installs bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM tally.console_range_check(p_from, p_until);
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 100 OR p_min_installs IS NULL OR p_min_installs < 1 THEN
        RAISE EXCEPTION 'limit % or minimum % out of range', p_limit, p_min_installs USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    SELECT e.error_message, count(*)::bigint, count(DISTINCT e.install_ref)::bigint
    FROM tally.product_events e
    WHERE e.occurred_at >= (p_from::timestamp AT TIME ZONE 'UTC')
      AND e.occurred_at < (p_until::timestamp AT TIME ZONE 'UTC')
      AND e.error_message IS NOT NULL
    GROUP BY e.error_message
    HAVING count(DISTINCT e.install_ref) >= p_min_installs
    ORDER BY 3 DESC, 2 DESC, 1
    LIMIT p_limit;
END
$$;

-- Events that said whether they ran in CI, and those that ran in CI, by
-- source, each with its distinct installations.
CREATE FUNCTION tally.console_product_ci(p_from date, p_until date)
RETURNS TABLE (source text, events bigint, installs bigint, ci_events bigint, ci_installs bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM tally.console_range_check(p_from, p_until);
    RETURN QUERY
    SELECT e.source, count(*)::bigint, count(DISTINCT e.install_ref)::bigint,
           count(*) FILTER (WHERE e.ci)::bigint,
           count(DISTINCT e.install_ref) FILTER (WHERE e.ci)::bigint
    FROM tally.product_events e
    WHERE e.occurred_at >= (p_from::timestamp AT TIME ZONE 'UTC')
      AND e.occurred_at < (p_until::timestamp AT TIME ZONE 'UTC')
      AND e.ci IS NOT NULL
    GROUP BY e.source
    ORDER BY e.source;
END
$$;

-- Indexes for the overview, which reads tally.compliance_detail for the whole
-- contract period on every request: the sum of each month's API calls
-- (tenant and day range), each non-production environment's days (tenant,
-- environment and day range) and the peak seats. With the counter in the
-- index these are index-only scans: a tenant's daily rows lie one per heap
-- page (each day's rollups of every tenant are written together), so
-- reading the heap costs a page per row (measured with tests/bench/console.sh:
-- about 1,600 buffers and 10-13 ms for a year of 10 environments, 5 ms
-- with these). The price: an update that changes api_calls or seats_peak
-- (every rollup upsert does) is no longer a HOT update and writes the new
-- version into these indexes too. (tenant_id, day) INCLUDE (api_calls)
-- replaces 0003's api_usage_daily_tenant_day, which had the same keys.
CREATE INDEX api_usage_daily_tenant_day_calls ON tally.api_usage_daily (tenant_id, day) INCLUDE (api_calls);
DROP INDEX tally.api_usage_daily_tenant_day;
CREATE INDEX api_usage_daily_tenant_env_day_calls
    ON tally.api_usage_daily (tenant_id, environment_id, day) INCLUDE (api_calls);
CREATE INDEX seat_usage_daily_tenant_day_peak ON tally.seat_usage_daily (tenant_id, day) INCLUDE (seats_peak);

-- The grants are per database: the new views and functions, nothing else.
REVOKE ALL ON tally.console_tenants, tally.console_environments, tally.console_members, tally.console_license_terms,
              tally.console_usage_daily, tally.console_seats_daily FROM PUBLIC;
GRANT SELECT ON tally.console_tenants, tally.console_environments, tally.console_members, tally.console_license_terms,
                tally.console_usage_daily, tally.console_seats_daily TO tally_reader;
REVOKE ALL ON FUNCTION tally.console_range_check(date, date),
                       tally.console_product_events_daily(date, date),
                       tally.console_product_versions_weekly(date, date),
                       tally.console_product_create_rate(date, date),
                       tally.console_product_errors(date, date),
                       tally.console_product_top_errors(date, date, integer, integer),
                       tally.console_product_ci(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tally.console_range_check(date, date),
                          tally.console_product_events_daily(date, date),
                          tally.console_product_versions_weekly(date, date),
                          tally.console_product_create_rate(date, date),
                          tally.console_product_errors(date, date),
                          tally.console_product_top_errors(date, date, integer, integer),
                          tally.console_product_ci(date, date) TO tally_reader;

-- No JIT for the console's role in this database: its queries run for
-- milliseconds, and the compliance views' cost estimates (generate_series
-- guessed at 1000 rows per period) are high enough to trigger a compile
-- that costs 100 ms to seconds. Per database, like the grants.
DO $$
BEGIN
    EXECUTE format('ALTER ROLE tally_reader IN DATABASE %I SET jit = off', current_database());
END
$$;
