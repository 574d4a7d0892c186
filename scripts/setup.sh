#!/usr/bin/env bash
# Installs what Hull's test suite needs on a fresh machine. Idempotent: every step checks
# before it installs, so scripts/test.sh runs it every time.
#
# Today the suite needs only the Rust toolchain (required) and cargo-nextest (optional:
# scripts/test.sh falls back to `cargo test`). Later needs go in the sections below: Debian
# packages into APT_PACKAGES, npm packages (the Convex CLI and client, for conformance tests)
# into the npm section.
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

# --- Debian packages -------------------------------------------------------------------------
# Installed only when missing, so the apt step costs nothing once done.
APT_PACKAGES=()
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
# None yet. When tests need the Convex CLI or client, install them here from a committed
# package-lock.json with `npm ci`, skipping when node_modules is already up to date.

say "done"
