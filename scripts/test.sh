#!/usr/bin/env bash
# Sets up, builds everything (library, sluice, examples, tests) and runs the whole test
# suite. This is the command README.md gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "test: building (debug, all targets and tests)"
swift build --build-tests
echo "test: running the test suite"
swift test --skip-build "$@"
