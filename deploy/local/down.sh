#!/usr/bin/env bash
# Stops what deploy/local/up.sh started. --wipe also deletes their state.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
deploy/local/alerts_demo.sh stop
deploy/local/pipeline.sh stop
deploy/local/postgres.sh stop
deploy/local/kafka.sh stop
if [[ ${1:-} == --wipe ]]; then
  deploy/local/postgres.sh wipe
  deploy/local/kafka.sh wipe
fi
