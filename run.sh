#!/usr/bin/env bash
# Builds and runs Partnerbook. Installs what is missing first (Debian/Ubuntu).
#   ./run.sh                 show the database and the partner list
#   ./run.sh partner add ..  any partnerbook command (see ./run.sh --help)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh
setup_build
cargo build --release --locked --bin partnerbook >&2
bin=target/release/partnerbook
if [ $# -eq 0 ]; then
    "$bin" info
    echo
    "$bin" partner list
    echo
    echo "Try: ./run.sh partner add --help    ./run.sh --help" >&2
else
    exec "$bin" "$@"
fi
