#!/usr/bin/env bash
# Builds the JVM connector and runs its tests against a real `sluice broker` on free loopback
# ports (max-message 65536, so the oversize case is cheap). Prints "N passed, N failed".
# SLUICE=path/to/sluice picks the broker binary (default: the debug build).
set -euo pipefail
cd "$(dirname "$0")"
SLUICE="${SLUICE:-$(cd ../.. && pwd)/.build/debug/sluice}"
[ -x "$SLUICE" ] || { echo "jvm: $SLUICE not found; build it first (swift build --product sluice)" >&2; exit 1; }
bash build.sh
log=$(mktemp)
"$SLUICE" broker --controller-endpoint 'tcp://127.0.0.1:*' --invoker-endpoint 'tcp://127.0.0.1:*' --monitor-endpoint off \
  --max-message-bytes 65536 --stats-interval 0s > "$log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; wait $broker 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 100); do grep -q '^listening ' "$log" && break; sleep 0.1; done
line=$(grep '^listening ' "$log" || true)
[ -n "$line" ] || { echo "jvm: the broker did not start:"; cat "$log"; exit 1; }
controllers=$(echo "$line" | sed -E 's/.*controllers=([^ ]+).*/\1/')
invokers=$(echo "$line" | sed -E 's/.*invokers=([^ ]+).*/\1/')
scala_library=$(ls /usr/share/java/scala-library-2.11*.jar | head -1)
java -cp "build/test-classes:build/classes:build/stubs:/usr/share/java/jeromq.jar:$scala_library" \
  org.sluice.openwhisk.SluiceJvmTests "$controllers" "$invokers"
