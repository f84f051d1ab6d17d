/* Operations on the embedded cluster (issue 9 points 9-10), called from
 * cmd_db in his/admin.c:
 *
 *   his db backup  [--to DIR] [--data-dir D]        base backup + continuous WAL archiving
 *   his db restore --to TIMESTAMP [--from DIR] [--data-dir D]   point-in-time restore
 *   his db standby --from CONNINFO --data-dir D     a streaming hot standby (pg_basebackup -R)
 *   his db promote --data-dir D                     switch-over: fence the primary, catch up, promote
 *
 * Backup folder layout (default DATA_DIR/backups, meant to be on a second disk):
 *   DIR/wal/                      WAL segments copied by archive_command (continuous)
 *   DIR/base-YYYYMMDDTHHMMSS/     a plain-format base backup (pg_basebackup -Fp -X stream)
 *   DIR/base-YYYYMMDDTHHMMSS.info start_epoch/end_epoch of that backup (restore picks by end)
 *
 * Archiving is switched on by the first `his db backup` with ALTER SYSTEM
 * (archive_mode = on, archive_command, archive_timeout = 60s), which needs
 * one restart of PostgreSQL; later backups only change archive_command if
 * the folder changed. A configured external database (--database-url) is the
 * DBA's: see docs/deploy/district-hospital.md. */
#include "his/his.h"
#include "core/db.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG_OWNER "postgres"

static const enum config_key ops_keys[] = {CFG_DATA_DIR, CFG_DATABASE_URL, CFG_LOG_LEVEL, CFG_CONFIG_FILE, CFG__COUNT};

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static int find_bindir(char *out, size_t outlen)
{
    const char *env = getenv("HIS_PG_BINDIR");
    if (env && *env) {
        snprintf(out, outlen, "%s", env);
        return 0;
    }
    glob_t g;
    int rc = -1;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
        const char *best = g.gl_pathv[g.gl_pathc - 1];
        snprintf(out, outlen, "%.*s", (int)(strlen(best) - strlen("/initdb")), best);
        rc = 0;
    }
    globfree(&g);
    return rc;
}

/* Runs argv (argv[0] a full path or a name in PATH), as the cluster's owner
 * when we are root. Output to stderr unless quiet. */
static int run(const char *const *argv, bool quiet)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            if (quiet)
                dup2(fd, 2);
            close(fd);
        }
        const char *args[64];
        int k = 0;
        if (geteuid() == 0) {
            args[k++] = "runuser";
            args[k++] = "-u";
            args[k++] = PG_OWNER;
            args[k++] = "--";
        }
        for (int i = 0; argv[i] && k < 63; i++)
            args[k++] = argv[i];
        args[k] = NULL;
        if (chdir("/") != 0) {
        }
        execvp(args[0], (char *const *)args);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int chown_owner(const char *path)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(PG_OWNER);
    return pw ? chown(path, pw->pw_uid, pw->pw_gid) : -1;
}

static int mkdir_owned(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -1;
    return chown_owner(tmp);
}

/* Paths go into postgresql.conf strings and shell commands: keep them plain. */
static bool safe_path(const char *p)
{
    if (!p || p[0] != '/')
        return false;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("/._-+", *p)))
            return false;
    return true;
}

static PGresult *sql1(PGconn *c, const char *sql, const char *p1)
{
    const char *params[1] = {p1};
    return PQexecParams(c, sql, p1 ? 1 : 0, NULL, params, NULL, NULL, 0);
}

static bool sql_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "his: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

/* Through the cluster's socket; its port names the socket file and is read
 * each time, as a restart may have changed it (a replication listener). */
static PGconn *connect_socket(const struct pgembed *pg, const char *db)
{
    char ci[4600];
    snprintf(ci, sizeof ci, "host=%s port=%d dbname=%s user=" PG_OWNER " connect_timeout=10", pg->sockdir,
             pgembed_port(pg->datadir), db);
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int pg_ctl(const struct pgembed *pg, const char *action)
{
    char prog[700];
    snprintf(prog, sizeof prog, "%s/pg_ctl", pg->bindir);
    if (!strcmp(action, "stop")) {
        const char *argv[] = {prog, "-D", pg->datadir, "-m", "fast", "-w", "-t", "120", "stop", NULL};
        return run(argv, true);
    }
    const char *argv[] = {prog, "-D", pg->datadir, "-l", pg->logfile, "-w", "-t", "300", action, NULL};
    return run(argv, true);
}

/* Pulls "--name VALUE" out of argv; the rest goes to the common parser. */
static int take_flags(int argc, char **argv, const char *const *names, const char **values, char **rest, int *nrest)
{
    *nrest = 0;
    for (int i = 0; i < argc && *nrest < 63; i++) {
        int hit = -1;
        for (int k = 0; i > 0 && names[k]; k++)
            if (!strcmp(argv[i], names[k]))
                hit = k;
        if (hit >= 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "his: %s needs a value\n", argv[i]);
                return 2;
            }
            values[hit] = argv[++i];
        } else {
            rest[(*nrest)++] = argv[i];
        }
    }
    return 0;
}

static int resolve_dir(const char *in, char *out, size_t outlen)
{
    if (mkdir_owned(in) < 0)
        return -1;
    char abs[PATH_MAX];
    if (!realpath(in, abs))
        return -1;
    snprintf(out, outlen, "%s", abs);
    return 0;
}

static const char external_note[] =
    "his: --database-url names a database this program does not run: its backups, WAL archiving and\n"
    "standbys are set by its DBA (archive_mode = on, an archive_command to a second disk, pg_basebackup;\n"
    "see docs/deploy/district-hospital.md, \"External database\").\n";

/* ---- his db backup ------------------------------------------------------ */

int ops_backup(int argc, char **argv)
{
    static const char *const names[] = {"--to", NULL};
    const char *vals[1] = {NULL};
    char *rest[64];
    int nrest;
    if (take_flags(argc, argv, names, vals, rest, &nrest))
        return 2;
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(nrest, rest, ops_keys,
                            "Usage: his db backup [--to DIR] [--data-dir DIR]\n"
                            "Takes a base backup of the embedded cluster into DIR (default DATA_DIR/backups) and keeps\n"
                            "WAL archived there continuously (switched on by the first backup: one PostgreSQL restart).",
                            &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (config_get(&cfg, CFG_DATABASE_URL)) {
        fputs(external_note, stderr);
        return 2;
    }
    double t0 = now_s();
    char def[PATH_MAX], dir[PATH_MAX], wal[PATH_MAX + 8];
    snprintf(def, sizeof def, "%s/backups", config_get(&cfg, CFG_DATA_DIR));
    if (resolve_dir(vals[0] ? vals[0] : def, dir, sizeof dir) < 0 || !safe_path(dir)) {
        fprintf(stderr, "his: cannot use backup folder %s (absolute, letters, digits, / . _ - + only)\n",
                vals[0] ? vals[0] : def);
        return 1;
    }
    snprintf(wal, sizeof wal, "%s/wal", dir);
    if (mkdir_owned(wal) < 0) {
        fprintf(stderr, "his: cannot create %s: %s\n", wal, strerror(errno));
        return 1;
    }
    struct his_db db;
    char err[2048];
    if (his_db_open(&cfg, &db, err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    struct pgembed *pg = &db.pg;
    PGconn *c = connect_socket(pg, "postgres");
    if (!c) {
        fprintf(stderr, "his: cannot connect to the embedded cluster\n");
        his_db_close(&db);
        return 1;
    }
    char cmd[5 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "test ! -f %s/%%f && cp %%p %s/%%f.part && mv %s/%%f.part %s/%%f", wal, wal, wal, wal);
    PGresult *r = PQexec(c, "SELECT current_setting('archive_mode'), current_setting('archive_command')");
    bool mode_on = PQresultStatus(r) == PGRES_TUPLES_OK && !strcmp(PQgetvalue(r, 0, 0), "on");
    bool cmd_same = PQresultStatus(r) == PGRES_TUPLES_OK && !strcmp(PQgetvalue(r, 0, 1), cmd);
    PQclear(r);
    if (!mode_on || !cmd_same) {
        char *lit = PQescapeLiteral(c, cmd, strlen(cmd));
        char sql[6 * PATH_MAX];
        snprintf(sql, sizeof sql, "ALTER SYSTEM SET archive_command = %s", lit);
        PQfreemem(lit);
        if (!sql_ok(c, "ALTER SYSTEM SET archive_mode = 'on'") || !sql_ok(c, sql) ||
            !sql_ok(c, "ALTER SYSTEM SET archive_timeout = '60s'") || !sql_ok(c, "SELECT pg_reload_conf()")) {
            PQfinish(c);
            his_db_close(&db);
            return 1;
        }
        if (!mode_on) {
            /* archive_mode takes effect only at server start. */
            PQfinish(c);
            printf("his: WAL archiving to %s switched on; restarting PostgreSQL once\n", wal);
            fflush(stdout);
            if (pg_ctl(pg, "restart") != 0) {
                fprintf(stderr, "his: PostgreSQL did not restart; see %s\n", pg->logfile);
                his_db_close(&db);
                return 1;
            }
            c = connect_socket(pg, "postgres");
            if (!c) {
                fprintf(stderr, "his: cannot connect after the restart\n");
                his_db_close(&db);
                return 1;
            }
        } else {
            printf("his: WAL archiving now goes to %s\n", wal);
        }
    }
    r = PQexec(c, "SELECT extract(epoch FROM now())::float8, to_char(now(), 'YYYYMMDD\"T\"HH24MISS')");
    double start_epoch = atof(PQgetvalue(r, 0, 0));
    char name[64];
    snprintf(name, sizeof name, "base-%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    char base[PATH_MAX + 80];
    snprintf(base, sizeof base, "%s/%s", dir, name);
    char prog[700];
    snprintf(prog, sizeof prog, "%s/pg_basebackup", pg->bindir);
    char port[16];
    snprintf(port, sizeof port, "%d", pgembed_port(pg->datadir));
    const char *bargv[] = {prog, "-h", pg->sockdir, "-p", port, "-U", PG_OWNER, "-D", base, "-Fp", "-X", "stream",
                           "-c", "fast", "-l", name, NULL};
    if (run(bargv, false) != 0) {
        fprintf(stderr, "his: pg_basebackup failed\n");
        PQfinish(c);
        his_db_close(&db);
        return 1;
    }
    r = PQexec(c, "SELECT extract(epoch FROM now())::float8, now()::text, pg_size_pretty(sum(pg_database_size(oid))) FROM pg_database");
    double end_epoch = atof(PQgetvalue(r, 0, 0));
    char info[PATH_MAX + 200];
    snprintf(info, sizeof info, "%s.info", base);
    FILE *f = fopen(info, "w");
    if (f) {
        fprintf(f, "start_epoch=%.6f\nend_epoch=%.6f\nend_time=%s\n", start_epoch, end_epoch, PQgetvalue(r, 0, 1));
        fclose(f);
        chown_owner(info);
    }
    printf("his: base backup %s done in %.1f s (databases %s); WAL archived continuously to %s\n", base,
           now_s() - t0, PQgetvalue(r, 0, 2), wal);
    PQclear(r);
    /* Close the backup's last segment now rather than at archive_timeout. */
    PQclear(PQexec(c, "SELECT pg_switch_wal()"));
    PQfinish(c);
    his_db_close(&db);
    return 0;
}

/* ---- his db restore ----------------------------------------------------- */

static bool safe_timestamp(const char *t)
{
    if (!t || !*t || strlen(t) > 60)
        return false;
    for (; *t; t++)
        if (!((*t >= '0' && *t <= '9') || strchr(" :.+-TZ", *t)))
            return false;
    return true;
}

/* Waits until the archiver has copied segment `seg` (or a later one). */
static bool wait_archived(PGconn *c, const char *seg, int timeout_s)
{
    for (int i = 0; i < timeout_s * 10; i++) {
        PGresult *r = sql1(c, "SELECT coalesce(last_archived_wal, '') >= $1 FROM pg_stat_archiver", seg);
        bool done = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (done)
            return true;
        usleep(100000);
    }
    return false;
}

int ops_restore(int argc, char **argv)
{
    static const char *const names[] = {"--to", "--from", NULL};
    const char *vals[2] = {NULL, NULL};
    char *rest[64];
    int nrest;
    if (take_flags(argc, argv, names, vals, rest, &nrest))
        return 2;
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(nrest, rest, ops_keys,
                            "Usage: his db restore --to TIMESTAMP [--from DIR] [--data-dir DIR]\n"
                            "Point-in-time restore of the embedded cluster: a new data folder from the last base backup\n"
                            "in DIR (default DATA_DIR/backups) finished before TIMESTAMP, WAL replayed up to TIMESTAMP\n"
                            "(e.g. '2026-03-01 10:15:00+07'), then promoted. The old data folder is kept beside it.\n"
                            "Stop `his serve` first.",
                            &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (config_get(&cfg, CFG_DATABASE_URL)) {
        fputs(external_note, stderr);
        return 2;
    }
    const char *target = vals[0];
    if (!safe_timestamp(target)) {
        fprintf(stderr, "his db restore: --to needs a timestamp such as '2026-03-01 10:15:00+07'\n");
        return 2;
    }
    double t0 = now_s();
    char def[PATH_MAX], dir[PATH_MAX];
    snprintf(def, sizeof def, "%s/backups", config_get(&cfg, CFG_DATA_DIR));
    if (!realpath(vals[1] ? vals[1] : def, dir) || !safe_path(dir)) {
        fprintf(stderr, "his: no backup folder %s\n", vals[1] ? vals[1] : def);
        return 1;
    }
    struct his_db db;
    char err[2048];
    bool old_up = his_db_open(&cfg, &db, err, sizeof err) == 0;
    struct pgembed *pg = &db.pg;
    if (!pg->datadir[0]) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    bool started_here = old_up && pg->started_here;
    double target_epoch = -1;
    if (old_up) {
        /* Parse the target with the server's own rules and time zone, and
         * push the WAL up to now into the archive. */
        PGconn *c = connect_socket(pg, "postgres");
        if (c) {
            PGresult *r = sql1(c, "SELECT extract(epoch FROM $1::timestamptz)::float8, $1::timestamptz > now()", target);
            if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                fprintf(stderr, "his: not a timestamp: %s", PQresultErrorMessage(r));
                PQclear(r);
                PQfinish(c);
                his_db_close(&db);
                return 2;
            }
            target_epoch = atof(PQgetvalue(r, 0, 0));
            bool future = PQgetvalue(r, 0, 1)[0] == 't';
            PQclear(r);
            if (future) {
                fprintf(stderr, "his: %s is in the future\n", target);
                PQfinish(c);
                his_db_close(&db);
                return 2;
            }
            r = PQexec(c, "SELECT pg_walfile_name(pg_switch_wal()), current_setting('archive_mode')");
            if (PQresultStatus(r) == PGRES_TUPLES_OK) {
                if (strcmp(PQgetvalue(r, 0, 1), "on") != 0)
                    fprintf(stderr, "his: warning: WAL archiving is off (no `his db backup` yet?)\n");
                else if (!wait_archived(c, PQgetvalue(r, 0, 0), 60))
                    fprintf(stderr, "his: warning: the last WAL segment %s is not archived yet; the restore may stop "
                                    "short of the target\n", PQgetvalue(r, 0, 0));
            }
            PQclear(r);
            PQfinish(c);
        }
    } else {
        fprintf(stderr, "his: the current cluster does not start (%s); restoring anyway\n", err);
    }
    /* The newest base backup finished at or before the target. */
    char best[PATH_MAX + 300] = "";
    double best_end = -1;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "base-", 5) != 0 || n < 6 || strcmp(e->d_name + n - 5, ".info") != 0)
            continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        double end = -1;
        char line[200];
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "end_epoch=", 10))
                end = atof(line + 10);
        if (f)
            fclose(f);
        if (end < 0 || (target_epoch >= 0 && end > target_epoch) || end <= best_end)
            continue;
        best_end = end;
        snprintf(best, sizeof best, "%s/%.*s", dir, (int)(n - 5), e->d_name);
    }
    if (d)
        closedir(d);
    if (!best[0]) {
        fprintf(stderr, "his: no base backup in %s finished before %s\n", dir, target);
        his_db_close(&db);
        return 1;
    }
    if (old_up && pg_ctl(pg, "stop") != 0) {
        fprintf(stderr, "his: cannot stop PostgreSQL\n");
        return 1;
    }
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32], aside[4400 + 64];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
    snprintf(aside, sizeof aside, "%s.before-restore-%s", pg->datadir, stamp);
    if (rename(pg->datadir, aside) != 0 && errno != ENOENT) {
        fprintf(stderr, "his: cannot move %s aside: %s\n", pg->datadir, strerror(errno));
        return 1;
    }
    const char *cp[] = {"cp", "-a", best, pg->datadir, NULL};
    if (run(cp, false) != 0) {
        fprintf(stderr, "his: cannot copy %s (the old data folder is %s)\n", best, aside);
        return 1;
    }
    char path[4400 + 64];
    snprintf(path, sizeof path, "%s/postgresql.auto.conf", pg->datadir);
    FILE *f = fopen(path, "a");
    if (!f) {
        fprintf(stderr, "his: cannot write %s\n", path);
        return 1;
    }
    fprintf(f, "# his db restore %s\nrestore_command = 'cp %s/wal/%%f %%p'\nrecovery_target_time = '%s'\n"
               "recovery_target_action = 'promote'\nrecovery_target_timeline = 'current'\n",
            stamp, dir, target);
    fclose(f);
    snprintf(path, sizeof path, "%s/recovery.signal", pg->datadir);
    f = fopen(path, "w");
    if (f)
        fclose(f);
    chown_owner(path);
    if (pg_ctl(pg, "start") != 0) {
        fprintf(stderr, "his: recovery did not start; see %s (the old data folder is %s)\n", pg->logfile, aside);
        return 1;
    }
    PGconn *c = NULL;
    bool promoted = false;
    for (int i = 0; i < 3000 && !promoted; i++) {
        if (!c)
            c = connect_socket(pg, "postgres");
        if (c) {
            PGresult *r = PQexec(c, "SELECT NOT pg_is_in_recovery()");
            promoted = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
            PQclear(r);
        }
        if (!promoted)
            usleep(100000);
    }
    if (!promoted) {
        fprintf(stderr, "his: recovery did not reach %s; see %s (the old data folder is %s)\n", target, pg->logfile, aside);
        if (c)
            PQfinish(c);
        return 1;
    }
    sql_ok(c, "ALTER SYSTEM RESET restore_command");
    sql_ok(c, "ALTER SYSTEM RESET recovery_target_time");
    sql_ok(c, "ALTER SYSTEM RESET recovery_target_action");
    sql_ok(c, "ALTER SYSTEM RESET recovery_target_timeline");
    sql_ok(c, "SELECT pg_reload_conf()");
    PQfinish(c);
    printf("his: restored to %s from %s in %.1f s; the old data folder is kept in %s\n"
           "his: take a new base backup (`his db backup`) once the restored data is checked\n",
           target, best, now_s() - t0, aside);
    if (!started_here) /* it was running before: leave it running */
        return 0;
    pg_ctl(pg, "stop");
    return 0;
}

/* ---- his db standby ----------------------------------------------------- */

int ops_standby(int argc, char **argv)
{
    static const char *const names[] = {"--from", NULL};
    const char *vals[1] = {NULL};
    char *rest[64];
    int nrest;
    if (take_flags(argc, argv, names, vals, rest, &nrest))
        return 2;
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(nrest, rest, ops_keys,
                            "Usage: his db standby --from CONNINFO --data-dir DIR\n"
                            "Makes DIR a streaming hot standby of the primary at CONNINFO (a role with REPLICATION,\n"
                            "e.g. the output of `his db conninfo` on the primary) and starts it. It answers read-only\n"
                            "queries (reports) and becomes the primary with `his db promote --data-dir DIR`.",
                            &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (!vals[0]) {
        fprintf(stderr, "his db standby: needs --from CONNINFO\n");
        return 2;
    }
    struct pgembed pg;
    memset(&pg, 0, sizeof pg);
    if (find_bindir(pg.bindir, sizeof pg.bindir) < 0) {
        fprintf(stderr, "his: PostgreSQL server binaries not found\n");
        return 1;
    }
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s/pg", config_get(&cfg, CFG_DATA_DIR));
    if (resolve_dir(root, pg.root, sizeof pg.root) < 0 || !safe_path(pg.root)) {
        fprintf(stderr, "his: cannot use %s\n", root);
        return 1;
    }
    snprintf(pg.datadir, sizeof pg.datadir, "%s/data", pg.root);
    snprintf(pg.sockdir, sizeof pg.sockdir, "%s/run", pg.root);
    snprintf(pg.logfile, sizeof pg.logfile, "%s/postgres.log", pg.root);
    char pgver[4400];
    snprintf(pgver, sizeof pgver, "%s/PG_VERSION", pg.datadir);
    if (access(pgver, F_OK) == 0) {
        fprintf(stderr, "his: %s holds a cluster already\n", pg.datadir);
        return 1;
    }
    if (mkdir_owned(pg.sockdir) < 0) {
        fprintf(stderr, "his: cannot create %s\n", pg.sockdir);
        return 1;
    }
    double t0 = now_s();
    char prog[700];
    snprintf(prog, sizeof prog, "%s/pg_basebackup", pg.bindir);
    const char *bargv[] = {prog, "-d", vals[0], "-D", pg.datadir, "-Fp", "-X", "stream", "-c", "fast", "-R", NULL};
    if (run(bargv, false) != 0) {
        fprintf(stderr, "his: pg_basebackup from the primary failed\n");
        return 1;
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/postgresql.auto.conf", pg.datadir);
    FILE *f = fopen(path, "a");
    if (!f) {
        fprintf(stderr, "his: cannot write %s\n", path);
        return 1;
    }
    /* Its own socket (and the default port: a primary's replication
     * listener, copied with its settings, is not the standby's); reports may
     * run long: feedback keeps the primary from removing rows they still
     * read. No archiving from a standby: after a promotion, `his db backup`
     * switches it on for the new primary. */
    fprintf(f, "# his db standby\nlisten_addresses = ''\nport = 5432\nunix_socket_directories = '%s'\nhot_standby = on\n"
               "hot_standby_feedback = on\narchive_mode = 'off'\n",
            pg.sockdir);
    fclose(f);
    if (pg_ctl(&pg, "start") != 0) {
        fprintf(stderr, "his: the standby did not start; see %s\n", pg.logfile);
        return 1;
    }
    bool streaming = false;
    PGconn *c = NULL;
    for (int i = 0; i < 300 && !streaming; i++) {
        if (!c)
            c = connect_socket(&pg, "postgres");
        if (c) {
            PGresult *r = PQexec(c, "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'");
            streaming = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) > 0;
            PQclear(r);
        }
        if (!streaming)
            usleep(100000);
    }
    if (c)
        PQfinish(c);
    if (!streaming) {
        fprintf(stderr, "his: the standby runs but is not streaming yet; see %s\n", pg.logfile);
        return 1;
    }
    printf("his: standby streaming in %s (%.1f s); read-only conninfo: host=%s dbname=his user=" PG_OWNER "\n",
           pg.datadir, now_s() - t0, pg.sockdir);
    return 0;
}

/* ---- his db promote ----------------------------------------------------- */

/* Switch-over with no acknowledged write lost: (1) fence the primary: new
 * transactions read-only (ALTER SYSTEM default_transaction_read_only) and
 * every other client session ended, so nothing more is acknowledged there;
 * (2) pg_switch_wal() on the primary: flushes all WAL (also commits
 * acknowledged under synchronous_commit = off) and gives the LSN that
 * covers every acknowledged commit; (3) wait until the standby has
 * replayed up to that LSN; (4) promote. If the primary cannot be reached
 * (it is down: a failover, not a switch-over), the standby is promoted as
 * it is and the command says what it had replayed. */
int ops_promote(int argc, char **argv)
{
    struct config cfg;
    const char *pos[32];
    int np;
    static const char *const bools[] = {"--force", NULL};
    bool bv[1] = {false};
    int rc = his_parse_args(argc, argv, ops_keys,
                            "Usage: his db promote --data-dir DIR [--force]\n"
                            "Promotes the standby in DIR. If its primary answers, it is first fenced (read-only, sessions\n"
                            "ended) and the standby waits to replay everything the primary acknowledged; then the\n"
                            "standby becomes the primary. --force: promote without waiting for the primary.",
                            &cfg, pos, &np, bools, bv);
    if (rc)
        return rc == 3 ? 0 : rc;
    struct his_db db;
    char err[2048];
    if (config_get(&cfg, CFG_DATABASE_URL)) {
        fputs(external_note, stderr);
        return 2;
    }
    if (his_db_open(&cfg, &db, err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    struct pgembed *pg = &db.pg;
    double t0 = now_s();
    PGconn *s = connect_socket(pg, "postgres");
    if (!s) {
        fprintf(stderr, "his: cannot connect to the standby\n");
        his_db_close(&db);
        return 1;
    }
    PGresult *r = PQexec(s, "SELECT pg_is_in_recovery(), current_setting('primary_conninfo')");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQgetvalue(r, 0, 0)[0] != 't') {
        fprintf(stderr, "his: %s is not a standby\n", pg->datadir);
        PQclear(r);
        PQfinish(s);
        his_db_close(&db);
        return 1;
    }
    char primary[4096];
    snprintf(primary, sizeof primary, "%s connect_timeout=5", PQgetvalue(r, 0, 1));
    PQclear(r);
    PGconn *p = bv[0] ? NULL : PQconnectdb(primary);
    if (p && PQstatus(p) != CONNECTION_OK) {
        fprintf(stderr, "his: the primary does not answer (%s); promoting without catching up\n", PQerrorMessage(p));
        PQfinish(p);
        p = NULL;
    }
    if (p) {
        /* replication=... in primary_conninfo is not there: a normal session. */
        if (!sql_ok(p, "ALTER SYSTEM SET default_transaction_read_only = on") || !sql_ok(p, "SELECT pg_reload_conf()")) {
            PQfinish(p);
            PQfinish(s);
            his_db_close(&db);
            return 1;
        }
        /* Sessions that read the old setting are ended; their open
         * transactions roll back (never acknowledged). The reload reaches
         * backends at their next command; wait a moment first. */
        usleep(200000);
        sql_ok(p, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                  "AND pid <> pg_backend_pid()");
        r = PQexec(p, "SELECT pg_switch_wal()::text");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "his: pg_switch_wal on the primary: %s", PQresultErrorMessage(r));
            PQclear(r);
            PQfinish(p);
            PQfinish(s);
            his_db_close(&db);
            return 1;
        }
        char lsn[64];
        snprintf(lsn, sizeof lsn, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        PQfinish(p);
        bool caught_up = false;
        for (int i = 0; i < 1200 && !caught_up; i++) {
            r = sql1(s, "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn);
            caught_up = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
            PQclear(r);
            if (!caught_up)
                usleep(50000);
        }
        if (!caught_up) {
            fprintf(stderr, "his: the standby did not replay up to %s within 60 s; not promoted (the primary stays "
                            "read-only: ALTER SYSTEM RESET default_transaction_read_only there to undo)\n", lsn);
            PQfinish(s);
            his_db_close(&db);
            return 1;
        }
        printf("his: primary fenced (read-only) and replayed up to %s\n", lsn);
    }
    r = PQexec(s, "SELECT pg_promote(true, 60)");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
    if (!ok)
        fprintf(stderr, "his: pg_promote failed: %s", PQresultErrorMessage(r));
    PQclear(r);
    if (ok) {
        /* The copied settings may carry the old primary's fence. */
        sql_ok(s, "ALTER SYSTEM RESET default_transaction_read_only");
        sql_ok(s, "SELECT pg_reload_conf()");
        r = PQexec(s, "SELECT pg_current_wal_lsn()::text");
        printf("his: %s promoted in %.1f s at %s; it is the primary now. Rebuild the old primary as a standby of it\n"
               "     (`his db standby --from ...`) or stop it: it stays read-only.\n",
               pg->datadir, now_s() - t0, PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "?");
        PQclear(r);
    }
    PQfinish(s);
    his_db_close(&db);
    return ok ? 0 : 1;
}
