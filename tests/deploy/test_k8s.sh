#!/usr/bin/env bash
# The Kubernetes manifests of deploy/k8s, offline: each overlay rendered by
# the pinned kustomize and every object decoded strictly into the k8s.io/api
# types and checked against the house rules by tests/k8s (k8scheck), with
# every TALLY_* name and flag checked against the --help of the process it
# is given to. Then proof that the checker refuses what it must: an unknown
# field, a wrong type, an unknown kind, and each house rule broken once.
# Run by tests/run.sh; a missing tool FAILS (deploy/setup.sh --test
# installs them), never skips. No network: the checker builds from the
# modules setup.sh downloaded (GOPROXY=off).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/local/env.sh
fails=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

kustomize=$TALLY_CACHE/go-bin/kustomize-$TALLY_KUSTOMIZE_VERSION
if [[ ! -x $kustomize ]]; then
  echo "FAIL kustomize $TALLY_KUSTOMIZE_VERSION is not installed in $TALLY_CACHE/go-bin (deploy/setup.sh --test builds it)"; exit 1
fi
command -v go >/dev/null || { echo "FAIL go is not installed (tests/k8s is a Go program; deploy/setup.sh --test says what is needed)"; exit 1; }
work=$(mktemp -d /tmp/tally-k8s-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
if ! out=$(cd tests/k8s && GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -o "$work/k8scheck" . 2>&1); then
  echo "FAIL tests/k8s does not build offline (deploy/setup.sh --test downloads its modules): $out"; exit 1
fi
ok "kustomize $("$kustomize" version) and tests/k8s ($(grep -E '^\s+k8s.io/api ' tests/k8s/go.mod | xargs)) are here"

# Every process's --help: the options its manifests may set.
procs=(tally-gateway tally-anonymizer tally-aggregator tally-materializer tally-migrate tally-console tally-notifier tally-webhooks)
tally_build "${procs[@]}"
mkdir "$work/help"
for b in "${procs[@]}"; do
  "$TALLY_BUILD_DIR/bin/$b" --help >"$work/help/$b.txt" 2>&1
  grep -q 'env: TALLY_' "$work/help/$b.txt" || fail "$b --help lists no TALLY_* variable"
done

# 1. Each overlay renders and passes. The local overlay carries all it
# references (placeholder Secrets); production none of its Secrets.
for overlay in local production; do
  flags=(-name "$overlay" -help-dir "$work/help")
  [[ $overlay == local ]] && flags+=(-self-contained)
  [[ $overlay == production ]] && flags+=(-production)
  if ! "$kustomize" build "deploy/k8s/overlays/$overlay" >"$work/$overlay.yaml" 2>"$work/$overlay.err"; then
    fail "kustomize build deploy/k8s/overlays/$overlay: $(cat "$work/$overlay.err")"; continue
  fi
  if "$work/k8scheck" "${flags[@]}" "$work/$overlay.yaml"; then
    ok "deploy/k8s/overlays/$overlay: $(grep -c '^kind: ' "$work/$overlay.yaml") objects pass"
  else
    fail "deploy/k8s/overlays/$overlay is refused (above)"
  fi
done

# 2. The checker refuses. refused <what> <needle> <file> [flags]: exit 1
# with the needle in the output.
refused() {
  local what=$1 needle=$2 file=$3 out rc; shift 3
  out=$("$work/k8scheck" -help-dir "$work/help" "$@" "$file" 2>&1); rc=$?
  if [[ $rc -eq 1 && $out == *"$needle"* ]]; then ok "refuses $what"
  else fail "does not refuse $what (exit $rc, wanted 1 and '$needle'): $(grep REFUSED <<<"$out" | head -5)"; fi
}
local_yaml=$work/local.yaml
# API types, on the rendered local overlay changed in one place each.
sed '0,/periodSeconds: 5/s//periodSecond: 5/' "$local_yaml" >"$work/unknown-field.yaml"
refused "an unknown field" 'unknown field "spec.template.spec.containers[0].readinessProbe.periodSecond"' "$work/unknown-field.yaml"
sed '0,/replicas: 1$/s//replicas: "one"/' "$local_yaml" >"$work/wrong-type.yaml"
refused "a wrong type" 'cannot unmarshal' "$work/wrong-type.yaml"
sed '0,/memory: 512Mi/s//memory: 512 megabytes/' "$local_yaml" >"$work/bad-quantity.yaml"
refused "a malformed quantity" 'quantities must match' "$work/bad-quantity.yaml"
sed '0,/^kind: StatefulSet/s//kind: StatefulSett/' "$local_yaml" >"$work/unknown-kind.yaml"
refused "an unknown kind" 'no kind "StatefulSett"' "$work/unknown-kind.yaml"
sed '0,/^apiVersion: autoscaling\/v2$/s//apiVersion: autoscaling\/v2beta2/' "$local_yaml" >"$work/old-version.yaml"
refused "a removed API version" 'autoscaling/v2beta2' "$work/old-version.yaml"
# House rules, each broken by an overlay on top of the local one.
case_overlay() {   # case_overlay NAME: a kustomization in $work/NAME on the local overlay, the rest from stdin
  # (lines that start with '  - ' name more resources)
  mkdir -p "$work/$1"
  { printf 'resources:\n  - %s\n' "$(realpath --relative-to="$work/$1" deploy/k8s/overlays/local)"; cat; } >"$work/$1/kustomization.yaml"
  "$kustomize" build "$work/$1" >"$work/$1.yaml" 2>&1 || fail "case $1 does not render: $(cat "$work/$1.yaml")"
}
case_overlay notifier-2 <<'YAML'
patches:
  - target: {kind: StatefulSet, name: tally-notifier}
    patch: '[{"op": "replace", "path": "/spec/replicas", "value": 2}]'
YAML
refused "two notifiers" 'tally-notifier must run as exactly one instance' "$work/notifier-2.yaml"
case_overlay pinned-id <<'YAML'
patches:
  - target: {kind: StatefulSet, name: tally-anonymizer}
    patch: '[{"op": "add", "path": "/spec/template/spec/containers/0/args", "value": ["--instance-id=a"]}]'
YAML
refused "an instance id pinned by a flag" 'pins the instance id' "$work/pinned-id.yaml"
case_overlay no-instance-id <<'YAML'
patches:
  - target: {kind: StatefulSet, name: tally-aggregator}
    patch: '[{"op": "remove", "path": "/spec/template/spec/containers/0/env/0"}]'
YAML
refused "a StatefulSet without the pod name as instance id" 'no TALLY_INSTANCE_ID' "$work/no-instance-id.yaml"
case_overlay misspelt-env <<'YAML'
configMapGenerator:
  - name: tally-aggregator
    behavior: merge
    literals: [TALLY_ADMN_PORT=9102]
YAML
refused "a TALLY_* name the process does not have" 'TALLY_ADMN_PORT is no option of tally-aggregator' "$work/misspelt-env.yaml"
case_overlay no-readiness <<'YAML'
patches:
  - target: {kind: Deployment, name: tally-gateway}
    patch: '[{"op": "remove", "path": "/spec/template/spec/containers/0/readinessProbe"}]'
YAML
refused "a gateway without a readiness probe" 'no readinessProbe' "$work/no-readiness.yaml"
case_overlay no-resources <<'YAML'
patches:
  - target: {kind: StatefulSet, name: tally-webhooks}
    patch: '[{"op": "remove", "path": "/spec/template/spec/initContainers/0/resources"}]'
YAML
refused "a container without resources" 'resources need' "$work/no-resources.yaml"
mkdir -p "$work/open-egress"
cat >"$work/open-egress/open.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: aggregator-anywhere
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/name: tally-aggregator
  policyTypes: ["Egress", "Ingress"]
  egress:
    - {}
  ingress:
    - ports:
        - port: 9102
YAML
case_overlay open-egress <<'YAML'
  - open.yaml
YAML
refused "a consumer that may reach anything" 'may reach what is neither DNS, Kafka, PostgreSQL' "$work/open-egress.yaml"
refused "a consumer reachable from anywhere" 'reachable from anywhere on 9102/TCP' "$work/open-egress.yaml"
awk 'BEGIN{RS="\n---\n"; ORS="\n---\n"} !/name: tally-default-deny/' "$local_yaml" >"$work/no-deny.yaml"
refused "manifests without a default-deny NetworkPolicy" 'no default-deny NetworkPolicy' "$work/no-deny.yaml"
refused "Secrets in production manifests" 'production Secrets are the operator' "$local_yaml" -production
refused "the local overlay's plain-HTTP cookies in production" 'cookies without Secure' "$local_yaml" -production
awk 'BEGIN{RS="\n---\n"; ORS="\n---\n"} !(/\nkind: Secret\n/ && /name: tally-anonymizer\n/)' "$local_yaml" >"$work/no-secret.yaml"
refused "a self-contained overlay missing a Secret" 'referenced but not in the manifests: Secret/tally-anonymizer' "$work/no-secret.yaml" -self-contained

# The README's vendor endpoint: its two settings are tally-webhooks' own.
case_overlay vendor <<'YAML'
configMapGenerator:
  - name: tally-webhooks
    behavior: merge
    literals:
      - TALLY_VENDOR_URL=https://alerts.vendor.example/tally
      - TALLY_VENDOR_SECRET_FILE=/run/tally/secrets/vendor-webhook.secret
patches:
  - target: {kind: Secret, name: tally-webhooks}
    patch: '[{"op": "add", "path": "/stringData/vendor-webhook.secret", "value": "whsec_placeholder"}]'
YAML
if out=$("$work/k8scheck" -help-dir "$work/help" -self-contained "$work/vendor.yaml" 2>&1); then
  ok "the README's vendor endpoint settings pass"
else
  fail "the README's vendor endpoint settings are refused: $(grep REFUSED <<<"$out")"
fi

# 3. The Strimzi topics: one KafkaTopic per topic of topics.conf, each
# with 3 replicas and min.insync.replicas=2, and its partition count.
want=$(awk '!/^#/ && NF { print $1, $2 }' deploy/kafka/topics.conf)
if out=$(deploy/k8s/strimzi-topics.sh tally-kafka kafka); then
  got=$(awk '/^  name: / { n = $2 } /^  partitions: / { print n, $2 }' <<<"$out")
  topics=$(wc -l <<<"$want")
  # min.insync.replicas as topics.conf declares it per topic (2 where a
  # lost write would change a count).
  misr=$(grep -v '^#' deploy/kafka/topics.conf | grep -c 'min.insync.replicas=2' || true)
  if [[ $got == "$want" && $(grep -c '^  replicas: 3$' <<<"$out") -eq $topics &&
        $misr -ge 8 && $(grep -c '^    min.insync.replicas: 2$' <<<"$out") -eq $misr &&
        $(grep -c 'replication.factor' <<<"$out") -eq 0 &&
        $(grep -c '^    strimzi.io/cluster: tally-kafka$' <<<"$out") -eq $topics ]]; then
    ok "strimzi-topics.sh: $topics KafkaTopics as topics.conf declares them, 3 replicas, min.insync.replicas 2 on $misr"
  else
    fail "strimzi-topics.sh output does not match topics.conf: $out"
  fi
else
  fail "strimzi-topics.sh failed"
fi

[[ $fails -eq 0 ]] || { echo "test_k8s: $fails failure(s)"; exit 1; }
echo "test_k8s: all passed"
