#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for Hull's tests, from Debian's postgresql package
# (scripts/setup.sh installs it).
#
#   scripts/postgres.sh start   # starts it (if not running) and prints its URL on stdout
#   scripts/postgres.sh stop    # stops it and removes its data
#   scripts/postgres.sh ca      # prints the path of the CA certificate its TLS certificate is signed by
#
# The server accepts TLS with a self-signed certificate for 127.0.0.1 (the printed URL connects
# with sslmode=require&sslrootcert=<that path>) and plain connections alike.
#
# Data lives in /tmp/hull-postgres-<port> (readable by the postgres user, which initdb and the
# server run as when this script runs as root: both refuse to run as root).
set -euo pipefail
port="${HULL_TEST_POSTGRES_PORT:-55432}"
dir="/tmp/hull-postgres-$port"
# Tests connect over TLS, verifying the server's self-signed certificate, as they would a
# managed server's.
url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=require&sslrootcert=$dir/ca.crt"

bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "postgres.sh: no PostgreSQL server binaries under /usr/lib/postgresql; run scripts/setup.sh" >&2
    exit 1
fi

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    if [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        echo "$url"
        exit 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    # A throwaway CA and a server certificate for 127.0.0.1 signed by it (certificate
    # verifiers refuse a self-signed CA certificate used as the server's own).
    openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=Hull test CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 7 -extfile "$dir/server.ext" -out "$dir/server.crt" >/dev/null 2>&1
    chmod 600 "$dir/server.key"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir/server.key" "$dir/server.crt"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key" start >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    echo "$url"
    ;;
ca)
    echo "$dir/ca.crt"
    ;;
stop)
    if [ -d "$dir/data" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: scripts/postgres.sh start|stop" >&2
    exit 2
    ;;
esac
