-- The tally schema and the consumer offsets table. Offsets are written in the
-- same transaction as the rows they produced (DESIGN.md "PostgreSQL read model").
CREATE SCHEMA IF NOT EXISTS tally;

CREATE TABLE tally.kafka_offsets (
    consumer_group text    NOT NULL,
    topic          text    NOT NULL,
    partition      integer NOT NULL CHECK (partition >= 0),
    next_offset    bigint  NOT NULL CHECK (next_offset >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
