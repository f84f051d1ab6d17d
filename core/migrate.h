/* Migrations: schema/NNN_name.sql applied in order, each in one transaction,
 * recorded with its SHA-256; a changed applied file is refused. */
#ifndef CORE_MIGRATE_H
#define CORE_MIGRATE_H

#include <stdio.h>
#include <libpq-fe.h>

struct migration {
    int version;
    char name[128];
    char checksum[65];
    char *sql;
};

struct migration_status {
    int applied;
    int pending;
    int changed; /* applied files whose content differs */
};

/* Reads schema_dir; fills a malloc'd array sorted by version. */
int migrate_load(const char *schema_dir, struct migration **out, int *n, char *err, size_t errlen);
void migrate_free(struct migration *m, int n);
int migrate_status(PGconn *c, const char *schema_dir, struct migration_status *st, FILE *report, char *err,
                   size_t errlen);
/* Applies pending migrations; returns the number applied or -1. */
int migrate_apply(PGconn *c, const char *schema_dir, FILE *report, char *err, size_t errlen);

#endif
