-- Usage alerts (UsageAlert version 1, docs/architecture.md), projected by
-- tally-materializer from tally.alerts, in the same transaction as its rows
-- in tally.kafka_offsets. tally-notifier writes each crossing exactly once
-- with a deterministic alert_id, so the id is the key: an alert read twice
-- (a replay, a rewind) is stored once (INSERT ... ON CONFLICT DO NOTHING),
-- and the first record of an id is the one kept.
--
-- metric and state are the schema's enum symbols. period is "YYYY-MM"
-- (monthly API calls, seats) or "YYYY-MM-DD" (non-production daily, the only
-- metric with an environment_id). kafka_partition and kafka_offset name the
-- record the row came from, as in the other projected tables. No URL,
-- secret or address: the webhook deliveries are tally-webhooks' business.
CREATE TABLE tally.alerts (
    alert_id        text PRIMARY KEY CHECK (alert_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    tenant_id       text    NOT NULL,
    environment_id  text,
    metric          text    NOT NULL CHECK (metric IN ('MONTHLY_API_CALLS', 'NONPROD_DAILY_API_CALLS', 'SEATS_PEAK')),
    threshold       integer NOT NULL CHECK (threshold > 0),
    value           bigint  NOT NULL CHECK (value >= 0),
    "limit"         bigint  NOT NULL CHECK ("limit" >= 0),
    period          text    NOT NULL CHECK (period ~ '^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$'),
    state           text    NOT NULL CHECK (state IN ('TRIGGERED', 'RESOLVED')),
    at              timestamptz NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint  NOT NULL,
    CHECK ((environment_id IS NOT NULL) = (metric = 'NONPROD_DAILY_API_CALLS')),
    CHECK ((length(period) = 10) = (metric = 'NONPROD_DAILY_API_CALLS'))
);
-- A tenant's alerts of a month, newest first (the overview, the API); the
-- month of a daily period is its first 7 characters.
CREATE INDEX alerts_tenant_month ON tally.alerts (tenant_id, (left(period, 7)), at);

-- What the console reads (as tally_reader): the alerts without their Kafka
-- positions, and per tenant and month the alerts still open, i.e. the
-- (metric, environment, period, threshold) whose latest alert is TRIGGERED
-- (alerts are keyed by tenant, so a tenant's lie in one partition in offset
-- order). Per month, because nothing resolves an alert when its period
-- ends: the notifier forgets old months, so last month's 80 % stays
-- TRIGGERED forever; the console counts the current month's.
CREATE VIEW tally.console_alerts AS
SELECT a.alert_id, a.tenant_id, a.environment_id, a.metric, a.threshold, a.value, a."limit", a.period,
       left(a.period, 7) AS month, a.state, a.at
FROM tally.alerts a;

CREATE VIEW tally.console_open_alerts AS
SELECT l.tenant_id, left(l.period, 7) AS month, count(*)::bigint AS open_alerts
FROM (SELECT DISTINCT ON (a.tenant_id, a.metric, a.environment_id, a.period, a.threshold)
             a.tenant_id, a.period, a.state
      FROM tally.alerts a
      ORDER BY a.tenant_id, a.metric, a.environment_id, a.period, a.threshold, a.at DESC, a.kafka_offset DESC) l
WHERE l.state = 'TRIGGERED'
GROUP BY l.tenant_id, left(l.period, 7);

GRANT SELECT, INSERT, UPDATE ON tally.alerts TO tally_materializer;
REVOKE ALL ON tally.alerts, tally.console_alerts, tally.console_open_alerts FROM PUBLIC;
GRANT SELECT ON tally.console_alerts, tally.console_open_alerts TO tally_reader;
