#include "his/his.h"
#include "core/db.h"
#include "core/log.h"
#include "core/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HIS_SRCDIR
#define HIS_SRCDIR "."
#endif

int his_db_open(const struct config *cfg, struct his_db *db, char *err, size_t errlen)
{
    memset(db, 0, sizeof(*db));
    const char *url = config_get(cfg, CFG_DATABASE_URL);
    if (url && *url) {
        snprintf(db->conninfo, sizeof db->conninfo, "%s", url);
        return 0;
    }
    if (pgembed_open(config_get(cfg, CFG_DATA_DIR), "his", &db->pg, err, errlen) < 0)
        return -1;
    db->embedded = true;
    snprintf(db->conninfo, sizeof db->conninfo, "%s", db->pg.conninfo);
    return 0;
}

void his_db_close(struct his_db *db)
{
    if (db->embedded)
        pgembed_close(&db->pg);
}

PGconn *his_command_connect(const struct config *cfg, struct his_db *db, bool need_current_schema)
{
    char err[2048];
    if (his_db_open(cfg, db, err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        return NULL;
    }
    PGconn *c = db_connect(db->conninfo, err, sizeof err);
    if (!c) {
        fprintf(stderr, "his: cannot connect to the database: %s\n", err);
        his_db_close(db);
        return NULL;
    }
    if (need_current_schema) {
        struct migration_status st;
        if (migrate_status(c, his_schema_dir(cfg), &st, NULL, err, sizeof err) < 0) {
            fprintf(stderr, "his: %s\n", err);
            his_command_close(c, db);
            return NULL;
        }
        if (st.pending || st.changed) {
            fprintf(stderr, "his: the database schema is not current; run `his db migrate` first\n");
            his_command_close(c, db);
            return NULL;
        }
    }
    return c;
}

void his_command_close(PGconn *c, struct his_db *db)
{
    PQfinish(c);
    his_db_close(db);
}

const char *his_schema_dir(const struct config *cfg)
{
    const char *d = config_get(cfg, CFG_SCHEMA_DIR);
    return d ? d : HIS_SRCDIR "/schema";
}

const char *his_web_dir(const struct config *cfg)
{
    const char *d = config_get(cfg, CFG_WEB_DIR);
    return d ? d : HIS_SRCDIR "/web";
}

int his_parse_args(int argc, char **argv, const enum config_key *keys, const char *usage, struct config *cfg,
                   const char **positional, int *npositional, const char *const *bool_flags, bool *bool_values)
{
    const char *flags[CFG__COUNT] = {0};
    int np = 0;
    memset(cfg, 0, sizeof(*cfg));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("%s\n", usage);
            config_print_help(keys);
            return 3;
        }
        int t = config_take_flag(keys, argc, argv, &i, flags);
        if (t < 0) {
            fprintf(stderr, "his: %s needs a value\n", a);
            return 2;
        }
        if (t > 0)
            continue;
        bool matched = false;
        for (int b = 0; bool_flags && bool_flags[b]; b++)
            if (strcmp(a, bool_flags[b]) == 0) {
                bool_values[b] = true;
                matched = true;
            }
        if (matched)
            continue;
        if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "his: unknown option %s (see --help)\n", a);
            return 2;
        }
        if (np >= 32) {
            fprintf(stderr, "his: too many arguments\n");
            return 2;
        }
        positional[np++] = a;
    }
    *npositional = np;
    config_apply_flags(cfg, flags);
    char err[512];
    if (config_load(cfg, flags[CFG_CONFIG_FILE], err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 2;
    }
    int lvl = log_parse_level(config_get(cfg, CFG_LOG_LEVEL));
    if (lvl >= 0)
        log_set_level((enum log_level)lvl);
    return 0;
}
