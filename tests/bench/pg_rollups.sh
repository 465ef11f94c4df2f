#!/usr/bin/env bash
# Benchmark of the PostgreSQL side of the rollups (docs/operations.md,
# section 4): how many tally.api_usage_daily upserts per second one
# connection gets, the WAL each costs, and the bytes a row of each read-model
# table takes. Prints figures, asserts none.
#
#   tests/bench/pg_rollups.sh [KEYS [ROUNDS]]     (defaults 100000 3)
#
# KEYS rows (tenant|environment|day keys: 36-character tenant ids, 3
# environments each, one day) go in as the materializer writes them
# (consumers/projection/writer.c): per transaction of PG_BATCH rows (20000,
# its --batch-max-records), a COPY into a temporary stage, the same
# INSERT .. ON CONFLICT .. DO UPDATE .. WHERE (offset / updated_at guard)
# and the tally.kafka_offsets upsert. Round 0 inserts; rounds 1..ROUNDS
# update every key with higher offsets (the steady state: every rollup read
# becomes a row write). Per round: rows/s over one psql session and WAL
# bytes per row (pg_wal_lsn_diff; a round just after a checkpoint carries
# full-page images). Then, after VACUUM FULL, bytes per row (heap and
# indexes) of api_usage_daily, seat_usage_daily, product_events (a 5-key
# properties) and product_daily_installs.
#
# Uses the running local PostgreSQL (deploy/local/postgres.sh), starting it
# if needed; its own database, dropped at the end with every file it made.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/local/env.sh
source tests/bench/bench_lib.sh

keys=${1:-100000}
rounds=${2:-3}
batch=${PG_BATCH:-20000}
build=$TALLY_BUILD_DIR
tally_build tally-migrate

started=()
if ! deploy/local/postgres.sh status >/dev/null 2>&1; then
  deploy/local/postgres.sh start; started+=(postgres)
fi
db=bench_pgr_$$_$(date +%s)
work=$(mktemp -d /tmp/tally-bench-pgr.XXXXXX)
psql_bin=$(bench_psql_bin)
psql_() { "$psql_bin" -X -q -v ON_ERROR_STOP=1 -h "$TALLY_PG_HOST" -p "$TALLY_PG_PORT" -U postgres "$@"; }

cleanup() {
  local rc=$?
  psql_ -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
  for svc in "${started[@]}"; do "deploy/local/$svc.sh" stop || true; done
  exit "$rc"
}
trap cleanup EXIT

psql_ -d postgres -c "CREATE DATABASE $db"
"$build/bin/tally-migrate" --pg-url="postgresql://postgres@$TALLY_PG_HOST:$TALLY_PG_PORT/$db" \
  --migrations=deploy/postgres/migrations --log-level=warn

# Round r's files: KEYS rows in files of PG_BATCH, offsets above round r-1's.
make_round() {
  local r=$1
  awk -v keys="$keys" -v batch="$batch" -v r="$r" -v dir="$work" 'BEGIN {
    for (n = 0; n < keys; n++) {
      t = int(n / 3)
      f = sprintf("%s/r%d_%05d.tsv", dir, r, int(n / batch))
      if (f != last) { if (last != "") close(last); last = f }
      printf "%08x-0000-4000-8000-%012x\tenv-%08x-%d\t2026-06-01\t%d\t%d\t%d\t%d\t2026-06-01 12:00:%02d+00\t%d\t%d\n",
        t, t, t, n % 3, 1000 * (r + 1) + n, n % 50, n % 7, n * 13, r, t % 6, (r + 1) * keys + n > f
    }
  }'
  for f in "$work"/r"${r}"_*.tsv; do
    cat <<EOF
BEGIN;
CREATE TEMP TABLE IF NOT EXISTS mat_api_stage (tenant_id text, environment_id text, day date, api_calls bigint,
  status_4xx bigint, status_5xx bigint, exec_ms bigint, updated_at timestamptz, kafka_partition integer,
  kafka_offset bigint) ON COMMIT DELETE ROWS;
\\copy mat_api_stage FROM '$f'
INSERT INTO tally.api_usage_daily AS t (tenant_id, environment_id, day, api_calls, status_4xx, status_5xx, exec_ms,
  updated_at, kafka_partition, kafka_offset)
SELECT tenant_id, environment_id, day, api_calls, status_4xx, status_5xx, exec_ms, updated_at, kafka_partition,
  kafka_offset FROM pg_temp.mat_api_stage
ON CONFLICT (tenant_id, environment_id, day) DO UPDATE SET api_calls = EXCLUDED.api_calls,
  status_4xx = EXCLUDED.status_4xx, status_5xx = EXCLUDED.status_5xx, exec_ms = EXCLUDED.exec_ms,
  updated_at = EXCLUDED.updated_at, kafka_partition = EXCLUDED.kafka_partition, kafka_offset = EXCLUDED.kafka_offset
WHERE (t.kafka_partition = EXCLUDED.kafka_partition AND t.kafka_offset <= EXCLUDED.kafka_offset)
   OR (t.kafka_partition <> EXCLUDED.kafka_partition AND t.updated_at <= EXCLUDED.updated_at);
INSERT INTO tally.kafka_offsets (consumer_group, topic, partition, next_offset)
VALUES ('bench', 'tally.rollups', 0, $r) ON CONFLICT (consumer_group, topic, partition)
DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now();
COMMIT;
EOF
  done >"$work/round$r.sql"
}

for r in $(seq 0 "$rounds"); do
  make_round "$r"
  lsn0=$(psql_ -d "$db" -tAc "SELECT pg_current_wal_lsn()")
  t0=$(date +%s.%N)
  psql_ -d "$db" -f "$work/round$r.sql" 2>&1 | { grep -v 'already exists, skipping' || true; }
  t1=$(date +%s.%N)
  lsn1=$(psql_ -d "$db" -tAc "SELECT pg_current_wal_lsn()")
  wal=$(psql_ -d "$db" -tAc "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')")
  check=$(psql_ -d "$db" -tAc "SELECT count(*) FILTER (WHERE kafka_offset >= $(((r + 1) * keys))) FROM tally.api_usage_daily")
  [[ $check -eq $keys ]] || tally_die "round $r: $check of $keys rows hold this round's value"
  awk -v r="$r" -v n="$keys" -v s="$(echo "$t1 - $t0" | bc)" -v w="$wal" -v la="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
    printf "round %d (%s): %d rows in %.2f s = %.0f rows/s; WAL %.0f bytes/row; load average %s\n",
      r, (r == 0 ? "insert" : "update"), n, s, n / s, w / n, la
  }'
  rm -f "$work"/r"${r}"_*.tsv
done

psql_ -d "$db" -c "INSERT INTO tally.seat_usage_daily SELECT '00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'),
  date '2026-06-01', 5, 7, now(), 0, g FROM generate_series(1, $keys) g" \
  -c "INSERT INTO tally.product_events SELECT gen_random_uuid(), 'CLI', 'project.create.end', now(), now(),
  'v1:' || md5(g::text), 'v1:' || md5((g / 3)::text), '5.12.3', false, g % 10 = 0,
  jsonb_build_object('template', 'blog', 'language', 'typescript', 'package_manager', 'npm',
                     'database', 'postgres', 'duration_ms', '41234'), NULL, NULL FROM generate_series(1, $keys) g" \
  -c "INSERT INTO tally.product_daily_installs SELECT date '2026-06-01', 'project.create.end', 'CLI', '5.12.3',
  'v1:' || md5(g::text) FROM generate_series(1, $keys) g" \
  -c "VACUUM FULL tally.api_usage_daily, tally.seat_usage_daily, tally.product_events, tally.product_daily_installs"
for t in api_usage_daily seat_usage_daily product_events product_daily_installs; do
  psql_ -d "$db" -tAc "SELECT count(*), pg_relation_size('tally.$t'), pg_indexes_size('tally.$t') FROM tally.$t" |
    awk -F'|' -v t="$t" '{ printf "bytes/row %-24s %5.0f (heap %.0f, indexes %.0f) over %d rows\n", t, ($2 + $3) / $1, $2 / $1, $3 / $1, $1 }'
done
