#!/usr/bin/env bash
# Runs Hull's benchmarks (the hull-bench program, release build); results are written under
# bench/results/. Arguments go to the program, e.g. `./scripts/bench.sh --quick`.
# (Not a `cargo bench` target on purpose: test runners that list every target would run it.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo run --release -p hull-bench -- "$@"
