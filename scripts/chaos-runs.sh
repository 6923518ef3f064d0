#!/usr/bin/env bash
# chaos-runs.sh — run `mailroom load --chaos` many times, each against a
# fresh node, and count how many PASS, FAIL and get stuck.
#
# Usage:  scripts/chaos-runs.sh [RUNS] [-- extra `mailroom load` args]
#   RUNS                 how many runs (default 20)
# Environment:
#   MAILROOM_BIN         the binary (default: target/release/mailroom;
#                        build it first with `cargo build --release`)
#   DURATION             load duration per run (default 15s)
#   CONCURRENCY          workers per run (default 16)
#   RUN_TIMEOUT          seconds before a run counts as STUCK and is killed
#                        (default 300; the checker bounds itself with
#                        --settle-timeout / --stall-timeout well before)
#   OUT                  where logs and reports go (default: a new temp dir)
#
# Each run: a new temp data dir, a node on 127.0.0.1 port 0 (both edges;
# the address is read from its `mailroom ready` line), MAILROOM_ADMIN_PASSWORD
# set for the node and for `load`, then
#   mailroom load --url … --chaos --duration $DURATION --concurrency $CONCURRENCY
# with --report run-N.json, bounded by `timeout $RUN_TIMEOUT`. The node is
# killed afterwards. Outcome per run: PASS (exit 0), FAIL (exit 3: an
# invariant failed; "the system settles" FAIL means the checker found the
# node stuck and said what was stuck), STUCK (the run hit RUN_TIMEOUT),
# ERROR (anything else). The summary prints the counts and the median,
# min and max of the report's ops/s and requests/s; per-run logs
# (node-N.log, load-N.out) and reports stay in $OUT.
set -euo pipefail

RUNS=${1:-20}
shift || true
[[ "${1:-}" == "--" ]] && shift
EXTRA=("$@")

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MAILROOM_BIN:-$ROOT/target/release/mailroom}
DURATION=${DURATION:-15s}
CONCURRENCY=${CONCURRENCY:-16}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
OUT=${OUT:-$(mktemp -d /tmp/chaos-runs.XXXXXX)}
PASSWORD=chaos-admin-password
mkdir -p "$OUT"
[[ -x "$BIN" ]] || { echo "no binary at $BIN (cargo build --release)" >&2; exit 2; }

node_pid=
cleanup() {
  if [[ -n "$node_pid" ]]; then
    kill -9 "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

pass=0 fail=0 stuck=0 error=0
: >"$OUT/summary.tsv"
for i in $(seq 1 "$RUNS"); do
  data=$(mktemp -d /tmp/chaos-node.XXXXXX)
  MAILROOM_ADMIN_PASSWORD=$PASSWORD RUST_LOG=${RUST_LOG:-info} \
    "$BIN" serve --http 127.0.0.1:0 --grpc 127.0.0.1:0 --data "$data" \
    >"$OUT/node-$i.stdout" 2>"$OUT/node-$i.log" &
  node_pid=$!
  url=
  for _ in $(seq 1 600); do
    line=$(grep -m1 '^mailroom ready ' "$OUT/node-$i.stdout" 2>/dev/null || true)
    if [[ -n "$line" ]]; then
      url=http://$(sed -E 's/.*http=([^ ]+).*/\1/' <<<"$line")
      break
    fi
    kill -0 "$node_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$url" ]]; then
    echo "run $i: the node did not start (see $OUT/node-$i.log)"
    error=$((error + 1))
    cleanup; node_pid=; rm -rf "$data"
    continue
  fi
  set +e
  MAILROOM_ADMIN_PASSWORD=$PASSWORD timeout --kill-after=10 "$RUN_TIMEOUT" \
    "$BIN" load --url "$url" --chaos --duration "$DURATION" \
    --concurrency "$CONCURRENCY" --report "$OUT/run-$i.json" "${EXTRA[@]}" \
    >"$OUT/load-$i.out" 2>&1
  code=$?
  set -e
  case $code in
    0) verdict=PASS; pass=$((pass + 1)) ;;
    3) verdict=FAIL; fail=$((fail + 1)) ;;
    124 | 137) verdict=STUCK; stuck=$((stuck + 1)) ;;
    *) verdict=ERROR; error=$((error + 1)) ;;
  esac
  ops=- reqs=- settle=-
  if [[ -s "$OUT/run-$i.json" ]]; then
    ops=$(jq -r '.run.ops_per_s // "-"' "$OUT/run-$i.json")
    reqs=$(jq -r '.run.requests_per_s // "-"' "$OUT/run-$i.json")
    settle=$(jq -r '.checker.settle_s // "-"' "$OUT/run-$i.json")
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$i" "$verdict" "$ops" "$reqs" "$settle" >>"$OUT/summary.tsv"
  echo "run $i: $verdict (exit $code) ops/s $ops, requests/s $reqs, checker ${settle} s"
  if [[ $verdict != PASS ]]; then
    grep -E '^\s+(FAIL)|^\s{10}' "$OUT/load-$i.out" | head -20 || true
    cp -r "$data" "$OUT/data-$i" 2>/dev/null || true
  fi
  cleanup; node_pid=
  rm -rf "$data"
done

stats() { # column -> "median min max"
  cut -f"$1" "$OUT/summary.tsv" | grep -v '^-$' | sort -g |
    awk '{v[NR]=$1} END {if (NR==0) {print "- - -"; exit}
      m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
      printf "%.1f %.1f %.1f\n", m, v[1], v[NR]}'
}
read -r ops_med ops_min ops_max < <(stats 3)
read -r req_med req_min req_max < <(stats 4)
echo
echo "$RUNS runs of load --chaos --duration $DURATION --concurrency $CONCURRENCY ($BIN):"
echo "  PASS $pass · FAIL $fail · STUCK $stuck · ERROR $error"
echo "  ops/s      median $ops_med · min $ops_min · max $ops_max"
echo "  requests/s median $req_med · min $req_min · max $req_max"
echo "  logs and reports: $OUT"
[[ $pass -eq $RUNS ]]
