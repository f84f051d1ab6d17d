/* The embedded default: a private PostgreSQL cluster under DATA_DIR/pg,
 * created on first use, owned by the unprivileged user "postgres" when we run
 * as root (PostgreSQL refuses to run as root), reachable only through a unix
 * socket inside its own folder. */
#ifndef CORE_PGEMBED_H
#define CORE_PGEMBED_H

#include <stdbool.h>
#include <stddef.h>

struct pgembed {
    char root[4200];    /* the cluster folder (DATA_DIR/pg or a fallback) */
    char datadir[4300];
    char sockdir[4300];
    char logfile[4300];
    char bindir[512];
    char conninfo[4600];
    int port;           /* the running cluster's port (postmaster.pid): names its socket file */
    bool started_here;
};

/* Creates the cluster if needed and starts it if it is not running.
 * dbname: database to create if missing. */
int pgembed_open(const char *data_dir, const char *dbname, struct pgembed *pg, char *err, size_t errlen);
/* Stops the cluster if this process started it. */
void pgembed_close(struct pgembed *pg);
/* Runs a PostgreSQL program from the cluster's bin folder as the cluster's
 * owner; argv[0] is the program name. Returns its exit status. */
int pgembed_run(const struct pgembed *pg, const char *const *argv, bool quiet);
/* The port of the cluster running in datadir, from its postmaster.pid; 5432
 * (PostgreSQL's default) when it is not running or the file is unreadable.
 * The port also names the socket file (.s.PGSQL.PORT), and it is not always
 * 5432: a replication listener (his db replication-listen) sets it. */
int pgembed_port(const char *datadir);
/* Restarts the cluster (pg_ctl restart -m fast) and refreshes pg->port and
 * pg->conninfo, for settings that need a restart (listen_addresses, port). */
int pgembed_restart(struct pgembed *pg, const char *dbname, char *err, size_t errlen);

#endif
