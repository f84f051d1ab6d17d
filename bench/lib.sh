# Shared by the benchmark scripts: a private PostgreSQL cluster with durable
# settings (fsync on, as in production) and a running his serve.
bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_bin="$bench_top/build/run/his/his"

bench_start_cluster() {
    bench_pg=$(mktemp -d /tmp/his-bench-pg.XXXXXX)
    local bindir; bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    mkdir -p "$bench_pg/run"; chmod 755 "$bench_pg"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$bench_pg"
    local as=""; [ "$(id -u)" -eq 0 ] && as="runuser -u postgres --"
    $as "$bindir/initdb" -D "$bench_pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$bench_pg/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$bench_pg/run'
max_connections = 300
shared_buffers = 1GB
work_mem = 16MB
maintenance_work_mem = 512MB
max_wal_size = 8GB
checkpoint_timeout = 15min
wal_level = logical
timezone = 'Asia/Ho_Chi_Minh'
CONF
    $as "$bindir/pg_ctl" -D "$bench_pg/data" -l "$bench_pg/postgres.log" -w start >/dev/null
    bench_db="host=$bench_pg/run user=postgres dbname=postgres"
    bench_bindir=$bindir
    bench_as=$as
}

bench_stop_cluster() {
    [ -n "${bench_server_pid:-}" ] && kill "$bench_server_pid" 2>/dev/null && wait "$bench_server_pid" 2>/dev/null
    $bench_as "$bench_bindir/pg_ctl" -D "$bench_pg/data" -m fast -w stop >/dev/null 2>&1
    rm -rf "$bench_pg"
}

# bench_serve [extra args]: starts his serve on a free port; sets bench_url.
bench_serve() {
    local out; out=$(mktemp)
    "$bench_bin" serve --database-url "$bench_db" --listen 127.0.0.1:0 --migrate --log-level warn "$@" >"$out" 2>&1 &
    bench_server_pid=$!
    for _ in $(seq 1 100); do
        bench_url=$(grep -o 'http://[^ ]*' "$out" | head -1 | sed 's#/$##' || true)
        [ -n "$bench_url" ] && break
        sleep 0.1
    done
    [ -n "$bench_url" ] || { cat "$out"; return 1; }
}

bench_login() { # user -> token
    curl -s -X POST -H 'Content-Type: application/json' -d "{\"username\":\"$1\",\"password\":\"Demo@2026\"}" \
        "$bench_url/api/v1/auth/login" | sed -E 's/.*"token":"([^"]+)".*/\1/'
}
