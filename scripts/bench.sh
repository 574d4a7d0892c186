#!/usr/bin/env bash
# Runs Hull's benchmarks (the hull-bench package); results are written under bench/.
# Extra arguments go to `cargo bench`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Captured first: `grep -q` exiting early would fail the pipeline under pipefail.
metadata="$(cargo metadata --no-deps --format-version 1)"
if grep -q '"name":"hull-bench"' <<<"$metadata"; then
    exec cargo bench -p hull-bench "$@"
fi
echo "bench: there is no hull-bench package in this workspace yet; nothing to run."
