# shellcheck shell=bash
# Prerequisite checks shared by scripts/test-all and .ci/run (sourced, not executed).
#
# Owns the list of Debian packages the tests need and the one way we install them, so the two
# scripts cannot drift apart. Callers must set REPO_ROOT first.

# Always needed: clang and libclang-dev for RocksDB's bindgen (warren-store); make for
# jemalloc's build (tikv-jemalloc-sys runs configure and make), the `warren` binary's allocator.
WARREN_APT_PACKAGES=(clang libclang-dev make)

# True when the interop stage will run (the only thing that needs Python).
warren_interop_present() {
    [[ -d "$REPO_ROOT/interop/tests" ]]
}

# True when `python3 -m venv` can create a venv with pip in it.
warren_venv_works() {
    command -v python3 >/dev/null 2>&1 && python3 -c 'import ensurepip, venv' >/dev/null 2>&1
}

# The web UI's stage (scripts/ui-test) needs Node with npm and Debian's Chromium. A Node that
# is already installed (nodesource, nvm) is used as it is; otherwise Debian's nodejs and npm.
warren_ui_packages() {
    command -v npm >/dev/null 2>&1 || echo nodejs npm
    [[ -x /usr/bin/chromium ]] || echo chromium
}

# Prints the Debian packages that are needed and not installed, one per line.
warren_missing_packages() {
    local wanted=("${WARREN_APT_PACKAGES[@]}")
    # shellcheck disable=SC2207 # package names have no spaces
    wanted+=($(warren_ui_packages))
    if warren_interop_present && ! warren_venv_works; then
        wanted+=(python3-venv)
    fi
    local pkg
    for pkg in "${wanted[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            echo "$pkg"
        fi
    done
}

# Installs the missing packages when running as root; otherwise says what to install and
# returns non-zero. On a machine without dpkg it only warns (it cannot check).
warren_ensure_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "warning: not a Debian system (no dpkg-query); cannot check for: ${WARREN_APT_PACKAGES[*]}" >&2
        return 0
    fi
    local missing
    mapfile -t missing < <(warren_missing_packages)
    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "Debian packages present: ${WARREN_APT_PACKAGES[*]}"
        return 0
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "error: missing Debian packages: ${missing[*]}" >&2
        echo "install them with:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi
    echo "installing missing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# Makes sure cargo, rustfmt and clippy are there (adding the components through rustup if it
# is installed and they are not).
warren_ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "error: cargo not found; install Rust (https://rustup.rs)" >&2
        return 1
    fi
    local component
    for component in rustfmt clippy; do
        local probe=fmt
        [[ $component == clippy ]] && probe=clippy
        if ! cargo "$probe" --version >/dev/null 2>&1; then
            if command -v rustup >/dev/null 2>&1; then
                echo "adding Rust component $component"
                rustup component add "$component"
            else
                echo "error: cargo $probe is missing and rustup is not installed" >&2
                return 1
            fi
        fi
    done
    cargo --version
}
