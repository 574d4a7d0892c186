#!/usr/bin/env bash
# Regenerates hull-js's test fixtures with the real, pinned Convex CLI (npm/package-lock.json).
#
# For each fixture project crates/hull-js/tests/projects/<name>/ this runs
#   convex deploy --push-all-modules --write-push-request ... --url http://127.0.0.1:1 --admin-key x
# which bundles the project exactly as a real deploy does and writes the start_push request
# JSON instead of sending it (no server needed), to crates/hull-js/tests/fixtures/<name>.push.json.
# Fixtures are generated, never hand-edited. Needs node (>= 20) and network for the first `npm ci`.
#
# `--check` regenerates into a temporary folder and fails if the committed fixtures differ
# (scripts/test.sh runs it, so a fixture edited by hand or a stale one fails CI).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
check=false
[ "${1:-}" = "--check" ] && check=true

./scripts/setup.sh >/dev/null

committed_dir="$root/crates/hull-js/tests/fixtures"
out_dir="$committed_dir"
if $check; then
    out_dir="$(mktemp -d)"
    trap 'rm -rf "$out_dir"' EXIT
fi
mkdir -p "$out_dir"
for project in "$root"/crates/hull-js/tests/projects/*/; do
    project="${project%/}"
    name="$(basename "$project")"
    # The project resolves `convex`, `zod`, ... from the repo's pinned npm/node_modules.
    ln -sfn "$root/npm/node_modules" "$project/node_modules"
    tmp="$(mktemp -d)"
    (
        cd "$project"
        # No deployment env vars may leak in: --url/--admin-key choose the (absent) target.
        env -u CONVEX_DEPLOYMENT -u CONVEX_DEPLOY_KEY -u CONVEX_SELF_HOSTED_URL \
            -u CONVEX_SELF_HOSTED_ADMIN_KEY \
            "$root/npm/node_modules/.bin/convex" deploy \
            --url http://127.0.0.1:1 --admin-key x \
            --typecheck disable --codegen enable \
            --push-all-modules --write-push-request "$tmp/push" >"$tmp/log" 2>&1 || {
            cat "$tmp/log" >&2
            exit 1
        }
    )
    # The CLI appends .json to the given path. Pretty-print for reviewable diffs.
    node -e 'const fs=require("fs");const r=JSON.parse(fs.readFileSync(process.argv[1],"utf8"));fs.writeFileSync(process.argv[2],JSON.stringify(r,null,1)+"\n")' \
        "$tmp/push.json" "$out_dir/$name.push.json"
    rm -rf "$tmp"
    $check || echo "gen-fixtures: wrote crates/hull-js/tests/fixtures/$name.push.json"
done
if $check; then
    if ! diff -r -q "$committed_dir" "$out_dir" >/dev/null; then
        diff -r -q "$committed_dir" "$out_dir" >&2 || true
        echo "gen-fixtures: the committed fixtures differ from what the pinned CLI produces; run scripts/gen-fixtures.sh and commit the result" >&2
        exit 1
    fi
    echo "gen-fixtures: committed fixtures match the pinned CLI"
fi
