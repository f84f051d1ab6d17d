# Shared by the clinical benchmarks (issue 4): a durable PostgreSQL cluster
# (fsync on, settings as bench/lib.sh) kept in one directory between runs, so
# bench/province_load.sh loads the generated province once and
# bench/clinical_latency.sh and bench/visit_writes.sh reuse it.
#   BENCH_PROVINCE_DIR  where the cluster lives (default /tmp/his-bench-province)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

province_dir=${BENCH_PROVINCE_DIR:-/tmp/his-bench-province}

province_as() { # runs a command as the cluster's owner
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# province_cluster_init: a fresh cluster (removes an old one).
province_cluster_init() {
    bench_bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    [ -d "$province_dir/data" ] && province_as "$bench_bindir/pg_ctl" -D "$province_dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$province_dir"
    mkdir -p "$province_dir/run"; chmod 755 "$province_dir"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$province_dir"
    province_as "$bench_bindir/initdb" -D "$province_dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$province_dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$province_dir/run'
max_connections = 300
shared_buffers = 1GB
work_mem = 16MB
maintenance_work_mem = 512MB
max_wal_size = 8GB
checkpoint_timeout = 15min
wal_level = logical
timezone = 'Asia/Ho_Chi_Minh'
CONF
    # fsync, synchronous_commit and full_page_writes stay at their defaults (on).
}

# province_cluster_start: starts the kept cluster; 1 when there is none.
province_cluster_start() {
    bench_bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    [ -d "$province_dir/data" ] || return 1
    province_as "$bench_bindir/pg_ctl" -D "$province_dir/data" -l "$province_dir/postgres.log" -w status >/dev/null 2>&1 ||
        province_as "$bench_bindir/pg_ctl" -D "$province_dir/data" -l "$province_dir/postgres.log" -w start >/dev/null
    bench_db="host=$province_dir/run user=postgres dbname=postgres"
    bench_psql="psql -h $province_dir/run -U postgres -d postgres -v ON_ERROR_STOP=1 -qAtX"
}

# province_cluster_stop: stops his serve (if started) and the cluster; keeps the data.
province_cluster_stop() {
    [ -n "${bench_server_pid:-}" ] && kill "$bench_server_pid" 2>/dev/null && wait "$bench_server_pid" 2>/dev/null
    bench_server_pid=
    province_as "$bench_bindir/pg_ctl" -D "$province_dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# province_ready: the kept cluster holds a loaded province (and its visits).
province_ready() {
    province_cluster_start || return 1
    [ "$($bench_psql -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'bench' AND tablename = 'loaded'" 2>/dev/null)" = 1 ]
}

# province_binary: the optimised build (scripts/build.sh run) or $HIS_BENCH_BIN,
# copied beside the cluster: a rebuild of build/run during a run changes nothing.
province_binary() {
    local src=${HIS_BENCH_BIN:-}
    if [ -z "$src" ]; then
        (cd "$bench_top" && scripts/build.sh run >/dev/null)
        src=$bench_top/build/run/his/his
    fi
    mkdir -p "$province_dir"
    cp "$src" "$province_dir/his.new" && mv "$province_dir/his.new" "$province_dir/his"
    bench_bin=$province_dir/his
}

# province_login user -> token (password Demo@2026)
province_login() { bench_login "$1"; }
