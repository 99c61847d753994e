#!/usr/bin/env bash
# Sets up, builds Sluice and its example peers (release), and runs `sluice demo`: a broker,
# simulated invokers and a controller with the live view. Ctrl-C stops everything.
# Extra arguments go to `sluice demo`; try `scripts/demo.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "demo: building sluice and the example peers (release; the first build takes a few minutes)"
swift build -c release --product sluice
swift build -c release --product sluice-example-invoker
swift build -c release --product sluice-example-controller
exec .build/release/sluice demo "$@"
