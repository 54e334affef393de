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
# What the tests need from the machine itself, installed when missing:
#   - Chromium for the browser tests: `need_apt_command chromium chromium`;
#   - PostgreSQL for the history backends, started on 127.0.0.1 (setup_postgres);
#   - Redis for the cluster tests (setup_redis);
#   - nginx for the scale-out tests and examples/cluster (setup_nginx): only the
#     binary, which they run on ports and directories of their own.
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

# as_user USER COMMAND...: run COMMAND as USER (directly, with runuser as root, else sudo).
as_user() {
    local user="$1"
    shift
    if [[ "$(id -un)" == "$user" ]]; then
        "$@"
    elif [[ "$(id -u)" == 0 ]]; then
        runuser -u "$user" -- "$@"
    else
        command -v sudo >/dev/null 2>&1 || die "running '$*' as $user needs sudo"
        sudo -u "$user" -- "$@"
    fi
}

PG_HOST=127.0.0.1
PG_PORT=5432
PG_CLUSTER=main

pg_up() {
    command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
}

# psql as the postgres role over TCP, never asking for a password.
pg_tcp() {
    psql -X -q -w -h "$PG_HOST" -p "$PG_PORT" -U postgres "$@"
}

# PostgreSQL for the history tests: on 127.0.0.1:5432, role postgres trusted from
# 127.0.0.1, a database named test. Installed and started when missing.
setup_postgres() {
    local version waited hba
    pg_up || need_apt_command pg_ctlcluster postgresql
    if ! pg_up; then # (installing may have started it)
        version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
        [[ -n "$version" ]] \
            || die "postgresql is installed but has no cluster (try: pg_createcluster --start <version> main)"
        say "starting PostgreSQL $version"
        as_user root pg_ctlcluster --skip-systemctl-redirect "$version" "$PG_CLUSTER" start \
            || die "could not start PostgreSQL $version (pg_ctlcluster $version $PG_CLUSTER start)"
        for ((waited = 0; waited < 30; waited++)); do
            pg_up && break
            sleep 0.5
        done
        pg_up || die "PostgreSQL $version started but does not answer on $PG_HOST:$PG_PORT"
    fi
    if ! pg_tcp -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
        # First matching line wins in pg_hba.conf: put ours first.
        hba="$(as_user postgres psql -X -p "$PG_PORT" -tAc 'SHOW hba_file')" \
            || die "cannot ask PostgreSQL where pg_hba.conf is (as the postgres user)"
        say "trusting the postgres role from $PG_HOST in $hba"
        as_user root sed -i "1i host all postgres $PG_HOST/32 trust" "$hba" \
            || die "cannot edit $hba"
        as_user postgres psql -X -p "$PG_PORT" -q -tAc 'SELECT pg_reload_conf()' >/dev/null \
            || die "cannot reload PostgreSQL's configuration"
        pg_tcp -d postgres -tAc 'SELECT 1' >/dev/null \
            || die "PostgreSQL on $PG_HOST:$PG_PORT still refuses the postgres role without a password"
    fi
    if [[ "$(pg_tcp -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'")" != 1 ]]; then
        say "creating the PostgreSQL database 'test'"
        pg_tcp -d postgres -c 'CREATE DATABASE test' || die "cannot create the database 'test'"
    fi
}

REDIS_HOST=127.0.0.1
REDIS_PORT=6379

redis_up() {
    command -v redis-cli >/dev/null 2>&1 \
        && [[ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" PING 2>/dev/null)" == PONG ]]
}

# Redis for the cluster tests (tests/cluster): the redis-server binary, which fault tests
# start on ports of their own, and a Redis answering on 127.0.0.1:6379, which the other
# cluster tests share (each under its own key prefix). Nothing here starts or stops that
# one: it may be someone else's.
setup_redis() {
    need_apt_command redis-server redis-server
    need_apt_command redis-cli redis-tools
    redis_up || die "no Redis answers on $REDIS_HOST:$REDIS_PORT, which the cluster tests need:" \
        "start one (service redis-server start, or: redis-server --port $REDIS_PORT --bind $REDIS_HOST --daemonize yes)"
}

# nginx for tests/scaleout and examples/cluster. Debian puts it in /usr/sbin, which
# a user's PATH may lack.
setup_nginx() {
    [[ ":$PATH:" == *:/usr/sbin:* ]] || export PATH="$PATH:/usr/sbin"
    need_apt_command nginx nginx
}

setup_system() {
    need_apt_command chromium chromium # the browser tests (tests/demo), via playwright-core
    setup_nginx
    setup_postgres
    setup_redis
}

# --- Other Pythons (the test matrix) ---------------------------------------

# python_for VERSION: an interpreter of that minor version (pythonX.Y on PATH, else pyenv's).
python_for() {
    local version="$1" candidate full
    for candidate in "python$version" "$(command -v pyenv >/dev/null 2>&1 \
        && full="$(pyenv versions --bare 2>/dev/null | grep -E "^${version//./\\.}(\.[0-9]+)?$" | sort -V | tail -n 1)" \
        && [[ -n "$full" ]] && printf '%s/bin/python%s' "$(pyenv prefix "$full")" "$version")"; do
        [[ -n "$candidate" ]] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$version'.split('.'))))" 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# setup_matrix_python VERSION: .venv-VERSION with tidings (editable) and its dev tools, as
# .venv has for the default Python; prints the venv's python.
setup_matrix_python() {
    local version="$1" venv="$REPO_ROOT/.venv-$1" python stamp want
    stamp="$venv/.tidings-dev-installed"
    want="$(printf '%s\n%s\n' "$REPO_ROOT" "$(sha_of "$REPO_ROOT/pyproject.toml")")"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        printf '%s\n' "$venv/bin/python"
        return 0
    fi
    python="$(python_for "$version")" \
        || die "Python $version is needed for the test matrix (install it, e.g. pyenv install $version)"
    say "creating .venv-$version with $python"
    "$python" -m venv --clear "$venv" >&2 || die "could not create .venv-$version"
    "$venv/bin/python" -m pip install --quiet -e "$REPO_ROOT[dev]" >&2 \
        || die "pip install -e '.[dev]' failed under Python $version (see above)"
    printf '%s' "$want" >"$stamp"
    printf '%s\n' "$venv/bin/python"
}
