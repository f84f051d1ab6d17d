/* catalog: look-ups in the reference catalogues every screen needs: ICD-10
 * (GET /api/v1/icd10?q=) and technical services and supplies
 * (GET /api/v1/services?q=). No patient data, so no audit rows; any
 * logged-in role may search.
 *
 * Search folds the query exactly as the loader folded the names
 * (core/text.h): "viem phoi" finds "Viêm phổi". A query that looks like a
 * code ("J18", "j189", "J18.9") also matches codes by prefix, and those come
 * first. */
#include "his/modules.h"
#include "core/handler.h"
#include "core/text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_Q_MAX 200
#define CATALOG_LIMIT_DEFAULT 50
#define CATALOG_LIMIT_MAX 200

bool catalog_icd10_normalize(const char *in, char *out, size_t outlen);
bool catalog_code_prefix(const char *q, char *out, size_t outlen);
char *catalog_like_words(arena_t *a, const char *folded);

/* Canonical form of an ICD-10 code as stored: upper case, the dot after the
 * third character, no dagger/asterisk mark ("j189", "J18.9*" -> "J18.9").
 * False if the text is not shaped like a code. */
bool catalog_icd10_normalize(const char *in, char *out, size_t outlen)
{
    char raw[16];
    size_t n = 0;
    if (!in || outlen < 8)
        return false;
    while (*in == ' ')
        in++;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p == ' ' && (p[1] == '\0' || p[1] == ' '))
            break;
        if (*p == '*')
            break;
        if (p[0] == 0xE2 && p[1] == 0x80 && p[2] == 0xA0) /* U+2020 dagger */
            break;
        if (*p == '.')
            continue;
        if (n >= 6 || !isalnum(*p))
            return false;
        raw[n++] = (char)toupper(*p);
    }
    raw[n] = '\0';
    if (n < 3 || !isupper((unsigned char)raw[0]) || !isdigit((unsigned char)raw[1]) ||
        !isdigit((unsigned char)raw[2]))
        return false;
    for (size_t i = 3; i < n; i++)
        if (!isdigit((unsigned char)raw[i]) && !isupper((unsigned char)raw[i]))
            return false;
    if (n > 5)
        return false;
    if (n == 3)
        snprintf(out, outlen, "%s", raw);
    else
        snprintf(out, outlen, "%.3s.%s", raw, raw + 3);
    return true;
}

/* The code prefix a query may stand for, without the dot ("j18." -> "J18"):
 * a letter then up to four letters or digits, the second and third digits. */
bool catalog_code_prefix(const char *q, char *out, size_t outlen)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)q; *p; p++) {
        if (*p == '.')
            continue;
        if (!isalnum(*p) || n + 1 >= outlen || n >= 5)
            return false;
        if (n == 0 && !isalpha(*p))
            return false;
        if ((n == 1 || n == 2) && !isdigit(*p))
            return false;
        out[n++] = (char)toupper(*p);
    }
    out[n] = '\0';
    return n >= 1;
}

/* Folded query words, LIKE-escaped and separated by single spaces, for
 * "name_fold LIKE ALL (each word wrapped in %)". */
char *catalog_like_words(arena_t *a, const char *folded)
{
    size_t len = strlen(folded);
    char *out = arena_alloc(a, len * 2 + 1);
    size_t o = 0;
    for (const char *p = folded; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            out[o++] = '\\';
        out[o++] = *p;
    }
    out[o] = '\0';
    return out;
}

/* limit and offset query parameters with the convention's bounds. */
static bool page_params(http_req_t *req, verr_t *v, long long *limit, long long *offset)
{
    *limit = CATALOG_LIMIT_DEFAULT;
    *offset = 0;
    const char *l = http_query(req, "limit"), *o = http_query(req, "offset");
    char *end;
    if (l) {
        *limit = strtoll(l, &end, 10);
        if (*end || end == l || *limit < 1 || *limit > CATALOG_LIMIT_MAX)
            verr_add(v, "limit", http_t(req, "Phải từ 1 đến 200", "must be 1 to 200"));
    }
    if (o) {
        *offset = strtoll(o, &end, 10);
        if (*end || end == o || *offset < 0 || *offset > 1000000)
            verr_add(v, "offset", http_t(req, "Phải từ 0 đến 1000000", "must be 0 to 1000000"));
    }
    return !verr_any(v);
}

/* The query text: at most 200 bytes of valid UTF-8; folded into *folded. */
static bool query_text(http_req_t *req, verr_t *v, const char **raw, char **folded)
{
    const char *q = http_query(req, "q");
    *raw = q ? q : "";
    if (strlen(*raw) > CATALOG_Q_MAX || !text_valid_utf8(*raw, strlen(*raw))) {
        verr_add(v, "q", http_t(req, "Tối đa 200 ký tự UTF-8", "at most 200 UTF-8 characters"));
        return false;
    }
    *folded = arena_alloc(req->arena, strlen(*raw) * 2 + 2);
    text_fold(*raw, *folded, strlen(*raw) * 2 + 2);
    return true;
}

static json_t *icd10_item(http_req_t *req, PGresult *r, int i)
{
    json_t *it = json_object();
    const char *vi = db_val(r, i, 1), *en = db_val(r, i, 2);
    json_set_str(it, "code", db_val(r, i, 0));
    json_set_str(it, "name", http_t(req, vi, en && *en ? en : vi));
    json_set_str(it, "name_vi", vi);
    json_set_str(it, "name_en", en);
    json_set_str(it, "chapter", db_val(r, i, 3));
    json_set_str(it, "dagger_asterisk", db_val(r, i, 4));
    json_object_set_new(it, "valid", json_boolean(strcmp(db_val(r, i, 5), "t") == 0));
    json_object_set_new(it, "main_allowed", json_boolean(strcmp(db_val(r, i, 6), "t") == 0));
    return it;
}

static void reply_list(http_req_t *req, db_tx_t *tx, PGresult *r, json_t *(*item)(http_req_t *, PGresult *, int),
                       int total_col)
{
    json_t *items = json_array();
    long long total = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        json_array_append_new(items, item(req, r, i));
        total = db_ll(r, i, total_col);
    }
    if (req_tx_commit(req, tx) < 0) {
        json_decref(items);
        return;
    }
    json_t *j = json_object();
    json_object_set_new(j, "items", items);
    json_object_set_new(j, "total", json_integer(total));
    http_reply_json(req, 200, j);
}

/* GET /api/v1/icd10?q=TEXT[&limit&offset&all=1]: valid codes only unless all=1. */
static void handle_icd10_search(http_req_t *req)
{
    verr_t v;
    verr_init(&v);
    long long limit, offset;
    const char *raw;
    char *folded = NULL;
    bool ok = page_params(req, &v, &limit, &offset);
    ok = query_text(req, &v, &raw, &folded) && ok;
    if (!ok) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    char prefix[8];
    const char *code_prefix = catalog_code_prefix(raw, prefix, sizeof prefix) ? prefix : NULL;
    const char *all = http_query(req, "all");
    const char *words = catalog_like_words(req->arena, folded);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    /* A query shaped like a code matches by code prefix or by name; code
     * matches first, then names that start with the words, then code order.
     * When a search has no rows at the requested offset, total comes from
     * the second query (rare: paging past the end). */
    PGresult *r = db_q(&tx,
                       "SELECT code, name_vi, name_en, chapter, dagger_asterisk, valid, main_allowed, "
                       "       count(*) OVER () AS total "
                       "FROM catalog.icd10 "
                       "WHERE ($3 = '1' OR valid) AND ("
                       "      ($1::text IS NOT NULL AND code_nodot LIKE $1 || '%') "
                       "   OR ($2 <> '' AND name_fold LIKE ALL (SELECT '%' || w || '%' FROM "
                       "                                        unnest(string_to_array($2, ' ')) AS w)) "
                       "   OR ($2 = '' AND $1::text IS NULL)) "
                       "ORDER BY ($1::text IS NOT NULL AND code_nodot LIKE $1 || '%') DESC, "
                       "         (name_fold LIKE $2 || '%') DESC, code "
                       "LIMIT $4 OFFSET $5",
                       code_prefix, words, all ? all : "0", req_ll(req, limit), req_ll(req, offset));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    reply_list(req, &tx, r, icd10_item, 7);
}

/* GET /api/v1/icd10/{code} */
static void handle_icd10_get(http_req_t *req)
{
    char code[8];
    if (!catalog_icd10_normalize(http_param(req, "code"), code, sizeof code)) {
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy mã ICD-10", "ICD-10 code not found"));
        return;
    }
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx,
                       "SELECT code, name_vi, name_en, chapter, dagger_asterisk, valid, main_allowed "
                       "FROM catalog.icd10 WHERE code = $1",
                       code);
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        db_tx_rollback(&tx);
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy mã ICD-10", "ICD-10 code not found"));
        return;
    }
    json_t *j = icd10_item(req, r, 0);
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    http_reply_json(req, 200, j);
}

static json_t *service_item(http_req_t *req, PGresult *r, int i)
{
    json_t *it = json_object();
    json_set_str(it, "code", db_val(r, i, 0));
    json_set_str(it, "name", db_val(r, i, 1));
    json_set_str(it, "kind", db_val(r, i, 2));
    json_set_str(it, "unit", db_val(r, i, 3));
    json_object_set_new(it, "price", json_real(atof(db_val(r, i, 4))));
    json_set_str(it, "result_unit", db_val(r, i, 5));
    json_set_str(it, "reference_range", db_val(r, i, 6));
    return it;
}

/* GET /api/v1/services?q=TEXT: technical services and supplies by code
 * prefix or folded name. */
static void handle_services_search(http_req_t *req)
{
    verr_t v;
    verr_init(&v);
    long long limit, offset;
    const char *raw;
    char *folded = NULL;
    bool ok = page_params(req, &v, &limit, &offset);
    ok = query_text(req, &v, &raw, &folded) && ok;
    if (!ok) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    const char *words = catalog_like_words(req->arena, folded);
    char *upper = arena_strdup(req->arena, raw);
    for (char *p = upper; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx,
                       "SELECT code, name, kind, unit, price, result_unit, reference_range, count(*) OVER () "
                       "FROM catalog.services "
                       "WHERE valid AND ($1 = '' OR code LIKE $2 || '%' OR name_fold LIKE ALL "
                       "      (SELECT '%' || w || '%' FROM unnest(string_to_array($1, ' ')) AS w)) "
                       "ORDER BY code LIMIT $3 OFFSET $4",
                       words, catalog_like_words(req->arena, upper), req_ll(req, limit), req_ll(req, offset));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    reply_list(req, &tx, r, service_item, 7);
}

void catalog_register_routes(void)
{
    http_route("GET", "/api/v1/icd10", handle_icd10_search, ROLE_ANY, 0);
    http_route("GET", "/api/v1/icd10/{code}", handle_icd10_get, ROLE_ANY, 0);
    http_route("GET", "/api/v1/services", handle_services_search, ROLE_ANY, 0);
}
