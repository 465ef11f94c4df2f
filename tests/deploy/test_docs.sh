#!/usr/bin/env bash
# The documentation stands alone: every relative link of every Markdown
# file resolves to a file of the repository, nothing names a path above the
# repository's root, and the architecture page names every process, topic
# and read-model table that exists. Run by tests/run.sh.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

mapfile -t tracked < <(git ls-files 2>/dev/null || find . -type f -not -path './.git/*' -printf '%P\n')
[[ ${#tracked[@]} -gt 0 ]] || { echo "FAIL no files found"; exit 1; }

# 1. Relative Markdown links resolve inside the repository.
bad=0
for f in "${tracked[@]}"; do
  [[ $f == *.md ]] || continue
  dir=$(dirname "$f")
  while IFS= read -r target; do
    target=${target%%#*}
    [[ -z $target || $target == *://* || $target == mailto:* ]] && continue
    resolved=$(realpath -m "$dir/$target")
    case $resolved in
      "$PWD"/*) [[ -e $resolved ]] || { fail "$f links to $target, which does not exist"; bad=1; } ;;
      *) fail "$f links outside the repository: $target"; bad=1 ;;
    esac
  done < <(grep -oE '\]\([^) ]+\)' "$f" | sed -E 's/^\]\((.*)\)$/\1/')
done
[[ $bad -eq 0 ]] && pass "every relative Markdown link resolves inside the repository"

# 2. No file points at the builders' folder beside the repository.
hits=$(grep -nIE '\.\./shared|\.\./\.\./shared' -- "${tracked[@]}" 2>/dev/null | grep -v '^tests/deploy/test_docs.sh:' || true)
[[ -z $hits ]] && pass "no file points outside the repository" || fail "files point outside the repository: $hits"

# 3. The architecture page covers what is built.
arch=docs/architecture.md
if [[ ! -f $arch ]]; then
  fail "$arch is missing"
else
  missing=()
  for bin in $(grep -ohE 'add_executable\((tally[-a-z]*)' $(git ls-files '*CMakeLists.txt') | sed 's/add_executable(//' | sort -u); do
    grep -q "\`$bin\`" "$arch" || missing+=("process $bin")
  done
  for topic in $(awk '!/^#/ && NF { print $1 }' deploy/kafka/topics.conf); do
    grep -q "\`$topic\`" "$arch" || missing+=("topic $topic")
  done
  for table in $(grep -ohE 'CREATE (TABLE|VIEW) tally\.[a-z_]+' deploy/postgres/migrations/*.sql | sed -E 's/.*tally\.//' | sort -u); do
    [[ $table == schema_migrations ]] && continue
    grep -q "$table" "$arch" || missing+=("table/view $table")
  done
  [[ ${#missing[@]} -eq 0 ]] && pass "$arch names every process, topic, table and view" ||
    fail "$arch does not name: ${missing[*]}"
fi

# 4. The librdkafka release the docs name is the one deploy/librdkafka.sh
#    builds (deploy/local/env.sh): a version bump updates them too.
rdk=$(sed -n 's/^TALLY_LIBRDKAFKA_VERSION=${TALLY_LIBRDKAFKA_VERSION:-\([0-9.]*\)}$/\1/p' deploy/local/env.sh)
if [[ -z $rdk ]]; then
  fail "no TALLY_LIBRDKAFKA_VERSION default in deploy/local/env.sh"
else
  stale=()
  for f in README.md docs/architecture.md; do
    grep -q "librdkafka $rdk" "$f" || stale+=("$f")
  done
  [[ ${#stale[@]} -eq 0 ]] && pass "README.md and $arch name librdkafka $rdk, the release built" ||
    fail "do not name librdkafka $rdk (deploy/local/env.sh): ${stale[*]}"
fi

[[ $fails -eq 0 ]] || { echo "test_docs: $fails failure(s)"; exit 1; }
echo "test_docs: all passed"
