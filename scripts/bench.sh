#!/usr/bin/env bash
# Runs Hull's benchmarks (release builds); results are written under bench/results/.
#
#   ./scripts/bench.sh e2e [--smoke]            the end-to-end benchmark: Hull over loopback with
#                                               real clients against a Node baseline and the
#                                               limit (axum + rusqlite) -> bench/results/latest.md
#                                               and latest.json (8.5 minutes on 2 cores from a
#                                               cold build: 4 min build, 3.5 min harness)
#   ./scripts/bench.sh [--quick] [--only ...]   the engine against raw rusqlite (hull-bench)
#                                               -> bench/results/engine.json
#   ./scripts/bench.sh engines                  the engine on SQLite against PostgreSQL; starts
#                                               a throwaway PostgreSQL server (scripts/postgres.sh)
#   ./scripts/bench.sh js [ITERATIONS]          per-call overhead of the function runtime
#   ./scripts/bench.sh deploy                   20-module deploy with the real CLI, HTTP round trips
#   ./scripts/bench.sh keys [ROUNDS]            server-key check time by kind of key (timing leaks)
#   ./scripts/bench.sh scheduler [PROBES]       scheduling latency with 1,000 and 10,000 pending jobs
#   ./scripts/bench.sh sync [N ...]             N WebSocket subscribers of one query (default 1000
#                                               10000): commit-to-last-update latency, RSS per socket
#
# (Not `cargo bench` targets on purpose: test runners that list every target would run them.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "${1:-}" = "e2e" ]; then
    shift
    ./scripts/setup.sh >/dev/null
    SECONDS=0
    cargo build --release -p hull -p hull-bench --bin hull --bin e2e --bin limit_server
    HULL_E2E_BUILD_S=$SECONDS
    export HULL_E2E_BUILD_S
    exec "${CARGO_TARGET_DIR:-target}/release/e2e" "$@"
fi
if [ "${1:-}" = "engines" ]; then
    shift
    ./scripts/setup.sh >/dev/null
    HULL_BENCH_POSTGRES_URL="$(HULL_TEST_POSTGRES_PORT=55433 ./scripts/postgres.sh start)"
    export HULL_BENCH_POSTGRES_URL
    trap 'HULL_TEST_POSTGRES_PORT=55433 ./scripts/postgres.sh stop' EXIT
    cargo run --release -p hull-bench --bin engines -- "$@"
    exit 0
fi
if [ "${1:-}" = "deploy" ]; then
    shift
    ./scripts/setup.sh >/dev/null
    cargo build --release -p hull -p hull-bench --bin hull --bin deploy_http
    exec ./target/release/deploy_http "$@"
fi
if [ "${1:-}" = "keys" ]; then
    shift
    exec cargo run --release -p hull-bench --bin keys -- "$@"
fi
if [ "${1:-}" = "scheduler" ]; then
    shift
    exec cargo run --release -p hull-bench --bin scheduler -- "$@"
fi
if [ "${1:-}" = "sync" ]; then
    shift
    cargo build --release -p hull -p hull-bench --bin hull --bin sync_fanout
    exec ./target/release/sync_fanout "$@"
fi
if [ "${1:-}" = "js" ]; then
    shift
    exec cargo run --release -p hull-bench --bin js -- "$@"
fi
exec cargo run --release -p hull-bench --bin hull-bench -- "$@"
