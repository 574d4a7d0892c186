#!/usr/bin/env bash
# The one test command: set up the machine, build once, run Hull's whole test suite.
# The last line printed is the test runner's own summary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

banner() { printf '\n==== %s ====\n' "$*"; }

banner "setup (scripts/setup.sh)"
./scripts/setup.sh

banner "PostgreSQL test server (scripts/postgres.sh)"
TEST_POSTGRES_URL="$(./scripts/postgres.sh start)"
export TEST_POSTGRES_URL
TEST_POSTGRES_CA="$(./scripts/postgres.sh ca)"
export TEST_POSTGRES_CA
trap './scripts/postgres.sh stop' EXIT
echo "TEST_POSTGRES_URL=$TEST_POSTGRES_URL"

banner "fixtures (scripts/gen-fixtures.sh --check)"
./scripts/gen-fixtures.sh --check

# Every network-facing decoder under libFuzzer, briefly, from the checked-in corpus (a longer
# soak for release checks: scripts/fuzz.sh --soak). Before the suite, so that the test runner's
# summary stays the last line.
banner "fuzz (scripts/fuzz.sh, ${FUZZ_SECONDS:=5} s a target)"
FUZZ_SECONDS="$FUZZ_SECONDS" ./scripts/fuzz.sh

if cargo nextest --version >/dev/null 2>&1; then
    banner "build (cargo nextest run --no-run)"
    cargo nextest run --workspace --all-targets --no-run
    banner "test (cargo nextest)"
    cargo nextest run --workspace --all-targets --no-fail-fast
else
    banner "build (cargo test --no-run)"
    cargo test --workspace --all-targets --no-run
    banner "test (cargo test)"
    cargo test --workspace --all-targets --no-fail-fast
fi
