#!/usr/bin/env bash
# Runs every test. Installs what is missing first (Debian/Ubuntu).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh
setup_build
cargo test --workspace --locked
