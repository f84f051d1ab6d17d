/* Claim batches for the claims officer: build a month from each closed
 * insured visit, see each visit's validation result and amounts by payer,
 * fix and rebuild, download the signed GIAMDINHHS, submit through the
 * outbox to the assessment portal. States of a visit's claim: ready,
 * invalid, sent, accepted, rejected (schema/007_claims.sql). */
#include "claims/claims.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "claims/xml.h"
#include "core/app.h"
#include "core/handler.h"
#include "core/log.h"
#include "core/outbox.h"

#define CLAIMS_ROLES (ROLE_CLAIMS_OFFICER | ROLE_ADMIN)

/* ---- the facility's signer, cached per process ----------------------------------- */

static pthread_mutex_t signer_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    long long facility_id;
    claim_signer_t s;
} signers[64];
static int nsigners;

static const claim_signer_t *signer_of(http_req_t *req)
{
    const claim_signer_t *out = NULL;
    pthread_mutex_lock(&signer_mu);
    for (int i = 0; i < nsigners; i++)
        if (signers[i].facility_id == req->user->facility_id)
            out = &signers[i].s;
    if (!out && nsigners < 64) {
        PGconn *c = db_pool_acquire(req->app->sysdb, 5000);
        char err[300];
        if (c && claim_signer_for(c, req->user->facility_id, req->user->facility_code, &signers[nsigners].s, err,
                                  sizeof err) == 0) {
            signers[nsigners].facility_id = req->user->facility_id;
            out = &signers[nsigners++].s;
        } else {
            log_error("claims: no signing key for facility %lld: %s", req->user->facility_id, c ? err : "no db");
        }
        if (c)
            db_pool_release(req->app->sysdb, c);
    }
    pthread_mutex_unlock(&signer_mu);
    return out;
}

/* ---- building -------------------------------------------------------------------- */

static const char *sha256_hex(arena_t *a, const claim_docs_t *d)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    unsigned char h[32];
    unsigned int n = 0;
    EVP_DigestInit_ex(m, EVP_sha256(), NULL);
    for (int i = 0; i < 6; i++)
        if (d->xml[i]) {
            char tag[8];
            snprintf(tag, sizeof tag, "%d:", claim_tables[i]);
            EVP_DigestUpdate(m, tag, strlen(tag));
            EVP_DigestUpdate(m, d->xml[i], d->len[i]);
        }
    EVP_DigestFinal_ex(m, h, &n);
    EVP_MD_CTX_free(m);
    char *hex = arena_alloc(a, 65);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    return hex;
}

static const char *amt_text(arena_t *a, claim_amt_t v)
{
    char b[32];
    return arena_strdup(a, claim_dec_format(v, 2, b, sizeof b));
}

static json_t *issues_json(const claim_issues_t *is, int from)
{
    json_t *arr = json_array();
    for (int i = from; i < is->n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s}", "ma_lk", is->v[i].ma_lk, "table",
                                             is->v[i].table, "field", is->v[i].field, "rule", is->v[i].rule,
                                             "message", is->v[i].message));
    return arr;
}

/* (Re)builds every claim of the batch's month. Sent and accepted claims
 * are left as they are; a rejected one stays rejected until its content
 * changes (the visit was fixed). Returns the number of visits, -1 on a
 * failed statement (the transaction is failed then). */
static int build_batch(http_req_t *req, db_tx_t *tx, long long batch_id, const char *month_first)
{
    claim_schemas_t *sch = claim_schemas_for(req->app->cfg);
    if (!sch)
        return -1;
    db_tx_exec_simple(tx, "SET LOCAL jit = off"); /* compiling the claim query costs more than it saves */
    PGresult *icd = db_q0(tx, claim_icd_sql);
    PGresult *vs = db_q(tx, claim_source_sql, req_ll(req, req->user->facility_id), month_first, NULL);
    PGresult *old = db_q(tx, "SELECT visit_id, state, content_sha256 FROM claims.batch_items WHERE batch_id = $1",
                         req_ll(req, batch_id));
    if (!icd || !vs || !old)
        return -1;
    claim_icd_set_t *set = claim_icd_load(icd, req->arena);
    claim_validator_t *val = claim_validator_new(sch);
    int n = PQntuples(vs);
    for (int i = 0; i < n && !tx->failed; i++) {
        const char *vid = PQgetvalue(vs, i, 0);
        const char *prev_state = NULL, *prev_sha = NULL;
        for (int k = 0; k < PQntuples(old); k++)
            if (!strcmp(PQgetvalue(old, k, 0), vid))
                prev_state = PQgetvalue(old, k, 1), prev_sha = PQgetvalue(old, k, 2);
        if (prev_state && (!strcmp(prev_state, "sent") || !strcmp(prev_state, "accepted")))
            continue;
        arena_t *a = arena_new(16384);
        json_t *in = json_loads(PQgetvalue(vs, i, 4), 0, NULL);
        claim_visit_t v;
        claim_issues_t is = {0};
        claim_docs_t d = {0};
        if (in && claim_visit_from_json(in, &v, a, &is))
            claim_build_visit(val, &v, a, claim_icd_lookup, set, &d, &is);
        const char *sha = sha256_hex(req->arena, &d);
        const char *state = is.n ? "invalid" : "ready";
        if (prev_state && !strcmp(prev_state, "rejected") && prev_sha && !strcmp(prev_sha, sha))
            state = "rejected";
        json_t *tables = json_object();
        for (int t = 0; t < 6; t++)
            if (d.xml[t])
                json_object_set_new(tables, arena_printf(a, "XML%d", claim_tables[t]),
                                    json_stringn(d.xml[t], d.len[t]));
        char *tj = json_dumps(tables, JSON_COMPACT), *ij;
        json_t *ijs = issues_json(&is, 0);
        ij = json_dumps(ijs, JSON_COMPACT);
        json_decref(ijs);
        char mh[16];
        db_q(tx,
             "INSERT INTO claims.batch_items (batch_id, visit_id, patient_id, ma_lk, visit_revision, state, issues, "
             " muc_huong, muc_huong_rule, t_tongchi_bv, t_tongchi_bh, t_bhtt, t_bncct, t_bntt, t_nguonkhac, tables, "
             " content_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15, "
             " $16::jsonb, $17) "
             "ON CONFLICT (batch_id, visit_id) DO UPDATE SET visit_revision = EXCLUDED.visit_revision, "
             " state = EXCLUDED.state, issues = EXCLUDED.issues, muc_huong = EXCLUDED.muc_huong, "
             " muc_huong_rule = EXCLUDED.muc_huong_rule, t_tongchi_bv = EXCLUDED.t_tongchi_bv, "
             " t_tongchi_bh = EXCLUDED.t_tongchi_bh, t_bhtt = EXCLUDED.t_bhtt, t_bncct = EXCLUDED.t_bncct, "
             " t_bntt = EXCLUDED.t_bntt, t_nguonkhac = EXCLUDED.t_nguonkhac, tables = EXCLUDED.tables, "
             " content_sha256 = EXCLUDED.content_sha256, built_at = now()",
             req_ll(req, batch_id), vid, PQgetvalue(vs, i, 1), PQgetvalue(vs, i, 3), PQgetvalue(vs, i, 2), state,
             ij, claim_pct_format(v.muc_huong, mh, sizeof mh), v.muc_huong_rule ? v.muc_huong_rule : "",
             amt_text(req->arena, v.t_bv), amt_text(req->arena, v.t_bh), amt_text(req->arena, v.t_bhtt),
             amt_text(req->arena, v.t_bncct), amt_text(req->arena, v.t_bntt), amt_text(req->arena, v.t_nguonkhac),
             tj, sha);
        free(tj);
        free(ij);
        json_decref(tables);
        json_decref(in);
        claim_docs_free(&d);
        claim_issues_free(&is);
        arena_free(a);
    }
    claim_validator_free(val);
    if (tx->failed)
        return -1;
    db_q(tx, "UPDATE claims.batches SET built_at = now(), version = version + 1 WHERE id = $1",
         req_ll(req, batch_id));
    return tx->failed ? -1 : n;
}

/* ---- handlers ------------------------------------------------------------------ */

static bool month_ok(const char *m)
{
    return m && strlen(m) == 7 && m[4] == '-' && m[0] >= '1' && m[0] <= '2' &&
           ((m[5] == '0' && m[6] >= '1' && m[6] <= '9') || (m[5] == '1' && m[6] >= '0' && m[6] <= '2'));
}

static void handle_create(http_req_t *req)
{
    json_t *b = http_json_body(req);
    if (!b)
        return;
    verr_t v;
    verr_init(&v);
    const char *month = json_str_field(b, "month", "month", true, 7, &v, req);
    const char *fac = json_str_field(b, "facility", "facility", true, 5, &v, req);
    if (month && !month_ok(month))
        verr_add(&v, "month", http_t(req, "Tháng theo dạng YYYY-MM", "a month as YYYY-MM"));
    if (fac && strcmp(fac, req->user->facility_code) != 0)
        verr_add(&v, "facility", http_t(req, "Chỉ lập hồ sơ cho cơ sở của mình", "only your own facility"));
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    const char *first = arena_printf(req->arena, "%s-01", month);
    month = arena_strdup(req->arena, month);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    if (req_idempotent_replay(req, &tx))
        return;
    PGresult *r = db_q(&tx, "SELECT id FROM claims.batches WHERE month = $1::date", first);
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 1) {
        db_tx_rollback(&tx);
        json_t *err = json_array();
        json_array_append_new(err, json_pack("{s:s, s:s}", "field", "month", "message",
                                             http_t(req, "Đã có hồ sơ tháng này: dựng lại bằng /rebuild",
                                                    "a batch exists for this month: rebuild it")));
        http_problem_fields(req, 409, http_t(req, "Đã có", "exists"), err);
        http_add_header(req, "Location", arena_printf(req->arena, "/api/v1/claims/batches/%s", db_val(r, 0, 0)));
        return;
    }
    r = db_q(&tx, "INSERT INTO claims.batches (month, created_by) VALUES ($1::date, $2) RETURNING id", first,
             req_ll(req, req->user->id));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    long long id = db_ll(r, 0, 0);
    int n = build_batch(req, &tx, id, first);
    if (n < 0) {
        req_tx_fail(req, &tx);
        return;
    }
    audit_record(&tx, req, "create", "claims_batch", req_ll(req, id), 0, "ok", arena_printf(req->arena, "%d visits", n));
    http_reply_json(req, 201, json_pack("{s:I, s:s, s:s, s:i}", "id", (json_int_t)id, "month", month, "facility",
                                        req->user->facility_code, "visits", n));
    req_idempotent_store(req, &tx);
    req_tx_commit(req, &tx);
}

static void handle_rebuild(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx, "SELECT to_char(month, 'YYYY-MM-DD') FROM claims.batches WHERE id = $1 FOR UPDATE",
                       req_ll(req, id));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        db_tx_rollback(&tx);
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy hồ sơ", "batch not found"));
        return;
    }
    int n = build_batch(req, &tx, id, db_val(r, 0, 0));
    if (n < 0) {
        req_tx_fail(req, &tx);
        return;
    }
    audit_record(&tx, req, "update", "claims_batch", req_ll(req, id), 0, "ok", "rebuild");
    if (req_tx_commit(req, &tx) < 0)
        return;
    http_reply_json(req, 200, json_pack("{s:I, s:i}", "id", (json_int_t)id, "visits", n));
}

static json_t *money(PGresult *r, int row, int col0)
{
    /* Amounts stay decimal strings: JSON numbers would pass through binary
     * floating point in most clients. */
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "total", db_val(r, row, col0), "insurance_scope",
                     db_val(r, row, col0 + 1), "insurer", db_val(r, row, col0 + 2), "patient_copay",
                     db_val(r, row, col0 + 3), "patient_out_of_scope", db_val(r, row, col0 + 4), "other_funding",
                     db_val(r, row, col0 + 5));
}

static void handle_get(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    const char *st = http_query(req, "state");
    const char *ls = http_query(req, "limit"), *os = http_query(req, "offset");
    long limit = ls ? strtol(ls, NULL, 10) : 50, offset = os ? strtol(os, NULL, 10) : 0;
    if (limit < 1 || limit > 200 || offset < 0 ||
        (st && strcmp(st, "ready") && strcmp(st, "invalid") && strcmp(st, "sent") && strcmp(st, "accepted") &&
         strcmp(st, "rejected"))) {
        http_problem_field(req, 422, st && !ls ? "state" : "limit",
                           http_t(req, "Tham số không hợp lệ", "invalid parameter"));
        return;
    }
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *b = db_q(&tx,
                       "SELECT b.id, to_char(b.month, 'YYYY-MM'), f.code, b.version, b.built_at, "
                       " count(i.id), count(i.id) FILTER (WHERE i.state = 'ready'), "
                       " count(i.id) FILTER (WHERE i.state = 'invalid'), count(i.id) FILTER (WHERE i.state = 'sent'), "
                       " count(i.id) FILTER (WHERE i.state = 'accepted'), "
                       " count(i.id) FILTER (WHERE i.state = 'rejected'), "
                       " coalesce(sum(i.t_tongchi_bv), 0)::text, coalesce(sum(i.t_tongchi_bh), 0)::text, "
                       " coalesce(sum(i.t_bhtt), 0)::text, coalesce(sum(i.t_bncct), 0)::text, "
                       " coalesce(sum(i.t_bntt), 0)::text, coalesce(sum(i.t_nguonkhac), 0)::text "
                       "FROM claims.batches b JOIN core.facilities f ON f.id = b.facility_id "
                       "LEFT JOIN claims.batch_items i ON i.batch_id = b.id WHERE b.id = $1 GROUP BY b.id, f.code",
                       req_ll(req, id));
    PGresult *it = db_q(&tx,
                        "SELECT i.visit_id, i.ma_lk, i.state, i.muc_huong, i.muc_huong_rule, i.issues::text, "
                        " i.transaction_code, i.rejection::text, i.submissions, i.patient_id, "
                        " i.t_tongchi_bv::text, i.t_tongchi_bh::text, i.t_bhtt::text, i.t_bncct::text, "
                        " i.t_bntt::text, i.t_nguonkhac::text "
                        "FROM claims.batch_items i WHERE i.batch_id = $1 AND ($2::text IS NULL OR i.state = $2) "
                        "ORDER BY (i.state = 'invalid' OR i.state = 'rejected') DESC, i.id LIMIT $3 OFFSET $4",
                        req_ll(req, id), st, req_ll(req, limit), req_ll(req, offset));
    if (!b || !it) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(b) == 0) {
        db_tx_rollback(&tx);
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy hồ sơ", "batch not found"));
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(it); i++) {
        json_t *x = json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:o, s:s?, s:o, s:i, s:o}", "visit_id",
                              (json_int_t)db_ll(it, i, 0), "ma_lk", db_val(it, i, 1), "state", db_val(it, i, 2),
                              "muc_huong", db_val(it, i, 3), "muc_huong_rule", db_val(it, i, 4), "issues",
                              json_loads(db_val(it, i, 5), 0, NULL), "transaction_code", db_val(it, i, 6),
                              "rejection", db_val(it, i, 7) ? json_loads(db_val(it, i, 7), 0, NULL) : json_null(),
                              "submissions", (int)db_ll(it, i, 8), "amounts", money(it, i, 10));
        json_array_append_new(items, x);
        audit_record(&tx, req, "read", "claim", db_val(it, i, 1), db_ll(it, i, 9), "ok", NULL);
    }
    json_t *j = json_pack(
        "{s:I, s:s, s:s, s:i, s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:o, s:{s:b}}", "id", (json_int_t)id, "month",
        db_val(b, 0, 1), "facility", db_val(b, 0, 2), "version", (int)db_ll(b, 0, 3), "built_at", db_val(b, 0, 4),
        "counts", "visits", (json_int_t)db_ll(b, 0, 5), "ready", (json_int_t)db_ll(b, 0, 6), "invalid",
        (json_int_t)db_ll(b, 0, 7), "sent", (json_int_t)db_ll(b, 0, 8), "accepted", (json_int_t)db_ll(b, 0, 9),
        "rejected", (json_int_t)db_ll(b, 0, 10), "amounts", money(b, 0, 11), "items", items, "portal", "configured",
        config_get(req->app->cfg, CFG_CLAIMS_PORTAL_URL) != NULL);
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    http_reply_json(req, 200, j);
}

/* A table document as JSON: XML1/XML13 an object of its fields, the others
 * an array of row objects. */
static json_t *table_json(const char *xml)
{
    xmlDocPtr d = xmlReadMemory(xml, (int)strlen(xml), NULL, "utf-8", XML_PARSE_NONET | XML_PARSE_NOERROR);
    if (!d)
        return json_null();
    xmlNodePtr root = xmlDocGetRootElement(d);
    xmlNodePtr first = root ? root->children : NULL;
    while (first && first->type != XML_ELEMENT_NODE)
        first = first->next;
    bool rows = first && first->children && first->children->type == XML_ELEMENT_NODE &&
                first->children->children && first->children->children->type == XML_ELEMENT_NODE;
    json_t *out = rows ? json_array() : NULL;
    xmlNodePtr start = rows ? first->children : root;
    for (xmlNodePtr r = start; r; r = rows ? r->next : NULL) {
        if (r->type != XML_ELEMENT_NODE)
            continue;
        json_t *o = json_object();
        for (xmlNodePtr f = r->children; f; f = f->next)
            if (f->type == XML_ELEMENT_NODE) {
                xmlChar *t = xmlNodeGetContent(f);
                json_object_set_new(o, (const char *)f->name, json_string(t ? (const char *)t : ""));
                xmlFree(t);
            }
        if (!rows) {
            out = o;
            break;
        }
        json_array_append_new(out, o);
    }
    xmlFreeDoc(d);
    return out ? out : json_null();
}

static void handle_visit(http_req_t *req)
{
    long long id, vid;
    if (!req_id_param(req, "id", &id) || !req_id_param(req, "visit_id", &vid))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx,
                       "SELECT ma_lk, state, issues::text, tables::text, patient_id, transaction_code, "
                       " rejection::text, muc_huong, muc_huong_rule FROM claims.batch_items "
                       "WHERE batch_id = $1 AND visit_id = $2",
                       req_ll(req, id), req_ll(req, vid));
    PGresult *s = db_q(&tx,
                       "SELECT s.state, s.transaction_code, s.result_code, s.created_at, s.answered_at, "
                       " s.answer::text FROM claims.submissions s JOIN claims.batch_items i ON i.id = s.item_id "
                       "WHERE i.batch_id = $1 AND i.visit_id = $2 ORDER BY s.id",
                       req_ll(req, id), req_ll(req, vid));
    if (!r || !s) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        db_tx_rollback(&tx);
        http_problem(req, 404, NULL, http_t(req, "Không có lượt khám này trong hồ sơ", "visit not in the batch"));
        return;
    }
    json_t *tables = json_object(), *raw = json_loads(db_val(r, 0, 3), 0, NULL);
    const char *k;
    json_t *x;
    json_object_foreach(raw, k, x) json_object_set_new(tables, k, table_json(json_string_value(x)));
    json_decref(raw);
    json_t *subs = json_array();
    for (int i = 0; i < PQntuples(s); i++)
        json_array_append_new(subs, json_pack("{s:s, s:s?, s:s?, s:s, s:s?, s:o}", "state", db_val(s, i, 0),
                                              "transaction_code", db_val(s, i, 1), "result_code", db_val(s, i, 2),
                                              "sent_at", db_val(s, i, 3), "answered_at", db_val(s, i, 4), "answer",
                                              db_val(s, i, 5) ? json_loads(db_val(s, i, 5), 0, NULL) : json_null()));
    json_t *j = json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:o, s:s?, s:o, s:o, s:o}", "visit_id", (json_int_t)vid,
                          "ma_lk", db_val(r, 0, 0), "state", db_val(r, 0, 1), "muc_huong", db_val(r, 0, 7),
                          "muc_huong_rule", db_val(r, 0, 8), "issues", json_loads(db_val(r, 0, 2), 0, NULL),
                          "transaction_code", db_val(r, 0, 5), "rejection",
                          db_val(r, 0, 6) ? json_loads(db_val(r, 0, 6), 0, NULL) : json_null(), "submissions", subs,
                          "tables", tables);
    audit_record(&tx, req, "read", "claim", db_val(r, 0, 0), db_ll(r, 0, 4), "ok", NULL);
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    http_reply_json(req, 200, j);
}

/* Concatenated HOSO elements of the chosen items' stored tables. */
static int hoso_of(PGresult *r, int col, int row, claim_buf_t *out)
{
    json_t *t = json_loads(PQgetvalue(r, row, col), 0, NULL);
    char *docs[6] = {0};
    size_t lens[6] = {0};
    for (int i = 0; i < 6; i++) {
        char key[8];
        snprintf(key, sizeof key, "XML%d", claim_tables[i]);
        json_t *x = json_object_get(t, key);
        if (x) {
            docs[i] = (char *)json_string_value(x);
            lens[i] = json_string_length(x);
        }
    }
    claim_hoso(out, docs, lens);
    json_decref(t);
    return 0;
}

static void today(char out[9])
{
    time_t now = time(NULL);
    struct tm tm;
    now += 7 * 3600; /* Vietnam's date */
    gmtime_r(&now, &tm);
    strftime(out, 9, "%Y%m%d", &tm);
}

static void handle_file(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *b = db_q(&tx, "SELECT id FROM claims.batches WHERE id = $1", req_ll(req, id));
    PGresult *r = db_q(&tx,
                       "SELECT ma_lk, tables::text FROM claims.batch_items WHERE batch_id = $1 "
                       "AND state IN ('ready', 'sent', 'accepted') ORDER BY id",
                       req_ll(req, id));
    if (!b || !r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(b) == 0 || PQntuples(r) == 0) {
        db_tx_rollback(&tx);
        http_problem(req, 404, NULL,
                     http_t(req, "Không có hồ sơ hợp lệ để xuất", PQntuples(b) ? "no valid claim to export"
                                                                                : "batch not found"));
        return;
    }
    const claim_signer_t *s = signer_of(req);
    if (!s) {
        db_tx_rollback(&tx);
        http_problem(req, 500, NULL, http_t(req, "Không có khóa ký của cơ sở", "no signing key"));
        return;
    }
    claim_buf_t hoso = {0}, out = {0};
    for (int i = 0; i < PQntuples(r); i++)
        hoso_of(r, 1, i, &hoso);
    char d[9];
    today(d);
    int rc = claim_envelope(s, req->user->facility_code, d, PQntuples(r), hoso.data, hoso.len, &out);
    claim_buf_free(&hoso);
    audit_record(&tx, req, "export", "claims_batch", req_ll(req, id), 0, rc == 0 ? "ok" : "error", NULL);
    if (rc < 0 || req_tx_commit(req, &tx) < 0) {
        claim_buf_free(&out);
        if (!req->replied)
            http_problem(req, 500, NULL, http_t(req, "Không ký được tệp", "cannot sign the file"));
        return;
    }
    http_add_header(req, "Content-Disposition",
                    arena_printf(req->arena, "attachment; filename=\"GIAMDINHHS_%s_%lld.xml\"",
                                 req->user->facility_code, id));
    http_reply_raw(req, 200, "application/xml", out.data, out.len);
    claim_buf_free(&out);
}

static void handle_submit(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    /* The transaction first: with the database down this is a 503, not a
     * missing signing key (found by tests/fuzz/fuzz_router). */
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    const claim_signer_t *s = signer_of(req);
    if (!s) {
        db_tx_rollback(&tx);
        http_problem(req, 500, NULL, http_t(req, "Không có khóa ký của cơ sở", "no signing key"));
        return;
    }
    PGresult *b = db_q(&tx, "SELECT id FROM claims.batches WHERE id = $1 FOR UPDATE", req_ll(req, id));
    /* Only ready claims go: sent, accepted and unchanged rejected ones never
     * again (the row lock above orders concurrent submits). */
    PGresult *r = db_q(&tx,
                       "SELECT id, ma_lk, tables::text, content_sha256, patient_id FROM claims.batch_items "
                       "WHERE batch_id = $1 AND state = 'ready' ORDER BY id",
                       req_ll(req, id));
    PGresult *c = db_q(&tx,
                       "SELECT count(*) FILTER (WHERE state = 'invalid'), count(*) FILTER (WHERE state = 'rejected'), "
                       " count(*) FILTER (WHERE state IN ('sent', 'accepted')) FROM claims.batch_items "
                       "WHERE batch_id = $1",
                       req_ll(req, id));
    if (!b || !r || !c) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(b) == 0) {
        db_tx_rollback(&tx);
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy hồ sơ", "batch not found"));
        return;
    }
    char d[9];
    today(d);
    int queued = 0;
    for (int i = 0; i < PQntuples(r) && !tx.failed; i++) {
        claim_buf_t hoso = {0}, env = {0};
        hoso_of(r, 2, i, &hoso);
        int rc = claim_envelope(s, req->user->facility_code, d, 1, hoso.data, hoso.len, &env);
        claim_buf_free(&hoso);
        if (rc < 0) {
            claim_buf_free(&env);
            continue;
        }
        const char *key = arena_printf(req->arena, "claims:%s:%s", db_val(r, i, 1), db_val(r, i, 3));
        json_t *pl = json_pack("{s:s, s:s, s:s%}", "maCSKCB", req->user->facility_code, "maLK", db_val(r, i, 1),
                               "file", env.data, env.len);
        char *pls = json_dumps(pl, JSON_COMPACT);
        json_decref(pl);
        claim_buf_free(&env);
        int e = outbox_enqueue(&tx, "claims-portal", "claim", key, NULL, pls);
        free(pls);
        if (e < 0)
            break;
        db_q(&tx,
             "INSERT INTO claims.submissions (item_id, ma_lk, content_sha256, outbox_key, created_by) "
             "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (outbox_key) DO NOTHING",
             db_val(r, i, 0), db_val(r, i, 1), db_val(r, i, 3), key, req_ll(req, req->user->id));
        db_q(&tx,
             "UPDATE claims.batch_items SET state = 'sent', submissions = submissions + 1, sent_at = now() "
             "WHERE id = $1",
             db_val(r, i, 0));
        audit_record(&tx, req, "submit", "claim", db_val(r, i, 1), db_ll(r, i, 4), "ok", NULL);
        queued++;
    }
    if (tx.failed) {
        req_tx_fail(req, &tx);
        return;
    }
    json_t *j = json_pack("{s:I, s:i, s:I, s:I, s:I, s:b}", "id", (json_int_t)id, "queued", queued, "skipped_invalid",
                          (json_int_t)db_ll(c, 0, 0), "skipped_rejected", (json_int_t)db_ll(c, 0, 1),
                          "already_sent", (json_int_t)db_ll(c, 0, 2), "portal_configured",
                          config_get(req->app->cfg, CFG_CLAIMS_PORTAL_URL) != NULL);
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    if (queued)
        outbox_kick();
    http_reply_json(req, 202, j);
}

static void handle_list(http_req_t *req)
{
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q0(&tx, "SELECT b.id, to_char(b.month, 'YYYY-MM'), count(i.id), "
                             " count(i.id) FILTER (WHERE i.state = 'invalid'), "
                             " count(i.id) FILTER (WHERE i.state = 'accepted') "
                             "FROM claims.batches b LEFT JOIN claims.batch_items i ON i.batch_id = b.id "
                             "GROUP BY b.id ORDER BY b.month DESC LIMIT 200");
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(items, json_pack("{s:I, s:s, s:I, s:I, s:I}", "id", (json_int_t)db_ll(r, i, 0),
                                               "month", db_val(r, i, 1), "visits", (json_int_t)db_ll(r, i, 2),
                                               "invalid", (json_int_t)db_ll(r, i, 3), "accepted",
                                               (json_int_t)db_ll(r, i, 4)));
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(items);
        return;
    }
    http_reply_json(req, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)json_array_size(items)));
}

void claims_register_routes(void)
{
    claims_portal_register();
    http_route("GET", "/api/v1/claims/batches", handle_list, CLAIMS_ROLES, 0);
    http_route("POST", "/api/v1/claims/batches", handle_create, CLAIMS_ROLES, 0);
    http_route("GET", "/api/v1/claims/batches/{id}", handle_get, CLAIMS_ROLES, 0);
    http_route("POST", "/api/v1/claims/batches/{id}/rebuild", handle_rebuild, CLAIMS_ROLES, 0);
    http_route("GET", "/api/v1/claims/batches/{id}/visits/{visit_id}", handle_visit, CLAIMS_ROLES, 0);
    http_route("GET", "/api/v1/claims/batches/{id}/file", handle_file, CLAIMS_ROLES, 0);
    http_route("POST", "/api/v1/claims/batches/{id}/submit", handle_submit, CLAIMS_ROLES, 0);
}
