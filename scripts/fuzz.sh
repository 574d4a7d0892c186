#!/usr/bin/env bash
# Fuzzes every decoder that reads bytes from the network: the cargo-fuzz (libFuzzer) targets in
# fuzz/fuzz_targets/ (Convex JSON, index keys, document IDs, function paths, sync messages and
# sessions, push requests with their Brotli bodies and source maps, JWTs and auth configs,
# server keys and tokens, admin keys, request credentials, HTTP action requests served by the
# real runtime). Each target asserts its decoder never panics and, where there is an encoder,
# that decode(encode(x)) round-trips.
#
#   scripts/fuzz.sh                 build once, then run every target for FUZZ_SECONDS (default
#                                   10) over its checked-in corpus, fuzz/corpus/<target>/; new
#                                   inputs go to a scratch directory, so the tree stays clean.
#   scripts/fuzz.sh --soak          release check: every target for FUZZ_SECONDS (default 1800),
#                                   new inputs added to fuzz/corpus/<target>/. Afterwards shrink
#                                   the corpus to what adds edge coverage and commit it:
#                                     cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz cmin --sanitizer none \
#                                       -a <target> -- -use_counters=0 -use_value_profile=0
#   scripts/fuzz.sh [--soak] TARGET...   only these targets.
#
# FUZZ_SANITIZER (default `none`: the targets are safe Rust over mostly safe dependencies, and
# no sanitizer keeps the build and the runs fast) may be set to `address` for a soak run.
# A crash stops the script: the input is in fuzz/artifacts/<target>/ and the printed command
# reproduces it. Fix the decoder, add a regression test in the owning crate and copy the input
# into fuzz/corpus/<target>/.
#
# Needs cargo-fuzz (scripts/setup.sh installs it). It runs on stable Rust: RUSTC_BOOTSTRAP=1
# lets stable rustc accept the unstable flags cargo-fuzz passes (sanitizer coverage).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

soak=false
if [ "${1:-}" = "--soak" ]; then
    soak=true
    shift
fi
if $soak; then seconds="${FUZZ_SECONDS:-1800}"; else seconds="${FUZZ_SECONDS:-10}"; fi
sanitizer="${FUZZ_SANITIZER:-none}"
# The longest one input may take before libFuzzer calls it a hang: well above the few seconds
# the largest legal Brotli push body (200 MB decompressed) can take.
timeout_seconds=30

say() { printf 'fuzz: %s\n' "$*"; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    say "cargo-fuzz not found; run scripts/setup.sh (or: cargo install cargo-fuzz --locked)" >&2
    exit 1
fi
export RUSTC_BOOTSTRAP=1
# Debug assertions (and so overflow checks) on: an overflow on hostile input is a bug too.
flags=(--sanitizer "$sanitizer" --debug-assertions)

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
started=$SECONDS
say "building ${#targets[@]} targets (sanitizer: $sanitizer)"
if ! (cd fuzz && cargo fuzz build "${flags[@]}") >"$scratch/build.log" 2>&1; then
    tail -n 80 "$scratch/build.log" >&2
    say "build failed" >&2
    exit 1
fi
say "built in $((SECONDS - started)) s; running each target for $seconds s"

for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    if $soak; then
        dirs=("$PWD/$corpus")
    else
        mkdir -p "$scratch/$target"
        dirs=("$scratch/$target" "$PWD/$corpus")
    fi
    log="$scratch/$target.log"
    if (cd fuzz && cargo fuzz run "${flags[@]}" "$target" "${dirs[@]}" -- \
        -max_total_time="$seconds" -timeout="$timeout_seconds" -print_final_stats=1) >"$log" 2>&1; then
        runs="$(grep -o '^stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
        if $soak; then
            found="corpus now $(find "$corpus" -type f | wc -l) files"
        else
            found="$(find "$scratch/$target" -type f | wc -l) new inputs beyond the $(find "$corpus" -type f | wc -l) checked in"
        fi
        say "$target: ok ($runs inputs in $seconds s; $found)"
    else
        tail -n 60 "$log" >&2
        say "$target: FAILED; the crashing input is in fuzz/artifacts/$target/. Reproduce with:" >&2
        say "  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run ${flags[*]} $target artifacts/$target/<file>)" >&2
        exit 1
    fi
done
say "all ${#targets[@]} targets passed in $((SECONDS - started)) s"
