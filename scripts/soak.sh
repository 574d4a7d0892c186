#!/usr/bin/env bash
# The release soak of RELIABILITY.md: the reliability tests of the suite, run long.
#
#   scripts/soak.sh            crash cycles, serializability rounds, then fuzzing
#
# Sizes (environment; defaults in brackets):
#   HULL_CRASH_CYCLES [200]              SIGKILL cycles per engine (SQLite, PostgreSQL), HTTP
#                                        and WebSocket clients (crates/hull/tests/crash_under_load.rs)
#   HULL_SERIALIZABILITY_ROUNDS [200]    rounds of each checked workload
#                                        (crates/hull-app/tests/serializability.rs)
#   FUZZ_SECONDS [1800]                  per fuzz target (scripts/fuzz.sh --soak; grows the corpus)
#   SOAK_SKIP_FUZZ=1                     leave fuzzing out
#
# Each test prints its counts (cycles, acknowledged mutations, transactions checked, anomalies);
# the summary lines are collected in target/soak/summary.txt for RELIABILITY.md's table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export HULL_CRASH_CYCLES="${HULL_CRASH_CYCLES:-200}"
export HULL_SERIALIZABILITY_ROUNDS="${HULL_SERIALIZABILITY_ROUNDS:-200}"
out="target/soak"
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
say() { printf 'soak: %s\n' "$*" | tee -a "$summary"; }

./scripts/setup.sh >/dev/null
TEST_POSTGRES_URL="$(./scripts/postgres.sh start)"
export TEST_POSTGRES_URL
trap './scripts/postgres.sh stop' EXIT

say "$(date -u +%FT%TZ) git $(git rev-parse --short HEAD); $HULL_CRASH_CYCLES crash cycles, $HULL_SERIALIZABILITY_ROUNDS serializability rounds"
started=$SECONDS
cargo nextest run -p hull --test crash_under_load -p hull-app --test serializability \
    --no-fail-fast --no-capture --test-threads 1 2>&1 | tee "$out/tests.log" \
    | grep -E "SIGKILL cycles|rounds on|broken engine|PASS|FAIL" | tee -a "$summary"
say "tests took $((SECONDS - started)) s"

if [ "${SOAK_SKIP_FUZZ:-}" != "1" ]; then
    FUZZ_SECONDS="${FUZZ_SECONDS:-1800}" ./scripts/fuzz.sh --soak 2>&1 | tee "$out/fuzz.log" | grep -E "^fuzz: " | tee -a "$summary"
fi
say "done in $((SECONDS - started)) s; summary in $summary"
