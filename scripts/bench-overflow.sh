#!/usr/bin/env bash
# The broker under overflow, with each overflow store and fsync policy (issue 13, item 3).
# Invokers have far less room than the offered load (2 x 4 slots against 2 x 128 outstanding),
# so nearly every activation waits: it is journaled on arrival and marked consumed when it
# is dispatched. Prints one table row per configuration, from `sluice bench` runs.
#
#   scripts/bench-overflow.sh [path/to/sluice] [duration]
#
# Build first: swift build -c release --product sluice
set -euo pipefail
cd "$(dirname "$0")/.."
SLUICE="${1:-.build/release/sluice}"
DURATION="${2:-5s}"
[ -x "$SLUICE" ] || { echo "bench-overflow: $SLUICE not found; run: swift build -c release --product sluice" >&2; exit 1; }

shape=(--duration "$DURATION" --warmup 1s --invokers 2 --slots 4 --controllers 2 --window 128 --quiet)
printf '%-22s %8s %10s %10s %12s %8s\n' "store" "rt/s" "p50 us" "p99 us" "broker us/rt" "lost"

# run LABEL [POLICY]: no POLICY runs the in-memory default.
run() {
  local label="$1" policy="${2:-}"
  local directory output row cpu
  directory="$(mktemp -d)"
  local store=()
  [ -n "$policy" ] && store=(--broker-arg=--overflow-store=disk "--broker-arg=--overflow-path=$directory")
  output="$(SLUICE_OVERFLOW_DISK_FSYNC="${policy:-every-batch}" "$SLUICE" bench "${shape[@]}" "${store[@]}" 2>&1)" \
    || { echo "$output" >&2; rm -rf "$directory"; exit 1; }
  row="$(printf '%s\n' "$output" | awk '$1 == "broker" && $2 ~ /^[0-9]+$/ { print $2, $3, $4, $NF }')"
  cpu="$(printf '%s\n' "$output" | sed -n 's/.*CPU per round trip: broker \([0-9.]*\) us.*/\1/p')"
  rm -rf "$directory"
  read -r rate p50 p99 lost <<<"$row"
  printf '%-22s %8s %10s %10s %12s %8s\n' "$label" "$rate" "$p50" "$p99" "$cpu" "$lost"
}

run "memory (no store)"
for policy in every-batch 50ms never; do
  run "disk, fsync $policy" "$policy"
done
