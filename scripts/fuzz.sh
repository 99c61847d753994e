#!/usr/bin/env bash
# Fuzzes the SLU/1 decoder with libFuzzer (Swift's -sanitize=fuzzer, plus AddressSanitizer).
#   scripts/fuzz.sh            # 5 minutes (the long run)
#   scripts/fuzz.sh 20         # 20 seconds (what scripts/test.sh runs in CI)
# The harness is Fuzz/ProtocolDecoderFuzzer.swift, compiled together with Sources/SluiceProtocol;
# seeds are Fuzz/corpus/protocol (the golden vectors, from Fuzz/make_seeds.py). New inputs that
# reach new code go to .build/fuzz/corpus (not committed). A crash leaves crash-<hash> in
# .build/fuzz: put it in Fuzz/corpus/protocol (FuzzCorpusTests.swift replays every file there) and fix the bug.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
out=.build/fuzz
mkdir -p "$out/corpus"
echo "fuzz: compiling the decoder with -sanitize=fuzzer,address"
if ! swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name SluiceProtocolFuzz \
    Sources/SluiceProtocol/*.swift Fuzz/ProtocolDecoderFuzzer.swift -o "$out/protocol-fuzzer" >"$out/compile.log" 2>&1; then
    cat "$out/compile.log" >&2
    exit 1
fi
echo "fuzz: running for ${seconds}s (seeds: Fuzz/corpus/protocol)"
cd "$out"
./protocol-fuzzer -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 corpus ../../Fuzz/corpus/protocol 2>&1 \
    | grep -E '^#[0-9]+ +(INITED|DONE)|stat::number_of_executed_units|stat::new_units_added|ERROR|SUMMARY|crash-|Test unit written' || true
if ls crash-* leak-* timeout-* >/dev/null 2>&1; then
    echo "fuzz: FAILED: the fuzzer found a failing input (see $out/crash-*)" >&2
    exit 1
fi
echo "fuzz: no crash in ${seconds}s"
