/* Shared pieces of the `his` command-line program and server modules. */
#ifndef HIS_HIS_H
#define HIS_HIS_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

#include "core/config.h"
#include "core/pgembed.h"

/* An open database for a command: the embedded cluster or HIS_DATABASE_URL. */
struct his_db {
    struct pgembed pg;
    bool embedded;
    char conninfo[4700];
};

int his_db_open(const struct config *cfg, struct his_db *db, char *err, size_t errlen);
void his_db_close(struct his_db *db);
/* For one-shot commands: opens the database (embedded or configured) and
 * connects; with need_current_schema, refuses a database with pending or
 * changed migrations. Prints its own one-line error and returns NULL. */
PGconn *his_command_connect(const struct config *cfg, struct his_db *db, bool need_current_schema);
void his_command_close(PGconn *c, struct his_db *db);
const char *his_schema_dir(const struct config *cfg);
const char *his_web_dir(const struct config *cfg);

/* Common parsing for subcommands: fills cfg from the flags in keys plus the
 * environment and config file. Returns 0, 2 on a usage error (message
 * printed), or 3 when --help was printed (caller exits 0). Non-option
 * arguments are left in positional[] (at most 32). */
int his_parse_args(int argc, char **argv, const enum config_key *keys, const char *usage, struct config *cfg,
                   const char **positional, int *npositional, const char *const *bool_flags, bool *bool_values);

/* Subcommands */
int cmd_serve(int argc, char **argv);

/* his/maintenance.c: background upkeep of `his serve` (dashboard fold). */
struct app;
int maintenance_start(struct app *app);
void maintenance_stop(void);
int cmd_db(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_facility(int argc, char **argv);
int cmd_seed(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_catalog(int argc, char **argv);
int cmd_province(int argc, char **argv);
int cmd_routes(int argc, char **argv);

/* his/replication.c: the district's replication listener (TLS, his_replication).
 * repl_conninfo fills out with the TCP conninfo for the province and returns 1
 * when `his db replication-listen` configured data_dir, 0 when it did not, -1
 * (err filled) when its files are damaged. */
int repl_cmd_listen(int argc, char **argv);
int repl_conninfo(const char *data_dir, char *out, size_t outlen, char *err, size_t errlen);
/* Small file helpers shared with his/province.c: a whole file (at most 1 MB,
 * NUL-terminated; free it), and a write through a temporary file and rename,
 * owned by the cluster's user (postgres when root) with for_cluster. */
char *repl_read_file(const char *path, size_t *len);
int repl_write_file(const char *path, const char *data, size_t len, unsigned mode, bool for_cluster);

/* Route registration of every server module. */
void his_register_routes(void);

/* Seeding (his/seed.c): demo province and the benchmark generator. */
int seed_demo(PGconn *c, bool quiet, char *err, size_t errlen);
bool seed_demo_present(PGconn *c);

#endif
