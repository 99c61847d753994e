#!/usr/bin/env bash
# Sets up, builds `sluice` (release) and runs a broker node with the embedded defaults.
# Extra arguments go to `sluice broker`; try `scripts/run-broker.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "run-broker: building sluice (release; the first build takes a few minutes)"
swift build -c release --product sluice
exec .build/release/sluice broker "$@"
