#!/usr/bin/env bash
# Sets up, builds everything (library, sluice, examples, plugins, tests) and runs the whole
# test suite: the Swift tests, then the Python peer's interop tests against the real broker.
# This is the command README.md gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "test: building (debug, all targets and tests)"
swift build --build-tests
echo "test: running the Swift test suite"
swift test --skip-build "$@"
echo "test: running the Python interop tests (clients/python) against the real broker"
SLUICE_BUILD_DIR="$(swift build --show-bin-path)" python3 -m pytest -q clients/python/tests
