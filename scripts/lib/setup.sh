# Shared set-up for scripts/test and scripts/demo (sourced, not run).
#
# Brings a fresh Debian machine with python3.11+ and node/npm to a working
# tree: .venv with the package installed editable plus the dev tools, and
# node_modules from package-lock.json. Each step is skipped when what it would
# produce is already there and up to date, and fails loudly otherwise: a
# missing tool is an error with a hint, never a silent skip.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO_ROOT/.venv"
PY="$VENV/bin/python"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() {
    printf '\033[1;31merror:\033[0m %s\n' "$*" >&2
    exit 1
}

sha_of() { sha256sum <"$1" | cut -c1-64; }

# --- Python ---------------------------------------------------------------

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [[ -n "$candidate" ]] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

venv_usable() {
    [[ -x "$PY" && -f "$VENV/pyvenv.cfg" ]] || return 1
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11) or sys.prefix == sys.base_prefix)' \
        2>/dev/null
}

setup_python() {
    local python stamp want
    if ! venv_usable; then
        python="$(find_python)" || die "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)"
        say "creating .venv with $python"
        "$python" -m venv --clear "$VENV" \
            || die "could not create .venv (on Debian: apt-get install -y python3-venv)"
    fi
    # The editable install points at this checkout: redo it when the checkout
    # moved or pyproject.toml changed.
    stamp="$VENV/.tidings-dev-installed"
    want="$(printf '%s\n%s\n' "$REPO_ROOT" "$(sha_of "$REPO_ROOT/pyproject.toml")")"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
        && "$PY" -c 'import tidings, pytest, mypy, ruff' 2>/dev/null; then
        return 0
    fi
    say "installing tidings (editable) with its dev tools into .venv"
    "$PY" -m pip install --quiet -e "$REPO_ROOT[dev]" \
        || die "pip install -e '.[dev]' failed (see above)"
    printf '%s' "$want" >"$stamp"
}

# --- Node -----------------------------------------------------------------

setup_node() {
    local stamp want major
    command -v node >/dev/null 2>&1 || die "node is needed (on Debian: apt-get install -y nodejs npm)"
    command -v npm >/dev/null 2>&1 || die "npm is needed (on Debian: apt-get install -y npm)"
    major="$(node -p 'process.versions.node.split(".")[0]')"
    ((major >= 18)) || die "node 18 or newer is needed, found $(node --version)"
    [[ -f "$REPO_ROOT/package-lock.json" ]] || die "package-lock.json is missing"
    stamp="$REPO_ROOT/node_modules/.tidings-lock"
    want="$(sha_of "$REPO_ROOT/package-lock.json")"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    say "npm ci"
    (cd "$REPO_ROOT" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed (see above)"
    [[ -f "$REPO_ROOT/node_modules/socket.io-client/dist/socket.io.min.js" ]] \
        || die "npm ci did not install socket.io-client"
    printf '%s' "$want" >"$stamp"
}

# --- System packages and services -----------------------------------------
#
# The place for what later steps need from the machine itself:
#   - Chromium for the browser tests: `need_apt_command chromium chromium`;
#   - PostgreSQL and Redis for the history and adapter backends: install when
#     missing, start them on 127.0.0.1, export their URLs for the tests.
# Add each as a function below and call it from setup_system.

APT_UPDATED=0

# need_apt_command COMMAND PACKAGE: install PACKAGE with apt-get when COMMAND is missing.
need_apt_command() {
    local command_name="$1" package="$2"
    command -v "$command_name" >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || die "$command_name is needed and apt-get is not here: install $package"
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "$command_name is needed: apt-get install -y $package (as root)"
        sudo=(sudo)
    fi
    if ((APT_UPDATED == 0)); then
        say "apt-get update"
        "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
        APT_UPDATED=1
    fi
    say "apt-get install -y $package"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$package" \
        || die "apt-get install -y $package failed"
    command -v "$command_name" >/dev/null 2>&1 || die "$package is installed but $command_name is still missing"
}

setup_system() {
    : # nothing yet: see above
}
