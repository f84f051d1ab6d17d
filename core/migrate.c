#include "core/migrate.h"
#include "core/log.h"

#include <ctype.h>
#include <stdbool.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATION_MAX_BYTES (4 * 1024 * 1024)
#define MIGRATIONS_MAX 999

static int cmp_version(const void *a, const void *b);
static int ensure_table(PGconn *c, char *err, size_t errlen);
static void sha256_hex(const char *data, size_t len, char out[65]);
static int pub_snapshot(PGconn *c, char *err, size_t errlen);
static int pub_check(PGconn *c, const char *name, char *err, size_t errlen);
static void pub_refresh_subscriptions(PGconn *c);

static int cmp_version(const void *a, const void *b)
{
    return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_Digest(data, len, d, &dl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + i * 2, 3, "%02x", d[i]);
}

void migrate_free(struct migration *m, int n)
{
    for (int i = 0; i < n; i++)
        free(m[i].sql);
    free(m);
}

int migrate_load(const char *schema_dir, struct migration **out, int *n, char *err, size_t errlen)
{
    DIR *d = opendir(schema_dir);
    if (!d) {
        snprintf(err, errlen, "cannot open migrations folder %s", schema_dir);
        return -1;
    }
    struct migration *list = calloc(MIGRATIONS_MAX, sizeof(*list));
    int count = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        size_t l = strlen(nm);
        if (l < 9 || strcmp(nm + l - 4, ".sql") != 0 || !isdigit((unsigned char)nm[0]))
            continue;
        if (!isdigit((unsigned char)nm[1]) || !isdigit((unsigned char)nm[2]) || nm[3] != '_' || l >= sizeof list[0].name) {
            snprintf(err, errlen, "migration file %s is not named NNN_name.sql", nm);
            rc = -1;
            break;
        }
        if (count >= MIGRATIONS_MAX) {
            snprintf(err, errlen, "too many migrations");
            rc = -1;
            break;
        }
        struct migration *m = &list[count];
        m->version = atoi(nm);
        memcpy(m->name, nm, l + 1); /* length checked above */
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", schema_dir, nm);
        FILE *f = fopen(path, "rb");
        if (!f) {
            snprintf(err, errlen, "cannot read %s", path);
            rc = -1;
            break;
        }
        m->sql = malloc(MIGRATION_MAX_BYTES + 1);
        size_t got = fread(m->sql, 1, MIGRATION_MAX_BYTES + 1, f);
        fclose(f);
        count++;
        if (got > MIGRATION_MAX_BYTES) {
            snprintf(err, errlen, "migration %s is larger than 4 MiB", nm);
            rc = -1;
            break;
        }
        m->sql[got] = '\0';
        sha256_hex(m->sql, got, m->checksum);
    }
    closedir(d);
    if (rc < 0) {
        migrate_free(list, count);
        return -1;
    }
    qsort(list, (size_t)count, sizeof(*list), cmp_version);
    for (int i = 1; i < count; i++)
        if (list[i].version == list[i - 1].version) {
            snprintf(err, errlen, "two migrations share number %03d: %s and %s", list[i].version, list[i - 1].name,
                     list[i].name);
            migrate_free(list, count);
            return -1;
        }
    *out = list;
    *n = count;
    return 0;
}

static int ensure_table(PGconn *c, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SET client_min_messages = warning; "
                            "CREATE TABLE IF NOT EXISTS public.his_migrations ("
                            " version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                            " applied_at timestamptz NOT NULL DEFAULT now())");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        snprintf(err, errlen, "cannot create his_migrations: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* Compares files with what the database recorded. */
static int compare(PGconn *c, struct migration *list, int n, struct migration_status *st, char *applied, FILE *report,
                   char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT version, name, checksum FROM public.his_migrations ORDER BY version");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "cannot read his_migrations: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    memset(st, 0, sizeof(*st));
    for (int i = 0; i < PQntuples(r); i++) {
        int v = atoi(PQgetvalue(r, i, 0));
        const char *sum = PQgetvalue(r, i, 2);
        int found = -1;
        for (int k = 0; k < n; k++)
            if (list[k].version == v)
                found = k;
        if (found < 0) {
            if (report)
                fprintf(report, "applied %s has no file any more\n", PQgetvalue(r, i, 1));
            continue;
        }
        applied[found] = 1;
        st->applied++;
        if (strcmp(sum, list[found].checksum) != 0) {
            st->changed++;
            if (report)
                fprintf(report, "CHANGED %s: applied with checksum %.12s…, file now %.12s…\n", list[found].name, sum,
                        list[found].checksum);
        }
    }
    PQclear(r);
    for (int k = 0; k < n; k++)
        if (!applied[k]) {
            st->pending++;
            if (report)
                fprintf(report, "pending %s\n", list[k].name);
        }
    return 0;
}

int migrate_status(PGconn *c, const char *schema_dir, struct migration_status *st, FILE *report, char *err,
                   size_t errlen)
{
    struct migration *list;
    int n;
    if (migrate_load(schema_dir, &list, &n, err, errlen) < 0)
        return -1;
    if (ensure_table(c, err, errlen) < 0) {
        migrate_free(list, n);
        return -1;
    }
    char *applied = calloc((size_t)n + 1, 1);
    int rc = compare(c, list, n, st, applied, report, err, errlen);
    free(applied);
    migrate_free(list, n);
    return rc;
}

/* ---- Published tables (schema/008_province.sql, docs/province.md) --------
 * Districts and the province are migrated in any order, so a migration must
 * never make a published table unreadable for the other side: the columns
 * of published tables are noted before each migration and checked after it
 * (none dropped or renamed, new ones nullable or with a default); then
 * core.publication_sync() publishes newly registered tables and moves id
 * sequences into the node's range, all inside the migration's transaction.
 * Before migration 008 there is no publication and nothing is checked. */

static int exec_ok(PGconn *c, const char *sql, char *err, size_t errlen, const char *what)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType es = PQresultStatus(r);
    int ok = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errlen, "%s: %s", what, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

static int pub_snapshot(PGconn *c, char *err, size_t errlen)
{
    return exec_ok(c,
                   "CREATE TEMP TABLE his_pub_columns ON COMMIT DROP AS "
                   "SELECT pr.prrelid AS rel, pr.prrelid::regclass::text AS tbl, a.attname::text AS col "
                   "FROM pg_publication p JOIN pg_publication_rel pr ON pr.prpubid = p.oid "
                   "JOIN pg_attribute a ON a.attrelid = pr.prrelid AND a.attnum > 0 AND NOT a.attisdropped "
                   "WHERE p.pubname = 'his_district'",
                   err, errlen, "cannot note the published columns");
}

static int pub_check(PGconn *c, const char *name, char *err, size_t errlen)
{
    PGresult *r = PQexec(c,
                         "SELECT 'drops or renames ' || b.tbl || '.' || b.col FROM his_pub_columns b "
                         "WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = b.rel "
                         "                  AND a.attname = b.col AND NOT a.attisdropped) "
                         "UNION ALL "
                         "SELECT 'adds ' || t.tbl || '.' || a.attname || ' NOT NULL without a default' "
                         "FROM (SELECT DISTINCT rel, tbl FROM his_pub_columns) t "
                         "JOIN pg_attribute a ON a.attrelid = t.rel AND a.attnum > 0 AND NOT a.attisdropped "
                         "WHERE a.attnotnull AND NOT a.atthasdef AND NOT EXISTS "
                         "  (SELECT 1 FROM his_pub_columns b WHERE b.rel = t.rel AND b.col = a.attname) "
                         "LIMIT 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "cannot check the published columns after %s: %s", name, PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    if (PQntuples(r) > 0) {
        snprintf(err, errlen,
                 "migration %s %s, a published table: servers not yet migrated would stop replicating "
                 "(add columns nullable, drop only after every server stopped using them; see docs/province.md)",
                 name, PQgetvalue(r, 0, 0));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    r = PQexec(c, "SELECT to_regprocedure('core.publication_sync()') IS NOT NULL");
    bool has_sync = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!has_sync)
        return 0;
    char what[300];
    snprintf(what, sizeof what, "migration %s: cannot update the publication", name);
    return exec_ok(c, "SELECT core.publication_sync()", err, errlen, what);
}

/* On a subscriber (the province), tables a migration added on both sides
 * are picked up by refreshing each subscription; a district that cannot be
 * reached now is refreshed later (`his province refresh`). */
static void pub_refresh_subscriptions(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT s.subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid "
                            "WHERE d.datname = current_database() AND s.subenabled ORDER BY 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        char *id = PQescapeIdentifier(c, name, strlen(name));
        if (!id)
            continue;
        char sql[512];
        snprintf(sql, sizeof sql, "ALTER SUBSCRIPTION %s REFRESH PUBLICATION WITH (copy_data = true)", id);
        PQfreemem(id);
        PGresult *a = PQexec(c, sql);
        if (PQresultStatus(a) != PGRES_COMMAND_OK)
            log_warn("subscription %s not refreshed (run `his province refresh` later): %s", name,
                     PQresultErrorMessage(a));
        PQclear(a);
    }
    PQclear(r);
}

int migrate_apply(PGconn *c, const char *schema_dir, FILE *report, char *err, size_t errlen)
{
    struct migration *list;
    int n;
    if (migrate_load(schema_dir, &list, &n, err, errlen) < 0)
        return -1;
    if (ensure_table(c, err, errlen) < 0) {
        migrate_free(list, n);
        return -1;
    }
    /* One runner at a time across processes. */
    PQclear(PQexec(c, "SELECT pg_advisory_lock(727001)"));
    char *applied = calloc((size_t)n + 1, 1);
    struct migration_status st;
    int done = 0;
    if (compare(c, list, n, &st, applied, NULL, err, errlen) < 0) {
        done = -1;
        goto out;
    }
    if (st.changed) {
        struct migration_status tmp;
        char *dummy = calloc((size_t)n + 1, 1);
        FILE *mem = fmemopen(err, errlen, "w");
        if (mem) {
            fprintf(mem, "refusing to migrate: an applied migration was changed; restore it and add a new one instead. ");
            compare(c, list, n, &tmp, dummy, mem, err, errlen);
            fclose(mem);
        }
        free(dummy);
        done = -1;
        goto out;
    }
    for (int k = 0; k < n; k++) {
        if (applied[k])
            continue;
        PGresult *r = PQexec(c, "BEGIN");
        PQclear(r);
        if (pub_snapshot(c, err, errlen) < 0) {
            PQclear(PQexec(c, "ROLLBACK"));
            done = -1;
            goto out;
        }
        r = PQexec(c, list[k].sql);
        ExecStatusType es = PQresultStatus(r);
        if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
            snprintf(err, errlen, "migration %s failed: %s", list[k].name, PQresultErrorMessage(r));
            PQclear(r);
            PQclear(PQexec(c, "ROLLBACK"));
            done = -1;
            goto out;
        }
        PQclear(r);
        if (pub_check(c, list[k].name, err, errlen) < 0) {
            PQclear(PQexec(c, "ROLLBACK"));
            done = -1;
            goto out;
        }
        char ver[12];
        snprintf(ver, sizeof ver, "%d", list[k].version);
        const char *params[3] = {ver, list[k].name, list[k].checksum};
        r = PQexecParams(c, "INSERT INTO public.his_migrations (version, name, checksum) VALUES ($1::int, $2, $3)", 3,
                         NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "cannot record %s: %s", list[k].name, PQresultErrorMessage(r));
            PQclear(r);
            PQclear(PQexec(c, "ROLLBACK"));
            done = -1;
            goto out;
        }
        PQclear(r);
        r = PQexec(c, "COMMIT");
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "commit of %s failed: %s", list[k].name, PQresultErrorMessage(r));
            PQclear(r);
            done = -1;
            goto out;
        }
        PQclear(r);
        if (report)
            fprintf(report, "applied %s\n", list[k].name);
        done++;
    }
    if (done > 0)
        pub_refresh_subscriptions(c);
out:
    PQclear(PQexec(c, "SELECT pg_advisory_unlock(727001)"));
    free(applied);
    migrate_free(list, n);
    return done;
}
