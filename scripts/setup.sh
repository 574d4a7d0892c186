#!/usr/bin/env bash
# Installs what Hull's test suite needs on a fresh machine. Idempotent: every step checks
# before it installs, so scripts/test.sh runs it every time.
#
# The suite needs the Rust toolchain (required), cargo-nextest (optional: scripts/test.sh falls
# back to `cargo test`), Debian's postgresql (the PostgreSQL engine's tests) and chromium (the
# SvelteKit example's browser test), and npm packages from committed lockfiles: the pinned
# Convex CLI and clients (npm/), the SvelteKit example's (examples/sveltekit/) and the end-to-end
# benchmark's Node baseline (bench/node/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'setup: %s\n' "$*"; }

# --- Rust toolchain (required) ---------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
    say "cargo not found. Install Rust (https://rustup.rs) and re-run." >&2
    exit 1
fi
say "$(cargo --version)"

# --- cargo-nextest (optional) ----------------------------------------------------------------
if cargo nextest --version >/dev/null 2>&1; then
    say "$(cargo nextest --version | head -n 1)"
else
    say "cargo-nextest not found; tests will run with cargo test (install: cargo install cargo-nextest --locked)"
fi

# --- cargo-fuzz (scripts/fuzz.sh) ------------------------------------------------------------
# The fuzz stage builds fuzz/ with cargo-fuzz (libFuzzer) on stable Rust (RUSTC_BOOTSTRAP=1).
if cargo fuzz --version >/dev/null 2>&1; then
    say "$(cargo fuzz --version)"
else
    say "installing cargo-fuzz (cargo install cargo-fuzz --version 0.13.2 --locked)"
    cargo install cargo-fuzz --version 0.13.2 --locked --quiet
fi

# --- Debian packages -------------------------------------------------------------------------
# Installed only when missing, so the apt step costs nothing once done.
APT_PACKAGES=()
# PostgreSQL server binaries for the PostgreSQL engine's tests (scripts/postgres.sh).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then APT_PACKAGES+=(postgresql); fi
# Debian's Chromium, driven by playwright-core in examples/sveltekit/tests/browser.mjs.
if [ ! -x /usr/bin/chromium ]; then APT_PACKAGES+=(chromium); fi
missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- npm packages ----------------------------------------------------------------------------
# The pinned Convex CLI/library and the libraries fixture projects import (npm/package.json),
# installed from the committed lockfile. Only scripts/gen-fixtures.sh needs them; the Rust tests
# read the committed fixtures, so a machine without node skips this step.
if [ -f npm/package-lock.json ]; then
    if ! command -v npm >/dev/null 2>&1; then
        say "npm not found; skipping npm packages (needed only by scripts/gen-fixtures.sh)"
    elif [ ! -d npm/node_modules ] || [ npm/package-lock.json -nt npm/node_modules/.package-lock.json ]; then
        say "installing npm packages (npm ci --prefix npm)"
        npm ci --prefix npm --no-audit --no-fund --loglevel=error >/dev/null
    else
        say "npm packages up to date"
    fi
fi

# The @hull/server helper resolves `convex` like an installed package would; in the repository it
# finds the pinned one through this link (tests import it from there).
if [ -d npm/node_modules ]; then
    ln -sfn ../../npm/node_modules packages/hull-server/node_modules
fi

# `npm ci` in DIR when its lockfile is newer than what is installed (WHAT names it in messages).
npm_ci_when_stale() {
    local dir=$1 what=$2
    [ -f "$dir/package-lock.json" ] && command -v npm >/dev/null 2>&1 || return 0
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        say "installing $what (npm ci --prefix $dir)"
        npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
    else
        say "$what up to date"
    fi
}

# The SvelteKit example (SvelteKit, Svelte 5, convex-svelte, playwright-core), from its lockfile.
npm_ci_when_stale examples/sveltekit "the SvelteKit example's npm packages"

# The end-to-end benchmark's Node baseline (better-sqlite3, ws), from its lockfile: the test
# suite runs the benchmark in smoke mode (bench/tests/smoke.rs). better-sqlite3 compiles its
# native addon with node-gyp when no prebuilt one can be fetched (about a minute).
npm_ci_when_stale bench/node "the benchmark's Node baseline packages"

say "done"
