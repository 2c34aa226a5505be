#!/usr/bin/env bash
# Run by the Tauri CLI before it bundles (build.beforeBundleCommand): puts the
# `partnerbook` command line built with the window (same profile) where the
# bundle's `files` expect it, so the packages install it beside the window.
# It builds nothing: ./release.sh builds both first, and so does the test run.
set -euo pipefail
cd "$(dirname "$0")/.."
# Only the Linux packages carry the command line (tauri.conf.json's linux files).
[ "${TAURI_ENV_PLATFORM:-linux}" = "linux" ] || exit 0
profile=release
[ "${TAURI_ENV_DEBUG:-false}" = "true" ] && profile=debug
cli="target/$profile/partnerbook"
if [ ! -x "$cli" ]; then
    echo "$cli is not built: run ./release.sh (or ./test.sh for the test packages)" >&2
    exit 1
fi
mkdir -p target/bundle-stage
cp "$cli" target/bundle-stage/partnerbook
