-- The console's usage downloads are tally-replay export run inside the
-- console (as tally_reader): its check against the read model reads the
-- rollup tables, the tenant list and the materializer's stored offsets.
-- None holds personal data (member names and e-mails stay in tally.members,
-- API key hashes in tally.api_keys, neither granted here), so tally_reader
-- may read them rather than the console holding a second, stronger role.
GRANT SELECT ON tally.tenants, tally.api_usage_daily, tally.seat_usage_daily, tally.kafka_offsets
    TO tally_reader;
