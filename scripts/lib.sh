# Shared set-up for ./run.sh and ./test.sh: install what is missing, nothing more.
# Sourced, not run. Debian/Ubuntu: apt-get (through sudo when not root).

# Debian packages the build needs: a C compiler (bundled SQLite, TLS) and the
# WebKitGTK stack the Tauri 2 window is built on.
BUILD_PACKAGES=(build-essential pkg-config ca-certificates curl file
    libwebkit2gtk-4.1-dev libxdo-dev libssl-dev librsvg2-dev libdbus-1-dev)
# What the end-to-end tests add: a virtual display, WebKit's WebDriver, a session bus;
# and the package test: desktop-file-validate and rpm (to read the .rpm's metadata).
TEST_PACKAGES=(xvfb webkit2gtk-driver dbus dbus-x11 desktop-file-utils rpm)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs the given Debian packages that are not installed yet.
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        say "Please install these packages with your system's package manager: ${missing[*]}"
        return 1
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { say "Need root or sudo to install: ${missing[*]}"; return 1; }
        sudo=(sudo)
    fi
    say "Installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Makes `cargo` available: the one on PATH, ~/.cargo/bin, or a fresh rustup install.
ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        say "Installing the Rust toolchain (rustup, minimal profile)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
}

setup_build() {
    ensure_packages "${BUILD_PACKAGES[@]}"
    ensure_rust
}

# tauri-driver bridges WebDriver to the app window (pinned to 2.x: 3.0 pre-releases differ).
ensure_tauri_driver() {
    if ! command -v tauri-driver >/dev/null 2>&1; then
        say "Installing tauri-driver"
        cargo install tauri-driver --locked --version '^2'
    fi
}

# Installs an npm tool pinned by <dir>/package-lock.json into <dir>, unless
# <file> (a path under <dir>/node_modules) is there already.
ensure_npm_pinned() {
    local dir=$1 file=$2 what=$3
    [ -e "$dir/node_modules/$file" ] && return 0
    command -v npm >/dev/null 2>&1 || ensure_packages nodejs npm
    say "Installing $what from npm"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
}

# Prism's validating proxy, which the contract test runs every sync request
# and answer through.
ensure_contract_checker() {
    ensure_npm_pinned tests/contract .bin/prism "the contract checker (Prism)"
}

# The Tauri CLI, prebuilt (no long compile), pinned to 2.x: it bundles the
# built app into .deb and .rpm.
ensure_tauri_cli() {
    ensure_npm_pinned packaging .bin/tauri "the Tauri CLI (@tauri-apps/cli)"
}

# axe-core, which the end-to-end test injects into the window to check
# accessibility; never shipped.
ensure_accessibility_checker() {
    ensure_npm_pinned tests/a11y axe-core/axe.min.js "the accessibility checker (axe-core)"
}

setup_tests() {
    setup_build
    ensure_packages "${TEST_PACKAGES[@]}"
    ensure_tauri_driver
    ensure_contract_checker
    ensure_accessibility_checker
    ensure_tauri_cli
}
