/* Households at commune stations (issue 4 point 4): household code, commune,
 * village, address, head and members with their relationship; move a member
 * between households. A commune worker sees and edits only the households of
 * their own commune: row-level security keeps them inside their station
 * (facility), and the handlers also refuse a commune other than the
 * worker's own. Every read and write is audited. */
#include "his/modules.h"
#include "his/patients.h"

#include "core/auth.h"
#include "core/handler.h"
#include "core/text.h"

#include <stdlib.h>
#include <string.h>

#define HOUSEHOLD_ROLES (ROLE_COMMUNE_WORKER | ROLE_ADMIN)
#define LIST_DEFAULT 50
#define LIST_MAX 200
#define OFFSET_MAX 10000
#define MEMBERS_MAX 30

static const char *const relationships[] = {"head", "spouse", "child", "parent", "grandchild", "grandparent",
                                            "sibling", "child_in_law", "other", NULL};

static bool relationship_ok(const char *s)
{
    for (const char *const *r = relationships; *r; r++)
        if (!strcmp(*r, s))
            return true;
    return false;
}

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The commune a caller may work in: a commune worker's own, NULL (any in
 * the facility) for an admin. */
static const char *own_commune(http_req_t *req)
{
    if (req->user && !strcmp(req->user->role, "commune_worker"))
        return req->user->commune_code ? req->user->commune_code : "-";
    return NULL;
}

/* The commune the handler's own checks hold the caller to (beside RLS):
 * none in a test build run with HIS_TEST_DISABLE_HANDLER_SCOPE=1. */
static const char *scope_commune(http_req_t *req)
{
    return req_handler_scope_disabled() ? NULL : own_commune(req);
}

#define HH_COLS "h.id, h.code, h.province_code, h.commune_code, h.village, h.address, h.head_patient_id, h.version, " \
                "to_char(h.updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF')"

/* Loads one household visible to the caller (RLS) in the caller's commune;
 * FOR UPDATE when lock. NULL result with *found false: not there for them. */
static PGresult *load_household(db_tx_t *tx, http_req_t *req, long long id, bool lock, bool *found)
{
    PGresult *r = db_q(tx,
                       lock ? "SELECT " HH_COLS " FROM clinical.households h WHERE h.id = $1 "
                              "AND ($2::text IS NULL OR h.commune_code = $2) FOR UPDATE"
                            : "SELECT " HH_COLS " FROM clinical.households h WHERE h.id = $1 "
                              "AND ($2::text IS NULL OR h.commune_code = $2)",
                       req_ll(req, id), scope_commune(req));
    *found = r && PQntuples(r) == 1;
    return r;
}

static json_t *household_json(PGresult *h, int row)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer(db_ll(h, row, 0)));
    json_object_set_new(j, "code", jstr(db_val(h, row, 1)));
    json_object_set_new(j, "province_code", jstr(db_val(h, row, 2)));
    json_object_set_new(j, "commune_code", jstr(db_val(h, row, 3)));
    json_object_set_new(j, "village", jstr(db_val(h, row, 4)));
    json_object_set_new(j, "address", jstr(db_val(h, row, 5)));
    json_object_set_new(j, "head_patient_id", db_val(h, row, 6) ? json_integer(db_ll(h, row, 6)) : json_null());
    json_object_set_new(j, "version", json_integer(db_ll(h, row, 7)));
    json_object_set_new(j, "updated_at", jstr(db_val(h, row, 8)));
    json_object_set_new(j, "members", json_array());
    return j;
}

/* Fills "members" of each household object in hs (keyed by id) with one query. */
static int add_members(db_tx_t *tx, http_req_t *req, json_t *hs)
{
    if (json_array_size(hs) == 0)
        return 0;
    const char *ids = "{";
    for (size_t i = 0; i < json_array_size(hs); i++)
        ids = arena_printf(req->arena, "%s%s%lld", ids, i ? "," : "",
                           (long long)json_integer_value(json_object_get(json_array_get(hs, i), "id")));
    ids = arena_printf(req->arena, "%s}", ids);
    PGresult *r = db_q(tx,
                       "SELECT m.household_id, m.patient_id, m.relationship, p.full_name, "
                       "coalesce(to_char(p.birth_date, 'YYYY-MM-DD'), p.birth_year::text), p.sex, "
                       "to_char(m.joined_at, 'YYYY-MM-DD') "
                       "FROM clinical.household_members m JOIN clinical.patients p ON p.id = m.patient_id "
                       "WHERE m.household_id = ANY($1::bigint[]) AND m.left_at IS NULL "
                       "ORDER BY m.household_id, m.relationship <> 'head', p.birth_year, m.id",
                       ids);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *m = json_object();
        json_object_set_new(m, "patient_id", json_integer(db_ll(r, i, 1)));
        json_object_set_new(m, "relationship", jstr(db_val(r, i, 2)));
        json_object_set_new(m, "full_name", jstr(db_val(r, i, 3)));
        json_object_set_new(m, "birth_date", jstr(db_val(r, i, 4)));
        json_object_set_new(m, "sex", jstr(db_val(r, i, 5)));
        json_object_set_new(m, "joined_at", jstr(db_val(r, i, 6)));
        for (size_t k = 0; k < json_array_size(hs); k++) {
            json_t *h = json_array_get(hs, k);
            if (json_integer_value(json_object_get(h, "id")) == db_ll(r, i, 0)) {
                json_array_append(json_object_get(h, "members"), m);
                break;
            }
        }
        json_decref(m);
    }
    return 0;
}

/* The household with its members, as replied by most handlers. */
static json_t *household_full(db_tx_t *tx, http_req_t *req, long long id)
{
    bool found;
    PGresult *h = load_household(tx, req, id, false, &found);
    if (!found)
        return NULL;
    json_t *arr = json_array();
    json_array_append_new(arr, household_json(h, 0));
    if (add_members(tx, req, arr) < 0) {
        json_decref(arr);
        return NULL;
    }
    json_t *one = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    return one;
}

static void reply_hh_not_found(http_req_t *req, const char *action, long long id)
{
    audit_record_alone(req, action, "household", req_ll(req, id), 0, "not_found", NULL);
    http_problem(req, 404, NULL, http_t(req, "Không tìm thấy hộ gia đình", "household not found"));
}

/* ---- members: an existing patient or a new one ------------------------- */

struct member_in {
    long long patient_id;          /* 0: new patient */
    struct patient_rec p;
    const char *relationship;
    bool confirm_new;
};

static void parse_member(json_t *o, const char *prefix, struct member_in *m, verr_t *v, http_req_t *req)
{
    memset(m, 0, sizeof *m);
    const char *fr = arena_printf(req->arena, "%srelationship", prefix);
    m->relationship = json_str_field(o, "relationship", fr, true, 20, v, req);
    if (m->relationship && !relationship_ok(m->relationship))
        verr_add(v, fr, http_t(req, "Quan hệ phải là một trong: head, spouse, child, parent, grandchild, grandparent, "
                                    "sibling, child_in_law, other",
                               "relationship must be one of head, spouse, child, parent, grandchild, grandparent, "
                               "sibling, child_in_law, other"));
    json_t *np = json_object_get(o, "patient");
    bool has_id = json_object_get(o, "patient_id") != NULL;
    if (has_id) {
        json_int_field(o, "patient_id", arena_printf(req->arena, "%spatient_id", prefix), true, 1,
                       999999999999999LL, &m->patient_id, v, req);
    } else if (np && json_is_object(np)) {
        const char *pp = arena_printf(req->arena, "%spatient.", prefix);
        patient_rec_defaults(&m->p);
        patient_rec_from_json(np, pp, &m->p, v, req);
        if (!verr_any(v))
            patient_rec_check(&m->p, pp, v, req);
        m->confirm_new = json_is_true(json_object_get(o, "confirm_new"));
    } else {
        verr_add(v, arena_printf(req->arena, "%spatient_id", prefix),
                 http_t(req, "Cần patient_id hoặc đối tượng patient", "patient_id or a patient object is required"));
    }
}

enum add_result { ADD_OK, ADD_FAILED, ADD_REPLIED };

/* Adds one member to household hid (already checked visible). Replies itself
 * for the expected refusals (unknown patient, duplicate, already a member). */
static enum add_result add_member(db_tx_t *tx, http_req_t *req, long long hid, struct member_in *m, const char *prefix)
{
    if (m->patient_id == 0) {
        json_t *cands = patient_duplicates(tx, &m->p);
        if (!cands)
            return ADD_FAILED;
        if (json_array_size(cands) && !m->confirm_new) {
            db_tx_rollback(tx);
            patient_reply_duplicates(req, cands);
            return ADD_REPLIED;
        }
        json_decref(cands);
        PGresult *r = patient_insert(tx, &m->p);
        if (!r)
            return ADD_FAILED;
        m->patient_id = db_ll(r, 0, 0);
        audit_record(tx, req, "create", "patient", req_ll(req, m->patient_id), m->patient_id, "ok",
                     arena_printf(req->arena, "household=%lld", hid));
    } else {
        PGresult *p = db_q(tx, "SELECT merged_into FROM clinical.patients WHERE id = $1 FOR UPDATE",
                           req_ll(req, m->patient_id));
        if (!p)
            return ADD_FAILED;
        if (PQntuples(p) == 0 || db_val(p, 0, 0)) {
            db_tx_rollback(tx);
            audit_record_alone(req, "add_member", "household", req_ll(req, hid), m->patient_id, "not_found", NULL);
            http_problem_field(req, 422, arena_printf(req->arena, "%spatient_id", prefix),
                               http_t(req, "Không tìm thấy bệnh nhân", "patient not found"));
            return ADD_REPLIED;
        }
    }
    PGresult *cur = db_q(tx, "SELECT household_id FROM clinical.household_members WHERE patient_id = $1 AND left_at IS NULL",
                         req_ll(req, m->patient_id));
    if (!cur)
        return ADD_FAILED;
    if (PQntuples(cur) > 0) {
        db_tx_rollback(tx);
        http_problem_field(req, 409, arena_printf(req->arena, "%spatient_id", prefix),
                           arena_printf(req->arena, "%s %s", http_t(req, "Bệnh nhân đang thuộc hộ", "the patient is a member of household"),
                                        db_val(cur, 0, 0)));
        return ADD_REPLIED;
    }
    if (!strcmp(m->relationship, "head")) {
        PGresult *h = db_q(tx, "UPDATE clinical.households SET head_patient_id = $2 WHERE id = $1 AND head_patient_id IS NULL",
                           req_ll(req, hid), req_ll(req, m->patient_id));
        if (!h)
            return ADD_FAILED;
        if (atoi(PQcmdTuples(h)) == 0) {
            db_tx_rollback(tx);
            http_problem_field(req, 409, arena_printf(req->arena, "%srelationship", prefix),
                               http_t(req, "Hộ đã có chủ hộ", "the household has a head already"));
            return ADD_REPLIED;
        }
    }
    PGresult *ins = db_q(tx, "INSERT INTO clinical.household_members (household_id, patient_id, relationship) "
                             "VALUES ($1, $2, $3)",
                         req_ll(req, hid), req_ll(req, m->patient_id), m->relationship);
    if (!ins)
        return ADD_FAILED;
    audit_record(tx, req, "add_member", "household", req_ll(req, hid), m->patient_id, "ok",
                 arena_printf(req->arena, "relationship=%s", m->relationship));
    return ADD_OK;
}

/* ---- POST /households --------------------------------------------------- */

struct household_in {
    const char *code, *province_code, *commune_code, *village, *address;
};

static bool digits(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool code_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 30)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._-", s[i]))
            return false;
    return true;
}

static void take(json_t *o, const char *key, size_t max, const char **dst, verr_t *v, http_req_t *req)
{
    json_t *j = json_object_get(o, key);
    if (!j)
        return;
    if (json_is_null(j)) {
        *dst = NULL;
        return;
    }
    const char *s = json_str_field(o, key, key, false, max, v, req);
    if (s)
        *dst = *s ? s : NULL;
}

static void parse_household(json_t *body, struct household_in *h, verr_t *v, http_req_t *req)
{
    take(body, "code", 30, &h->code, v, req);
    take(body, "province_code", 2, &h->province_code, v, req);
    take(body, "commune_code", 5, &h->commune_code, v, req);
    take(body, "village", 100, &h->village, v, req);
    take(body, "address", 300, &h->address, v, req);
    if (h->code && !code_ok(h->code))
        verr_add(v, "code", http_t(req, "Mã hộ: chữ, số, . _ - (tối đa 30)", "code: letters, digits, . _ - (at most 30)"));
    if (h->province_code && !digits(h->province_code, 2))
        verr_add(v, "province_code", http_t(req, "Mã tỉnh gồm 2 chữ số", "the province code has 2 digits"));
    if (!h->commune_code)
        verr_add(v, "commune_code", http_t(req, "Bắt buộc", "required"));
    else if (!digits(h->commune_code, 5))
        verr_add(v, "commune_code", http_t(req, "Mã xã gồm 5 chữ số", "the commune code has 5 digits"));
    if (h->village && !text_valid_utf8(h->village, strlen(h->village)))
        verr_add(v, "village", http_t(req, "Ký tự không hợp lệ", "invalid characters"));
    if (h->address && !text_valid_utf8(h->address, strlen(h->address)))
        verr_add(v, "address", http_t(req, "Ký tự không hợp lệ", "invalid characters"));
}

static void handle_create(http_req_t *req)
{
    json_t *body = http_json_body(req);
    if (!body)
        return;
    verr_t v;
    verr_init(&v);
    struct household_in h = {0};
    const char *own = own_commune(req);
    h.commune_code = own; /* a commune worker's own commune by default */
    h.province_code = req->user ? req->user->province_code : NULL;
    parse_household(body, &h, &v, req);
    if (scope_commune(req) && h.commune_code && strcmp(h.commune_code, own) != 0)
        verr_add(&v, "commune_code", http_t(req, "Chỉ được tạo hộ trong xã của mình", "only households of your own commune"));
    json_t *ms = json_object_get(body, "members");
    struct member_in *members = NULL;
    size_t nm = 0;
    if (ms && !json_is_array(ms))
        verr_add(&v, "members", http_t(req, "Phải là một danh sách", "must be a list"));
    else if (ms && json_array_size(ms) > MEMBERS_MAX)
        verr_add(&v, "members", http_t(req, "Tối đa 30 thành viên", "at most 30 members"));
    else if (ms) {
        nm = json_array_size(ms);
        members = arena_calloc(req->arena, nm ? nm : 1, sizeof *members);
        for (size_t i = 0; i < nm; i++) {
            json_t *o = json_array_get(ms, i);
            const char *pre = arena_printf(req->arena, "members[%zu].", i);
            if (!json_is_object(o))
                verr_add(&v, arena_printf(req->arena, "members[%zu]", i), http_t(req, "Phải là một đối tượng", "must be an object"));
            else
                parse_member(o, pre, &members[i], &v, req);
        }
    }
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    if (req_idempotent_replay(req, &tx))
        return;
    PGresult *r = h.code ? db_q(&tx, "INSERT INTO clinical.households (code, province_code, commune_code, village, address) "
                                     "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                                h.code, h.province_code, h.commune_code, h.village, h.address)
                         : db_q(&tx, "INSERT INTO clinical.households (province_code, commune_code, village, address) "
                                     "VALUES ($1, $2, $3, $4) RETURNING id",
                                h.province_code, h.commune_code, h.village, h.address);
    if (!r) {
        if (db_is_unique_violation(&tx)) {
            db_tx_rollback(&tx);
            http_problem_field(req, 409, "code", http_t(req, "Mã hộ đã tồn tại", "the household code exists already"));
        } else {
            req_tx_fail(req, &tx);
        }
        return;
    }
    long long id = db_ll(r, 0, 0);
    audit_record(&tx, req, "create", "household", req_ll(req, id), 0, "ok", NULL);
    for (size_t i = 0; i < nm; i++) {
        enum add_result a = add_member(&tx, req, id, &members[i], arena_printf(req->arena, "members[%zu].", i));
        if (a == ADD_REPLIED)
            return;
        if (a == ADD_FAILED) {
            req_tx_fail(req, &tx);
            return;
        }
    }
    json_t *j = household_full(&tx, req, id);
    if (!j) {
        req_tx_fail(req, &tx);
        return;
    }
    req_set_etag(req, json_integer_value(json_object_get(j, "version")));
    http_add_header(req, "Location", arena_printf(req->arena, "/api/v1/households/%lld", id));
    http_reply_json(req, 201, j);
    req_idempotent_store(req, &tx);
    req_tx_commit(req, &tx);
}

/* ---- GET /households ---------------------------------------------------- */

/* Escapes LIKE's pattern characters so user text matches literally. */
static const char *like_escape(http_req_t *req, const char *s)
{
    char *out = arena_alloc(req->arena, 2 * strlen(s) + 1), *o = out;
    for (; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            *o++ = '\\';
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

static bool list_params(http_req_t *req, long long *limit, long long *offset)
{
    const char *l = http_query(req, "limit"), *o = http_query(req, "offset");
    char *end;
    *limit = LIST_DEFAULT;
    *offset = 0;
    if (l && ((*limit = strtoll(l, &end, 10)) < 1 || *end || *limit > LIST_MAX)) {
        http_problem_field(req, 422, "limit", http_t(req, "limit phải từ 1 đến 200", "limit must be 1 to 200"));
        return false;
    }
    if (o && ((*offset = strtoll(o, &end, 10)) < 0 || *end || *offset > OFFSET_MAX)) {
        http_problem_field(req, 422, "offset", http_t(req, "offset phải từ 0 đến 10000", "offset must be 0 to 10000"));
        return false;
    }
    return true;
}

static void handle_list(http_req_t *req)
{
    long long limit, offset;
    if (!list_params(req, &limit, &offset))
        return;
    const char *q = http_query(req, "q"), *village = http_query(req, "village");
    if ((q && strlen(q) > 100) || (village && strlen(village) > 100)) {
        http_problem_field(req, 422, q && strlen(q) > 100 ? "q" : "village", http_t(req, "Tối đa 100 ký tự", "at most 100 characters"));
        return;
    }
    char fq[420] = "";
    if (q)
        text_fold(q, fq, sizeof fq);
    /* The village is matched case-insensitively with its diacritics (it is
     * not stored folded); the head's name is matched folded. */
    const char *fv = village ? like_escape(req, village) : "";
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    /* q: the household code's start or the head's folded name; village: folded match. */
    PGresult *r = db_q(&tx,
                       "SELECT " HH_COLS ", count(*) OVER () FROM clinical.households h "
                       "LEFT JOIN clinical.patients hp ON hp.id = h.head_patient_id "
                       "WHERE ($1::text IS NULL OR h.commune_code = $1) "
                       "AND ($2 = '' OR lower(h.code) LIKE $2 || '%' OR (' ' || hp.name_fold) LIKE '% ' || $2 || '%') "
                       "AND ($3 = '' OR lower(h.village) LIKE '%' || lower($3) || '%') "
                       "ORDER BY h.village NULLS LAST, h.code LIMIT $4 OFFSET $5",
                       scope_commune(req), like_escape(req, fq), fv, req_ll(req, limit), req_ll(req, offset));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(items, household_json(r, i));
    if (add_members(&tx, req, items) < 0) {
        json_decref(items);
        req_tx_fail(req, &tx);
        return;
    }
    long long total = PQntuples(r) ? db_ll(r, 0, 9) : 0;
    audit_record(&tx, req, "search", "household", NULL, 0, "ok",
                 arena_printf(req->arena, "returned=%d total=%lld", PQntuples(r), total));
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(items);
        return;
    }
    json_t *j = json_object();
    json_object_set_new(j, "items", items);
    json_object_set_new(j, "total", json_integer(total));
    json_object_set_new(j, "limit", json_integer(limit));
    json_object_set_new(j, "offset", json_integer(offset));
    http_reply_json(req, 200, j);
}

/* ---- GET /households/{id} ----------------------------------------------- */

static void handle_get(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    json_t *j = household_full(&tx, req, id);
    if (!j) {
        if (tx.failed) {
            req_tx_fail(req, &tx);
            return;
        }
        db_tx_rollback(&tx);
        reply_hh_not_found(req, "read", id);
        return;
    }
    audit_record(&tx, req, "read", "household", req_ll(req, id), 0, "ok",
                 arena_printf(req->arena, "members=%zu", json_array_size(json_object_get(j, "members"))));
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    req_set_etag(req, json_integer_value(json_object_get(j, "version")));
    http_reply_json(req, 200, j);
}

/* ---- POST /households/{id}/members -------------------------------------- */

static void handle_add_member(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    json_t *body = http_json_body(req);
    if (!body)
        return;
    verr_t v;
    verr_init(&v);
    struct member_in m;
    parse_member(body, "", &m, &v, req);
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    if (req_idempotent_replay(req, &tx))
        return;
    bool found;
    PGresult *h = load_household(&tx, req, id, true, &found);
    if (!h) {
        req_tx_fail(req, &tx);
        return;
    }
    if (!found) {
        db_tx_rollback(&tx);
        reply_hh_not_found(req, "add_member", id);
        return;
    }
    enum add_result a = add_member(&tx, req, id, &m, "");
    if (a == ADD_REPLIED)
        return;
    PGresult *u = a == ADD_OK ? db_q(&tx, "UPDATE clinical.households SET version = version + 1, updated_at = now() "
                                          "WHERE id = $1", req_ll(req, id)) : NULL;
    json_t *j = u ? household_full(&tx, req, id) : NULL;
    if (!j) {
        req_tx_fail(req, &tx);
        return;
    }
    req_set_etag(req, json_integer_value(json_object_get(j, "version")));
    http_reply_json(req, 201, j);
    req_idempotent_store(req, &tx);
    req_tx_commit(req, &tx);
}

/* ---- POST /households/{id}/members/{patient_id}/move -------------------- */

static void handle_move(http_req_t *req)
{
    long long id, pid, to = 0;
    if (!req_id_param(req, "id", &id) || !req_id_param(req, "patient_id", &pid))
        return;
    json_t *body = http_json_body(req);
    if (!body)
        return;
    verr_t v;
    verr_init(&v);
    json_int_field(body, "to_household_id", "to_household_id", true, 1, 999999999999999LL, &to, &v, req);
    const char *rel = json_str_field(body, "relationship", "relationship", false, 20, &v, req);
    if (rel && !relationship_ok(rel))
        verr_add(&v, "relationship", http_t(req, "Quan hệ không hợp lệ", "unknown relationship"));
    if (!verr_any(&v) && to == id)
        verr_add(&v, "to_household_id", http_t(req, "Hộ đích trùng hộ hiện tại", "the target is the same household"));
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    /* Lock both households in id order (no deadlock between crossed moves). */
    bool f1, f2;
    PGresult *h1 = load_household(&tx, req, id < to ? id : to, true, &f1);
    PGresult *h2 = h1 ? load_household(&tx, req, id < to ? to : id, true, &f2) : NULL;
    if (!h1 || !h2) {
        req_tx_fail(req, &tx);
        return;
    }
    if (!f1 || !f2) {
        db_tx_rollback(&tx);
        audit_record_alone(req, "move_member", "household", req_ll(req, id), 0, "not_found",
                           arena_printf(req->arena, "to=%lld", to));
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy hộ gia đình", "household not found"));
        return;
    }
    PGresult *m = db_q(&tx, "UPDATE clinical.household_members SET left_at = now() "
                            "WHERE household_id = $1 AND patient_id = $2 AND left_at IS NULL RETURNING relationship",
                       req_ll(req, id), req_ll(req, pid));
    if (!m) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(m) == 0) {
        db_tx_rollback(&tx);
        audit_record_alone(req, "move_member", "household", req_ll(req, id), 0, "not_found", NULL);
        http_problem(req, 404, NULL, http_t(req, "Người này không thuộc hộ", "not a member of the household"));
        return;
    }
    /* A head who moves is no longer head of the old household, and joins the
     * new one as "other" unless told otherwise. */
    const char *old = db_val(m, 0, 0);
    const char *newrel = rel ? rel : (!strcmp(old, "head") ? "other" : old);
    if (!strcmp(newrel, "head")) {
        db_tx_rollback(&tx);
        http_problem_field(req, 422, "relationship", http_t(req, "Đổi chủ hộ bằng PATCH hộ gia đình", "change the head with PATCH on the household"));
        return;
    }
    PGresult *a = db_q(&tx, "UPDATE clinical.households SET head_patient_id = NULL WHERE id = $1 AND head_patient_id = $2",
                       req_ll(req, id), req_ll(req, pid));
    PGresult *b = a ? db_q(&tx, "INSERT INTO clinical.household_members (household_id, patient_id, relationship) "
                                "VALUES ($1, $2, $3)", req_ll(req, to), req_ll(req, pid), newrel) : NULL;
    PGresult *c = b ? db_q(&tx, "UPDATE clinical.households SET version = version + 1, updated_at = now() "
                                "WHERE id IN ($1, $2)", req_ll(req, id), req_ll(req, to)) : NULL;
    json_t *j = c ? household_full(&tx, req, to) : NULL;
    if (!j) {
        req_tx_fail(req, &tx);
        return;
    }
    const char *detail = arena_printf(req->arena, "from=%lld to=%lld relationship=%s", id, to, newrel);
    audit_record(&tx, req, "move_member", "household", req_ll(req, id), pid, "ok", detail);
    audit_record(&tx, req, "move_member", "household", req_ll(req, to), pid, "ok", detail);
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    req_set_etag(req, json_integer_value(json_object_get(j, "version")));
    http_reply_json(req, 200, j);
}

/* ---- PATCH /households/{id} --------------------------------------------- */

static void handle_patch(http_req_t *req)
{
    long long id, want, head = 0;
    if (!req_id_param(req, "id", &id) || !req_if_match(req, &want))
        return;
    json_t *body = http_json_body(req);
    if (!body)
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    bool found;
    PGresult *h = load_household(&tx, req, id, true, &found);
    if (!h) {
        req_tx_fail(req, &tx);
        return;
    }
    if (!found) {
        db_tx_rollback(&tx);
        reply_hh_not_found(req, "update", id);
        return;
    }
    if (db_ll(h, 0, 7) != want) {
        long long cur = db_ll(h, 0, 7);
        db_tx_rollback(&tx);
        audit_record_alone(req, "update", "household", req_ll(req, id), 0, "conflict", NULL);
        req_set_etag(req, cur);
        http_problem_field(req, 412, "If-Match",
                           arena_printf(req->arena, "%s %lld", http_t(req, "Hộ đã được người khác sửa; phiên bản hiện tại",
                                                                      "changed by someone else; current version"), cur));
        return;
    }
    verr_t v;
    verr_init(&v);
    struct household_in in = {db_val(h, 0, 1), db_val(h, 0, 2), db_val(h, 0, 3), db_val(h, 0, 4), db_val(h, 0, 5)};
    parse_household(body, &in, &v, req);
    const char *own = scope_commune(req);
    if (own && in.commune_code && strcmp(in.commune_code, own) != 0)
        verr_add(&v, "commune_code", http_t(req, "Chỉ trong xã của mình", "only your own commune"));
    if (!in.code)
        verr_add(&v, "code", http_t(req, "Bắt buộc", "required"));
    bool head_given = json_object_get(body, "head_patient_id") != NULL;
    if (head_given && !json_is_null(json_object_get(body, "head_patient_id")))
        json_int_field(body, "head_patient_id", "head_patient_id", true, 1, 999999999999999LL, &head, &v, req);
    if (verr_any(&v)) {
        db_tx_rollback(&tx);
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    if (head) { /* the new head must be a current member; their relationship becomes head */
        PGresult *m = db_q(&tx, "SELECT 1 FROM clinical.household_members WHERE household_id = $1 AND patient_id = $2 "
                                "AND left_at IS NULL", req_ll(req, id), req_ll(req, head));
        if (!m) {
            req_tx_fail(req, &tx);
            return;
        }
        if (PQntuples(m) == 0) {
            db_tx_rollback(&tx);
            http_problem_field(req, 422, "head_patient_id", http_t(req, "Chủ hộ phải là thành viên của hộ", "the head must be a member"));
            return;
        }
        db_q(&tx, "UPDATE clinical.household_members SET relationship = 'other' WHERE household_id = $1 "
                  "AND relationship = 'head' AND left_at IS NULL AND patient_id <> $2", req_ll(req, id), req_ll(req, head));
        db_q(&tx, "UPDATE clinical.household_members SET relationship = 'head' WHERE household_id = $1 "
                  "AND patient_id = $2 AND left_at IS NULL", req_ll(req, id), req_ll(req, head));
    }
    const char *head_s = head_given ? (head ? req_ll(req, head) : NULL) : db_val(h, 0, 6);
    PGresult *u = db_q(&tx, "UPDATE clinical.households SET code = $3, province_code = $4, commune_code = $5, village = $6, "
                            "address = $7, head_patient_id = $8::bigint, version = version + 1, updated_at = now() "
                            "WHERE id = $1 AND version = $2",
                       req_ll(req, id), req_ll(req, want), in.code, in.province_code, in.commune_code, in.village,
                       in.address, head_s);
    json_t *j = u ? household_full(&tx, req, id) : NULL;
    if (!j) {
        if (db_is_unique_violation(&tx)) {
            db_tx_rollback(&tx);
            http_problem_field(req, 409, "code", http_t(req, "Mã hộ đã tồn tại", "the household code exists already"));
        } else {
            req_tx_fail(req, &tx);
        }
        return;
    }
    audit_record(&tx, req, "update", "household", req_ll(req, id), head, "ok", NULL);
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    req_set_etag(req, json_integer_value(json_object_get(j, "version")));
    http_reply_json(req, 200, j);
}

void households_register_routes(void)
{
    http_route("POST", "/api/v1/households", handle_create, HOUSEHOLD_ROLES, 0);
    http_route("GET", "/api/v1/households", handle_list, HOUSEHOLD_ROLES, 0);
    http_route("GET", "/api/v1/households/{id}", handle_get, HOUSEHOLD_ROLES, 0);
    http_route("PATCH", "/api/v1/households/{id}", handle_patch, HOUSEHOLD_ROLES, 0);
    http_route("POST", "/api/v1/households/{id}/members", handle_add_member, HOUSEHOLD_ROLES, 0);
    http_route("POST", "/api/v1/households/{id}/members/{patient_id}/move", handle_move, HOUSEHOLD_ROLES, 0);
}
