#!/usr/bin/env bash
# Runs every test: unit, integration, property, command (mock runtime) and
# end-to-end (the real window under Xvfb via WebDriver). Installs what is
# missing first (Debian/Ubuntu). Screenshots land in artifacts/screenshots/.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh
setup_tests
# A private session bus, so the window and its plugins find D-Bus as on a desktop.
exec dbus-run-session -- cargo test --workspace --locked
