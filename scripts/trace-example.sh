#!/usr/bin/env bash
# Records a placement trace from a real broker run and replays it (docs/TRACES.md, the worked
# example in docs/PLACEMENT.md): 4 example invokers x 4 slots that model a container pool (at
# most 4 containers each, 20 s keep-alive, 150 ms cold start), one example controller with 20
# actions of Zipf popularity, 6 outstanding (about 40 % of the 16 slots), warm-affinity live.
#   bash scripts/trace-example.sh [activations] [strategy]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-3000}"
STRATEGY="${2:-warm-affinity}"
swift build -c release --product sluice >/dev/null
swift build --product sluice-example-invoker >/dev/null
swift build --product sluice-example-controller >/dev/null
BIN=.build/release
EX=.build/debug
DIR="$(mktemp -d)"
TRACE="$DIR/run.sltr"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
"$BIN/sluice" broker --controller-endpoint "tcp://127.0.0.1:*" --invoker-endpoint "tcp://127.0.0.1:*" --monitor-endpoint off \
  --strategy "$STRATEGY" --record-trace "$TRACE" --stats-interval 0s >"$DIR/broker.log" 2>&1 &
BROKER=$!
PIDS+=("$BROKER")
for _ in $(seq 1 100); do grep -q "listening controllers=" "$DIR/broker.log" && break; sleep 0.1; done
LINE="$(grep "listening controllers=" "$DIR/broker.log")"
CONTROLLERS="$(sed 's/.*controllers=\([^ ]*\).*/\1/' <<<"$LINE")"
INVOKERS="$(sed 's/.*invokers=\([^ ]*\).*/\1/' <<<"$LINE")"
for i in 1 2 3 4; do
  "$EX/sluice-example-invoker" --endpoint "$INVOKERS" --id "inv$i" --slots 4 --containers 4 --keep-alive 20 \
    --cold-start 150ms --duration 50ms-150ms >"$DIR/invoker$i.log" 2>&1 &
  PIDS+=("$!")
done
echo "trace-example: $COUNT activations through $STRATEGY, recording $TRACE"
"$EX/sluice-example-controller" --endpoint "$CONTROLLERS" --id ctl --count "$COUNT" --window 6 --actions 20 --zipf 1.0 \
  --action guest/fn --payload-bytes 256 | tail -3
kill -TERM "$BROKER"
wait "$BROKER" || true
grep -E "placement trace" "$DIR/broker.log" || true
"$BIN/sluice" trace inspect "$TRACE" --svg "$DIR/trace.svg"
"$BIN/sluice" simulate --trace "$TRACE" --keep-alive 20   # the example invokers keep containers 20 s
echo "trace-example: files in $DIR"
