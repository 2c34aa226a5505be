#!/usr/bin/env bash
# Builds Partnerbook's Linux packages (.deb and .rpm) into dist/, with SHA-256
# checksums. Installs what is missing first (Debian/Ubuntu), as ./run.sh does.
#   ./release.sh            release build, packages in dist/
# Windows, macOS and the AppImage are built by .github/workflows/release.yml
# (the AppImage bundler downloads tools at build time).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh
setup_build
ensure_tauri_cli
started=$(date +%s)
# One cargo run for both binaries, so the core is built once; the command line
# gets the OS keychain, as the window has, so both read the same secrets.
cargo build --release --locked -p partnerbook-desktop -p partnerbook --features partnerbook/keychain
(cd src-tauri && ../packaging/node_modules/.bin/tauri bundle --bundles deb,rpm --ci)
version=$(target/release/partnerbook --version | awk '{print $2}')
rm -rf dist && mkdir -p dist
cp target/release/bundle/deb/*_"$version"_*.deb target/release/bundle/rpm/*-"$version"-*.rpm dist/
(cd dist && sha256sum -- * > SHA256SUMS)
say "Packages in dist/ ($(( $(date +%s) - started )) s):"
(cd dist && ls -l && cat SHA256SUMS) >&2
