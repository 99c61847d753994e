#!/usr/bin/env bash
# What monitoring costs the broker (issue 14, "Performance rule"): `sluice bench` closed loop
# with the monitoring endpoint off, on but unread, and on with a scraper requesting /metrics
# and /status 10 times a second each. Runs the three in turn ROUNDS times (interleaved, so a
# drift of the machine hits each alike) and prints one row per run, then the medians.
#
#   scripts/bench-monitor.sh [path/to/sluice] [duration] [rounds]
#
# Build first: swift build -c release --product sluice
set -euo pipefail
cd "$(dirname "$0")/.."
SLUICE="${1:-.build/release/sluice}"
DURATION="${2:-5s}"
ROUNDS="${3:-3}"
[ -x "$SLUICE" ] || { echo "bench-monitor: $SLUICE not found; run: swift build -c release --product sluice" >&2; exit 1; }

shape=(--duration "$DURATION" --warmup 1s --quiet)
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
printf '%-26s %8s %10s %10s %12s %8s\n' "monitoring" "rt/s" "p50 us" "p99 us" "broker us/rt" "lost"

run() {
  local label="$1"; shift
  local output row cpu
  output="$("$SLUICE" bench "${shape[@]}" "$@" 2>&1)" || { echo "$output" >&2; exit 1; }
  row="$(printf '%s\n' "$output" | awk '$1 == "broker" && $2 ~ /^[0-9]+$/ { print $2, $3, $4, $NF }')"
  cpu="$(printf '%s\n' "$output" | sed -n 's/.*CPU per round trip: broker \([0-9.]*\) us.*/\1/p')"
  read -r rate p50 p99 lost <<<"$row"
  printf '%-26s %8s %10s %10s %12s %8s\n' "$label" "$rate" "$p50" "$p99" "$cpu" "$lost"
  printf '%s\t%s\t%s\n' "$label" "$rate" "$cpu" >>"$results"
}

for _ in $(seq "$ROUNDS"); do
  run "off" --broker-arg=--monitor-endpoint=off
  run "on, not scraped"
  run "on, scraped 10/s each" --scrape-rate 10
done

echo
echo "medians over $ROUNDS rounds:"
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, rate, cpu = line.rstrip("\n").split("\t")
    rows.setdefault(label, []).append((float(rate), float(cpu)))
base = statistics.median(r for r, _ in rows["off"])
for label, values in rows.items():
    rate = statistics.median(r for r, _ in values)
    cpu = statistics.median(c for _, c in values)
    spread = (max(r for r, _ in values) - min(r for r, _ in values)) / rate * 100
    print(f"  {label:<26} {rate:8.0f} rt/s ({rate / base * 100:5.1f} % of off; spread {spread:4.1f} %)  broker {cpu:5.1f} us/rt")
PY
