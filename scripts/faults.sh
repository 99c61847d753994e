#!/usr/bin/env bash
# Runs the fault-injection suite (faults/, see faults/README.md): real broker, invoker and
# controller processes over tcp loopback, killed, frozen and restarted with signals.
# It builds nothing: it uses the binaries in $SLUICE_BUILD_DIR (default .build/debug).
# Extra arguments go to pytest, for example:  scripts/faults.sh -s -k storm
set -euo pipefail
cd "$(dirname "$0")/.."
export SLUICE_BUILD_DIR="${SLUICE_BUILD_DIR:-.build/debug}"
for bin in sluice sluice-example-invoker; do
    if [ ! -x "$SLUICE_BUILD_DIR/$bin" ]; then
        echo "faults: $SLUICE_BUILD_DIR/$bin is missing; build it first (swift build) or set SLUICE_BUILD_DIR" >&2
        exit 2
    fi
done
exec python3 -m pytest -q faults "$@"
