/* his claims export --month YYYY-MM --facility CODE --out FILE: the signed
 * GIAMDINHHS of every valid claim of a month (closed insured visits whose
 * tables pass the schemas and the business checks); each invalid visit is
 * named on stderr with its table, field and rule. The visits are read
 * through a cursor in chunks, built and validated on several threads, and
 * streamed into the envelope, which is hashed as it is written and signed
 * at the end: memory stays flat whatever the month's size. */
#include "claims/claims.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "claims/xml.h"
#include "core/db.h"
#include "his/his.h"


struct job {
    PGresult *r;
    int from, step;
    claim_validator_t *val;
    claim_icd_set_t *icd;
    claim_buf_t *hoso;    /* per row, empty when invalid */
    claim_issues_t *issues; /* per row */
};

static void *work(void *arg)
{
    struct job *j = arg;
    arena_t *a = arena_new(16384);
    for (int i = j->from; i < PQntuples(j->r); i += j->step) {
        arena_reset(a);
        json_t *in = json_loads(PQgetvalue(j->r, i, 4), 0, NULL);
        claim_visit_t v;
        claim_docs_t d = {0};
        if (in && claim_visit_from_json(in, &v, a, &j->issues[i]))
            claim_build_visit(j->val, &v, a, claim_icd_lookup, j->icd, &d, &j->issues[i]);
        if (j->issues[i].n == 0)
            claim_hoso(&j->hoso[i], d.xml, d.len);
        claim_docs_free(&d);
        json_decref(in);
    }
    arena_free(a);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static PGresult *q(PGconn *c, const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        fprintf(stderr, "his claims: %s", PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    return r;
}

static int export_month(PGconn *c, const struct config *cfg, const char *month, const char *facility,
                        const char *out_path, int nthreads, bool quiet)
{
    double t0 = now_s();
    const char *fp[1] = {facility};
    PGresult *f = q(c, "SELECT id FROM core.facilities WHERE code = $1", 1, fp);
    if (!f)
        return 1;
    if (PQntuples(f) != 1) {
        fprintf(stderr, "his claims: no facility with code %s\n", facility);
        PQclear(f);
        return 1;
    }
    char fid[32];
    snprintf(fid, sizeof fid, "%s", PQgetvalue(f, 0, 0));
    PQclear(f);
    char dir[1024], err[512];
    snprintf(dir, sizeof dir, "%s/xsd", his_schema_dir(cfg));
    claim_schemas_t *sch = claim_schemas_load(dir, err, sizeof err);
    if (!sch) {
        fprintf(stderr, "his claims: %s\n", err);
        return 1;
    }
    claim_signer_t signer;
    if (claim_signer_for(c, atoll(fid), facility, &signer, err, sizeof err) < 0) {
        fprintf(stderr, "his claims: %s\n", err);
        claim_schemas_free(sch);
        return 1;
    }
    arena_t *a = arena_new(65536);
    PGresult *icd = q(c, claim_icd_sql, 0, NULL);
    claim_icd_set_t *set = icd ? claim_icd_load(icd, a) : NULL;
    PQclear(icd);
    FILE *tmp = tmpfile();
    FILE *out = fopen(out_path, "wb");
    int rc = 1, valid = 0, total = 0, invalid = 0;
    claim_validator_t *vals[16] = {0};
    if (!set || !tmp || !out) {
        fprintf(stderr, "his claims: cannot write %s\n", out_path);
        goto done;
    }
    for (int t = 0; t < nthreads; t++)
        vals[t] = claim_validator_new(sch);
    char first[16];
    snprintf(first, sizeof first, "%s-01", month);
    const char *p[3] = {fid, first, NULL};
    /* JIT compiling the claim query costs seconds and saves nothing here. */
    PGresult *r = q(c, "SET jit = off", 0, NULL);
    PQclear(r);
    r = q(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
    PQclear(r);
    char *decl = malloc(strlen(claim_source_sql) + 64);
    sprintf(decl, "DECLARE claims_cur NO SCROLL CURSOR FOR %s", claim_source_sql);
    r = q(c, decl, 3, p);
    free(decl);
    if (!r)
        goto done;
    PQclear(r);
    /* The next chunk is fetched while this one is built: the database's
     * work and ours overlap. */
    r = q(c, "FETCH 2048 FROM claims_cur", 0, NULL);
    for (;;) {
        if (!r)
            goto done;
        int n = PQntuples(r);
        if (n == 0) {
            PQclear(r);
            break;
        }
        bool more = PQsendQuery(c, "FETCH 2048 FROM claims_cur") == 1;
        claim_buf_t *hoso = calloc((size_t)n, sizeof *hoso);
        claim_issues_t *is = calloc((size_t)n, sizeof *is);
        pthread_t th[16];
        struct job jobs[16];
        for (int t = 0; t < nthreads; t++) {
            jobs[t] = (struct job){r, t, nthreads, vals[t], set, hoso, is};
            pthread_create(&th[t], NULL, work, &jobs[t]);
        }
        for (int t = 0; t < nthreads; t++)
            pthread_join(th[t], NULL);
        for (int i = 0; i < n; i++) {
            total++;
            if (is[i].n == 0) {
                valid++;
                fwrite(hoso[i].data, 1, hoso[i].len, tmp);
            } else {
                invalid++;
                for (int k = 0; k < is[i].n; k++)
                    fprintf(stderr, "invalid: MA_LK %s %s.%s [%s] %s\n", is[i].v[k].ma_lk, is[i].v[k].table,
                            is[i].v[k].field, is[i].v[k].rule, is[i].v[k].message);
            }
            claim_buf_free(&hoso[i]);
            claim_issues_free(&is[i]);
        }
        free(hoso);
        free(is);
        PQclear(r);
        r = NULL;
        if (!more) {
            fprintf(stderr, "his claims: %s", PQerrorMessage(c));
            goto done;
        }
        for (PGresult *x; (x = PQgetResult(c));) {
            if (PQresultStatus(x) == PGRES_TUPLES_OK && !r)
                r = x;
            else {
                if (PQresultStatus(x) != PGRES_TUPLES_OK)
                    fprintf(stderr, "his claims: %s", PQresultErrorMessage(x));
                PQclear(x);
            }
        }
    }
    PQclear(q(c, "COMMIT", 0, NULL));
    if (valid == 0) {
        fprintf(stderr, "his claims: no valid claim for %s in %s (%d invalid)\n", facility, month, invalid);
        goto done;
    }
    /* The envelope: header, the records from the spool, the signature. */
    char d[9];
    time_t now = time(NULL) + 7 * 3600;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(d, sizeof d, "%Y%m%d", &tm);
    claim_env_t e;
    if (claim_env_begin(&e, claim_sink_file, out, facility, d, valid) < 0)
        goto done;
    rewind(tmp);
    char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, tmp)) > 0)
        claim_env_write(&e, buf, got);
    if (claim_env_end(&e, &signer) < 0 || fflush(out) != 0) {
        fprintf(stderr, "his claims: cannot sign or write %s\n", out_path);
        goto done;
    }
    rc = 0;
    double dt = now_s() - t0;
    if (!quiet)
        printf("%d visits: %d valid, signed in %s; %d invalid; %.2f s (%.0f visits/s, %d threads)\n", total, valid,
               out_path, invalid, dt, dt > 0 ? total / dt : 0.0, nthreads);
done:
    for (int t = 0; t < 16; t++)
        claim_validator_free(vals[t]);
    if (tmp)
        fclose(tmp);
    if (out)
        fclose(out);
    if (rc != 0 && out)
        remove(out_path);
    claim_signer_free(&signer);
    claim_schemas_free(sch);
    arena_free(a);
    return rc;
}

static int claims_export(int argc, char **argv)
{
    static const enum config_key keys[] = {CFG_DATA_DIR, CFG_DATABASE_URL, CFG_SCHEMA_DIR, CFG_CONFIG_FILE,
                                           CFG__COUNT};
    const char *month = NULL, *facility = NULL, *outp = NULL, *threads = NULL;
    bool quiet = false;
    char *rest[64];
    int nrest = 0;
    for (int i = 0; i < argc && nrest < 63; i++) {
        const char *a = argv[i];
        if (i > 0 && (!strcmp(a, "--month") || !strcmp(a, "--facility") || !strcmp(a, "--out") ||
                      !strcmp(a, "--threads"))) {
            if (i + 1 >= argc) {
                fprintf(stderr, "his claims export: %s needs a value\n", a);
                return 2;
            }
            const char **dst = !strcmp(a, "--month") ? &month : !strcmp(a, "--facility") ? &facility
                                                            : !strcmp(a, "--out")      ? &outp
                                                                                        : &threads;
            *dst = argv[++i];
        } else if (i > 0 && !strcmp(a, "--quiet")) {
            quiet = true;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(nrest, rest, keys,
                            "Usage: his claims export --month YYYY-MM --facility CODE --out FILE [--threads N]\n"
                            "Writes the signed GIAMDINHHS file (QĐ 130/4750) of the month's valid claims;\n"
                            "invalid visits are listed on stderr (MA_LK, table.field, rule).",
                            &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    bool mok = month && strlen(month) == 7 && month[4] == '-' && atoi(month + 5) >= 1 && atoi(month + 5) <= 12;
    if (!mok || !facility || strlen(facility) != 5 || !outp || np != 0) {
        fprintf(stderr, "his claims export: needs --month YYYY-MM --facility CODE --out FILE\n");
        return 2;
    }
    long nt = threads ? strtol(threads, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    if (nt < 1)
        nt = 1;
    if (nt > 16)
        nt = 16;
    struct his_db db;
    char err[2048];
    if (his_db_open(&cfg, &db, err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    PGconn *c = db_connect(db.conninfo, err, sizeof err);
    if (!c) {
        fprintf(stderr, "his: cannot connect to the database: %s\n", err);
        his_db_close(&db);
        return 1;
    }
    rc = export_month(c, &cfg, month, facility, outp, (int)nt, quiet);
    PQfinish(c);
    his_db_close(&db);
    return rc;
}

int cmd_claims(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *o = argc < 2 ? stderr : stdout;
        fprintf(o, "Usage: his claims export --month YYYY-MM --facility CODE --out FILE\n"
                   "  export   the signed GIAMDINHHS of a month's valid claims (QĐ 130/4750)\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "export"))
        return claims_export(argc - 1, argv + 1);
    fprintf(stderr, "his claims: unknown subcommand '%s'\n", argv[1]);
    return 2;
}
