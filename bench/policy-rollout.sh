#!/usr/bin/env bash
# Mesh-wide policy rollout time: `weft policy apply` on a controller until every site
# of a 6-site namespace lab runs the new version.
#
# The lab is the one of weftd's acceptance test
# `control::three_controllers_on_etcd_keep_publishing_through_a_leader_kill_and_fence_a_cut_off_leader`
# (crates/weftd/tests/control/mod.rs): sites a, b, c are controllers with a 3-member etcd
# cluster running in their namespaces, d, e, f join with a token; every site is a weftd in
# its own namespace with one uplink through the WAN emulator. $APPLIES versions are applied
# through a controller that does not lead (so each goes through etcd to the leader); the
# rollout time of one apply is from the POST to the latest `since_unix_ms` of the six
# sites' `GET /api/v1/control` (the moment each installed it; one clock, one machine).
# The test then goes on with its failover checks (a SIGKILLed leader, a leader cut off
# from etcd); the bench fails if they fail.
#
# Usage: sudo bench/policy-rollout.sh     (root: namespaces; etcd from scripts/install-deps.sh)
#        SMOKE=1 bench/policy-rollout.sh  3 applies, the debug build
# Env:   APPLIES=20 CARGO_TARGET_DIR=target
# Last line: policy_rollout p50_ms=X p99_ms=Y sites=6 applies=N
set -euo pipefail
BENCH=policy-rollout
. "$(dirname "$0")/lib.sh"

bench_root
bench_need etcd curl nft
if [ "$SMOKE" = 1 ]; then APPLIES=${APPLIES:-3}; PROFILE=(); else APPLIES=${APPLIES:-20}; PROFILE=(--release); fi
bench_work
TEST=control::three_controllers_on_etcd_keep_publishing_through_a_leader_kill_and_fence_a_cut_off_leader
WEFT_ROLLOUT_APPLIES=$APPLIES cargo test -q "${PROFILE[@]}" --workspace --all-features --test agent "$TEST" -- --exact --nocapture \
  >"$WORK/test.log" 2>&1 || { tail -50 "$WORK/test.log" >&2; die "the rollout lab failed"; }
line=$(grep -E '^policy_rollout p50_ms=[0-9]+ p99_ms=[0-9]+ sites=6 applies=[0-9]+$' "$WORK/test.log" | tail -1)
[ -n "$line" ] || { tail -30 "$WORK/test.log" >&2; die "no policy_rollout figures in the test's output"; }
grep -E '^leader killed|^cut-off leader' "$WORK/test.log" || true
echo "$line"
