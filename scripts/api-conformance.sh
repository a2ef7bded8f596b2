#!/usr/bin/env bash
# Conformance of weftd's REST API and /metrics, against a live 2-site x 2-uplink lab with agents.
#   (a) `promtool check metrics` on site a's /metrics (Prometheus text 0.0.4, fetched over the
#       unix socket after a ping a -> b so there are RTT samples), before and after the fuzzing:
#       exit 0 and no lint output. The OpenMetrics form (Accept: application/openmetrics-text)
#       must parse with prometheus_client's strict OpenMetrics parser.
#   (b) The OpenAPI document (GET /api/v1/openapi.json) validated by openapi-spec-validator.
#   (c) schemathesis against the live API over TCP inside site a's namespace
#       (127.0.0.1:7420), with an admin token created over the unix socket; every check but
#       use_after_free (see below). Then: the agent still answers, no panic in its log, and
#       its own weft_api_requests_total counts no 5xx.
# The Python tools live in a venv under the cache dir, installed once from exact pins.
# Every step runs even when an earlier one failed; the script exits 1 at the end listing
# what failed. Work files (metrics, document, schemathesis output and JUnit report) are kept
# in /tmp/weft-api-conformance.* on failure.
#
# Usage: sudo scripts/api-conformance.sh   (needs root, curl, python3, promtool, iproute2)
# Env:   API_CONFORMANCE_EXAMPLES=50   max test cases per operation and phase
#        API_CONFORMANCE_MAX_TIME=90   time budget of schemathesis in s (fuzzing and stateful
#                                      testing repeat until it is spent)
#        API_CONFORMANCE_SEED=N        replay a run (schemathesis prints its seed); under CI
#                                      (CI=true) the default is a fixed seed so a landing is
#                                      not decided by the draw, by hand a fresh one each run
#        API_CONFORMANCE_EXTRA="..."   more schemathesis run options, e.g. to work on one
#                                      operation: "--include-path /api/v1/status"
#        WEFT_VENV=DIR                 the venv [${XDG_CACHE_HOME:-$HOME/.cache}/weft/venv]
#        CARGO_TARGET_DIR=target
# Last line: api-conformance ok|FAILED operations=N cases=N failures=N
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES=${API_CONFORMANCE_EXAMPLES:-50}
MAX_TIME=${API_CONFORMANCE_MAX_TIME:-90}
SEED=${API_CONFORMANCE_SEED:-}
[ -n "$SEED" ] || [ "${CI:-}" != "true" ] || SEED=20261202
EXTRA=${API_CONFORMANCE_EXTRA:-}
TARGET=${CARGO_TARGET_DIR:-target}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/weft
VENV=${WEFT_VENV:-$CACHE/venv}
API=http://127.0.0.1:7420
die() { echo "api-conformance: $*" >&2; exit 1; }
say() { echo "api-conformance: $*" >&2; }
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
for t in curl python3 promtool ip flock timeout; do
  command -v "$t" >/dev/null || die "$t missing (run scripts/install-deps.sh)"
done

# Exact versions, checked together on Python 3.11 (the whole resolved set, so that a new
# release of a dependency cannot change a run). Changing this list rebuilds the venv.
PINS="schemathesis==4.32.5 openapi-spec-validator==0.9.0 prometheus_client==0.26.0
annotated-types==0.8.0 anyio==4.16.0 attrs==26.1.0 certifi==2026.10.19.post1
charset-normalizer==3.5.3 click==8.5.1 graphql-core==3.3.2 harfile==0.6.0 hypothesis==6.170.17
hypothesis-graphql==0.13.5 idna==3.20 iniconfig==2.3.1 jsonschema==4.26.0 jsonschema-path==0.5.0
jsonschema-specifications==2025.9.1 jsonschema_rs==0.60.3 lazy-object-proxy==1.13.0
markdown-it-py==4.3.0 MarkupSafe==3.0.4 mdurl==0.1.2 openapi-schema-validator==0.9.0
packaging==26.4 pathable==0.6.0 pluggy==1.7.0 pydantic==2.14.4 pydantic-settings==2.16.3
pydantic_core==2.50.5 Pygments==2.21.0 pyrate-limiter==4.5.1 pytest==9.2.0 python-dotenv==1.2.4
PyYAML==6.0.4 referencing==0.37.0 requests==2.34.2 rfc3339-validator==0.1.4 rich==15.0.0
rpds-py==2026.9.1 six==1.17.0 sortedcontainers==2.4.0 typing-inspection==0.4.5
typing_extensions==4.16.0 urllib3==2.8.0 Werkzeug==3.1.9"

WEFT=$TARGET/debug/weft
if [ ! -x "$WEFT" ] || [ ! -x "$TARGET/debug/weftd" ]; then
  say "building the workspace (no $WEFT or weftd)"
  cargo build -q --workspace
fi

WORK=$(mktemp -d /tmp/weft-api-conformance.XXXXXX)
LAB=apick$$
LAB_UP=0
cleanup() {
  local rc=$?
  if [ "$LAB_UP" = 1 ]; then "$WEFT" lab down --name "$LAB" >/dev/null 2>&1 || true; fi
  if [ "$rc" -ne 0 ]; then say "failed (rc $rc); work files kept in $WORK"
  else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'say "unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

# A run killed with SIGKILL leaves its lab behind: remove labs of this script whose pid is gone.
for l in $("$WEFT" lab list 2>/dev/null || true); do
  if [[ $l =~ ^apick([0-9]+)$ ]] && ! kill -0 "${BASH_REMATCH[1]}" 2>/dev/null; then
    say "removing stale lab $l"
    "$WEFT" lab down --name "$l" >/dev/null 2>&1 || true
  fi
done

# --- the venv: created once, reused while the pins are the same (a stamp written last) ------
mkdir -p "$(dirname "$VENV")"
(
  flock 9
  if [ "$(cat "$VENV/.weft-pins" 2>/dev/null)" != "$PINS" ]; then
    say "installing schemathesis, openapi-spec-validator and prometheus_client into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    # shellcheck disable=SC2086 # one argument per pin
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-input $PINS >"$WORK/pip.log" 2>&1 \
      || { cat "$WORK/pip.log" >&2; rm -rf "$VENV"; exit 1; }
    printf '%s' "$PINS" >"$VENV/.weft-pins"
  fi
) 9>"$VENV.lock" || die "could not install the Python tools into $VENV"

# --- the lab ----------------------------------------------------------------------------------
say "lab $LAB: 2 sites x 2 uplinks with agents"
LAB_UP=1
"$WEFT" lab up --name "$LAB" --sites 2 --uplinks 2 --agents >"$WORK/lab-up.log" 2>&1 \
  || { cat "$WORK/lab-up.log" >&2; die "lab up failed"; }
STATE=/run/weft-lab/$LAB/agents/a-state
SOCK=$STATE/api.sock
LOG=/run/weft-lab/$LAB/agents/a.log
# sock PATH [curl options]: a request to site a's agent over its unix socket
sock() { local p=$1; shift; curl -sS --max-time 10 --unix-socket "$SOCK" "$@" "http://weft$p"; }
# inside CMD...: a command in site a's namespace
inside() { "$WEFT" lab exec --name "$LAB" a -- "$@"; }
# json EXPR: evaluates EXPR on the JSON document on stdin (bound to d)
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# Paths up: 2 local uplinks x 2 remote endpoints, all "up".
end=$(( $(date +%s) + 30 ))
while :; do
  ups=$(sock /api/v1/paths 2>/dev/null | json 'str(sum(p["state"] == "up" for p in d["items"])) + "/" + str(len(d["items"]))' 2>/dev/null || echo 0/0)
  [ "$ups" = 4/4 ] && break
  [ "$(date +%s)" -lt "$end" ] || die "paths of site a not all up after 30 s ($ups up)"
  sleep 0.2
done
say "paths up ($ups)"
inside ping -n -q -c 5 -i 0.2 -W 1 10.77.2.1 >"$WORK/ping.log" 2>&1 \
  || { cat "$WORK/ping.log" >&2; die "ping a -> b over the overlay failed"; }

FAILED=()
fail() { FAILED+=("$*"); say "FAIL: $*"; }

# --- (a) /metrics -----------------------------------------------------------------------------
# check_metrics LABEL: promtool lint of the text format and a strict parse of OpenMetrics
check_metrics() {
  local label=$1 f=$WORK/metrics-$1.txt om=$WORK/metrics-$1.om out rc=0 ctype
  ctype=$(sock /metrics -o "$f" -w '%{content_type}') || { fail "GET /metrics ($label) failed"; return; }
  [[ $ctype == "text/plain; version=0.0.4"* ]] || fail "/metrics ($label): content type \"$ctype\", not text/plain; version=0.0.4"
  out=$(promtool check metrics <"$f" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    fail "promtool check metrics ($label): exit $rc"
    printf '%s\n' "$out" | sed 's/^/    /' >&2
  else
    say "promtool check metrics ($label): ok, $(grep -vc '^#' "$f") samples, no lint"
  fi
  ctype=$(sock /metrics -o "$om" -w '%{content_type}' -H 'Accept: application/openmetrics-text; version=1.0.0') \
    || { fail "GET /metrics as OpenMetrics ($label) failed"; return; }
  [[ $ctype == "application/openmetrics-text; version=1.0.0"* ]] \
    || fail "/metrics ($label) asked for OpenMetrics: content type \"$ctype\""
  out=$("$VENV/bin/python" - "$om" 2>&1 <<'EOF'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(open(sys.argv[1], encoding="utf-8").read()))
print(f"{len(families)} families")
EOF
  ) && say "OpenMetrics ($label): parses strictly, $out" \
    || { fail "OpenMetrics ($label) does not parse"; printf '%s\n' "$out" | tail -n 3 | sed 's/^/    /' >&2; }
}
check_metrics before
# RTT samples were observed (the probes' histogram, after the ping)
awk '/^weft_path_rtt_seconds_count/ {n += $NF} END {exit !(n > 0)}' "$WORK/metrics-before.txt" \
  || fail "/metrics has no RTT samples (weft_path_rtt_seconds_count is 0 or absent)"

# --- (b) the OpenAPI document -----------------------------------------------------------------
DOC=$WORK/openapi.json
if sock /api/v1/openapi.json -f -o "$DOC"; then
  if out=$("$VENV/bin/openapi-spec-validator" --validation-errors all "$DOC" 2>&1); then
    say "openapi-spec-validator: $(json 'd["openapi"]' <"$DOC") document, $out"
  else
    fail "openapi-spec-validator rejects the document"
    printf '%s\n' "$out" | head -n 40 | sed 's/^/    /' >&2
  fi
else
  fail "GET /api/v1/openapi.json over the socket failed"
fi

# --- auth smoke test over TCP (what schemathesis below takes for granted) ----------------------
code() { inside curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
for want in "200 $API/api/v1/health" "200 $API/api/v1/openapi.json" "401 $API/api/v1/paths"; do
  got=$(code "${want#* }") || true
  [ "$got" = "${want%% *}" ] || fail "GET ${want#* } without a token over TCP: $got, expected ${want%% *}"
done
READ=$(sock /api/v1/tokens -f -X POST -H 'content-type: application/json' \
  -d "{\"name\":\"conformance-read-$$\",\"scope\":\"read\"}" | json 'd["secret"]') \
  || die "creating a read token over the socket failed"
got=$(code -H "Authorization: Bearer $READ" "$API/api/v1/paths") || true
[ "$got" = 200 ] || fail "GET /api/v1/paths with a read token: $got, expected 200"
got=$(code -H "Authorization: Bearer $READ" -X POST -H 'content-type: application/json' \
  -d '{"name":"x","scope":"read"}' "$API/api/v1/tokens") || true
[ "$got" = 403 ] || fail "POST /api/v1/tokens with a read token: $got, expected 403"

# --- (c) schemathesis -------------------------------------------------------------------------
# Test data: flows exist (the ping), one stored policy version (the running policy applied
# again), so GET /policy/versions/{version} and friends can reach their 200s.
sock /api/v1/policy -f | json 'd["source"]' >"$WORK/policy.toml" \
  && sock /api/v1/policy -f -o /dev/null -X POST -H 'content-type: application/toml' --data-binary "@$WORK/policy.toml" \
  || fail "storing the running policy as version 1 over the socket failed"
read -r TOKEN_ID SECRET < <(sock /api/v1/tokens -f -X POST -H 'content-type: application/json' \
  -d "{\"name\":\"conformance-$$\",\"scope\":\"admin\"}" | json 'd["token"]["id"], d["secret"]') \
  || die "creating an admin token over the socket failed"

# Hooks (a module imported by schemathesis):
# - DELETE /api/v1/tokens/{id} stays in the run, but a case aimed at the run's own token is sent
#   to an id that does not exist (404) instead: revoking it would turn every later call into a
#   401 and stop the run from exercising the API. Tokens that schemathesis creates itself (the
#   stateful phase links POST /tokens to DELETE /tokens/{id}) and the bootstrap token are fair
#   game, so revocation (200) is still tested.
# - POST /policy and /policy/check take application/toml, a string: sent as UTF-8 text.
cat >"$WORK/weft_conformance_hooks.py" <<'EOF'
import os

import schemathesis

OWN_TOKEN_ID = os.environ["WEFT_OWN_TOKEN_ID"]
schemathesis.serializer.alias("application/toml", "text/plain")


@schemathesis.hook
def before_call(ctx, case, kwargs):
    if case.operation.method.upper() == "DELETE" and case.operation.path == "/api/v1/tokens/{id}":
        if case.path_parameters and str(case.path_parameters.get("id")) == OWN_TOKEN_ID:
            case.path_parameters["id"] = 4_000_000_000
EOF

# positive_data_acceptance sends schema-valid data and expects it accepted. The policy bodies of
# POST /api/v1/policy and /policy/check are TOML documents (`type: string`): no JSON Schema
# can tell a valid policy from any other string, so there, and only there, the documented
# 422 ("refused, with findings") also counts as handling valid data correctly.
# Requests whose path and query exceed the documented bounds get 414 (URI too long) and
# over-long headers 431: RFC 9110's answers to schema-violating data of that kind, so they
# count as rejecting it.
cat >"$WORK/schemathesis.toml" <<'EOF'
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "414", "415", "422", "428", "429", "431", "5xx"]

[[operations]]
include-method = "POST"
include-path-regex = "^/api/v1/policy(/check)?$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
EOF

# Excluded operations: GET /api/v1/events (SSE) and /api/v1/events/ws (WebSocket upgrade) stream
# until the client hangs up; schemathesis reads a whole response body, so every case would end
# in its request timeout and prove nothing. (Events are tested by the agent's own tests.)
# Excluded check: use_after_free expects 404 after a DELETE; DELETE /api/v1/sites/{id} is a
# documented soft removal (the site stays, state "removed", undone by POST .../restore), so
# GET /sites/{id} answering 200 afterwards is the contract, not a bug.
# Everything else the site a agent does is exercised as is: DELETE /sites/{id} (a soft removal,
# the API keeps working), POST /policy and /policy/rollback, POST /paths/{id}/test.
ST_ARGS=(
  --config-file "$WORK/schemathesis.toml"
  run "$API/api/v1/openapi.json"
  -H "Authorization: Bearer $SECRET"
  --checks all --exclude-checks use_after_free
  --exclude-path /api/v1/events --exclude-path /api/v1/events/ws
  --max-examples "$EXAMPLES" --max-time "$MAX_TIME" --continue-on-failure
  --request-timeout 10 --workers 1 --no-color
  --report junit --report-junit-path "$WORK/schemathesis-junit.xml"
)
[ -z "$SEED" ] || ST_ARGS+=(--seed "$SEED")
# shellcheck disable=SC2206 # word splitting wanted: extra options, e.g. --include-path /api/v1/status
[ -z "$EXTRA" ] || ST_ARGS+=($EXTRA)
say "schemathesis over TCP in site a (${EXAMPLES} cases per operation and phase, at most ${MAX_TIME} s)"
ST_OUT=$WORK/schemathesis.txt
st_rc=0
# Run from $WORK: schemathesis keeps a cache (.schemathesis/, failures to replay) in its working
# directory, which must be neither the repository nor shared between runs.
inside env --chdir="$WORK" PYTHONPATH="$WORK" SCHEMATHESIS_HOOKS=weft_conformance_hooks WEFT_OWN_TOKEN_ID="$TOKEN_ID" \
  timeout --kill-after 10 $(( MAX_TIME + 120 )) "$VENV/bin/schemathesis" "${ST_ARGS[@]}" >"$ST_OUT" 2>&1 || st_rc=$?
OPS=$(awk '/^ *Tested: / {print $2}' "$ST_OUT" | tail -n 1)
CASES=$(awk '/^ *[0-9]+ generated/ {print $1}' "$ST_OUT" | tail -n 1)
NFAIL=$(grep -oE '^=+ [0-9]+ failures?' "$ST_OUT" | grep -oE '[0-9]+' | tail -n 1 || true)
if [ "$st_rc" -ne 0 ]; then
  cat "$ST_OUT" >&2
  [ "$st_rc" -eq 124 ] && fail "schemathesis did not finish in $(( MAX_TIME + 120 )) s"
  fail "schemathesis: exit $st_rc, ${NFAIL:-?} failures (output above; JUnit report kept in $WORK)"
else
  sed -n '/= SUMMARY =/,$p' "$ST_OUT" >&2
fi
say "schemathesis: ${OPS:-?} operations tested, ${CASES:-?} test cases"

# --- after the fuzzing: alive, no panic, no 5xx by the agent's own count ------------------------
sock /api/v1/health -f -o /dev/null || fail "site a's agent no longer answers on its socket after the fuzzing"
if grep -n -m 5 -E 'panicked|RUST_BACKTRACE' "$LOG" >&2; then fail "site a's agent log has a panic ($LOG)"; fi
check_metrics after
awk '/^weft_api_requests_total\{/ && /code="5[0-9][0-9]"/' "$WORK/metrics-after.txt" >"$WORK/5xx.txt"
if [ -s "$WORK/5xx.txt" ]; then
  fail "the agent counted 5xx answers:"
  sed 's/^/    /' "$WORK/5xx.txt" >&2
fi
awk '/^weft_api_requests_total\{/ {match($0, /code="[0-9]+"/); c[substr($0, RSTART + 6, 3)] += $NF}
     END {for (k in c) printf "%s=%d ", k, c[k]; print ""}' "$WORK/metrics-after.txt" \
  | sed 's/^/api-conformance: requests by status (weft_api_requests_total): /' >&2

if [ ${#FAILED[@]} -ne 0 ]; then
  say "${#FAILED[@]} check(s) failed:"
  printf '  - %s\n' "${FAILED[@]}" >&2
  echo "api-conformance FAILED operations=${OPS:-0} cases=${CASES:-0} failures=${NFAIL:-0}"
  exit 1
fi
echo "api-conformance ok operations=${OPS:-0} cases=${CASES:-0} failures=0"
