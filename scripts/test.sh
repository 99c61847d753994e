#!/usr/bin/env bash
# Sets up, builds everything (library, sluice, examples, plugins, tests) and runs the whole
# test suite: the Swift tests, the Python peer's interop tests against the real broker, the
# fault-injection suite, the JVM connector's tests (clients/jvm) against the real broker, a 20 s
# fuzz run of the decoder, a build of a package that depends on Sluice by version, and a short
# smoke run of `sluice bench`.
# This is the command README.md gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --cluster --jvm
echo "test: building (debug, all targets and tests)"
swift build --build-tests
echo "test: running the Swift test suite"
swift test --skip-build "$@"
BIN="$(swift build --show-bin-path)"
echo "test: running the Python interop tests (clients/python) against the real broker"
SLUICE_BUILD_DIR="$BIN" python3 -m pytest -q clients/python/tests
echo "test: running the fault-injection suite (faults/): real processes killed, frozen, restarted"
SLUICE_BUILD_DIR="$BIN" bash scripts/faults.sh
echo "test: building and running the JVM connector's tests (clients/jvm) against the real broker"
SLUICE="$BIN/sluice" bash clients/jvm/test.sh
echo "test: fuzzing the protocol decoder for 20 s (scripts/fuzz.sh; the long run is scripts/fuzz.sh 300)"
bash scripts/fuzz.sh 20
echo "test: building a package that depends on Sluice by version (no unsafe flags; scripts/consumer-check.sh)"
bash scripts/consumer-check.sh
echo "test: bench smoke run (numbers are printed, never asserted; it fails if an answer is lost)"
"$BIN/sluice" bench --duration 2s --warmup 500ms --baseline direct --quiet
"$BIN/sluice" bench --duration 1s --warmup 200ms --rate 2000 --quiet
"$BIN/sluice" core-bench --round-trips 20000 --repeats 1
