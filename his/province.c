/* The provincial data link (issue 8 points 1, 2, 5, 7), on PostgreSQL's own
 * logical replication. Every server publishes its clinical tables in the
 * publication his_district (schema/008_province.sql); the provincial server
 * subscribes to each district:
 *
 *   his province node --code CODE          this server's node identity (once)
 *   his province add-district --code CODE --conninfo CONNINFO
 *   his province status [--json]           each subscription's state and lag
 *   his province remove-district --code CODE
 *   his province refresh                   pick up tables a migration added
 *
 * and GET /api/v1/patients/{id}/shared-history lets a doctor read, read-only
 * and audited with its reason, the records other facilities hold for a
 * patient referred to (or seen in emergency at) the reader's facility.
 * `his seed demo --province` builds the demo province on one machine.
 * See docs/province.md for the design. */
#include "his/his.h"
#include "his/modules.h"
#include "core/handler.h"
#include "core/log.h"
#include "core/migrate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROV_PUBLICATION "his_district"
#define PROV_REPL_ROLE "his_replication"
#define PROV_SYNC_WAIT_S 300

static const enum config_key prov_keys[] = {CFG_DATA_DIR, CFG_DATABASE_URL, CFG_SCHEMA_DIR, CFG_LOG_LEVEL,
                                            CFG_CONFIG_FILE, CFG__COUNT};

int seed_demo(PGconn *c, bool quiet, char *err, size_t errlen);

/* ---- small helpers ------------------------------------------------------ */

static bool prov_code_valid(const char *code)
{
    if (!code || strlen(code) != 5 || !isdigit((unsigned char)code[0]) || !isdigit((unsigned char)code[1]))
        return false;
    for (int i = 2; i < 5; i++)
        if (!isdigit((unsigned char)code[i]) && !isupper((unsigned char)code[i]))
            return false;
    return true;
}

/* "district_19010": subscription and slot name (lower case, as PostgreSQL
 * folds unquoted names and slot names must be lower case). */
static void prov_sub_name(const char *code, char out[32])
{
    snprintf(out, 32, "district_%s", code);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

static PGresult *prov_q(PGconn *c, const char *sql, int n, const char *const *params)
{
    return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
}

static bool prov_ok(PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* Runs one statement; on error fills err and returns -1. */
static int prov_exec(PGconn *c, const char *sql, int n, const char *const *params, char *err, size_t errlen)
{
    PGresult *r = prov_q(c, sql, n, params);
    int rc = prov_ok(r) ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    size_t l = strlen(err);
    while (rc < 0 && l > 0 && (err[l - 1] == '\n' || err[l - 1] == ' '))
        err[--l] = '\0';
    return rc;
}

/* Pulls "--NAME VALUE" options listed in names out of argv; the rest (with
 * argv[0]) goes to rest for the common parser. Returns -1 on a missing value. */
static int prov_take_opts(int argc, char **argv, const char *const *names, const char **values, char **rest,
                          int *nrest)
{
    *nrest = 0;
    for (int i = 0; i < argc && *nrest < 62; i++) {
        int k = -1;
        for (int j = 0; i > 0 && names[j]; j++)
            if (!strcmp(argv[i], names[j]))
                k = j;
        if (k < 0) {
            rest[(*nrest)++] = argv[i];
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "his: %s needs a value\n", argv[i]);
            return -1;
        }
        values[k] = argv[++i];
    }
    rest[*nrest] = NULL;
    return 0;
}

/* The conninfo with connect_timeout added when missing, so a district that
 * cannot be reached fails a command in seconds instead of hanging. */
static char *prov_with_timeout(const char *conninfo)
{
    char *err = NULL;
    PQconninfoOption *o = PQconninfoParse(conninfo, &err);
    if (!o) {
        PQfreemem(err);
        return NULL;
    }
    bool has = false;
    for (PQconninfoOption *p = o; p->keyword; p++)
        if (!strcmp(p->keyword, "connect_timeout") && p->val && *p->val)
            has = true;
    PQconninfoFree(o);
    size_t n = strlen(conninfo) + 32;
    char *out = malloc(n);
    snprintf(out, n, has ? "%s" : "%s connect_timeout=10", conninfo);
    return out;
}

/* A replication conninfo from the server's own: user his_replication, no
 * password (set it with PGPASSFILE or add it), TLS required over TCP. */
int prov_replication_conninfo(const char *conninfo, char *out, size_t outlen)
{
    char *err = NULL;
    PQconninfoOption *o = PQconninfoParse(conninfo, &err);
    if (!o) {
        PQfreemem(err);
        return -1;
    }
    size_t len = 0;
    out[0] = '\0';
    bool tcp = false;
    for (PQconninfoOption *p = o; p->keyword; p++) {
        if (!p->val || !*p->val || !strcmp(p->keyword, "user") || !strcmp(p->keyword, "password") ||
            !strcmp(p->keyword, "sslmode"))
            continue;
        if ((!strcmp(p->keyword, "host") || !strcmp(p->keyword, "hostaddr")) && p->val[0] != '/')
            tcp = true;
        len += (size_t)snprintf(out + len, len < outlen ? outlen - len : 0, "%s%s='", len ? " " : "", p->keyword);
        for (const char *v = p->val; *v; v++) {
            if (*v == '\'' || *v == '\\')
                len += (size_t)snprintf(out + len, len < outlen ? outlen - len : 0, "\\");
            len += (size_t)snprintf(out + len, len < outlen ? outlen - len : 0, "%c", *v);
        }
        len += (size_t)snprintf(out + len, len < outlen ? outlen - len : 0, "'");
    }
    PQconninfoFree(o);
    len += (size_t)snprintf(out + len, len < outlen ? outlen - len : 0, " user=" PROV_REPL_ROLE "%s",
                            tcp ? " sslmode=require" : "");
    return len < outlen ? 0 : -1;
}

/* ---- his province node ---------------------------------------------------- */

static int prov_node_set(PGconn *c, const char *code, char *err, size_t errlen)
{
    const char *p[1] = {code};
    return prov_exec(c, "SELECT core.node_set($1)", 1, p, err, errlen);
}

static int cmd_node(int argc, char **argv)
{
    static const char *const names[] = {"--code", NULL};
    const char *vals[1] = {NULL};
    char *rest[64];
    int nrest;
    if (prov_take_opts(argc, argv, names, vals, rest, &nrest) < 0)
        return 2;
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(nrest, rest, prov_keys,
                            "Usage: his province node [--code CODE]\n"
                            "Shows this server's node identity, or sets it (once, before any clinical data):\n"
                            "the facility code of its hospital. Ids of published rows come from the node's range.",
                            &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (vals[0] && !prov_code_valid(vals[0])) {
        fprintf(stderr, "his: --code must be a facility code: 5 characters, two digits then digits or capitals\n");
        return 1;
    }
    struct his_db db;
    PGconn *c = his_command_connect(&cfg, &db, true);
    if (!c)
        return 1;
    char err[1024] = "";
    rc = 0;
    if (vals[0] && prov_node_set(c, vals[0], err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        rc = 1;
    }
    PGresult *r = PQexec(c, "SELECT code, number, number * core.node_range_size() FROM core.node");
    if (rc == 0 && prov_ok(r) && PQntuples(r) == 1)
        printf("node %s (number %s): ids of published tables from %s\n", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
               PQgetvalue(r, 0, 2));
    else if (rc == 0)
        printf("no node identity set (a single server needs none)\n");
    PQclear(r);
    his_command_close(c, &db);
    return rc;
}

/* ---- his province add-district ------------------------------------------ */

/* The district must have its node identity, equal to the code given, and
 * its facility ids must be the province's: they are the keys replicated
 * rows point at. Facilities the province lacks are registered here. */
static int prov_check_district(PGconn *c, PGconn *d, const char *code, char *err, size_t errlen)
{
    PGresult *r = PQexec(d, "SELECT code FROM core.node");
    if (!prov_ok(r)) {
        snprintf(err, errlen, "cannot read the district's node identity (schema not migrated, or the role lacks "
                              "SELECT on core.node): %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    if (PQntuples(r) == 0 || strcmp(PQgetvalue(r, 0, 0), code) != 0) {
        snprintf(err, errlen, "the server at that conninfo is %s%s, not %s; run `his province node --code %s` there first",
                 PQntuples(r) ? "node " : "a server without node identity", PQntuples(r) ? PQgetvalue(r, 0, 0) : "",
                 code, code);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    r = PQexec(c, "SELECT code FROM core.node");
    bool same = prov_ok(r) && PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), code);
    bool none = prov_ok(r) && PQntuples(r) == 0;
    PQclear(r);
    if (same || none) {
        snprintf(err, errlen, same ? "this server is node %s itself" : "this server has no node identity; run `his province node --code CODE` here first (%s)", code);
        return -1;
    }
    r = PQexec(d, "SELECT id, code, name, level, province_code, commune_code FROM core.facilities ORDER BY id");
    if (!prov_ok(r)) {
        snprintf(err, errlen, "cannot read the district's facilities: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        const char *p[5] = {PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                            PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4),
                            PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5)};
        PGresult *x = prov_q(c,
                             "WITH ins AS (INSERT INTO core.facilities (code, name, level, province_code, commune_code) "
                             "  VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code) DO NOTHING RETURNING id) "
                             "SELECT id FROM ins UNION ALL SELECT id FROM core.facilities WHERE code = $1",
                             5, p);
        if (!prov_ok(x) || PQntuples(x) < 1) {
            snprintf(err, errlen, "cannot register facility %s here: %s", p[0], PQresultErrorMessage(x));
            rc = -1;
        } else if (strcmp(PQgetvalue(x, 0, 0), PQgetvalue(r, i, 0)) != 0) {
            snprintf(err, errlen, "facility %s has id %s at the district and %s here: ids must come from codes "
                                  "(facilities registered before migration 008 keep old ids; see docs/province.md)",
                     p[0], PQgetvalue(r, i, 0), PQgetvalue(x, 0, 0));
            rc = -1;
        }
        PQclear(x);
    }
    PQclear(r);
    return rc;
}

/* The subscription's conninfo is used by the province's apply worker, which
 * runs as the cluster's user (postgres): a sslrootcert it cannot read (under
 * /root, say) would fail every connection. On the embedded cluster the file
 * is copied into the cluster folder, owned by that user, and the string
 * points at the copy. Returns a malloc'd conninfo, or NULL with err. */
static char *prov_keep_rootcert(const struct pgembed *pg, const char *code, const char *conninfo, char *err,
                                size_t errlen)
{
    char *e = NULL;
    PQconninfoOption *o = PQconninfoParse(conninfo, &e);
    if (!o) {
        PQfreemem(e);
        snprintf(err, errlen, "--conninfo is not a valid libpq connection string");
        return NULL;
    }
    const char *root = NULL;
    for (PQconninfoOption *p = o; p->keyword; p++)
        if (!strcmp(p->keyword, "sslrootcert") && p->val && *p->val && strcmp(p->val, "system") != 0)
            root = p->val;
    char copy[4400] = "";
    if (root && pg) {
        size_t n;
        char *pem = repl_read_file(root, &n);
        snprintf(copy, sizeof copy, "%s/district-%s-root.crt", pg->root, code);
        if (!pem || !strstr(pem, "-----BEGIN CERTIFICATE-----")) {
            snprintf(err, errlen, "cannot read a PEM certificate from sslrootcert %s", root);
            free(pem);
            PQconninfoFree(o);
            return NULL;
        }
        int rc = repl_write_file(copy, pem, n, 0644, true);
        free(pem);
        if (rc < 0) {
            snprintf(err, errlen, "cannot write %s", copy);
            PQconninfoFree(o);
            return NULL;
        }
    }
    if (!copy[0]) {
        PQconninfoFree(o);
        return strdup(conninfo);
    }
    /* Rebuilt from the parsed options, each value quoted for libpq. */
    size_t cap = strlen(conninfo) * 2 + sizeof copy + 64, len = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    for (PQconninfoOption *p = o; p->keyword; p++) {
        if (!p->val || !*p->val)
            continue;
        const char *v = copy[0] && !strcmp(p->keyword, "sslrootcert") ? copy : p->val;
        len += (size_t)snprintf(out + len, cap - len, "%s%s='", len ? " " : "", p->keyword);
        for (; *v; v++)
            len += (size_t)snprintf(out + len, cap - len, "%s%c", *v == '\'' || *v == '\\' ? "\\" : "", *v);
        len += (size_t)snprintf(out + len, cap - len, "'");
    }
    PQconninfoFree(o);
    return out;
}

static int prov_add_district(PGconn *c, const struct pgembed *pg, const char *code, const char *conninfo, bool quiet,
                             char *err, size_t errlen)
{
    char sub[32];
    prov_sub_name(code, sub);
    const char *p1[1] = {sub};
    PGresult *r = prov_q(c, "SELECT 1 FROM pg_subscription WHERE subname = $1", 1, p1);
    bool exists = prov_ok(r) && PQntuples(r) > 0;
    PQclear(r);
    if (exists) {
        snprintf(err, errlen, "district %s is added already (subscription %s)", code, sub);
        return -1;
    }
    char *ci = prov_with_timeout(conninfo);
    if (!ci) {
        snprintf(err, errlen, "--conninfo is not a valid libpq connection string");
        return -1;
    }
    PGconn *d = PQconnectdb(ci);
    if (PQstatus(d) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot reach the district: %s", PQerrorMessage(d));
        PQfinish(d);
        free(ci);
        return -1;
    }
    int rc = prov_check_district(c, d, code, err, errlen);
    PQfinish(d);
    char *kept = rc == 0 ? prov_keep_rootcert(pg, code, ci, err, errlen) : NULL;
    if (rc == 0 && !kept)
        rc = -1;
    if (rc == 0) {
        free(ci);
        ci = kept;
        char *id = PQescapeIdentifier(c, sub, strlen(sub));
        char *lit = PQescapeLiteral(c, ci, strlen(ci));
        size_t n = strlen(lit) + 256;
        char *sql = malloc(n);
        /* copy_data: the district's history comes with the first sync;
         * from then on the slot at the district keeps every change until
         * the province confirms it, so an outage loses nothing. */
        snprintf(sql, n, "CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION " PROV_PUBLICATION
                         " WITH (copy_data = true)", id, lit);
        rc = prov_exec(c, sql, 0, NULL, err, errlen);
        free(sql);
        PQfreemem(id);
        PQfreemem(lit);
    }
    free(ci);
    if (rc == 0 && !quiet)
        printf("district %s added: subscription %s, first copy under way (see `his province status`)\n", code, sub);
    return rc;
}

static int cmd_add_district(int argc, char **argv)
{
    static const char *const names[] = {"--code", "--conninfo", NULL};
    const char *vals[2] = {NULL, NULL};
    char *rest[64];
    int nrest;
    if (prov_take_opts(argc, argv, names, vals, rest, &nrest) < 0)
        return 2;
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(nrest, rest, prov_keys,
                            "Usage: his province add-district --code CODE --conninfo CONNINFO\n"
                            "On the provincial server: subscribes to the district's publication (subscription\n"
                            "district_<code>, first copy of its data included). CONNINFO: `his db conninfo --replication`\n"
                            "on the district (user his_replication; over TCP with sslmode=verify-full and a password,\n"
                            "after `his db replication-listen` there). Its sslrootcert is copied into this server's\n"
                            "embedded cluster folder, where the replication worker (user postgres) can read it.",
                            &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (!vals[0] || !vals[1] || np) {
        fprintf(stderr, "his province add-district: needs --code CODE --conninfo CONNINFO\n");
        return 2;
    }
    if (!prov_code_valid(vals[0])) {
        fprintf(stderr, "his: --code must be a facility code: 5 characters, two digits then digits or capitals\n");
        return 1;
    }
    struct his_db db;
    PGconn *c = his_command_connect(&cfg, &db, true);
    if (!c)
        return 1;
    char err[2048] = "";
    rc = prov_add_district(c, db.embedded ? &db.pg : NULL, vals[0], vals[1], false, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "his: %s\n", err);
    his_command_close(c, &db);
    return rc < 0 ? 1 : 0;
}

/* ---- his province remove-district ----------------------------------------- */

/* Deletes the rows that came from node `code`: those whose key lies in the
 * node's range, in every published table, in one transaction. Replica mode
 * so foreign keys between the district's rows do not dictate an order and
 * the province's ordinary triggers stay quiet, as they did on arrival
 * (ENABLE ALWAYS triggers, such as rollups, see the deletes). */
static long long prov_delete_node_rows(PGconn *c, const char *code, char *err, size_t errlen)
{
    if (prov_exec(c, "BEGIN", 0, NULL, err, errlen) < 0)
        return -1;
    if (prov_exec(c, "SET LOCAL session_replication_role = replica", 0, NULL, err, errlen) < 0)
        goto fail;
    PGresult *t = PQexec(c, "SELECT format('DELETE FROM %s WHERE %I >= $1::bigint AND %I < $2::bigint', "
                            "              pr.prrelid::regclass, a.attname, a.attname) "
                            "FROM pg_publication p JOIN pg_publication_rel pr ON pr.prpubid = p.oid "
                            "JOIN pg_index i ON i.indrelid = pr.prrelid AND i.indisprimary "
                            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
                            "WHERE p.pubname = '" PROV_PUBLICATION "' ORDER BY pr.prrelid::regclass::text");
    if (!prov_ok(t)) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(t));
        PQclear(t);
        goto fail;
    }
    const char *p[1] = {code};
    PGresult *rg = prov_q(c, "SELECT core.facility_number($1) * core.node_range_size(), "
                             "(core.facility_number($1) + 1) * core.node_range_size()", 1, p);
    if (!prov_ok(rg)) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(rg));
        PQclear(rg);
        PQclear(t);
        goto fail;
    }
    const char *range[2] = {PQgetvalue(rg, 0, 0), PQgetvalue(rg, 0, 1)};
    long long total = 0;
    for (int i = 0; i < PQntuples(t); i++) {
        PGresult *d = prov_q(c, PQgetvalue(t, i, 0), 2, range);
        if (!prov_ok(d)) {
            snprintf(err, errlen, "%s", PQresultErrorMessage(d));
            PQclear(d);
            PQclear(rg);
            PQclear(t);
            goto fail;
        }
        total += atoll(PQcmdTuples(d));
        PQclear(d);
    }
    PQclear(rg);
    PQclear(t);
    if (prov_exec(c, "COMMIT", 0, NULL, err, errlen) < 0)
        return -1;
    return total;
fail:
    PQclear(PQexec(c, "ROLLBACK"));
    return -1;
}

static int prov_remove_district(PGconn *c, const char *code, char *err, size_t errlen)
{
    char sub[32];
    prov_sub_name(code, sub);
    const char *p1[1] = {sub};
    PGresult *r = prov_q(c, "SELECT 1 FROM pg_subscription WHERE subname = $1", 1, p1);
    bool exists = prov_ok(r) && PQntuples(r) > 0;
    PQclear(r);
    if (exists) {
        char *id = PQescapeIdentifier(c, sub, strlen(sub));
        char sql[256];
        snprintf(sql, sizeof sql, "ALTER SUBSCRIPTION %s DISABLE", id);
        if (prov_exec(c, sql, 0, NULL, err, errlen) < 0) {
            PQfreemem(id);
            return -1;
        }
        snprintf(sql, sizeof sql, "DROP SUBSCRIPTION %s", id);
        if (prov_exec(c, sql, 0, NULL, err, errlen) < 0) {
            /* The district cannot be reached to drop its slot: let the slot
             * go from here and say what to do there. */
            log_warn("cannot drop the slot at the district (%s); drop it there: "
                     "SELECT pg_drop_replication_slot('%s')", err, sub);
            snprintf(sql, sizeof sql, "ALTER SUBSCRIPTION %s SET (slot_name = NONE)", id);
            char sql2[256];
            snprintf(sql2, sizeof sql2, "DROP SUBSCRIPTION %s", id);
            if (prov_exec(c, sql, 0, NULL, err, errlen) < 0 || prov_exec(c, sql2, 0, NULL, err, errlen) < 0) {
                PQfreemem(id);
                return -1;
            }
        }
        PQfreemem(id);
    }
    long long n = prov_delete_node_rows(c, code, err, errlen);
    if (n < 0)
        return -1;
    printf("district %s removed: %s, %lld row(s) from it deleted\n", code,
           exists ? "subscription dropped" : "no subscription", n);
    return 0;
}

static int cmd_remove_district(int argc, char **argv)
{
    static const char *const names[] = {"--code", NULL};
    const char *vals[1] = {NULL};
    char *rest[64];
    int nrest;
    if (prov_take_opts(argc, argv, names, vals, rest, &nrest) < 0)
        return 2;
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(nrest, rest, prov_keys,
                            "Usage: his province remove-district --code CODE\n"
                            "Drops the district's subscription and deletes the rows that came from it, so that\n"
                            "add-district rebuilds them from the district.",
                            &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (!vals[0] || np || !prov_code_valid(vals[0])) {
        fprintf(stderr, "his province remove-district: needs --code CODE (a facility code)\n");
        return 2;
    }
    struct his_db db;
    PGconn *c = his_command_connect(&cfg, &db, true);
    if (!c)
        return 1;
    char err[2048] = "";
    rc = prov_remove_district(c, vals[0], err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "his: %s\n", err);
    his_command_close(c, &db);
    return rc < 0 ? 1 : 0;
}

/* ---- his province status / refresh -------------------------------------- */

/* The lag as the district sees it: WAL bytes written since the position the
 * province confirmed, and the walsender's replay lag. Read through the
 * subscription's own conninfo (the replication role may read both). */
static void prov_remote_lag(const char *conninfo, const char *slot, json_t *row)
{
    char *ci = prov_with_timeout(conninfo);
    PGconn *d = ci ? PQconnectdb(ci) : NULL;
    free(ci);
    if (!d || PQstatus(d) != CONNECTION_OK) {
        json_object_set_new(row, "district_reachable", json_false());
        PQfinish(d);
        return;
    }
    json_object_set_new(row, "district_reachable", json_true());
    const char *p[1] = {slot};
    PGresult *r = prov_q(d,
                         "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint, "
                         "       extract(epoch FROM r.replay_lag)::float8 "
                         "FROM pg_replication_slots s "
                         "LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid "
                         "WHERE s.slot_name = $1",
                         1, p);
    if (prov_ok(r) && PQntuples(r) == 1) {
        if (!PQgetisnull(r, 0, 0))
            json_object_set_new(row, "lag_bytes", json_integer(atoll(PQgetvalue(r, 0, 0))));
        if (!PQgetisnull(r, 0, 1))
            json_object_set_new(row, "replay_lag_s", json_real(atof(PQgetvalue(r, 0, 1))));
    } else {
        json_object_set_new(row, "slot_missing", json_true());
    }
    PQclear(r);
    PQfinish(d);
}

static json_t *prov_status_json(PGconn *c, bool remote)
{
    PGresult *r = PQexec(c,
                         "SELECT s.subname, s.subenabled, coalesce(s.subslotname, ''), s.subconninfo, "
                         "  (SELECT count(*) FROM pg_subscription_rel x WHERE x.srsubid = s.oid), "
                         "  (SELECT count(*) FROM pg_subscription_rel x WHERE x.srsubid = s.oid AND x.srsubstate = 'r'), "
                         "  w.pid IS NOT NULL, "
                         "  to_char(w.last_msg_receipt_time, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), "
                         "  extract(epoch FROM now() - w.last_msg_receipt_time)::float8, "
                         "  w.received_lsn::text, w.latest_end_lsn::text "
                         "FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid AND d.datname = current_database() "
                         "LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL "
                         "ORDER BY s.subname");
    json_t *arr = json_array();
    if (!prov_ok(r)) {
        PQclear(r);
        return arr;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        const char *name = PQgetvalue(r, i, 0);
        char code[16] = "";
        if (!strncmp(name, "district_", 9))
            snprintf(code, sizeof code, "%s", name + 9);
        for (char *p = code; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        long tables = atol(PQgetvalue(r, i, 4)), ready = atol(PQgetvalue(r, i, 5));
        bool enabled = PQgetvalue(r, i, 1)[0] == 't', running = PQgetvalue(r, i, 6)[0] == 't';
        const char *state = !enabled ? "disabled" : !running ? "down" : ready < tables ? "syncing" : "streaming";
        json_object_set_new(o, "district", json_string(code));
        json_object_set_new(o, "subscription", json_string(name));
        json_object_set_new(o, "state", json_string(state));
        json_object_set_new(o, "tables", json_integer(tables));
        json_object_set_new(o, "tables_ready", json_integer(ready));
        if (!PQgetisnull(r, i, 7)) {
            json_object_set_new(o, "last_message_at", json_string(PQgetvalue(r, i, 7)));
            json_object_set_new(o, "last_message_age_s", json_real(atof(PQgetvalue(r, i, 8))));
        }
        if (!PQgetisnull(r, i, 9))
            json_object_set_new(o, "received_lsn", json_string(PQgetvalue(r, i, 9)));
        if (remote && *PQgetvalue(r, i, 2))
            prov_remote_lag(PQgetvalue(r, i, 3), PQgetvalue(r, i, 2), o);
        json_array_append_new(arr, o);
    }
    PQclear(r);
    return arr;
}

static void prov_print_status(json_t *arr)
{
    printf("%-8s %-16s %-10s %-7s %-12s %-10s %s\n", "district", "subscription", "state", "tables", "lag_bytes",
           "replay_lag", "last_message");
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        char tables[32], lag[32] = "?", rl[32] = "-", last[64] = "-";
        snprintf(tables, sizeof tables, "%lld/%lld", (long long)json_integer_value(json_object_get(o, "tables_ready")),
                 (long long)json_integer_value(json_object_get(o, "tables")));
        if (json_object_get(o, "lag_bytes"))
            snprintf(lag, sizeof lag, "%lld", (long long)json_integer_value(json_object_get(o, "lag_bytes")));
        else if (json_is_false(json_object_get(o, "district_reachable")))
            snprintf(lag, sizeof lag, "unreachable");
        if (json_object_get(o, "replay_lag_s"))
            snprintf(rl, sizeof rl, "%.3fs", json_real_value(json_object_get(o, "replay_lag_s")));
        if (json_object_get(o, "last_message_age_s"))
            snprintf(last, sizeof last, "%.1fs ago", json_real_value(json_object_get(o, "last_message_age_s")));
        printf("%-8s %-16s %-10s %-7s %-12s %-10s %s\n", json_string_value(json_object_get(o, "district")),
               json_string_value(json_object_get(o, "subscription")), json_string_value(json_object_get(o, "state")),
               tables, lag, rl, last);
    }
}

static int cmd_status(int argc, char **argv)
{
    struct config cfg;
    const char *pos[32];
    int np;
    static const char *const bools[] = {"--json", "--local", NULL};
    bool bv[2] = {false, false};
    int rc = his_parse_args(argc, argv, prov_keys,
                            "Usage: his province status [--json] [--local]\n"
                            "Each district subscription: state (streaming, syncing, down, disabled), tables ready,\n"
                            "lag in WAL bytes and replay time as the district sees it (--local: do not contact\n"
                            "the districts), and the age of the last message received.",
                            &cfg, pos, &np, bools, bv);
    if (rc)
        return rc == 3 ? 0 : rc;
    struct his_db db;
    PGconn *c = his_command_connect(&cfg, &db, true);
    if (!c)
        return 1;
    json_t *arr = prov_status_json(c, !bv[1]);
    his_command_close(c, &db);
    if (bv[0]) {
        char *s = json_dumps(arr, JSON_COMPACT);
        puts(s);
        free(s);
    } else if (json_array_size(arr) == 0) {
        printf("no districts (his province add-district --code CODE --conninfo CONNINFO)\n");
    } else {
        prov_print_status(arr);
    }
    json_decref(arr);
    return 0;
}

static int prov_refresh_all(PGconn *c, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT s.subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid "
                            "WHERE d.datname = current_database() AND s.subenabled ORDER BY 1");
    if (!prov_ok(r)) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int failed = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        char *id = PQescapeIdentifier(c, name, strlen(name));
        char sql[256];
        snprintf(sql, sizeof sql, "ALTER SUBSCRIPTION %s REFRESH PUBLICATION WITH (copy_data = true)", id);
        PQfreemem(id);
        if (prov_exec(c, sql, 0, NULL, err, errlen) < 0) {
            fprintf(stderr, "his: %s not refreshed: %s\n", name, err);
            failed++;
        } else {
            printf("%s refreshed\n", name);
        }
    }
    PQclear(r);
    return failed ? -1 : 0;
}

static int cmd_refresh(int argc, char **argv)
{
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(argc, argv, prov_keys,
                            "Usage: his province refresh\n"
                            "Subscribes to tables the districts' migrations added to their publication\n"
                            "(ALTER SUBSCRIPTION ... REFRESH PUBLICATION, with their first copy).",
                            &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    struct his_db db;
    PGconn *c = his_command_connect(&cfg, &db, true);
    if (!c)
        return 1;
    char err[1024] = "";
    rc = prov_refresh_all(c, err, sizeof err);
    his_command_close(c, &db);
    return rc < 0 ? 1 : 0;
}

int cmd_province(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
        const char *summary;
    } sub[] = {
        {"node", cmd_node, "show or set this server's node identity (--code CODE)"},
        {"add-district", cmd_add_district, "subscribe to a district (--code CODE --conninfo CONNINFO)"},
        {"status", cmd_status, "each district's subscription state and lag"},
        {"remove-district", cmd_remove_district, "drop a district's subscription and its rows"},
        {"refresh", cmd_refresh, "pick up tables added to the districts' publication"},
        {NULL, NULL, NULL},
    };
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "Usage: his province SUBCOMMAND [ARGS...]\n");
        for (int i = 0; sub[i].name; i++)
            fprintf(out, "  %-16s %s\n", sub[i].name, sub[i].summary);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; sub[i].name; i++)
        if (!strcmp(argv[1], sub[i].name))
            return sub[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "his province: unknown subcommand '%s'\n", argv[1]);
    return 2;
}

/* ---- the demo province (his seed demo --site / --province) -------------- */

/* Which demo facilities each demo server hosts: a district hospital with
 * its commune stations (and, for 19010, the private pharmacy), and the
 * provincial hospital with the health department. */
struct prov_site {
    const char *node;
    const char *facilities[4];
};

static const struct prov_site prov_sites[] = {
    {"19010", {"19010", "19101", "19201", NULL}},
    {"19020", {"19020", "19102", NULL, NULL}},
    {"19001", {"19001", "19000", NULL, NULL}},
    {NULL, {NULL, NULL, NULL, NULL}},
};

static const struct prov_site *prov_site_of(const char *code)
{
    for (const struct prov_site *s = prov_sites; s->node; s++)
        if (!strcmp(s->node, code))
            return s;
    return NULL;
}

/* Keeps only the hosted facilities' data: the full demo is seeded, then
 * every row of another facility in a table holding facility data is
 * deleted (replica mode: no order imposed by foreign keys, and the
 * append-only triggers of version tables do not object). */
static int prov_trim_site(PGconn *c, const struct prov_site *s, char *err, size_t errlen)
{
    char list[128] = "{";
    for (int i = 0; s->facilities[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "," : "", s->facilities[i]);
    snprintf(list + strlen(list), sizeof list - strlen(list), "}");
    if (prov_exec(c, "BEGIN", 0, NULL, err, errlen) < 0)
        return -1;
    if (prov_exec(c, "SET LOCAL session_replication_role = replica", 0, NULL, err, errlen) < 0)
        goto fail;
    PGresult *t = PQexec(c, "SELECT format('DELETE FROM %I.%I WHERE facility_id <> ALL "
                            "  (SELECT id FROM core.facilities WHERE code = ANY ($1::text[]))', n.nspname, c.relname) "
                            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'facility_id' "
                            "WHERE c.relkind = 'r' AND (n.nspname IN ('clinical', 'pharmacy', 'claims', 'hl7') "
                            "                           OR (n.nspname = 'core' AND c.relname = 'outbox')) "
                            "ORDER BY 1");
    if (!prov_ok(t)) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(t));
        PQclear(t);
        goto fail;
    }
    const char *p[1] = {list};
    for (int i = 0; i < PQntuples(t); i++)
        if (prov_exec(c, PQgetvalue(t, i, 0), 1, p, err, errlen) < 0) {
            PQclear(t);
            goto fail;
        }
    PQclear(t);
    return prov_exec(c, "COMMIT", 0, NULL, err, errlen);
fail:
    PQclear(PQexec(c, "ROLLBACK"));
    return -1;
}

/* One server of the demo province: node identity, the demo data, then only
 * its own facilities' part of it. Refused for a code that is not a demo
 * server, and on a database that holds data already. */
int prov_seed_site(PGconn *c, const char *code, bool quiet, char *err, size_t errlen)
{
    const struct prov_site *s = prov_site_of(code);
    if (!s) {
        snprintf(err, errlen, "demo sites are 19010, 19020 (districts) and 19001 (province), not %s", code);
        return -1;
    }
    if (seed_demo_present(c)) {
        snprintf(err, errlen, "demo data is present already");
        return -1;
    }
    if (prov_node_set(c, code, err, errlen) < 0 || seed_demo(c, quiet, err, errlen) < 0 ||
        prov_trim_site(c, s, err, errlen) < 0)
        return -1;
    if (!quiet)
        printf("demo site %s: node set, data of other sites removed\n", code);
    return 0;
}

static int prov_wait_synced(PGconn *c, int seconds)
{
    for (int i = 0; i < seconds * 2; i++) {
        PGresult *r = PQexec(c, "SELECT count(*) FILTER (WHERE srsubstate <> 'r'), count(*) FROM pg_subscription_rel");
        bool done = prov_ok(r) && atol(PQgetvalue(r, 0, 0)) == 0 && atol(PQgetvalue(r, 0, 1)) > 0;
        PQclear(r);
        if (done)
            return 0;
        usleep(500000);
    }
    return -1;
}

/* One demo server's cluster under DATA_DIR/province/<code>, migrated and
 * seeded; the cluster is left running for `his serve` and the province. */
static PGconn *prov_demo_server(const struct config *cfg, const char *base, const char *code, struct his_db *db,
                                char *err, size_t errlen)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/province/%s", base, code);
    memset(db, 0, sizeof *db);
    if (pgembed_open(dir, "his", &db->pg, err, errlen) < 0)
        return NULL;
    db->embedded = true;
    snprintf(db->conninfo, sizeof db->conninfo, "%s", db->pg.conninfo);
    PGconn *c = db_connect(db->conninfo, err, errlen);
    if (!c)
        return NULL;
    if (migrate_apply(c, his_schema_dir(cfg), NULL, err, errlen) < 0) {
        PQfinish(c);
        return NULL;
    }
    if (!seed_demo_present(c)) {
        printf("seeding %s ...\n", code);
        fflush(stdout);
        if (prov_seed_site(c, code, true, err, errlen) < 0) {
            PQfinish(c);
            return NULL;
        }
    }
    return c;
}

int prov_seed_demo_province(const struct config *cfg)
{
    const char *base = config_get(cfg, CFG_DATA_DIR);
    if (config_get(cfg, CFG_DATABASE_URL)) {
        fprintf(stderr, "his: --province builds its own clusters under DATA_DIR/province; leave out --database-url\n");
        return 1;
    }
    char err[2048] = "";
    static const char *const districts[] = {"19010", "19020"};
    char repl[2][4800];
    for (int i = 0; i < 2; i++) {
        struct his_db db;
        PGconn *c = prov_demo_server(cfg, base, districts[i], &db, err, sizeof err);
        if (!c) {
            fprintf(stderr, "his: district %s: %s\n", districts[i], err);
            return 1;
        }
        PQfinish(c);
        if (prov_replication_conninfo(db.conninfo, repl[i], sizeof repl[i]) < 0) {
            fprintf(stderr, "his: cannot build the replication conninfo of %s\n", districts[i]);
            return 1;
        }
    }
    struct his_db pdb;
    PGconn *c = prov_demo_server(cfg, base, "19001", &pdb, err, sizeof err);
    if (!c) {
        fprintf(stderr, "his: province 19001: %s\n", err);
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        char sub[32];
        prov_sub_name(districts[i], sub);
        const char *p[1] = {sub};
        PGresult *r = prov_q(c, "SELECT 1 FROM pg_subscription WHERE subname = $1", 1, p);
        bool exists = prov_ok(r) && PQntuples(r) > 0;
        PQclear(r);
        if (!exists && prov_add_district(c, &pdb.pg, districts[i], repl[i], false, err, sizeof err) < 0) {
            fprintf(stderr, "his: district %s not added: %s\n", districts[i], err);
            PQfinish(c);
            return 1;
        }
    }
    printf("waiting for the first copy of the districts' data ...\n");
    fflush(stdout);
    if (prov_wait_synced(c, PROV_SYNC_WAIT_S) < 0)
        fprintf(stderr, "his: the first copy is still running; see `his province status --data-dir %s/province/19001`\n",
                base);
    PQfinish(c);
    printf("demo province ready (clusters left running):\n"
           "  province: his serve --data-dir %s/province/19001 --listen 127.0.0.1:8080   (syt.thu, bs.tinh)\n"
           "  district: his serve --data-dir %s/province/19010 --listen 127.0.0.1:8081   (bs.an)\n"
           "  district: his serve --data-dir %s/province/19020 --listen 127.0.0.1:8082   (bs.binh)\n"
           "  password Demo@2026; replication: his province status --data-dir %s/province/19001\n",
           base, base, base, base);
    return 0;
}

/* ---- GET /api/v1/patients/{id}/shared-history --------------------------- */

/* The visits (with diagnoses, services and results) and prescriptions of
 * the granted patients, each marked with its facility of origin, read as
 * his_shared so that only granted rows can be returned. */
static const char *const SQL_SHARED_VISITS =
    "SELECT coalesce(jsonb_agg(x.j ORDER BY x.at DESC, x.id DESC), '[]')::text FROM ("
    "  SELECT v.id, v.received_at AS at, clinical.visit_json(v.id) || jsonb_build_object("
    "           'origin', jsonb_build_object('facility_code', f.code, 'facility_name', f.name, 'facility_level', f.level),"
    "           'read_only', true) AS j"
    "  FROM clinical.visits v JOIN core.facilities f ON f.id = v.facility_id"
    "  WHERE v.patient_id = ANY ($1::bigint[]) ORDER BY v.received_at DESC, v.id DESC LIMIT $2::int) x";

static const char *const SQL_SHARED_RX =
    "SELECT coalesce(jsonb_agg(x.j ORDER BY x.at DESC, x.id DESC), '[]')::text FROM ("
    "  SELECT p.id, p.issued_at AS at, jsonb_build_object('id', p.id, 'code', p.code, 'type', p.type,"
    "           'state', p.state, 'visit_id', p.visit_id, 'patient_id', p.patient_id, 'issued_at', p.issued_at,"
    "           'valid_until', p.valid_until, 'diagnoses', p.diagnoses, 'doctor_name', p.doctor_name,"
    "           'advice', p.advice, 'read_only', true,"
    "           'origin', jsonb_build_object('facility_code', f.code, 'facility_name', f.name, 'facility_level', f.level),"
    "           'items', coalesce((SELECT jsonb_agg(jsonb_build_object('drug_code', i.drug_code, 'drug_name', i.drug_name,"
    "                  'quantity', i.quantity, 'unit', i.unit, 'dosage', i.dosage, 'days', i.days,"
    "                  'dispensed', i.dispensed) ORDER BY i.seq)"
    "                FROM pharmacy.prescription_items i WHERE i.prescription_id = p.id), '[]')) AS j"
    "  FROM pharmacy.prescriptions p JOIN core.facilities f ON f.id = p.facility_id"
    "  WHERE p.patient_id = ANY ($1::bigint[]) ORDER BY p.issued_at DESC, p.id DESC LIMIT $2::int) x";

static int prov_limit(http_req_t *req)
{
    const char *l = http_query(req, "limit");
    if (!l || !*l)
        return 50;
    int n = atoi(l);
    return n < 1 ? 1 : n > 200 ? 200 : n;
}

static json_t *prov_json_or_empty(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    return j ? j : json_array();
}

static void handle_shared_history(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    const char *ids = req_ll(req, id);
    PGresult *own = db_q(&tx, "SELECT 1 FROM clinical.patients WHERE id = $1", ids);
    PGresult *src = own ? db_q(&tx, "SELECT patient_id, facility_code, facility_name, linked_by, reason "
                                    "FROM clinical.shared_sources($1) ORDER BY facility_code, patient_id", ids)
                        : NULL;
    if (!src) {
        req_tx_fail(req, &tx);
        return;
    }
    bool local = PQntuples(own) > 0;
    if (!local && PQntuples(src) == 0) {
        db_tx_rollback(&tx);
        audit_record_alone(req, "read", "shared_history", ids, id, "not_found", NULL);
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy bệnh nhân", "patient not found"));
        return;
    }
    /* The granted sources, as a bigint[] literal for the reads below. */
    char *arr = arena_printf(req->arena, "{");
    json_t *sources = json_array();
    int granted = 0, refused = 0;
    char *refused_at = arena_printf(req->arena, "%s", "");
    for (int i = 0; i < PQntuples(src); i++) {
        const char *reason = db_val(src, i, 4);
        if (!reason) {
            refused++;
            refused_at = arena_printf(req->arena, "%s%s%s", refused_at, *refused_at ? "," : "", db_val(src, i, 1));
            continue;
        }
        arr = arena_printf(req->arena, "%s%s%s", arr, granted ? "," : "", db_val(src, i, 0));
        granted++;
        json_t *o = json_object();
        json_object_set_new(o, "patient_id", json_integer(db_ll(src, i, 0)));
        json_object_set_new(o, "facility_code", json_string(db_val(src, i, 1)));
        json_object_set_new(o, "facility_name", json_string(db_val(src, i, 2)));
        json_object_set_new(o, "linked_by", json_string(db_val(src, i, 3)));
        json_object_set_new(o, "reason", json_string(reason));
        json_array_append_new(sources, o);
    }
    arr = arena_printf(req->arena, "%s}", arr);
    if (granted == 0 && refused > 0) {
        json_decref(sources);
        db_tx_rollback(&tx);
        audit_record_alone(req, "read", "shared_history", ids, id, "denied",
                           arena_printf(req->arena, "no referral or emergency visit; records at %s", refused_at));
        http_problem(req, 403, NULL,
                     http_t(req, "Bệnh nhân không được chuyển tuyến hay cấp cứu tại cơ sở này: không được xem hồ sơ nơi khác",
                            "the patient was neither referred to nor seen in emergency at this facility: "
                            "other facilities' records are not open"));
        return;
    }
    const char *limit = req_ll(req, prov_limit(req));
    PGresult *vis = NULL, *rx = NULL, *has_rx = NULL;
    if (granted > 0) {
        has_rx = db_q0(&tx, "SELECT to_regclass('pharmacy.prescriptions') IS NOT NULL");
        if (has_rx && db_q0(&tx, "SET LOCAL ROLE his_shared")) {
            vis = db_q(&tx, SQL_SHARED_VISITS, arr, limit);
            if (vis && !strcmp(db_val(has_rx, 0, 0), "t"))
                rx = db_q(&tx, SQL_SHARED_RX, arr, limit);
        }
        if (!vis || (!rx && !strcmp(db_val(has_rx, 0, 0), "t")) || !db_q0(&tx, "SET LOCAL ROLE his_app")) {
            json_decref(sources);
            req_tx_fail(req, &tx);
            return;
        }
    }
    json_t *visits = prov_json_or_empty(vis ? db_val(vis, 0, 0) : NULL);
    json_t *rxs = prov_json_or_empty(rx ? db_val(rx, 0, 0) : NULL);
    /* One audit row per source read, with its reason and origin. */
    for (int i = 0; i < PQntuples(src); i++) {
        if (!db_val(src, i, 4))
            continue;
        audit_record(&tx, req, "read", "shared_history", db_val(src, i, 0), id, "ok",
                     arena_printf(req->arena, "reason=%s origin=%s linked_by=%s", db_val(src, i, 4),
                                  db_val(src, i, 1), db_val(src, i, 3)));
    }
    if (granted == 0)
        audit_record(&tx, req, "read", "shared_history", ids, id, "ok", "no records elsewhere");
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(sources);
        json_decref(visits);
        json_decref(rxs);
        return;
    }
    json_t *j = json_object();
    json_object_set_new(j, "patient_id", json_integer(id));
    json_object_set_new(j, "read_only", json_true());
    json_object_set_new(j, "sources", sources);
    json_object_set_new(j, "visits", visits);
    json_object_set_new(j, "prescriptions", rxs);
    http_reply_json(req, 200, j);
}

void province_register_routes(void)
{
    http_route("GET", "/api/v1/patients/{id}/shared-history", handle_shared_history, ROLE_DOCTOR, 0);
}
