#!/usr/bin/env bash
# Run a command with a throw-away PostgreSQL server on 127.0.0.1, then stop and remove it.
#
#   scripts/with_postgres.sh pytest -q
#
# The command sees ALLHANDS_TEST_POSTGRES=postgresql://postgres@127.0.0.1:PORT/postgres.
# The server is Debian's package (installed with apt-get when it is missing and we may);
# its data lives in a temporary folder and is deleted on exit, however the command ends.
# Set ALLHANDS_TEST_POSTGRES yourself to use a server you already run instead, or to
# "off" to leave the PostgreSQL half of the tests out (they are then skipped, and say so).
set -euo pipefail

if [[ -n "${ALLHANDS_TEST_POSTGRES:-}" ]]; then
    exec "$@"
fi

find_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    return 1
}

if ! bindir=$(find_bindir); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "PostgreSQL is not installed: installing Debian's postgresql package" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends postgresql >/dev/null ||
            { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends postgresql >/dev/null; }
        bindir=$(find_bindir)
    else
        echo "PostgreSQL is not installed and cannot be installed here (apt-get as root)." >&2
        echo "Install Debian's postgresql package, or set ALLHANDS_TEST_POSTGRES to a server URL." >&2
        exit 2
    fi
fi

# initdb refuses to run as root: the server runs as the postgres user the package made.
as_owner=()
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    as_owner=(runuser -u postgres --)
fi

workdir=$(mktemp -d /tmp/allhands-pg.XXXXXX)
chmod 755 "$workdir"
[[ ${#as_owner[@]} -gt 0 ]] && chown postgres "$workdir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

stop() {
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$workdir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$workdir"
}
trap stop EXIT

"${as_owner[@]}" "$bindir/initdb" -D "$workdir/data" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 >"$workdir/initdb.log" 2>&1 ||
    { cat "$workdir/initdb.log" >&2; exit 1; }
# Settings for a disposable test server: durability traded for speed.
"${as_owner[@]}" "$bindir/pg_ctl" -D "$workdir/data" -l "$workdir/server.log" -w -t 60 \
    -o "-p $port -k $workdir -c listen_addresses=127.0.0.1 -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null ||
    { cat "$workdir/server.log" >&2; exit 1; }

export ALLHANDS_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$port/postgres"
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') for the tests on 127.0.0.1:$port" >&2
"$@"
