-- The read model that tally-materializer keeps from tally.rollups and
-- tally.product (DESIGN.md "PostgreSQL read model"). Written only by the
-- materializer, in the same transaction as its rows in tally.kafka_offsets.

-- Cumulative API usage of one environment on one UTC day: the last rollup for
-- the key is the truth. kafka_partition and kafka_offset name the record the
-- row holds: an upsert applies only a record at or after it on the same
-- partition, so re-reading older offsets can never lower a value.
CREATE TABLE tally.api_usage_daily (
    tenant_id       text   NOT NULL,
    environment_id  text   NOT NULL,
    day             date   NOT NULL,
    api_calls       bigint NOT NULL CHECK (api_calls >= 0),
    status_4xx      bigint NOT NULL CHECK (status_4xx >= 0),
    status_5xx      bigint NOT NULL CHECK (status_5xx >= 0),
    exec_ms         bigint NOT NULL CHECK (exec_ms >= 0),
    updated_at      timestamptz NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint  NOT NULL,
    PRIMARY KEY (tenant_id, environment_id, day)
);
CREATE INDEX api_usage_daily_tenant_day ON tally.api_usage_daily (tenant_id, day);

-- Seats of one tenant on one UTC day, same rule.
CREATE TABLE tally.seat_usage_daily (
    tenant_id       text   NOT NULL,
    day             date   NOT NULL,
    seats_in_use    bigint NOT NULL CHECK (seats_in_use >= 0),
    seats_peak      bigint NOT NULL CHECK (seats_peak >= 0),
    updated_at      timestamptz NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint  NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

-- Clean product events (ProductEventClean), once each: a client that sent an
-- event twice gets one row (ON CONFLICT (event_id) DO NOTHING).
CREATE TABLE tally.product_events (
    event_id      uuid PRIMARY KEY,
    source        text NOT NULL CHECK (source IN ('CLI', 'ADMIN')),
    event         text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    install_ref   text NOT NULL,
    project_ref   text,
    version       text,
    ci            boolean,
    new_user      boolean,
    properties    jsonb NOT NULL DEFAULT '{}',
    error_message text,
    error_stack   text
);
-- Retention and time-range scans; BRIN costs next to nothing on insert.
CREATE INDEX product_events_occurred_at ON tally.product_events USING brin (occurred_at);

-- Daily product analytics, kept up to date from the rows actually inserted
-- (a duplicate event counts nothing). version '' stands for "not reported".
CREATE TABLE tally.product_daily (
    day     date   NOT NULL,
    event   text   NOT NULL,
    source  text   NOT NULL,
    version text   NOT NULL,
    events  bigint NOT NULL CHECK (events >= 0),
    installs bigint NOT NULL CHECK (installs >= 0),
    PRIMARY KEY (day, event, source, version)
);

-- Which installs were already counted in product_daily.installs: one row per
-- (day, event, source, version, install) seen.
CREATE TABLE tally.product_daily_installs (
    day         date NOT NULL,
    event       text NOT NULL,
    source      text NOT NULL,
    version     text NOT NULL,
    install_ref text NOT NULL,
    PRIMARY KEY (day, event, source, version, install_ref)
);
