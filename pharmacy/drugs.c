/* The drug catalogue: GET /api/v1/drugs?q= (without diacritics: "thuoc ho"
 * finds "thuốc ho"), GET /api/v1/drugs/{code}, and the CSV loader used by
 * the demo seed and `his rx load-drugs`. */
#include "pharmacy/pharmacy.h"
#include "core/handler.h"
#include "core/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRUG_CSV_MAX (32L * 1024 * 1024)
#define DRUG_CSV_FIELDS 16

/* ---- API ------------------------------------------------------------------- */

static const char *DRUG_JSON =
    "json_build_object('code', d.code, 'name', d.name, 'ingredient_code', d.ingredient_code,"
    " 'ingredient', d.ingredient, 'strength', d.strength, 'dosage_form', d.dosage_form, 'unit', d.unit,"
    " 'route', d.route, 'rx_class', d.rx_class,"
    " 'type', CASE d.rx_class WHEN 'narcotic' THEN 'N' WHEN 'psychotropic' THEN 'H' WHEN 'herbal' THEN 'T'"
    "   ELSE 'C' END,"
    " 'insurance_price', d.insurance_price, 'registration_no', d.registration_no, 'valid', d.valid)";

static void handle_search(http_req_t *req)
{
    const char *q = http_query(req, "q");
    const char *cls = http_query(req, "class");
    const char *lim = http_query(req, "limit");
    verr_t v;
    verr_init(&v);
    if (q && strlen(q) > 200)
        verr_add(&v, "q", http_t(req, "Dài quá, tối đa 200", "too long, at most 200"));
    if (q && !text_valid_utf8(q, strlen(q)))
        verr_add(&v, "q", http_t(req, "Không phải UTF-8 hợp lệ", "not valid UTF-8"));
    if (cls && rx_class_parse(cls) == RX_CLASS_INVALID)
        verr_add(&v, "class", http_t(req, "Phải là narcotic, psychotropic, other hoặc herbal",
                                     "must be narcotic, psychotropic, other or herbal"));
    long limit = lim ? strtol(lim, NULL, 10) : 50;
    if (limit < 1 || limit > 200)
        verr_add(&v, "limit", http_t(req, "Giới hạn 1..200", "limit must be 1..200"));
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    char fold[600] = "";
    if (q)
        text_fold(q, fold, sizeof fold);
    /* LIKE metacharacters in the query are taken literally. */
    char pat[1300];
    size_t n = 0;
    for (const char *s = fold; *s && n < sizeof pat - 3; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            pat[n++] = '\\';
        pat[n++] = *s;
    }
    pat[n] = '\0';
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    char *sql = arena_printf(req->arena,
                             "WITH m AS (SELECT d.* FROM catalog.drugs d WHERE d.valid"
                             "   AND ($1 = '' OR d.name_fold LIKE '%%' || $1 || '%%' OR lower(d.code) = $1"
                             "        OR lower(d.ingredient_code) = $1)"
                             "   AND ($2::text IS NULL OR d.rx_class = $2)) "
                             "SELECT coalesce((SELECT json_agg(%s ORDER BY (d.name_fold LIKE $1 || '%%') DESC, d.name)"
                             "   FROM (SELECT * FROM m ORDER BY (name_fold LIKE $1 || '%%') DESC, name LIMIT $3) d), '[]'),"
                             " (SELECT count(*) FROM m)",
                             DRUG_JSON);
    PGresult *r = db_q(&tx, sql, pat, cls, arena_printf(req->arena, "%ld", limit));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    json_t *items = json_loads(db_val(r, 0, 0), 0, NULL);
    long long total = db_ll(r, 0, 1);
    db_tx_rollback(&tx); /* read-only, no patient data: nothing to audit */
    json_t *j = json_object();
    json_object_set_new(j, "items", items ? items : json_array());
    json_object_set_new(j, "total", json_integer(total));
    http_reply_json(req, 200, j);
}

static void handle_get(http_req_t *req)
{
    const char *code = http_param(req, "code");
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx, arena_printf(req->arena, "SELECT %s FROM catalog.drugs d WHERE d.code = $1", DRUG_JSON),
                       code);
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    db_tx_rollback(&tx);
    if (PQntuples(r) == 0) {
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy thuốc", "drug not found"));
        return;
    }
    http_reply_raw(req, 200, "application/json; charset=utf-8", db_val(r, 0, 0), strlen(db_val(r, 0, 0)));
}

void drugs_register_routes(void)
{
    http_route("GET", "/api/v1/drugs", handle_search, ROLE_ANY, 0);
    http_route("GET", "/api/v1/drugs/{code}", handle_get, ROLE_ANY, 0);
}

/* ---- CSV loader ------------------------------------------------------------- */

/* One RFC 4180 record parsed in place (quoted fields unescaped). Returns the
 * number of fields, 0 at the end, -1 on a malformed record. */
static int csv_record(char **pos, char *end, char **f, int maxf)
{
    char *p = *pos;
    if (p >= end)
        return 0;
    int n = 0;
    for (;;) {
        if (n >= maxf)
            return -1;
        char *out = p;
        f[n++] = out;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end)
                    return -1;
                if (*p == '"' && p + 1 < end && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *out++ = *p++;
                }
            }
        }
        while (p < end && *p != ',' && *p != '\n' && *p != '\r')
            *out++ = *p++;
        char sep = p < end ? *p : '\n';
        *out = '\0';
        if (sep == ',') {
            p++;
            continue;
        }
        /* *p may have been overwritten by the terminating NUL: use sep. */
        if (p < end && sep == '\r') {
            p++;
            if (p < end && *p == '\n')
                p++;
        } else if (p < end && sep == '\n') {
            p++;
        }
        *pos = p;
        return n;
    }
}

static const char *const drug_cols[] = {"code", "ingredient_code", "ingredient", "name", "strength", "dosage_form",
                                        "unit", "route", "rx_class", "insurance_price", "registration_no", NULL};

static char *read_file(const char *path, long *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || n > DRUG_CSV_MAX) {
        fclose(f);
        snprintf(err, errlen, "%s: too large", path);
        return NULL;
    }
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static const char *UPSERT_SQL =
    "INSERT INTO catalog.drugs (code, ingredient_code, ingredient, name, name_fold, strength, dosage_form, unit,"
    " route, rx_class, insurance_price, registration_no, source, valid, loaded_at)"
    " VALUES ($1, $2, $3, $4, $5, coalesce($6, ''), coalesce($7, ''), $8, coalesce($9, ''), $10,"
    " coalesce(nullif($11, '')::numeric, 0), nullif($12, ''), $13, true, now())"
    " ON CONFLICT (code) DO UPDATE SET ingredient_code = EXCLUDED.ingredient_code, ingredient = EXCLUDED.ingredient,"
    " name = EXCLUDED.name, name_fold = EXCLUDED.name_fold, strength = EXCLUDED.strength,"
    " dosage_form = EXCLUDED.dosage_form, unit = EXCLUDED.unit, route = EXCLUDED.route,"
    " rx_class = EXCLUDED.rx_class, insurance_price = EXCLUDED.insurance_price,"
    " registration_no = EXCLUDED.registration_no, source = EXCLUDED.source, valid = true, loaded_at = now()";

/* The CSV text (parsed in place; buf[len] must be writable) checked record by
 * record: the header names the columns, each data record gives the 13
 * parameters of UPSERT_SQL (source last) to row(). Pure: no database, so the
 * fuzz target calls it with a row() that only looks. Returns the rows
 * passed on, or -1 with err set (where is prefixed to messages). */
long drugs_parse_csv(char *buf, long len, const char *source, const char *where,
                     int (*row)(void *ctx, long line, const char *const p[13], char *err, size_t errlen), void *ctx,
                     char *err, size_t errlen)
{
    char *pos = buf, *end = buf + len;
    if (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB && (unsigned char)buf[2] == 0xBF)
        pos += 3;
    char *f[DRUG_CSV_FIELDS];
    int idx[16];
    int nh = csv_record(&pos, end, f, DRUG_CSV_FIELDS);
    for (int k = 0; drug_cols[k]; k++) {
        idx[k] = -1;
        for (int i = 0; i < nh; i++)
            if (!strcmp(f[i], drug_cols[k]))
                idx[k] = i;
    }
    for (int k = 0; k < 4; k++)
        if (idx[k] < 0) {
            snprintf(err, errlen, "%s: the header has no column %s", where, drug_cols[k]);
            return -1;
        }
    if (idx[6] < 0 || idx[8] < 0) {
        snprintf(err, errlen, "%s: the header needs unit and rx_class", where);
        return -1;
    }
    long rows = 0, line = 1;
    int n;
    while ((n = csv_record(&pos, end, f, DRUG_CSV_FIELDS)) != 0) {
        line++;
        if (n < 0 || n != nh) {
            if (n == 1 && f[0][0] == '\0')
                continue; /* blank line */
            snprintf(err, errlen, "%s:%ld: expected %d fields", where, line, nh);
            return -1;
        }
        const char *v[11];
        for (int k = 0; k < 11; k++)
            v[k] = idx[k] >= 0 ? f[idx[k]] : NULL;
        if (rx_class_parse(v[8]) == RX_CLASS_INVALID) {
            snprintf(err, errlen, "%s:%ld: rx_class must be narcotic, psychotropic, other or herbal", where, line);
            return -1;
        }
        char both[1400], fold[1000];
        snprintf(both, sizeof both, "%s | %s", v[3], v[2]);
        text_fold(both, fold, sizeof fold);
        const char *p[13] = {v[0], v[1], v[2], v[3], fold, v[4], v[5], v[6], v[7], v[8], v[9], v[10], source};
        if (row(ctx, line, p, err, errlen) < 0)
            return -1;
        rows++;
    }
    return rows;
}

struct upsert_ctx {
    PGconn *c;
    const char *path;
};

static int upsert_row(void *ctx, long line, const char *const p[13], char *err, size_t errlen)
{
    struct upsert_ctx *u = ctx;
    PGresult *r = PQexecParams(u->c, UPSERT_SQL, 13, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "%s:%ld: %s", u->path, line, PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

long drugs_load_csv(PGconn *c, const char *path, const char *source, bool own_tx, char *err, size_t errlen)
{
    long len;
    char *buf = read_file(path, &len, err, errlen);
    if (!buf)
        return -1;
    if (own_tx)
        PQclear(PQexec(c, "BEGIN"));
    struct upsert_ctx u = {c, path};
    long rows = drugs_parse_csv(buf, len, source, path, upsert_row, &u, err, errlen);
    if (own_tx)
        PQclear(PQexec(c, rows < 0 ? "ROLLBACK" : "COMMIT"));
    free(buf);
    return rows;
}
