/* Pieces of the claims module shared by the server and `his claims export`:
 * the XML Schemas, the ICD-10 set for the business checks, the facility's
 * signer and one signed envelope. */
#include "claims/claims.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "claims/xml.h"
#include "core/config.h"
#include "core/log.h"
#include "his/his.h"
/* ---- schemas ------------------------------------------------------------------ */

static pthread_mutex_t schemas_mu = PTHREAD_MUTEX_INITIALIZER;
static claim_schemas_t *schemas;

claim_schemas_t *claim_schemas_for(const struct config *cfg)
{
    pthread_mutex_lock(&schemas_mu);
    if (!schemas) {
        char dir[1024], err[300];
        snprintf(dir, sizeof dir, "%s/xsd", his_schema_dir(cfg));
        schemas = claim_schemas_load(dir, err, sizeof err);
        if (!schemas)
            log_error("claims: %s", err);
    }
    pthread_mutex_unlock(&schemas_mu);
    return schemas;
}

/* ---- ICD-10 set ------------------------------------------------------------------ */

const char claim_icd_sql[] = "SELECT code, main_allowed FROM catalog.icd10";

struct claim_icd_set {
    const char **code;
    bool *main;
    size_t cap;
};

static size_t icd_hash(const char *s)
{
    size_t h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h;
}

claim_icd_set_t *claim_icd_load(PGresult *r, arena_t *a)
{
    claim_icd_set_t *s = arena_calloc(a, 1, sizeof *s);
    int n = PQntuples(r);
    s->cap = 64;
    while (s->cap < (size_t)n * 2 + 1)
        s->cap *= 2;
    s->code = arena_calloc(a, s->cap, sizeof *s->code);
    s->main = arena_calloc(a, s->cap, sizeof *s->main);
    for (int i = 0; i < n; i++) {
        const char *c = PQgetvalue(r, i, 0);
        size_t h = icd_hash(c) & (s->cap - 1);
        while (s->code[h])
            h = (h + 1) & (s->cap - 1);
        s->code[h] = arena_strdup(a, c);
        s->main[h] = PQgetvalue(r, i, 1)[0] == 't';
    }
    return s;
}

bool claim_icd_lookup(void *set, const char *code, bool *main_allowed)
{
    claim_icd_set_t *s = set;
    for (size_t h = icd_hash(code) & (s->cap - 1); s->code[h]; h = (h + 1) & (s->cap - 1))
        if (strcmp(s->code[h], code) == 0) {
            *main_allowed = s->main[h];
            return true;
        }
    return false;
}

/* ---- signer ------------------------------------------------------------------------ */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    claim_buf_t b = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        claim_buf_add(&b, tmp, n);
    fclose(f);
    return b.data;
}

int claim_signer_for(PGconn *c, long long facility_id, const char *facility_code, claim_signer_t *s, char *err,
                     size_t errlen)
{
    const char *kf = getenv("HIS_CLAIMS_KEY_FILE"), *cf = getenv("HIS_CLAIMS_CERT_FILE");
    if (kf && cf) {
        char *k = read_file(kf), *ce = read_file(cf);
        int rc = k && ce ? claim_signer_load(s, k, ce, err, errlen) : -1;
        if (!k || !ce)
            snprintf(err, errlen, "cannot read HIS_CLAIMS_KEY_FILE or HIS_CLAIMS_CERT_FILE");
        free(k);
        free(ce);
        return rc;
    }
    char idb[32];
    snprintf(idb, sizeof idb, "%lld", facility_id);
    const char *p[1] = {idb};
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *r = PQexecParams(c, "SELECT key_pem, cert_pem FROM claims.signing_keys WHERE facility_id = $1", 1,
                                   NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            int rc = claim_signer_load(s, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), err, errlen);
            PQclear(r);
            return rc;
        }
        PQclear(r);
        /* First use: make the key; a concurrent maker wins the insert. */
        char *k, *ce;
        if (claim_signer_generate(facility_code, &k, &ce, err, errlen) < 0)
            return -1;
        const char *ip[3] = {idb, k, ce};
        r = PQexecParams(c, "INSERT INTO claims.signing_keys (facility_id, key_pem, cert_pem) VALUES ($1, $2, $3) "
                            "ON CONFLICT (facility_id) DO NOTHING",
                         3, NULL, ip, NULL, NULL, 0);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        free(k);
        free(ce);
        if (!ok) {
            snprintf(err, errlen, "cannot store the signing key: %s", PQerrorMessage(c));
            return -1;
        }
    }
    snprintf(err, errlen, "no signing key");
    return -1;
}

int claim_envelope(const claim_signer_t *s, const char *facility_code, const char *ngaylap, int count,
                   const char *hoso, size_t len, claim_buf_t *out)
{
    claim_env_t e;
    if (claim_env_begin(&e, claim_sink_buf, out, facility_code, ngaylap, count) < 0)
        return -1;
    claim_env_write(&e, hoso, len);
    return claim_env_end(&e, s);
}

