#include "core/pgembed.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG_OWNER "postgres"

static int find_bindir(char *out, size_t outlen);
static bool path_traversable_by_others(const char *path);
static int mkdir_p(const char *path, mode_t mode);
static int write_settings(const struct pgembed *pg);
static bool running(const struct pgembed *pg);

static int find_bindir(char *out, size_t outlen)
{
    const char *env = getenv("HIS_PG_BINDIR");
    if (env && *env) {
        snprintf(out, outlen, "%s", env);
        return 0;
    }
    /* Debian keeps server binaries out of PATH, one folder per major version;
     * take the newest. */
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
        const char *best = g.gl_pathv[g.gl_pathc - 1];
        snprintf(out, outlen, "%.*s", (int)(strlen(best) - strlen("/initdb")), best);
        globfree(&g);
        return 0;
    }
    globfree(&g);
    return -1;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* The cluster's owner must reach its folder: every ancestor needs o+x. */
static bool path_traversable_by_others(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (;;) {
        struct stat sb;
        if (stat(tmp, &sb) == 0 && !(sb.st_mode & S_IXOTH))
            return false;
        char *slash = strrchr(tmp, '/');
        if (!slash || slash == tmp)
            break;
        *slash = '\0';
    }
    return true;
}

static int run_argv(const struct pgembed *pg, const char *const *argv, bool quiet, bool as_owner)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (quiet) {
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0) {
                dup2(fd, 1);
                close(fd);
            }
        }
        char prog[1024];
        snprintf(prog, sizeof prog, "%s/%s", pg->bindir, argv[0]);
        int n = 0;
        while (argv[n])
            n++;
        const char **args = calloc((size_t)n + 5, sizeof(char *));
        int k = 0;
        if (as_owner && geteuid() == 0) {
            args[k++] = "runuser";
            args[k++] = "-u";
            args[k++] = PG_OWNER;
            args[k++] = "--";
        }
        args[k++] = prog;
        for (int i = 1; i < n; i++)
            args[k++] = argv[i];
        args[k] = NULL;
        if (chdir("/") != 0) { /* the owner may not read our cwd */
        }
        execvp(args[0], (char *const *)args);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int pgembed_run(const struct pgembed *pg, const char *const *argv, bool quiet)
{
    return run_argv(pg, argv, quiet, true);
}

static int write_settings(const struct pgembed *pg)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/postgresql.conf", pg->datadir);
    FILE *f = fopen(path, "a");
    if (!f)
        return -1;
    /* Unix socket only, in our own folder; sized for a district hospital on
     * a small server; wal_level logical so the province can subscribe. */
    fprintf(f, "\n# --- his embedded cluster ---\n"
               "listen_addresses = ''\n"
               "unix_socket_directories = '%s'\n"
               "unix_socket_permissions = 0700\n"
               "max_connections = 200\n"
               "shared_buffers = 256MB\n"
               "wal_level = logical\n"
               "max_wal_senders = 20\n"
               "max_replication_slots = 20\n"
               "logging_collector = off\n"
               "timezone = 'Asia/Ho_Chi_Minh'\n"
               "include_if_exists = 'his-local.conf'\n",
            pg->sockdir);
    fclose(f);
    /* Tests may ask for a cluster that trades durability for speed. */
    const char *fast = getenv("HIS_PG_FAST");
    if (fast && strcmp(fast, "1") == 0) {
        snprintf(path, sizeof path, "%s/his-local.conf", pg->datadir);
        f = fopen(path, "w");
        if (!f)
            return -1;
        fputs("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n", f);
        fclose(f);
    }
    return 0;
}

static bool running(const struct pgembed *pg)
{
    const char *argv[] = {"pg_ctl", "-D", pg->datadir, "status", NULL};
    return run_argv(pg, argv, true, true) == 0;
}

static int chown_owner(const char *path)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(PG_OWNER);
    if (!pw)
        return -1;
    return chown(path, pw->pw_uid, pw->pw_gid);
}

int pgembed_port(const char *datadir)
{
    /* postmaster.pid: pid, data folder, start time, port, socket folder, ... */
    char path[4400];
    snprintf(path, sizeof path, "%s/postmaster.pid", datadir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 5432;
    char line[4400];
    int port = 5432;
    for (int n = 1; fgets(line, sizeof line, f); n++)
        if (n == 4) {
            int p = atoi(line);
            if (p > 0 && p < 65536)
                port = p;
            break;
        }
    fclose(f);
    return port;
}

/* The socket conninfo; the port is named only when it is not the default, so
 * the string stays what it always was for a cluster without a listener. */
static void set_conninfo(struct pgembed *pg, const char *dbname)
{
    pg->port = pgembed_port(pg->datadir);
    if (pg->port == 5432)
        snprintf(pg->conninfo, sizeof pg->conninfo, "host=%s dbname=%s user=" PG_OWNER, pg->sockdir, dbname);
    else
        snprintf(pg->conninfo, sizeof pg->conninfo, "host=%s port=%d dbname=%s user=" PG_OWNER, pg->sockdir, pg->port,
                 dbname);
}

static int ensure_database(const struct pgembed *pg, const char *dbname, char *err, size_t errlen)
{
    char ci[4500];
    snprintf(ci, sizeof ci, "host=%s port=%d dbname=postgres user=" PG_OWNER " connect_timeout=10", pg->sockdir,
             pg->port);
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect to the embedded cluster: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    const char *params[1] = {dbname};
    PGresult *r = PQexecParams(c, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, params, NULL, NULL, 0);
    int exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    int rc = 0;
    if (!exists) {
        char *id = PQescapeIdentifier(c, dbname, strlen(dbname));
        char sql[512];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8'", id);
        PQfreemem(id);
        r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && !strstr(PQresultErrorMessage(r), "already exists")) {
            snprintf(err, errlen, "cannot create database %s: %s", dbname, PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

int pgembed_open(const char *data_dir, const char *dbname, struct pgembed *pg, char *err, size_t errlen)
{
    memset(pg, 0, sizeof(*pg));
    if (find_bindir(pg->bindir, sizeof pg->bindir) < 0) {
        snprintf(err, errlen, "PostgreSQL server binaries not found (apt-get install postgresql)");
        return -1;
    }
    if (mkdir_p(data_dir, 0755) < 0) {
        snprintf(err, errlen, "cannot create data folder %s: %s", data_dir, strerror(errno));
        return -1;
    }
    char abs[PATH_MAX];
    if (!realpath(data_dir, abs)) {
        snprintf(err, errlen, "cannot resolve %s", data_dir);
        return -1;
    }
    snprintf(pg->root, sizeof pg->root, "%s/pg", abs);
    if (geteuid() == 0 && !path_traversable_by_others(abs)) {
        /* The folder sits below a directory that "postgres" cannot enter
         * (such as /root): keep the cluster in a folder it can reach, tied to
         * this data dir by a hash of its path, and say so. */
        unsigned long h = 5381;
        for (const char *c = abs; *c; c++)
            h = h * 33 + (unsigned char)*c;
        snprintf(pg->root, sizeof pg->root, "/var/tmp/his-pg-%08lx", h & 0xffffffffUL);
        log_info("data dir %s is not reachable by the postgres user; cluster kept in %s", abs, pg->root);
    }
    snprintf(pg->datadir, sizeof pg->datadir, "%s/data", pg->root);
    snprintf(pg->sockdir, sizeof pg->sockdir, "%s/run", pg->root);
    snprintf(pg->logfile, sizeof pg->logfile, "%s/postgres.log", pg->root);
    if (mkdir_p(pg->root, 0700) < 0 || mkdir_p(pg->sockdir, 0700) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", pg->root, strerror(errno));
        return -1;
    }
    if (chown_owner(pg->root) < 0 || chown_owner(pg->sockdir) < 0) {
        snprintf(err, errlen, "cannot give %s to the postgres user", pg->root);
        return -1;
    }
    char pgver[4400];
    snprintf(pgver, sizeof pgver, "%s/PG_VERSION", pg->datadir);
    if (access(pgver, F_OK) != 0) {
        log_info("creating PostgreSQL cluster in %s", pg->datadir);
        const char *argv[] = {"initdb", "-D", pg->datadir, "-U", PG_OWNER, "--auth=trust", "-E", "UTF8",
                              "--locale=C.UTF-8", NULL};
        if (run_argv(pg, argv, true, true) != 0) {
            snprintf(err, errlen, "initdb failed for %s", pg->datadir);
            return -1;
        }
        if (write_settings(pg) < 0) {
            snprintf(err, errlen, "cannot write settings in %s", pg->datadir);
            return -1;
        }
    }
    if (!running(pg)) {
        const char *argv[] = {"pg_ctl", "-D", pg->datadir, "-l", pg->logfile, "-w", "-t", "60", "start", NULL};
        if (run_argv(pg, argv, true, true) != 0) {
            snprintf(err, errlen, "PostgreSQL did not start; see %s", pg->logfile);
            return -1;
        }
        pg->started_here = true;
    }
    set_conninfo(pg, dbname);
    if (ensure_database(pg, dbname, err, errlen) < 0) {
        pgembed_close(pg);
        return -1;
    }
    return 0;
}

int pgembed_restart(struct pgembed *pg, const char *dbname, char *err, size_t errlen)
{
    const char *argv[] = {"pg_ctl", "-D", pg->datadir, "-l", pg->logfile, "-m", "fast", "-w", "-t", "60", "restart", NULL};
    if (run_argv(pg, argv, true, true) != 0) {
        snprintf(err, errlen, "PostgreSQL did not restart; see %s", pg->logfile);
        return -1;
    }
    set_conninfo(pg, dbname);
    return 0;
}

void pgembed_close(struct pgembed *pg)
{
    if (!pg->started_here)
        return;
    const char *argv[] = {"pg_ctl", "-D", pg->datadir, "-m", "fast", "-w", "stop", NULL};
    run_argv(pg, argv, true, true);
    pg->started_here = false;
}
