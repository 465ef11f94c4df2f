#!/usr/bin/env bash
# The main job on one machine, with no outside service: installs what is
# missing, builds, starts Apache Kafka (KRaft) on 127.0.0.1:19092 and
# PostgreSQL 15 on 127.0.0.1:55432, creates the topics, migrates the read
# model, and says what runs. Stop everything with deploy/local/down.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/local/env.sh

t0=$SECONDS
tally_log "setup: checking Debian packages"
deploy/setup.sh
tally_log "build: $TALLY_BUILD_DIR"
tally_build
deploy/local/kafka.sh start
deploy/local/postgres.sh start

cat <<MSG

Tally's local stack is up ($((SECONDS - t0)) s):
  Kafka       $TALLY_BROKERS   (state: ${TALLY_STATE#$TALLY_ROOT/}/kafka, log: server.log)
  PostgreSQL  $TALLY_PG_HOST:$TALLY_PG_PORT database $TALLY_PG_DB   (deploy/local/postgres.sh psql)
  Binaries    ${TALLY_BUILD_DIR#$TALLY_ROOT/}/bin: $(ls "$TALLY_BUILD_DIR/bin" | tr '\n' ' ')

Topics:
$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' deploy/kafka/topics.conf | awk '{printf "  %-28s %s partitions, %s\n", $1, $2, $4}')

Read model tables:
$(deploy/local/postgres.sh psql -tA -c "select '  ' || schemaname || '.' || tablename from pg_tables where schemaname = 'tally' order by 2")

The pipeline processes (gateway, anonymizer, aggregator, materializer) are not
built yet; this stack is what they will run on.
Stop everything: deploy/local/down.sh
MSG
