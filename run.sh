#!/usr/bin/env bash
# Builds and launches Partnerbook. Installs what is missing first (Debian/Ubuntu).
#   ./run.sh                 the desktop app (release build)
#   ./run.sh partner add ..  the command line instead (any partnerbook command; ./run.sh --help)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh
setup_build
if [ $# -eq 0 ]; then
    cargo build --release --locked -p partnerbook-desktop >&2
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
        say "No display found: the window needs a desktop session (or try: xvfb-run ./run.sh)."
        exit 1
    fi
    exec target/release/partnerbook-desktop
else
    cargo build --release --locked --bin partnerbook >&2
    exec target/release/partnerbook "$@"
fi
