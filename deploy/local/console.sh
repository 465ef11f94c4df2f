#!/usr/bin/env bash
# Sign-in links for the local console (tally-console on 127.0.0.1:8090,
# started by pipeline.sh):
#   console.sh url                  the console's address
#   console.sh link TENANT MEMBER   issues a console token for MEMBER of
#                                   TENANT (tally-console issue-token: a
#                                   ConsoleTokenIssued event through the
#                                   gateway's Control Panel route, valid 24 h),
#                                   waits until the materializer has projected
#                                   it (at most 60 s) and prints its link
#   console.sh staff-link           the vendor staff's sign-in link (the staff
#                                   token made into the state folder)
# A link is GET /signin?token=...: the console exchanges the token for a
# session cookie and answers 303 to the tenant's overview (staff: the
# vendor's tenants page). Tokens are secrets: the links are for this machine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

pipeline=$TALLY_ROOT/deploy/local/pipeline.sh
url=http://127.0.0.1:${TALLY_CONSOLE_PORT:-8090}

case "${1:-}" in
  url) echo "$url" ;;
  link)
    tenant=${2:?usage: $0 link TENANT MEMBER} member=${3:?usage: $0 link TENANT MEMBER}
    out=$(TALLY_ADMIN_TOKEN=$("$pipeline" admin-token) "$TALLY_BUILD_DIR/bin/tally-console" issue-token \
      --gateway-url="http://127.0.0.1:${TALLY_GATEWAY_PORT:-8080}" --tenant="$tenant" --member="$member") ||
      tally_die "console: tally-console issue-token failed for $member of $tenant"
    token=$(grep -o 'tct_[A-Za-z0-9_-]\{43\}' <<<"$out" | head -n1)
    [[ -n $token ]] || tally_die "console: issue-token printed no token for $member of $tenant"
    sha=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
    for _ in $(seq 1 300); do
      [[ $("$TALLY_ROOT/deploy/local/postgres.sh" psql-as tally_reader -tA \
        -c "select count(*) from tally.console_tokens where token_sha256 = '$sha'") == 1 ]] && break
      sleep 0.2
    done
    [[ $("$TALLY_ROOT/deploy/local/postgres.sh" psql-as tally_reader -tA \
      -c "select count(*) from tally.console_tokens where token_sha256 = '$sha'") == 1 ]] ||
      tally_die "console: the token of $member of $tenant did not land in tally.console_tokens within 60 s"
    echo "$url/signin?token=$token" ;;
  staff-link) echo "$url/signin?token=$("$pipeline" staff-token)" ;;
  *) echo "usage: $0 url|link TENANT MEMBER|staff-link" >&2; exit 2 ;;
esac
