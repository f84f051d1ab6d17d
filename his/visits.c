/* visits (issue 4 point 2): reception with the insurance coverage
 * snapshotted, vitals, notes, ICD-10 diagnoses, services ordered and their
 * results, closing with outcome, discharge and referral out, and amendment
 * of closed visits by new versions only.
 *
 *   POST  /api/v1/visits                    {patient_id, kind, ...} -> 201 visit (id, ma_lk, ...)
 *   GET   /api/v1/visits?state=&date=       the facility's visits of a day (the doctor's day)
 *   GET   /api/v1/visits/{id}               visit JSON, ETag, versions
 *   PATCH /api/v1/visits/{id}               If-Match; on a closed visit: a new revision
 *   POST  /api/v1/visits/{id}/close         {outcome, discharge, referral: {to, reason}}
 *   GET   /api/v1/visits/{id}/versions[/{revision}]
 *   GET   /api/v1/patients/{id}/visits      history, newest first, paged
 *
 * The visit JSON is built by clinical.visit_json() (schema/003) so the API
 * and the stored versions can never drift apart. Facility scope is row-level
 * security; every read and write is audited in its transaction. */
#include "his/modules.h"
#include "core/handler.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VISIT_ROLES (ROLE_DOCTOR | ROLE_NURSE)
#define VISIT_MAX_SECONDARY 12 /* MA_BENH_KT: at most 12 codes */
#define VISIT_MAX_SERVICES 200
#define VISIT_LIST_DEFAULT 50
#define VISIT_LIST_MAX 200
#define VISIT_OFFSET_MAX 100000

bool catalog_icd10_normalize(const char *in, char *out, size_t outlen);

/* ---- coverage at reception (pure) -------------------------------------- */

struct visit_coverage_in {
    const char *card_number;      /* NULL: no card */
    const char *valid_from, *valid_to; /* "YYYY-MM-DD" or NULL */
    const char *primary_facility; /* MA_DKBD */
    const char *facility_code, *facility_level;
    const char *kind;             /* outpatient | inpatient | emergency */
    const char *referral_from;    /* MA_NOI_DI when a referral paper was shown */
    const char *date;             /* reception date "YYYY-MM-DD" */
};

struct visit_coverage {
    int level;            /* card digit 3, 0 without a card */
    bool card_valid;      /* valid on the reception date */
    const char *route;
    int benefit_percent;  /* by level: 100/100/95/80/100 */
    int route_percent;    /* share paid for this route and facility */
    double coverage_percent;
};

void visit_coverage_decide(const struct visit_coverage_in *in, struct visit_coverage *out);
const char *visit_coverage_of(const char *card, const char *valid_from, const char *valid_to, const char *primary,
                              const char *facility_code, const char *facility_level, const char *kind,
                              const char *referral_from, const char *date, int out_pct[3], bool *card_valid);
bool visit_ts_ok(const char *s);
int visit_outcome_code(json_t *j);
int visit_discharge_code(json_t *j);

/* Route and share from the card and the facility, as the reference states
 * them (vn-standards.md §2.2-2.3, Law 51/2024 with Decree 188/2025):
 * emergency, the registered facility and a referral paper pay the card's full
 * benefit anywhere; elsewhere primary-level (commune stations) and basic-level
 * (district) facilities pay in full ("free route"); a provincial hospital pays
 * 100 % of inpatient care, and outpatient care 0 % until 30/06/2026 and 50 %
 * from 01/07/2026. A card not valid on the day covers nothing. The final
 * MA_DOITUONG_KCB and MUC_HUONG are the claims module's, at discharge. */
void visit_coverage_decide(const struct visit_coverage_in *in, struct visit_coverage *out)
{
    static const int benefit[6] = {0, 100, 100, 95, 80, 100};
    memset(out, 0, sizeof *out);
    out->route = "uninsured";
    if (!in->card_number || strlen(in->card_number) < 3 || in->card_number[2] < '1' || in->card_number[2] > '5')
        return;
    out->level = in->card_number[2] - '0';
    out->benefit_percent = benefit[out->level];
    out->card_valid = (!in->valid_from || strcmp(in->valid_from, in->date) <= 0) &&
                      (!in->valid_to || strcmp(in->date, in->valid_to) <= 0);
    if (!out->card_valid)
        return;
    const char *lvl = in->facility_level ? in->facility_level : "";
    bool inpatient = in->kind && strcmp(in->kind, "inpatient") == 0;
    if (in->kind && strcmp(in->kind, "emergency") == 0) {
        out->route = "emergency";
        out->route_percent = 100;
    } else if (in->primary_facility && in->facility_code && strcmp(in->primary_facility, in->facility_code) == 0) {
        out->route = "correct_route";
        out->route_percent = 100;
    } else if (in->referral_from && *in->referral_from) {
        out->route = "referral";
        out->route_percent = 100;
    } else if (strcmp(lvl, "commune_station") == 0 || strcmp(lvl, "district_hospital") == 0) {
        out->route = "free_route";
        out->route_percent = 100;
    } else if (strcmp(lvl, "provincial_hospital") == 0) {
        out->route = "wrong_route";
        out->route_percent = inpatient ? 100 : strcmp(in->date, "2026-07-01") >= 0 ? 50 : 0;
    } else {
        out->route = "wrong_route";
        out->route_percent = 0;
    }
    out->coverage_percent = out->benefit_percent * out->route_percent / 100.0;
}

/* The same with plain arguments, for callers outside this file (the demo
 * seed, unit tests): returns the route; out_pct = {level, benefit %, route
 * %}; the coverage is benefit x route / 100. */
const char *visit_coverage_of(const char *card, const char *valid_from, const char *valid_to, const char *primary,
                              const char *facility_code, const char *facility_level, const char *kind,
                              const char *referral_from, const char *date, int out_pct[3], bool *card_valid)
{
    struct visit_coverage_in in = {card, valid_from, valid_to, primary, facility_code, facility_level, kind,
                                   referral_from, date};
    struct visit_coverage co;
    visit_coverage_decide(&in, &co);
    out_pct[0] = co.level;
    out_pct[1] = co.benefit_percent;
    out_pct[2] = co.route_percent;
    *card_valid = co.card_valid;
    return co.route;
}

/* ISO 8601 date-time as PostgreSQL reads it unambiguously:
 * YYYY-MM-DD[T ]HH:MM[:SS[.frac]][Z|+HH[:MM]|-HH[:MM]]. */
bool visit_ts_ok(const char *s)
{
    if (!s || strlen(s) > 40)
        return false;
    const char *shape = "dddd-dd-dd?dd:dd";
    for (size_t i = 0; shape[i]; i++)
        if (!s[i])
            return false;
    /* a real calendar day and time of day */
    int y = atoi(s), mo = atoi(s + 5), d = atoi(s + 8), h = atoi(s + 11), mi = atoi(s + 14);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 2200 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 ||
        d > mdays[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
        return false;
    for (size_t i = 0; shape[i]; i++, s++) {
        if (shape[i] == 'd' && !isdigit((unsigned char)*s))
            return false;
        if (shape[i] == '?' && *s != 'T' && *s != ' ')
            return false;
        if (shape[i] != 'd' && shape[i] != '?' && *s != shape[i])
            return false;
    }
    if (*s == ':') {
        if (!isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]))
            return false;
        s += 3;
        if (*s == '.') {
            s++;
            if (!isdigit((unsigned char)*s))
                return false;
            while (isdigit((unsigned char)*s))
                s++;
        }
    }
    if (*s == 'Z')
        return s[1] == '\0';
    if (*s == '+' || *s == '-') {
        if (!isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]))
            return false;
        s += 3;
        if (*s == ':')
            s++;
        if (*s && !(isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) && s[2] == '\0'))
            return false;
        return true;
    }
    return *s == '\0';
}

/* KET_QUA_DTRI: the code 1-8 or its English name; 0 if neither. */
int visit_outcome_code(json_t *j)
{
    static const char *const names[] = {NULL, "cured", "improved", "unchanged", "worse", "died",
                                        "grave_prognosis", "undetermined", "died_outside"};
    if (json_is_integer(j))
        return json_integer_value(j) >= 1 && json_integer_value(j) <= 8 ? (int)json_integer_value(j) : 0;
    if (json_is_string(j))
        for (int i = 1; i <= 8; i++)
            if (strcmp(json_string_value(j), names[i]) == 0)
                return i;
    return 0;
}

/* MA_LOAI_RV: the code 1-5 or its English name; 0 if neither. */
int visit_discharge_code(json_t *j)
{
    static const char *const names[] = {NULL, "discharged", "referred", "absconded", "on_request",
                                        "referred_on_request"};
    if (json_is_integer(j))
        return json_integer_value(j) >= 1 && json_integer_value(j) <= 5 ? (int)json_integer_value(j) : 0;
    if (json_is_string(j))
        for (int i = 1; i <= 5; i++)
            if (strcmp(json_string_value(j), names[i]) == 0)
                return i;
    return 0;
}

/* ---- shared pieces ------------------------------------------------------ */

static bool role_is(http_req_t *req, const char *role)
{
    return req->user && req->user->role && strcmp(req->user->role, role) == 0;
}

static void reply_not_found(http_req_t *req, const char *action, long long id)
{
    audit_record_alone(req, action, "visit", req_ll(req, id), 0, "not_found", NULL);
    http_problem(req, 404, NULL, http_t(req, "Không tìm thấy lượt khám", "visit not found"));
}

/* 412 with the current version so the client can re-read; nothing changed. */
static void reply_stale(http_req_t *req, long long id, long long patient_id, long long current)
{
    audit_record_alone(req, "update", "visit", req_ll(req, id), patient_id, "conflict", NULL);
    req_set_etag(req, current);
    http_problem_field(req, 412, "If-Match",
                       arena_printf(req->arena, "%s (%lld)",
                                    http_t(req, "Lượt khám đã được người khác sửa; hãy tải lại phiên bản hiện tại",
                                           "the visit was changed meanwhile; reload the current version"),
                                    current));
}

/* The whole visit with its versions list, as text straight from the
 * database, plus its version and patient for ETag and audit. */
static PGresult *visit_fetch(db_tx_t *tx, http_req_t *req, long long id)
{
    return db_q(tx,
                "SELECT (clinical.visit_json(v.id) || jsonb_build_object('versions', coalesce(("
                "          SELECT jsonb_agg(jsonb_build_object('revision', w.revision, 'version', w.version, "
                "                 'superseded_at', w.superseded_at, 'superseded_by', w.superseded_by, "
                "                 'reason', w.reason) ORDER BY w.revision) "
                "          FROM clinical.visit_versions w WHERE w.visit_id = v.id), '[]'::jsonb)))::text, "
                "       v.version, v.patient_id "
                "FROM clinical.visits v WHERE v.id = $1",
                req_ll(req, id));
}

/* Replies with the visit read in this transaction, after auditing and
 * committing; status 200 or 201. */
static void reply_visit(http_req_t *req, db_tx_t *tx, long long id, int status, const char *action,
                        const char *detail, bool idempotent)
{
    PGresult *r = visit_fetch(tx, req, id);
    if (!r || PQntuples(r) == 0) {
        req_tx_fail(req, tx);
        return;
    }
    long long patient_id = db_ll(r, 0, 2);
    audit_record(tx, req, action, "visit", req_ll(req, id), patient_id, "ok", detail);
    const char *body = db_val(r, 0, 0);
    req_set_etag(req, db_ll(r, 0, 1));
    http_reply_raw(req, status, "application/json; charset=utf-8", body, strlen(body));
    if (idempotent)
        req_idempotent_store(req, tx);
    req_tx_commit(req, tx);
}

static bool page_params(http_req_t *req, verr_t *v, long long *limit, long long *offset)
{
    *limit = VISIT_LIST_DEFAULT;
    *offset = 0;
    const char *l = http_query(req, "limit"), *o = http_query(req, "offset");
    char *end;
    if (l) {
        *limit = strtoll(l, &end, 10);
        if (*end || end == l || *limit < 1 || *limit > VISIT_LIST_MAX)
            verr_add(v, "limit", http_t(req, "Phải từ 1 đến 200", "must be 1 to 200"));
    }
    if (o) {
        *offset = strtoll(o, &end, 10);
        if (*end || end == o || *offset < 0 || *offset > VISIT_OFFSET_MAX)
            verr_add(v, "offset", http_t(req, "Phải từ 0 đến 100000", "must be 0 to 100000"));
    }
    return !verr_any(v);
}

/* A facility code (MA_NOI_DI / MA_NOI_DEN): 2-digit province, 3 of [0-9A-Z]. */
static bool facility_code_ok(const char *s)
{
    if (!s || strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
        return false;
    for (int i = 2; i < 5; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'A' && s[i] <= 'Z'))
            return false;
    return true;
}

/* Rejects members outside the known ones, naming each. */
static void unknown_members(json_t *obj, const char *prefix, const char *const *known, verr_t *v, http_req_t *req)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        bool ok = false;
        for (int i = 0; known[i]; i++)
            if (strcmp(key, known[i]) == 0)
                ok = true;
        if (!ok)
            verr_add(v, arena_printf(req->arena, "%s%s", prefix, key),
                     http_t(req, "Trường không được hỗ trợ", "unknown field"));
    }
}

/* ---- POST /api/v1/visits ------------------------------------------------ */

struct visit_new {
    long long patient_id;
    const char *kind, *reason, *department, *referral_from, *referral_paper;
};

static bool parse_new(http_req_t *req, json_t *b, struct visit_new *n, verr_t *v)
{
    static const char *const known[] = {"patient_id", "kind", "reason", "department", "referral_from",
                                        "referral_paper", NULL};
    memset(n, 0, sizeof *n);
    unknown_members(b, "", known, v, req);
    json_int_field(b, "patient_id", "patient_id", true, 1, 999999999999999LL, &n->patient_id, v, req);
    n->kind = json_str_field(b, "kind", "kind", true, 20, v, req);
    if (n->kind && strcmp(n->kind, "outpatient") && strcmp(n->kind, "inpatient") && strcmp(n->kind, "emergency")) {
        verr_add(v, "kind", http_t(req, "Phải là outpatient, inpatient hoặc emergency",
                                   "must be outpatient, inpatient or emergency"));
        n->kind = NULL;
    }
    n->reason = json_str_field(b, "reason", "reason", false, 500, v, req);
    n->department = json_str_field(b, "department", "department", false, 50, v, req);
    n->referral_from = json_str_field(b, "referral_from", "referral_from", false, 5, v, req);
    if (n->referral_from && !facility_code_ok(n->referral_from))
        verr_add(v, "referral_from", http_t(req, "Mã cơ sở KCB gồm 5 ký tự (2 số mã tỉnh)",
                                            "a facility code has 5 characters (2-digit province first)"));
    n->referral_paper = json_str_field(b, "referral_paper", "referral_paper", false, 50, v, req);
    return !verr_any(v);
}

static void handle_create(http_req_t *req)
{
    json_t *b = http_json_body(req);
    if (!b)
        return;
    verr_t v;
    verr_init(&v);
    struct visit_new n;
    if (!parse_new(req, b, &n, &v)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    /* The patient as this facility sees it (RLS), with the card of today and
     * today's date in the facility's time zone: read in the same round trip
     * as BEGIN and the idempotency check. */
    const char *pp[1] = {req_ll(req, n.patient_id)};
    const struct db_stmt patient_read = {
        "SELECT card_number, to_char(card_valid_from, 'YYYY-MM-DD'), "
        "       to_char(card_valid_to, 'YYYY-MM-DD'), card_primary_facility, merged_into, "
        "       to_char(now() AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD') "
        "FROM clinical.patients WHERE id = $1", 1, pp};
    PGresult *p = NULL;
    if (req_idempotent_replay_then(req, &tx, &patient_read, &p))
        return;
    if (PQntuples(p) == 0 || db_val(p, 0, 4)) {
        bool merged = PQntuples(p) > 0;
        db_tx_rollback(&tx);
        audit_record_alone(req, "create", "visit", NULL, n.patient_id, "invalid", merged ? "patient merged" : "no such patient");
        http_problem_field(req, 422, "patient_id",
                           merged ? arena_printf(req->arena, "%s %s",
                                                 http_t(req, "Bệnh nhân đã được gộp vào hồ sơ",
                                                        "the patient was merged into record"),
                                                 db_val(p, 0, 4))
                                  : http_t(req, "Không tìm thấy bệnh nhân", "patient not found"));
        return;
    }
    struct visit_coverage_in ci = {
        .card_number = db_val(p, 0, 0), .valid_from = db_val(p, 0, 1), .valid_to = db_val(p, 0, 2),
        .primary_facility = db_val(p, 0, 3), .facility_code = req->user->facility_code,
        .facility_level = req->user->facility_level, .kind = n.kind, .referral_from = n.referral_from,
        .date = db_val(p, 0, 5),
    };
    struct visit_coverage co;
    visit_coverage_decide(&ci, &co);
    /* MA_LK = facility code + yyMMdd + the id on 8 digits. */
    PGresult *r = db_q(&tx,
        "WITH nid AS (SELECT nextval('clinical.visits_id_seq') AS id) "
        "INSERT INTO clinical.visits AS v (id, ma_lk, patient_id, kind, reason, department, doctor_id, admitted_at, "
        "  referral_from, referral_paper, card_number, card_benefit_level, card_valid_from, card_valid_to, "
        "  card_primary_facility, card_valid_at_reception, route, benefit_percent, route_percent, "
        "  coverage_percent, created_by, updated_by) "
        "SELECT nid.id, $1 || to_char(now() AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYMMDD') || repeat('0', greatest(0, 8 - length(nid.id::text))) || nid.id::text, "
        "  $2, $3, $4, $5, $6, CASE WHEN $3 = 'inpatient' THEN now() END, $7, $8, $9, $10, $11::date, $12::date, "
        "  $13, $14, $15, $16, $17, $18, $19, $19 FROM nid "
        /* The reply, in the shape clinical.visit_json gives (a new visit has
         * no diagnoses, services or versions): no second read of the row. */
        "RETURNING (clinical.visit_core_json(v, $1) || '{\"versions\": []}'::jsonb)::text, v.id, v.version",
        req->user->facility_code, req_ll(req, n.patient_id), n.kind, n.reason, n.department,
        role_is(req, "doctor") ? req_ll(req, req->user->id) : NULL, n.referral_from, n.referral_paper,
        ci.card_number, co.level ? req_ll(req, co.level) : NULL, ci.valid_from, ci.valid_to, ci.primary_facility,
        co.card_valid ? "true" : "false", co.route, req_ll(req, co.benefit_percent), req_ll(req, co.route_percent),
        arena_printf(req->arena, "%.2f", co.coverage_percent), req_ll(req, req->user->id));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    const char *id = db_val(r, 0, 1), *body = db_val(r, 0, 0);
    audit_record(&tx, req, "create", "visit", id, n.patient_id, "ok", co.route);
    req_set_etag(req, db_ll(r, 0, 2));
    http_reply_raw(req, 201, "application/json; charset=utf-8", body, strlen(body));
    req_idempotent_store(req, &tx);
    req_tx_commit(req, &tx);
}

/* ---- GET /api/v1/visits/{id} -------------------------------------------- */

static void handle_get(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx, "SELECT 1 FROM clinical.visits WHERE id = $1", req_ll(req, id));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        db_tx_rollback(&tx);
        reply_not_found(req, "read", id);
        return;
    }
    reply_visit(req, &tx, id, 200, "read", NULL, false);
}

/* ---- PATCH /api/v1/visits/{id} ------------------------------------------ */

static const struct vital_def {
    const char *key, *column;
    double min, max;
    bool integer;
} vital_defs[] = {
    {"pulse", "pulse", 20, 250, true},           {"temperature", "temperature", 30, 45, false},
    {"systolic", "systolic", 40, 300, true},     {"diastolic", "diastolic", 20, 200, true},
    {"respiration", "respiration", 4, 80, true}, {"weight_kg", "weight_kg", 0.3, 400, false},
    {"height_cm", "height_cm", 20, 260, false},
};
#define NVITALS ((int)(sizeof vital_defs / sizeof *vital_defs))

struct visit_patch {
    bool vital_set[NVITALS];
    const char *vital_val[NVITALS]; /* NULL: clear */
    double vital_num[NVITALS];
    bool notes_set, reason_set, department_set;
    const char *notes, *reason, *department;
    json_t *diagnoses; /* normalised [{icd10, primary, note}] or NULL when absent */
    json_t *services;  /* [{code, quantity}] */
    json_t *results;   /* [{code, value, unit, text, reference_range, at}] */
    const char *amend_reason;
    const char *clinical_field; /* first member a nurse may not change */
};

static void patch_free(struct visit_patch *p)
{
    json_decref(p->diagnoses);
    json_decref(p->services);
    json_decref(p->results);
}

static void parse_vitals(http_req_t *req, json_t *vit, struct visit_patch *p, verr_t *v)
{
    if (!json_is_object(vit)) {
        verr_add(v, "vitals", http_t(req, "Phải là một đối tượng", "must be an object"));
        return;
    }
    static const char *const known[] = {"pulse", "temperature", "systolic", "diastolic", "respiration",
                                        "weight_kg", "height_cm", NULL};
    unknown_members(vit, "vitals.", known, v, req);
    for (int i = 0; i < NVITALS; i++) {
        const struct vital_def *d = &vital_defs[i];
        json_t *j = json_object_get(vit, d->key);
        if (!j)
            continue;
        const char *path = arena_printf(req->arena, "vitals.%s", d->key);
        p->vital_set[i] = true;
        if (json_is_null(j))
            continue;
        if (!json_is_number(j) || (d->integer && !json_is_integer(j))) {
            verr_add(v, path, d->integer ? http_t(req, "Phải là số nguyên", "must be an integer")
                                         : http_t(req, "Phải là số", "must be a number"));
            continue;
        }
        double x = json_number_value(j);
        if (!isfinite(x) || x < d->min || x > d->max) {
            verr_add(v, path, arena_printf(req->arena, "%s %g..%g", http_t(req, "Ngoài khoảng", "out of range"),
                                           d->min, d->max));
            continue;
        }
        p->vital_num[i] = x;
        p->vital_val[i] = d->integer ? arena_printf(req->arena, "%lld", (long long)json_integer_value(j))
                                     : arena_printf(req->arena, "%.3f", x);
    }
    /* systolic above diastolic when both are given together */
    if (p->vital_val[2] && p->vital_val[3] && p->vital_num[3] >= p->vital_num[2])
        verr_add(v, "vitals.diastolic", http_t(req, "Huyết áp tâm trương phải thấp hơn tâm thu",
                                               "diastolic must be below systolic"));
}

static void parse_diagnoses(http_req_t *req, json_t *arr, struct visit_patch *p, verr_t *v)
{
    if (!json_is_array(arr)) {
        verr_add(v, "diagnoses", http_t(req, "Phải là một mảng", "must be an array"));
        return;
    }
    if (json_array_size(arr) > VISIT_MAX_SECONDARY + 1) {
        verr_add(v, "diagnoses", http_t(req, "Tối đa 1 bệnh chính và 12 bệnh kèm theo",
                                        "at most 1 primary and 12 secondary diagnoses"));
        return;
    }
    static const char *const known[] = {"icd10", "primary", "note", "name", "name_en", NULL};
    p->diagnoses = json_array();
    size_t i;
    json_t *d;
    int primaries = 0;
    json_array_foreach(arr, i, d) {
        const char *pre = arena_printf(req->arena, "diagnoses[%zu]", i);
        if (!json_is_object(d)) {
            verr_add(v, pre, http_t(req, "Phải là một đối tượng", "must be an object"));
            continue;
        }
        unknown_members(d, arena_printf(req->arena, "%s.", pre), known, v, req);
        const char *f = arena_printf(req->arena, "%s.icd10", pre);
        const char *raw = json_str_field(d, "icd10", f, true, 10, v, req);
        char code[8] = "";
        if (raw && !catalog_icd10_normalize(raw, code, sizeof code))
            verr_add(v, f, http_t(req, "Không phải mã ICD-10", "not an ICD-10 code"));
        json_t *pj = json_object_get(d, "primary");
        if (pj && !json_is_boolean(pj) && !json_is_null(pj))
            verr_add(v, arena_printf(req->arena, "%s.primary", pre), http_t(req, "Phải là true/false", "must be true or false"));
        bool primary = json_is_true(pj);
        if (primary && ++primaries == 2)
            verr_add(v, arena_printf(req->arena, "%s.primary", pre),
                     http_t(req, "Chỉ một bệnh chính", "only one primary diagnosis"));
        const char *note = json_str_field(d, "note", arena_printf(req->arena, "%s.note", pre), false, 500, v, req);
        for (size_t k = 0; *code && k < json_array_size(p->diagnoses); k++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(p->diagnoses, k), "icd10")), code))
                verr_add(v, f, http_t(req, "Mã bị trùng", "duplicate code"));
        json_t *o = json_object();
        json_object_set_new(o, "icd10", json_string(code));
        json_object_set_new(o, "primary", json_boolean(primary));
        json_set_str(o, "note", note);
        json_array_append_new(p->diagnoses, o);
    }
    if (!primaries && json_array_size(arr) > VISIT_MAX_SECONDARY)
        verr_add(v, "diagnoses", http_t(req, "Tối đa 12 bệnh kèm theo", "at most 12 secondary diagnoses"));
}

static void parse_services(http_req_t *req, json_t *arr, struct visit_patch *p, verr_t *v)
{
    if (!json_is_array(arr)) {
        verr_add(v, "services", http_t(req, "Phải là một mảng", "must be an array"));
        return;
    }
    if (json_array_size(arr) > VISIT_MAX_SERVICES) {
        verr_add(v, "services", http_t(req, "Tối đa 200 dịch vụ", "at most 200 services"));
        return;
    }
    static const char *const known[] = {"code", "quantity", "name", "unit", "unit_price", "ordered_at",
                                        "performed_at", "result", NULL};
    p->services = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s) {
        const char *pre = arena_printf(req->arena, "services[%zu]", i);
        if (!json_is_object(s)) {
            verr_add(v, pre, http_t(req, "Phải là một đối tượng", "must be an object"));
            continue;
        }
        unknown_members(s, arena_printf(req->arena, "%s.", pre), known, v, req);
        const char *f = arena_printf(req->arena, "%s.code", pre);
        const char *code = json_str_field(s, "code", f, true, 50, v, req);
        json_t *q = json_object_get(s, "quantity");
        double qty = 1;
        if (q && !json_is_null(q)) {
            qty = json_is_number(q) ? json_number_value(q) : -1;
            if (!isfinite(qty) || qty <= 0 || qty > 10000) {
                verr_add(v, arena_printf(req->arena, "%s.quantity", pre),
                         http_t(req, "Phải là số lớn hơn 0, tối đa 10000", "must be a number above 0, at most 10000"));
                qty = 1;
            }
        }
        for (size_t k = 0; code && k < json_array_size(p->services); k++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(p->services, k), "code")), code))
                verr_add(v, f, http_t(req, "Dịch vụ bị trùng; hãy tăng số lượng", "duplicate service; raise the quantity"));
        json_t *o = json_object();
        json_object_set_new(o, "code", json_string(code ? code : ""));
        json_object_set_new(o, "quantity", json_string(arena_printf(req->arena, "%.3f", qty)));
        json_array_append_new(p->services, o);
    }
}

static void parse_results(http_req_t *req, json_t *arr, struct visit_patch *p, verr_t *v)
{
    if (!json_is_array(arr)) {
        verr_add(v, "results", http_t(req, "Phải là một mảng", "must be an array"));
        return;
    }
    if (json_array_size(arr) > VISIT_MAX_SERVICES) {
        verr_add(v, "results", http_t(req, "Tối đa 200 kết quả", "at most 200 results"));
        return;
    }
    static const char *const known[] = {"code", "value", "unit", "text", "reference_range", "at", NULL};
    p->results = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s) {
        const char *pre = arena_printf(req->arena, "results[%zu]", i);
        if (!json_is_object(s)) {
            verr_add(v, pre, http_t(req, "Phải là một đối tượng", "must be an object"));
            continue;
        }
        unknown_members(s, arena_printf(req->arena, "%s.", pre), known, v, req);
        json_t *o = json_object();
        json_set_str(o, "code", json_str_field(s, "code", arena_printf(req->arena, "%s.code", pre), true, 50, v, req));
        /* a numeric value is accepted as a number too */
        json_t *val = json_object_get(s, "value");
        if (json_is_number(val))
            json_object_set_new(o, "value", json_string(arena_printf(req->arena, "%g", json_number_value(val))));
        else
            json_set_str(o, "value", json_str_field(s, "value", arena_printf(req->arena, "%s.value", pre), false, 50, v, req));
        json_set_str(o, "unit", json_str_field(s, "unit", arena_printf(req->arena, "%s.unit", pre), false, 50, v, req));
        json_set_str(o, "text", json_str_field(s, "text", arena_printf(req->arena, "%s.text", pre), false, 4000, v, req));
        json_set_str(o, "reference_range", json_str_field(s, "reference_range",
                                                          arena_printf(req->arena, "%s.reference_range", pre), false,
                                                          100, v, req));
        const char *at = json_str_field(s, "at", arena_printf(req->arena, "%s.at", pre), false, 40, v, req);
        if (at && !visit_ts_ok(at))
            verr_add(v, arena_printf(req->arena, "%s.at", pre),
                     http_t(req, "Thời điểm theo ISO 8601 (YYYY-MM-DDTHH:MM)", "an ISO 8601 time (YYYY-MM-DDTHH:MM)"));
        json_set_str(o, "at", at && visit_ts_ok(at) ? at : NULL);
        json_array_append_new(p->results, o);
    }
}

static void parse_text_member(http_req_t *req, json_t *b, const char *key, size_t max, bool *set, const char **val,
                              verr_t *v)
{
    json_t *j = json_object_get(b, key);
    if (!j)
        return;
    *set = true;
    *val = json_is_null(j) ? NULL : json_str_field(b, key, key, false, max, v, req);
    if (*val && !**val)
        *val = NULL;
}

static bool parse_patch(http_req_t *req, json_t *b, struct visit_patch *p, verr_t *v)
{
    /* Read-only members of the visit JSON are tolerated so a client may send
     * back what it read; anything else unknown is an error. */
    static const char *const known[] = {"vitals", "notes", "reason", "department", "diagnoses", "services",
                                        "results", "amend_reason", "id", "ma_lk", "patient_id", "kind", "state",
                                        "version", "revision", "versions", "coverage", "facility_code",
                                        "received_at", "admitted_at", "discharged_at", "doctor_id", "outcome",
                                        "discharge_type", "referral", "referral_from", "referral_paper",
                                        "created_at", "updated_at", NULL};
    memset(p, 0, sizeof *p);
    unknown_members(b, "", known, v, req);
    json_t *j;
    if ((j = json_object_get(b, "vitals")) && !json_is_null(j))
        parse_vitals(req, j, p, v);
    parse_text_member(req, b, "notes", 20000, &p->notes_set, &p->notes, v);
    parse_text_member(req, b, "reason", 500, &p->reason_set, &p->reason, v);
    parse_text_member(req, b, "department", 50, &p->department_set, &p->department, v);
    if ((j = json_object_get(b, "diagnoses")))
        parse_diagnoses(req, j, p, v);
    if ((j = json_object_get(b, "services")))
        parse_services(req, j, p, v);
    if ((j = json_object_get(b, "results")))
        parse_results(req, j, p, v);
    p->amend_reason = json_str_field(b, "amend_reason", "amend_reason", false, 500, v, req);
    p->clinical_field = p->notes_set ? "notes" : p->reason_set ? "reason" : p->department_set ? "department"
                        : p->diagnoses ? "diagnoses" : p->services ? "services" : p->results ? "results" : NULL;
    return !verr_any(v);
}

/* Checks the codes against the catalogues; adds the field errors. */
static bool check_codes(http_req_t *req, db_tx_t *tx, struct visit_patch *p, bool closed, verr_t *v)
{
    if (p->diagnoses && json_array_size(p->diagnoses)) {
        char *js = json_dumps(p->diagnoses, JSON_COMPACT);
        PGresult *r = db_q(tx,
                           "SELECT x.ord - 1, i.code IS NOT NULL, coalesce(i.valid, false), "
                           "       coalesce(i.main_allowed, false), (x.e->>'primary')::boolean "
                           "FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, ord) "
                           "LEFT JOIN catalog.icd10 i ON i.code = x.e->>'icd10' ORDER BY x.ord",
                           arena_strdup(req->arena, js));
        free(js);
        if (!r)
            return false;
        for (int i = 0; i < PQntuples(r); i++) {
            const char *f = arena_printf(req->arena, "diagnoses[%s].icd10", db_val(r, i, 0));
            if (strcmp(db_val(r, i, 1), "t") != 0)
                verr_add(v, f, http_t(req, "Mã ICD-10 không có trong danh mục", "unknown ICD-10 code"));
            else if (strcmp(db_val(r, i, 2), "t") != 0)
                verr_add(v, f, http_t(req, "Mã ICD-10 không còn hiệu lực", "the ICD-10 code is no longer valid"));
            else if (strcmp(db_val(r, i, 4), "t") == 0 && strcmp(db_val(r, i, 3), "t") != 0)
                verr_add(v, f, http_t(req, "Mã này không được dùng làm bệnh chính", "this code may not be the primary diagnosis"));
        }
    }
    if (p->diagnoses && closed) {
        int primaries = 0;
        for (size_t i = 0; i < json_array_size(p->diagnoses); i++)
            primaries += json_is_true(json_object_get(json_array_get(p->diagnoses, i), "primary"));
        if (primaries != 1)
            verr_add(v, "diagnoses", http_t(req, "Lượt khám đã kết thúc phải có đúng một bệnh chính",
                                            "a closed visit needs exactly one primary diagnosis"));
    }
    if (p->services && json_array_size(p->services)) {
        char *js = json_dumps(p->services, JSON_COMPACT);
        PGresult *r = db_q(tx,
                           "SELECT x.ord - 1, coalesce(s.valid, false) "
                           "FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, ord) "
                           "LEFT JOIN catalog.services s ON s.code = x.e->>'code' ORDER BY x.ord",
                           arena_strdup(req->arena, js));
        free(js);
        if (!r)
            return false;
        for (int i = 0; i < PQntuples(r); i++)
            if (strcmp(db_val(r, i, 1), "t") != 0)
                verr_add(v, arena_printf(req->arena, "services[%s].code", db_val(r, i, 0)),
                         http_t(req, "Dịch vụ không có trong danh mục", "unknown service code"));
    }
    return true;
}

/* Results name services of the visit as it will be after this patch. */
static bool check_results(http_req_t *req, db_tx_t *tx, long long id, struct visit_patch *p, verr_t *v)
{
    if (!p->results || !json_array_size(p->results))
        return true;
    char *rs = json_dumps(p->results, JSON_COMPACT);
    char *ss = p->services ? json_dumps(p->services, JSON_COMPACT) : NULL;
    PGresult *r = db_q(tx,
                       "SELECT x.ord - 1, coalesce(x.e->>'code' IN ("
                       "         SELECT s.code FROM clinical.visit_services s WHERE s.visit_id = $3 AND $2::jsonb IS NULL "
                       "         UNION ALL SELECT y->>'code' FROM jsonb_array_elements($2::jsonb) y), false) "
                       "FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, ord) ORDER BY x.ord",
                       arena_strdup(req->arena, rs), ss ? arena_strdup(req->arena, ss) : NULL, req_ll(req, id));
    free(rs);
    free(ss);
    if (!r)
        return false;
    for (int i = 0; i < PQntuples(r); i++)
        if (strcmp(db_val(r, i, 1), "t") != 0)
            verr_add(v, arena_printf(req->arena, "results[%s].code", db_val(r, i, 0)),
                     http_t(req, "Dịch vụ này chưa được chỉ định trong lượt khám", "this service was not ordered in the visit"));
    return true;
}

/* UPDATE of the plain columns that the patch names; the SQL text is built
 * from the fixed column list only, values go as parameters. */
static void apply_columns(http_req_t *req, db_tx_t *tx, long long id, const struct visit_patch *p, bool amend)
{
    const char *params[16];
    int n = 0;
    char *set = arena_strdup(req->arena, "");
    params[n++] = req_ll(req, id);
    params[n++] = req_ll(req, req->user->id);
    for (int i = 0; i < NVITALS; i++)
        if (p->vital_set[i]) {
            params[n++] = p->vital_val[i];
            set = arena_printf(req->arena, "%s, %s = $%d", set, vital_defs[i].column, n);
        }
    if (p->notes_set) {
        params[n++] = p->notes;
        set = arena_printf(req->arena, "%s, notes = $%d", set, n);
    }
    if (p->reason_set) {
        params[n++] = p->reason;
        set = arena_printf(req->arena, "%s, reason = $%d", set, n);
    }
    if (p->department_set) {
        params[n++] = p->department;
        set = arena_printf(req->arena, "%s, department = $%d", set, n);
    }
    const char *sql = arena_printf(req->arena,
                                   "UPDATE clinical.visits SET version = version + 1, revision = revision + %d, "
                                   "updated_at = now(), updated_by = $2%s WHERE id = $1",
                                   amend ? 1 : 0, set);
    db_query(tx, sql, n, params);
}

static void apply_lists(http_req_t *req, db_tx_t *tx, long long id, const struct visit_patch *p)
{
    const char *vid = req_ll(req, id), *uid = req_ll(req, req->user->id);
    if (p->diagnoses) {
        char *js = json_dumps(p->diagnoses, JSON_COMPACT);
        const char *j = arena_strdup(req->arena, js);
        free(js);
        db_q(tx, "DELETE FROM clinical.visit_diagnoses WHERE visit_id = $1", vid);
        db_q(tx,
             "INSERT INTO clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary, note) "
             "SELECT v.id, v.facility_id, x.ord - 1, x.e->>'icd10', (x.e->>'primary')::boolean, x.e->>'note' "
             "FROM clinical.visits v, jsonb_array_elements($2::jsonb) WITH ORDINALITY AS x(e, ord) WHERE v.id = $1",
             vid, j);
    }
    if (p->services) {
        char *js = json_dumps(p->services, JSON_COMPACT);
        const char *j = arena_strdup(req->arena, js);
        free(js);
        /* Kept services keep their order time and results; removed ones go. */
        db_q(tx,
             "DELETE FROM clinical.visit_services WHERE visit_id = $1 AND code NOT IN "
             "(SELECT y->>'code' FROM jsonb_array_elements($2::jsonb) y)",
             vid, j);
        db_q(tx,
             "INSERT INTO clinical.visit_services (visit_id, facility_id, seq, code, quantity, unit_price, ordered_by) "
             "SELECT v.id, v.facility_id, x.ord - 1, c.code, (x.e->>'quantity')::numeric, c.price, $3 "
             "FROM clinical.visits v, jsonb_array_elements($2::jsonb) WITH ORDINALITY AS x(e, ord) "
             "JOIN catalog.services c ON c.code = x.e->>'code' WHERE v.id = $1 "
             "ON CONFLICT (visit_id, code) DO UPDATE SET quantity = EXCLUDED.quantity, seq = EXCLUDED.seq",
             vid, j, uid);
    }
    if (p->results) {
        char *js = json_dumps(p->results, JSON_COMPACT);
        const char *j = arena_strdup(req->arena, js);
        free(js);
        db_q(tx,
             "UPDATE clinical.visit_services s SET result_value = x->>'value', result_unit = x->>'unit', "
             "  result_text = x->>'text', reference_range = coalesce(x->>'reference_range', s.reference_range, "
             "    (SELECT c.reference_range FROM catalog.services c WHERE c.code = s.code)), "
             "  result_at = coalesce((x->>'at')::timestamptz, now()), "
             "  performed_at = coalesce(s.performed_at, least(coalesce((x->>'at')::timestamptz, now()), now())) "
             "FROM jsonb_array_elements($2::jsonb) x WHERE s.visit_id = $1 AND s.code = x->>'code'",
             vid, j);
    }
}

static void handle_patch(http_req_t *req)
{
    long long id, want;
    if (!req_id_param(req, "id", &id))
        return;
    json_t *b = http_json_body(req);
    if (!b)
        return;
    if (!req_if_match(req, &want))
        return;
    verr_t v;
    verr_init(&v);
    struct visit_patch p;
    if (!parse_patch(req, b, &p, &v)) {
        patch_free(&p);
        verr_reply(req, &v);
        return;
    }
    /* Nurses record vitals; the clinical content is the doctor's. */
    if (role_is(req, "nurse") && p.clinical_field) {
        patch_free(&p);
        verr_free(&v);
        http_problem_field(req, 403, p.clinical_field,
                           http_t(req, "Điều dưỡng chỉ cập nhật dấu hiệu sinh tồn", "nurses may change vitals only"));
        return;
    }
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0) {
        patch_free(&p);
        verr_free(&v);
        return;
    }
    PGresult *r = db_q(&tx, "SELECT state, version, patient_id, revision FROM clinical.visits WHERE id = $1 FOR UPDATE",
                       req_ll(req, id));
    if (!r) {
        patch_free(&p);
        verr_free(&v);
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        patch_free(&p);
        verr_free(&v);
        db_tx_rollback(&tx);
        reply_not_found(req, "update", id);
        return;
    }
    bool closed = strcmp(db_val(r, 0, 0), "closed") == 0;
    long long current = db_ll(r, 0, 1), patient_id = db_ll(r, 0, 2), revision = db_ll(r, 0, 3);
    if (current != want) {
        patch_free(&p);
        verr_free(&v);
        db_tx_rollback(&tx);
        reply_stale(req, id, patient_id, current);
        return;
    }
    if (!check_codes(req, &tx, &p, closed, &v) || !check_results(req, &tx, id, &p, &v)) {
        patch_free(&p);
        verr_free(&v);
        req_tx_fail(req, &tx);
        return;
    }
    if (verr_any(&v)) {
        patch_free(&p);
        db_tx_rollback(&tx);
        audit_record_alone(req, "update", "visit", req_ll(req, id), patient_id, "invalid", NULL);
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    /* A closed visit is never overwritten: its whole current state goes to
     * visit_versions first, and the change becomes the next revision. */
    if (closed)
        db_q(&tx,
             "INSERT INTO clinical.visit_versions (visit_id, facility_id, revision, version, snapshot, "
             "                                     superseded_by, reason) "
             "SELECT id, facility_id, revision, version, clinical.visit_json(id), $2, $3 "
             "FROM clinical.visits WHERE id = $1",
             req_ll(req, id), req_ll(req, req->user->id), p.amend_reason);
    apply_lists(req, &tx, id, &p);
    apply_columns(req, &tx, id, &p, closed);
    patch_free(&p);
    if (tx.failed) {
        req_tx_fail(req, &tx);
        return;
    }
    reply_visit(req, &tx, id, 200, closed ? "amend" : "update",
                closed ? arena_printf(req->arena, "revision %lld", revision + 1) : NULL, false);
}

/* ---- POST /api/v1/visits/{id}/close ------------------------------------- */

static void json_free_cb(void *p)
{
    json_decref(p);
}

struct visit_close {
    int outcome, discharge;
    const char *discharged_at, *referral_to, *referral_reason;
};

static bool parse_close(http_req_t *req, json_t *b, struct visit_close *c, verr_t *v)
{
    static const char *const known[] = {"outcome", "discharge", "discharge_type", "discharged_at", "referral",
                                        NULL};
    memset(c, 0, sizeof *c);
    unknown_members(b, "", known, v, req);
    json_t *o = json_object_get(b, "outcome");
    c->outcome = 7; /* "chưa xác định": nothing is assumed about the result */
    if (o && !json_is_null(o) && !(c->outcome = visit_outcome_code(o)))
        verr_add(v, "outcome", http_t(req, "Mã kết quả điều trị 1-8 (KET_QUA_DTRI)", "treatment outcome code 1-8 (KET_QUA_DTRI)"));
    const char *dkey = json_object_get(b, "discharge") ? "discharge" : "discharge_type";
    json_t *d = json_object_get(b, dkey);
    if (d && !json_is_null(d) && !(c->discharge = visit_discharge_code(d)))
        verr_add(v, dkey, http_t(req, "Mã loại ra viện 1-5 (MA_LOAI_RV)", "discharge type code 1-5 (MA_LOAI_RV)"));
    c->discharged_at = json_str_field(b, "discharged_at", "discharged_at", false, 40, v, req);
    if (c->discharged_at && !visit_ts_ok(c->discharged_at))
        verr_add(v, "discharged_at", http_t(req, "Thời điểm theo ISO 8601", "an ISO 8601 time"));
    json_t *ref = json_object_get(b, "referral");
    if (ref && !json_is_null(ref)) {
        if (!json_is_object(ref)) {
            verr_add(v, "referral", http_t(req, "Phải là một đối tượng {to, reason}", "must be an object {to, reason}"));
        } else {
            static const char *const rknown[] = {"to", "reason", NULL};
            unknown_members(ref, "referral.", rknown, v, req);
            c->referral_to = json_str_field(ref, "to", "referral.to", true, 5, v, req);
            if (c->referral_to && !facility_code_ok(c->referral_to))
                verr_add(v, "referral.to", http_t(req, "Mã cơ sở KCB gồm 5 ký tự", "a 5-character facility code"));
            else if (c->referral_to && req->user->facility_code && !strcmp(c->referral_to, req->user->facility_code))
                verr_add(v, "referral.to", http_t(req, "Không thể chuyển đến chính cơ sở này", "cannot refer to this same facility"));
            c->referral_reason = json_str_field(ref, "reason", "referral.reason", true, 1000, v, req);
        }
    }
    if (!c->discharge)
        c->discharge = ref && json_is_object(ref) ? 2 : 1;
    bool transfer = c->discharge == 2 || c->discharge == 5;
    if (transfer && !(ref && json_is_object(ref)))
        verr_add(v, "referral", http_t(req, "Chuyển tuyến cần nơi đến và lý do", "a transfer needs a destination and a reason"));
    if (!transfer && ref && json_is_object(ref))
        verr_add(v, dkey, http_t(req, "Có giấy chuyển tuyến thì loại ra viện là 2 hoặc 5", "with a referral the discharge type is 2 or 5"));
    return !verr_any(v);
}

static void handle_close(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    /* An empty body closes with the defaults. */
    json_t *b = req->body_len ? http_json_body(req) : json_object();
    if (!b)
        return;
    if (!req->body_len)
        arena_defer(req->arena, json_free_cb, b);
    long long want = -1;
    if (http_header(req, "If-Match") && !req_if_match(req, &want))
        return;
    verr_t v;
    verr_init(&v);
    struct visit_close c;
    if (!parse_close(req, b, &c, &v)) {
        verr_reply(req, &v);
        return;
    }
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0) {
        verr_free(&v);
        return;
    }
    PGresult *r = db_q(&tx,
                       "SELECT v.state, v.version, v.patient_id, "
                       "       (SELECT count(*) FROM clinical.visit_diagnoses d WHERE d.visit_id = v.id AND d.is_primary), "
                       "       coalesce($2::timestamptz, now()) >= v.received_at "
                       "FROM clinical.visits v WHERE v.id = $1 FOR UPDATE",
                       req_ll(req, id), c.discharged_at);
    if (!r) {
        verr_free(&v);
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        verr_free(&v);
        db_tx_rollback(&tx);
        reply_not_found(req, "close", id);
        return;
    }
    long long current = db_ll(r, 0, 1), patient_id = db_ll(r, 0, 2);
    if (want >= 0 && current != want) {
        verr_free(&v);
        db_tx_rollback(&tx);
        reply_stale(req, id, patient_id, current);
        return;
    }
    if (strcmp(db_val(r, 0, 0), "closed") == 0) {
        verr_free(&v);
        db_tx_rollback(&tx);
        http_problem_field(req, 409, "state", http_t(req, "Lượt khám đã kết thúc; hãy sửa bằng PATCH (tạo phiên bản mới)",
                                                      "the visit is closed already; amend it with PATCH (a new version)"));
        return;
    }
    if (db_ll(r, 0, 3) != 1)
        verr_add(&v, "diagnoses", http_t(req, "Cần đúng một bệnh chính (MA_BENH_CHINH) trước khi kết thúc",
                                         "exactly one primary diagnosis (MA_BENH_CHINH) is needed to close"));
    if (strcmp(db_val(r, 0, 4), "t") != 0)
        verr_add(&v, "discharged_at", http_t(req, "Thời điểm ra không được trước thời điểm vào",
                                             "discharge cannot be before reception"));
    if (verr_any(&v)) {
        db_tx_rollback(&tx);
        audit_record_alone(req, "close", "visit", req_ll(req, id), patient_id, "invalid", NULL);
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    db_q(&tx,
         "UPDATE clinical.visits SET state = 'closed', discharged_at = coalesce($2::timestamptz, now()), "
         "  outcome = $3, discharge_type = $4, referral_to = $5, referral_reason = $6, "
         "  version = version + 1, updated_at = now(), updated_by = $7 WHERE id = $1",
         req_ll(req, id), c.discharged_at, req_ll(req, c.outcome), req_ll(req, c.discharge), c.referral_to,
         c.referral_reason, req_ll(req, req->user->id));
    if (tx.failed) {
        req_tx_fail(req, &tx);
        return;
    }
    reply_visit(req, &tx, id, 200, "close", c.referral_to ? arena_printf(req->arena, "referred to %s", c.referral_to) : NULL,
                false);
}

/* ---- versions ------------------------------------------------------------ */

/* GET /api/v1/visits/{id}/versions: every superseded revision in full, and
 * the current one's number (its content is GET /visits/{id}). */
static void handle_versions(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx,
                       "SELECT v.patient_id, jsonb_build_object("
                       "  'visit_id', v.id, 'current_revision', v.revision, 'current_version', v.version, "
                       "  'items', coalesce((SELECT jsonb_agg(jsonb_build_object('revision', w.revision, "
                       "        'version', w.version, 'superseded_at', w.superseded_at, "
                       "        'superseded_by', w.superseded_by, 'reason', w.reason, 'visit', w.snapshot) "
                       "        ORDER BY w.revision) FROM clinical.visit_versions w WHERE w.visit_id = v.id), "
                       "        '[]'::jsonb), "
                       "  'total', (SELECT count(*) FROM clinical.visit_versions w WHERE w.visit_id = v.id))::text "
                       "FROM clinical.visits v WHERE v.id = $1",
                       req_ll(req, id));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        db_tx_rollback(&tx);
        reply_not_found(req, "read", id);
        return;
    }
    audit_record(&tx, req, "read", "visit_versions", req_ll(req, id), db_ll(r, 0, 0), "ok", NULL);
    const char *body = db_val(r, 0, 1);
    if (req_tx_commit(req, &tx) < 0)
        return;
    http_reply_raw(req, 200, "application/json; charset=utf-8", body, strlen(body));
}

/* GET /api/v1/visits/{id}/versions/{revision}: one revision as it was. */
static void handle_version_one(http_req_t *req)
{
    long long id, rev;
    if (!req_id_param(req, "id", &id) || !req_id_param(req, "revision", &rev))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx,
                       "SELECT v.patient_id, coalesce((SELECT w.snapshot FROM clinical.visit_versions w "
                       "                               WHERE w.visit_id = v.id AND w.revision = $2), "
                       "       CASE WHEN v.revision = $2 THEN clinical.visit_json(v.id) END)::text "
                       "FROM clinical.visits v WHERE v.id = $1",
                       req_ll(req, id), req_ll(req, rev));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0 || !db_val(r, 0, 1)) {
        db_tx_rollback(&tx);
        reply_not_found(req, "read", id);
        return;
    }
    audit_record(&tx, req, "read", "visit_versions", arena_printf(req->arena, "%lld/%lld", id, rev),
                 db_ll(r, 0, 0), "ok", NULL);
    const char *body = db_val(r, 0, 1);
    if (req_tx_commit(req, &tx) < 0)
        return;
    http_reply_raw(req, 200, "application/json; charset=utf-8", body, strlen(body));
}

/* ---- lists -------------------------------------------------------------- */

/* Summary columns of a visit in lists, with its primary diagnosis. */
#define VISIT_SUMMARY_JSON                                                                                        \
    "jsonb_build_object('id', v.id, 'ma_lk', v.ma_lk, 'patient_id', v.patient_id, 'kind', v.kind, "             \
    "  'state', v.state, 'received_at', v.received_at, 'discharged_at', v.discharged_at, "                        \
    "  'department', v.department, 'doctor_id', v.doctor_id, 'reason', v.reason, 'revision', v.revision, "        \
    "  'route', v.route, 'referral_to', v.referral_to, "                                                          \
    "  'primary_diagnosis', (SELECT jsonb_build_object('icd10', d.icd10, 'name', i.name_vi) "                   \
    "      FROM clinical.visit_diagnoses d JOIN catalog.icd10 i ON i.code = d.icd10 "                            \
    "      WHERE d.visit_id = v.id AND d.is_primary))"

static void reply_items(http_req_t *req, db_tx_t *tx, PGresult *r, long long total)
{
    /* items are JSON texts from the database: join them without re-parsing */
    size_t len = 64;
    for (int i = 0; i < PQntuples(r); i++)
        len += strlen(db_val(r, i, 0)) + 1;
    char *out = arena_alloc(req->arena, len + 32);
    size_t o = (size_t)sprintf(out, "{\"items\":[");
    for (int i = 0; i < PQntuples(r); i++)
        o += (size_t)sprintf(out + o, "%s%s", i ? "," : "", db_val(r, i, 0));
    o += (size_t)sprintf(out + o, "],\"total\":%lld}", total);
    if (req_tx_commit(req, tx) < 0)
        return;
    http_reply_raw(req, 200, "application/json; charset=utf-8", out, o);
}

/* GET /api/v1/patients/{id}/visits: newest first, paged; an index range
 * scan on (patient_id, received_at desc), so 700 visits cost what 7 do. */
static void handle_patient_visits(http_req_t *req)
{
    long long pid, limit, offset;
    if (!req_id_param(req, "id", &pid))
        return;
    verr_t v;
    verr_init(&v);
    if (!page_params(req, &v, &limit, &offset)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *p = db_q(&tx,
                       "SELECT (SELECT count(*) FROM clinical.visits v WHERE v.patient_id = p.id) "
                       "FROM clinical.patients p WHERE p.id = $1",
                       req_ll(req, pid));
    if (!p) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(p) == 0) {
        db_tx_rollback(&tx);
        audit_record_alone(req, "read", "patient_visits", req_ll(req, pid), pid, "not_found", NULL);
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy bệnh nhân", "patient not found"));
        return;
    }
    PGresult *r = db_q(&tx,
                       "SELECT " VISIT_SUMMARY_JSON "::text FROM clinical.visits v WHERE v.patient_id = $1 "
                       "ORDER BY v.received_at DESC, v.id DESC LIMIT $2 OFFSET $3",
                       req_ll(req, pid), req_ll(req, limit), req_ll(req, offset));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    audit_record(&tx, req, "read", "patient_visits", req_ll(req, pid), pid, "ok", NULL);
    reply_items(req, &tx, r, db_ll(p, 0, 0));
}

/* GET /api/v1/visits?date=YYYY-MM-DD&state=open|closed: the facility's
 * visits received that day (default today), with the patient's name, for the
 * doctor's day screen. */
static void handle_list(http_req_t *req)
{
    long long limit, offset;
    verr_t v;
    verr_init(&v);
    page_params(req, &v, &limit, &offset);
    const char *state = http_query(req, "state"), *date = http_query(req, "date");
    if (state && strcmp(state, "open") && strcmp(state, "closed"))
        verr_add(&v, "state", http_t(req, "Phải là open hoặc closed", "must be open or closed"));
    if (date && !(strlen(date) == 10 && visit_ts_ok(arena_printf(req->arena, "%sT00:00", date))))
        verr_add(&v, "date", http_t(req, "Ngày theo dạng YYYY-MM-DD", "a date YYYY-MM-DD"));
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    const char *day = date ? date : NULL;
    PGresult *r = db_q(&tx,
                       "SELECT (" VISIT_SUMMARY_JSON " || jsonb_build_object('patient_name', p.full_name))::text, "
                       "       count(*) OVER () "
                       "FROM clinical.visits v JOIN clinical.patients p ON p.id = v.patient_id "
                       "WHERE v.facility_id = current_setting('his.facility_id')::bigint "
                       "  AND v.received_at >= coalesce($1::date, (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date) "
                       "                       AT TIME ZONE 'Asia/Ho_Chi_Minh' "
                       "  AND v.received_at < (coalesce($1::date, (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date) + 1) "
                       "                       AT TIME ZONE 'Asia/Ho_Chi_Minh' "
                       "  AND ($2::text IS NULL OR v.state = $2) "
                       "ORDER BY v.received_at DESC, v.id DESC LIMIT $3 OFFSET $4",
                       day, state, req_ll(req, limit), req_ll(req, offset));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    audit_record(&tx, req, "search", "visit", NULL, 0, "ok", arena_printf(req->arena, "%d rows", PQntuples(r)));
    reply_items(req, &tx, r, PQntuples(r) ? db_ll(r, 0, 1) : 0);
}

void visits_register_routes(void)
{
    http_route("POST", "/api/v1/visits", handle_create, VISIT_ROLES, 0);
    http_route("GET", "/api/v1/visits", handle_list, VISIT_ROLES, 0);
    http_route("GET", "/api/v1/visits/{id}", handle_get, VISIT_ROLES, 0);
    http_route("PATCH", "/api/v1/visits/{id}", handle_patch, VISIT_ROLES, 0);
    http_route("POST", "/api/v1/visits/{id}/close", handle_close, ROLE_DOCTOR, 0);
    http_route("GET", "/api/v1/visits/{id}/versions", handle_versions, VISIT_ROLES, 0);
    http_route("GET", "/api/v1/visits/{id}/versions/{revision}", handle_version_one, VISIT_ROLES, 0);
    http_route("GET", "/api/v1/patients/{id}/visits", handle_patient_visits, VISIT_ROLES | ROLE_COMMUNE_WORKER, 0);
}
