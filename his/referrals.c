/* Referrals between hospitals (giấy chuyển tuyến) and the HL7 API.
 *
 * POST /api/v1/referrals writes the referral letter and its REF^I12 to the
 * receiving facility's outbox in one transaction; the receiving side stores
 * it through the MLLP listener (hl7_inbound.c) as an incoming referral,
 * answers it (POST .../answer -> RRI^I12) and sends results (POST
 * .../results -> ORU^R01). GET /api/v1/hl7/messages lists messages in
 * (hl7.messages) and out (the outbox rows of hl7 targets); /api/v1/hl7/peers
 * configures where peers listen. */
#include "his/hl7_engine.h"
#include "his/modules.h"
#include "core/handler.h"
#include "core/outbox.h"
#include "core/text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT 50
#define LIST_MAX 200

/* ------------------------------------------------------------ JSON out */

#define REF_COLS                                                                                                  \
    "r.id, r.direction, r.code, r.from_facility, r.to_facility, r.patient_id, r.visit_id, r.reason_code, "       \
    "r.reason, r.diagnosis_icd10, r.diagnosis_text, r.clinical_signs, r.treatment_given, r.transport, "         \
    "r.doctor_name, r.doctor_code, r.state, r.answer_note, "                                                     \
    "to_char(r.answered_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), r.answered_by, r.remote_id, r.hl7_control_id, "     \
    "r.answer_control_id, r.version, to_char(r.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), "                     \
    "p.full_name, coalesce(to_char(p.birth_date, 'YYYY-MM-DD'), p.birth_year::text), p.sex, p.cccd, "            \
    "p.card_number, to_char(p.card_valid_from, 'YYYY-MM-DD'), to_char(p.card_valid_to, 'YYYY-MM-DD'), "          \
    "p.card_primary_facility"
#define REF_FROM " FROM clinical.referrals r JOIN clinical.patients p ON p.id = r.patient_id "

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *jint(PGresult *r, int row, int col)
{
    return db_val(r, row, col) ? json_integer(db_ll(r, row, col)) : json_null();
}

static json_t *referral_json(PGresult *r, int i)
{
    static const char *const names[] = {
        "id", "direction", "code", "from_facility", "to_facility", "patient_id", "visit_id", "reason_code",
        "reason", "diagnosis_icd10", "diagnosis_text", "clinical_signs", "treatment_given", "transport",
        "doctor", "doctor_code", "state", "answer_note", "answered_at", "answered_by", "remote_id",
        "hl7_control_id", "answer_control_id", "version", "created_at"};
    json_t *j = json_object();
    for (int c = 0; c < (int)(sizeof names / sizeof *names); c++) {
        bool num = c == 0 || c == 5 || c == 6 || c == 7 || c == 23;
        json_object_set_new(j, names[c], num ? jint(r, i, c) : jstr(db_val(r, i, c)));
    }
    json_t *diag = json_object();
    json_object_set_new(diag, "icd10", jstr(db_val(r, i, 9)));
    json_object_set_new(diag, "text", jstr(db_val(r, i, 10)));
    json_object_set(j, "diagnosis", diag);
    json_decref(diag);
    json_t *p = json_object();
    json_object_set_new(p, "id", jint(r, i, 5));
    json_object_set_new(p, "full_name", jstr(db_val(r, i, 25)));
    json_object_set_new(p, "birth_date", jstr(db_val(r, i, 26)));
    json_object_set_new(p, "sex", jstr(db_val(r, i, 27)));
    json_object_set_new(p, "cccd", jstr(db_val(r, i, 28)));
    if (db_val(r, i, 29)) {
        json_t *card = json_object();
        json_object_set_new(card, "number", jstr(db_val(r, i, 29)));
        json_object_set_new(card, "valid_from", jstr(db_val(r, i, 30)));
        json_object_set_new(card, "valid_to", jstr(db_val(r, i, 31)));
        json_object_set_new(card, "primary_facility", jstr(db_val(r, i, 32)));
        json_object_set_new(p, "insurance_card", card);
    } else {
        json_object_set_new(p, "insurance_card", json_null());
    }
    json_object_set_new(j, "patient", p);
    return j;
}

static bool list_params(http_req_t *req, long long *limit, long long *offset)
{
    const char *l = http_query(req, "limit"), *o = http_query(req, "offset");
    char *end;
    *limit = LIST_DEFAULT;
    *offset = 0;
    if (l && (*limit = strtoll(l, &end, 10), *end || *limit < 1 || *limit > LIST_MAX)) {
        http_problem_field(req, 422, "limit", http_t(req, "limit phải từ 1 đến 200", "limit must be 1 to 200"));
        return false;
    }
    if (o && (*offset = strtoll(o, &end, 10), *end || *offset < 0 || *offset > 100000)) {
        http_problem_field(req, 422, "offset", http_t(req, "offset phải từ 0 đến 100000", "offset must be 0 to 100000"));
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ messages */

struct ref_letter {
    const char *code, *from, *to, *reason_code, *reason, *icd10, *icd10_name, *signs, *treatment, *transport;
    const char *doctor, *doctor_code;
};

static int set_doctor(hl7_msg *m, const char *role, const char *name, const char *code)
{
    char fam[200], given[400];
    int rc = hl7_set(m, "PRD-1-1", role, NULL);
    hl7e_name_split(name ? name : "", fam, sizeof fam, given, sizeof given);
    if (fam[0])
        rc |= hl7_set(m, "PRD-2-1", fam, NULL);
    if (given[0])
        rc |= hl7_set(m, "PRD-2-2", given, NULL);
    if (code && *code)
        rc |= hl7_set(m, "PRD-7-1", code, NULL);
    return rc;
}

static int add_nte(hl7_msg *m, int *n, const char *kind, const char *text)
{
    if (!text || !*text)
        return 0;
    char path[32], seq[16];
    (*n)++;
    snprintf(seq, sizeof seq, "%d", *n);
    snprintf(path, sizeof path, "NTE[%d]-1", *n);
    int rc = hl7_set(m, path, seq, NULL);
    snprintf(path, sizeof path, "NTE[%d]-3", *n);
    rc |= hl7_set(m, path, text, NULL);
    snprintf(path, sizeof path, "NTE[%d]-4-1", *n);
    rc |= hl7_set(m, path, kind, NULL);
    return rc;
}

/* REF^I12: RF1 (number, reason), PRD (referring doctor), PID, IN1, DG1
 * (ICD-10), NTE (clinical signs, treatment given, transport). */
static char *build_ref(const struct ref_letter *l, const struct hl7e_patient *p, const char *control_id)
{
    char ts[16];
    hl7e_now(ts);
    hl7_msg *m = NULL;
    if (hl7e_msg_start(&m, l->from, l->to, "REF^I12^REF_I12", control_id, ts) < 0)
        goto fail;
    int rc = hl7_set(m, "RF1-1-1", "P", NULL);
    rc |= hl7_set(m, "RF1-6-1", l->code, NULL);
    rc |= hl7_set(m, "RF1-6-2", l->from, NULL);
    rc |= hl7_set(m, "RF1-7", ts, NULL);
    rc |= hl7_set(m, "RF1-10-1", l->reason_code, NULL);
    rc |= hl7_set(m, "RF1-10-2", l->reason, NULL);
    rc |= hl7_set(m, "RF1-10-3", "MA_LYDO_CT", NULL);
    rc |= set_doctor(m, "RP", l->doctor, l->doctor_code);
    rc |= hl7e_set_pid(m, p);
    rc |= hl7e_set_in1(m, p);
    rc |= hl7_set(m, "DG1-1", "1", NULL);
    rc |= hl7_set(m, "DG1-3-1", l->icd10, NULL);
    if (l->icd10_name)
        rc |= hl7_set(m, "DG1-3-2", l->icd10_name, NULL);
    rc |= hl7_set(m, "DG1-3-3", "I10", NULL);
    rc |= hl7_set(m, "DG1-6", "F", NULL);
    int n = 0;
    rc |= add_nte(m, &n, "CLINICAL", l->signs);
    rc |= add_nte(m, &n, "TREATMENT", l->treatment);
    rc |= add_nte(m, &n, "TRANSPORT", l->transport);
    if (rc < 0)
        goto fail;
    char *er7 = hl7e_to_er7(m);
    hl7_msg_free(m);
    return er7;
fail:
    hl7_msg_free(m);
    return NULL;
}

/* RRI^I12: RF1-1 A/R, RF1-6 the referral number, PRD (answering doctor),
 * PID, NTE ANSWER. */
static char *build_rri(const char *from, const char *to, const char *code, bool accepted, const char *note,
                       const char *doctor, const char *doctor_code, const char *our_id,
                       const struct hl7e_patient *p, const char *control_id)
{
    char ts[16];
    hl7e_now(ts);
    hl7_msg *m = NULL;
    if (hl7e_msg_start(&m, from, to, "RRI^I12^RRI_I12", control_id, ts) < 0)
        goto fail;
    int rc = hl7_set(m, "RF1-1-1", accepted ? "A" : "R", NULL);
    rc |= hl7_set(m, "RF1-6-1", code, NULL);
    rc |= hl7_set(m, "RF1-6-2", to, NULL);
    rc |= hl7_set(m, "RF1-11-1", our_id, NULL);
    rc |= hl7_set(m, "RF1-11-2", from, NULL);
    rc |= set_doctor(m, "RT", doctor, doctor_code);
    rc |= hl7e_set_pid(m, p);
    int n = 0;
    rc |= add_nte(m, &n, "ANSWER", note);
    if (rc < 0)
        goto fail;
    char *er7 = hl7e_to_er7(m);
    hl7_msg_free(m);
    return er7;
fail:
    hl7_msg_free(m);
    return NULL;
}

/* ------------------------------------------------------------ helpers */

static const char *user_cert(http_req_t *req, db_tx_t *tx)
{
    PGresult *r = db_q(tx, "SELECT practising_certificate FROM core.users WHERE id = $1", req_ll(req, req->user->id));
    return r && PQntuples(r) ? db_val(r, 0, 0) : NULL;
}

static PGresult *patient_row(db_tx_t *tx, http_req_t *req, long long pid, struct hl7e_patient *p)
{
    PGresult *r = db_q(tx, "SELECT " HL7E_PATIENT_COLS " FROM clinical.patients p WHERE p.id = $1", req_ll(req, pid));
    if (r && PQntuples(r) == 1)
        hl7e_patient_from_row(r, 0, 0, p);
    return r && PQntuples(r) == 1 ? r : NULL;
}

static bool facility_code_shape(const char *s)
{
    if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
        return false;
    for (int i = 2; i < 5; i++)
        if (!isdigit((unsigned char)s[i]) && !isupper((unsigned char)s[i]))
            return false;
    return true;
}

static void reply_not_found(http_req_t *req, const char *action, long long id)
{
    audit_record_alone(req, action, "referral", req_ll(req, id), 0, "not_found", NULL);
    http_problem(req, 404, NULL, http_t(req, "Không tìm thấy giấy chuyển tuyến", "referral not found"));
}

/* Reads one referral (RLS: of the user's facility) into a JSON reply with
 * its results and the delivery state of what we sent about it. */
static json_t *referral_full(http_req_t *req, db_tx_t *tx, long long id)
{
    PGresult *r = db_q(tx, "SELECT " REF_COLS REF_FROM "WHERE r.id = $1", req_ll(req, id));
    if (!r || PQntuples(r) == 0)
        return NULL;
    json_t *j = referral_json(r, 0);
    PGresult *res = db_q(tx,
                         "SELECT seq, code, name, value_type, value, unit, reference_range, flag, status, "
                         "to_char(observed_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), direction FROM "
                         "clinical.referral_results WHERE referral_id = $1 ORDER BY id",
                         req_ll(req, id));
    json_t *items = json_array();
    static const char *const rn[] = {"seq", "code", "name", "value_type", "value", "unit",
                                     "reference_range", "flag", "status", "observed_at", "direction"};
    for (int i = 0; res && i < PQntuples(res); i++) {
        json_t *o = json_object();
        for (int c = 0; c < 11; c++)
            json_object_set_new(o, rn[c], c == 0 ? jint(res, i, c) : jstr(db_val(res, i, c)));
        json_array_append_new(items, o);
    }
    json_object_set_new(j, "results", items);
    const char *dir = db_val(r, 0, 1), *peer = !strcmp(dir, "out") ? db_val(r, 0, 4) : db_val(r, 0, 3);
    const char *target = arena_printf(req->arena, "hl7:%s", peer);
    const char *sent_key = !strcmp(dir, "out") ? db_val(r, 0, 21) : db_val(r, 0, 22);
    json_t *st = sent_key ? outbox_status_json(tx, req->app, target, sent_key) : NULL;
    json_object_set_new(j, "message", st ? st : json_null());
    return j;
}

/* ------------------------------------------------------------ POST /referrals */

struct create_in {
    long long visit_id, reason_code;
    const char *to, *reason, *icd10, *diag_text, *signs, *treatment, *transport, *doctor;
};

static bool create_parse(http_req_t *req, json_t *b, struct create_in *in, verr_t *v)
{
    memset(in, 0, sizeof *in);
    in->reason_code = 1;
    json_int_field(b, "visit_id", "visit_id", true, 1, 1LL << 62, &in->visit_id, v, req);
    in->to = json_str_field(b, "to_facility", "to_facility", true, 5, v, req);
    in->reason = json_str_field(b, "reason", "reason", true, 1000, v, req);
    json_int_field(b, "reason_code", "reason_code", false, 1, 3, &in->reason_code, v, req);
    json_t *d = json_object_get(b, "diagnosis");
    if (json_is_object(d)) {
        in->icd10 = json_str_field(d, "icd10", "diagnosis.icd10", true, 10, v, req);
        in->diag_text = json_str_field(d, "text", "diagnosis.text", false, 1000, v, req);
    } else {
        in->icd10 = json_str_field(b, "diagnosis", "diagnosis", true, 10, v, req);
    }
    in->signs = json_str_field(b, "clinical_signs", "clinical_signs", false, 4000, v, req);
    in->treatment = json_str_field(b, "treatment_given", "treatment_given", false, 4000, v, req);
    in->transport = json_str_field(b, "transport", "transport", false, 255, v, req);
    in->doctor = json_str_field(b, "doctor", "doctor", false, 255, v, req);
    if (in->to && !facility_code_shape(in->to))
        verr_add(v, "to_facility", http_t(req, "Mã cơ sở gồm 5 ký tự", "a facility code has 5 characters"));
    if (in->reason && !*in->reason)
        verr_add(v, "reason", http_t(req, "Cần ghi lý do chuyển tuyến", "the reason is required"));
    return !verr_any(v);
}

/* The visit, the receiving facility and the diagnosis must exist. */
static bool create_check(http_req_t *req, db_tx_t *tx, struct create_in *in, long long *patient_id,
                         const char **icd_name, verr_t *v)
{
    PGresult *r = db_q(tx, "SELECT patient_id FROM clinical.visits WHERE id = $1", req_ll(req, in->visit_id));
    if (!r)
        return false;
    if (PQntuples(r) == 0)
        verr_add(v, "visit_id", http_t(req, "Không tìm thấy lượt khám", "visit not found"));
    else
        *patient_id = db_ll(r, 0, 0);
    r = db_q(tx, "SELECT 1 FROM core.facilities WHERE code = $1", in->to);
    if (!r)
        return false;
    if (PQntuples(r) == 0 || !strcmp(in->to, req->user->facility_code))
        verr_add(v, "to_facility", http_t(req, "Cơ sở nhận không hợp lệ", "unknown receiving facility"));
    r = db_q(tx, "SELECT name_vi FROM catalog.icd10 WHERE code = $1 AND valid", in->icd10);
    if (!r)
        return false;
    if (PQntuples(r) == 0)
        verr_add(v, in->diag_text ? "diagnosis.icd10" : "diagnosis",
                 http_t(req, "Mã ICD-10 không có trong danh mục", "ICD-10 code not in the catalogue"));
    else
        *icd_name = in->diag_text ? in->diag_text : db_val(r, 0, 0);
    return true;
}

static void handle_create(http_req_t *req)
{
    json_t *b = http_json_body(req);
    if (!b)
        return;
    struct create_in in;
    verr_t v;
    verr_init(&v);
    if (!create_parse(req, b, &in, &v)) {
        verr_reply(req, &v);
        return;
    }
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0) {
        verr_free(&v);
        return;
    }
    if (req_idempotent_replay(req, &tx)) {
        verr_free(&v);
        return;
    }
    long long pid = 0;
    const char *icd_name = NULL;
    if (!create_check(req, &tx, &in, &pid, &icd_name, &v)) {
        verr_free(&v);
        req_tx_fail(req, &tx);
        return;
    }
    if (verr_any(&v)) {
        db_tx_rollback(&tx);
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    const char *fac = req->user->facility_code;
    PGresult *r = db_q(&tx, "SELECT to_char(now(), 'YYYY') || '-' || lpad(nextval('clinical.referral_code_seq')::text, 6, '0')");
    const char *ctl = hl7e_control_id(&tx, fac);
    if (!r || !ctl) {
        req_tx_fail(req, &tx);
        return;
    }
    struct ref_letter l = {
        .code = arena_printf(req->arena, "%s-%s", fac, db_val(r, 0, 0)), .from = fac, .to = in.to,
        .reason_code = req_ll(req, in.reason_code), .reason = in.reason, .icd10 = in.icd10, .icd10_name = icd_name,
        .signs = in.signs, .treatment = in.treatment, .transport = in.transport,
        .doctor = in.doctor ? in.doctor : req->user->full_name, .doctor_code = user_cert(req, &tx)};
    struct hl7e_patient p;
    if (!patient_row(&tx, req, pid, &p)) {
        req_tx_fail(req, &tx);
        return;
    }
    r = db_q(&tx,
             "INSERT INTO clinical.referrals (direction, code, from_facility, to_facility, patient_id, visit_id, "
             "reason_code, reason, diagnosis_icd10, diagnosis_text, clinical_signs, treatment_given, transport, "
             "doctor_name, doctor_code, state, hl7_control_id, created_by) VALUES ('out', $1, $2, $3, $4, $5, "
             "$6::smallint, $7, $8, $9, $10, $11, $12, $13, $14, 'sent', $15, $16) RETURNING id",
             l.code, fac, in.to, req_ll(req, pid), req_ll(req, in.visit_id), l.reason_code, in.reason, in.icd10,
             icd_name, in.signs, in.treatment, in.transport, l.doctor, l.doctor_code, ctl, req_ll(req, req->user->id));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    long long id = db_ll(r, 0, 0);
    /* The visit carries MA_NOI_DEN and the reason for the claim (XML1). */
    db_q(&tx, "UPDATE clinical.visits SET referral_to = $2, referral_reason = $3, updated_at = now() WHERE id = $1",
         req_ll(req, in.visit_id), in.to, in.reason);
    char *er7 = build_ref(&l, &p, ctl);
    if (!er7 || hl7e_enqueue(&tx, in.to, "REF^I12", ctl, er7) < 0) {
        free(er7);
        req_tx_fail(req, &tx);
        return;
    }
    free(er7);
    audit_record(&tx, req, "create", "referral", req_ll(req, id), pid, "ok", arena_printf(req->arena, "to=%s", in.to));
    json_t *j = referral_full(req, &tx, id);
    if (!j) {
        req_tx_fail(req, &tx);
        return;
    }
    char *loc = arena_printf(req->arena, "/api/v1/referrals/%lld", id);
    http_add_header(req, "Location", loc);
    http_reply_json(req, 201, j);
    req_idempotent_store(req, &tx);
    if (req_tx_commit(req, &tx) < 0)
        return;
    outbox_kick();
}

/* ------------------------------------------------------------ GET */

static void handle_list(http_req_t *req)
{
    const char *dir = http_query(req, "direction");
    long long limit, offset;
    if (!list_params(req, &limit, &offset))
        return;
    if (dir && strcmp(dir, "in") && strcmp(dir, "out")) {
        http_problem_field(req, 422, "direction", http_t(req, "direction là in hoặc out", "direction is in or out"));
        return;
    }
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx,
                       "SELECT " REF_COLS ", count(*) OVER ()" REF_FROM "WHERE ($1::text IS NULL OR r.direction = $1) "
                       "ORDER BY r.id DESC LIMIT $2 OFFSET $3",
                       dir, req_ll(req, limit), req_ll(req, offset));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    json_t *items = json_array();
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        json_array_append_new(items, referral_json(r, i));
    audit_record(&tx, req, "search", "referral", NULL, n == 1 ? db_ll(r, 0, 5) : 0, "ok",
                 arena_printf(req->arena, "direction=%s returned=%d", dir ? dir : "all", n));
    json_t *j = json_object();
    json_object_set_new(j, "items", items);
    json_object_set_new(j, "total", json_integer(n ? db_ll(r, 0, 33) : 0));
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    http_reply_json(req, 200, j);
}

static void handle_get(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    json_t *j = referral_full(req, &tx, id);
    if (!j) {
        bool failed = tx.failed;
        if (failed) {
            req_tx_fail(req, &tx);
            return;
        }
        db_tx_rollback(&tx);
        reply_not_found(req, "read", id);
        return;
    }
    audit_record(&tx, req, "read", "referral", req_ll(req, id), json_integer_value(json_object_get(j, "patient_id")),
                 "ok", NULL);
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    req_set_etag(req, json_integer_value(json_object_get(j, "version")));
    http_reply_json(req, 200, j);
}

/* ------------------------------------------------------------ answer */

static void handle_answer(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    json_t *b = http_json_body(req);
    if (!b)
        return;
    verr_t v;
    verr_init(&v);
    json_t *acc = json_object_get(b, "accepted");
    if (!json_is_boolean(acc))
        verr_add(&v, "accepted", http_t(req, "accepted là true hoặc false", "accepted must be true or false"));
    const char *note = json_str_field(b, "note", "note", false, 2000, &v, req);
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    bool accepted = json_is_true(acc);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx,
                       "SELECT direction, state, code, from_facility, to_facility, patient_id FROM clinical.referrals "
                       "WHERE id = $1 FOR UPDATE",
                       req_ll(req, id));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        db_tx_rollback(&tx);
        reply_not_found(req, "update", id);
        return;
    }
    if (strcmp(db_val(r, 0, 0), "in") || strcmp(db_val(r, 0, 1), "received")) {
        db_tx_rollback(&tx);
        http_problem(req, 409, NULL,
                     http_t(req, "Chỉ trả lời được giấy chuyển đến chưa được trả lời",
                            "only a received referral not yet answered can be answered"));
        return;
    }
    const char *code = db_val(r, 0, 2), *from = db_val(r, 0, 3), *fac = db_val(r, 0, 4);
    long long pid = db_ll(r, 0, 5);
    const char *ctl = hl7e_control_id(&tx, fac);
    const char *cert = user_cert(req, &tx);
    struct hl7e_patient p;
    if (!ctl || !patient_row(&tx, req, pid, &p) ||
        !db_q(&tx,
              "UPDATE clinical.referrals SET state = $2, answer_note = $3, answered_at = now(), answered_by = $4, "
              "answer_control_id = $5, version = version + 1, updated_at = now() WHERE id = $1",
              req_ll(req, id), accepted ? "accepted" : "rejected", note, req->user->full_name, ctl)) {
        req_tx_fail(req, &tx);
        return;
    }
    char *er7 = build_rri(fac, from, code, accepted, note, req->user->full_name, cert, req_ll(req, id), &p, ctl);
    if (!er7 || hl7e_enqueue(&tx, from, "RRI^I12", ctl, er7) < 0) {
        free(er7);
        req_tx_fail(req, &tx);
        return;
    }
    free(er7);
    audit_record(&tx, req, "update", "referral", req_ll(req, id), pid, "ok", accepted ? "accepted" : "rejected");
    json_t *j = referral_full(req, &tx, id);
    if (!j) {
        req_tx_fail(req, &tx);
        return;
    }
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    outbox_kick();
    http_reply_json(req, 200, j);
}

/* ------------------------------------------------------------ results */

struct obs {
    const char *code, *name, *type, *value, *unit, *range, *flag;
};

static int parse_results(http_req_t *req, json_t *b, struct obs **out, verr_t *v)
{
    json_t *arr = json_object_get(b, "results");
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 100) {
        verr_add(v, "results", http_t(req, "Cần 1 đến 100 kết quả", "1 to 100 results are required"));
        return 0;
    }
    size_t n = json_array_size(arr);
    struct obs *o = arena_calloc(req->arena, n, sizeof *o);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        char f[64];
        if (!json_is_object(e)) {
            snprintf(f, sizeof f, "results[%zu]", i);
            verr_add(v, arena_strdup(req->arena, f), http_t(req, "Cần một đối tượng", "an object is required"));
            continue;
        }
#define FIELD(dst, key, req_, max)                                                                               \
    snprintf(f, sizeof f, "results[%zu].%s", i, key);                                                           \
    o[i].dst = json_str_field(e, key, arena_strdup(req->arena, f), req_, max, v, req)
        FIELD(code, "code", true, 100);
        FIELD(name, "name", false, 300);
        FIELD(type, "value_type", false, 3);
        FIELD(value, "value", true, 4000);
        FIELD(unit, "unit", false, 50);
        FIELD(range, "reference_range", false, 100);
        FIELD(flag, "flag", false, 10);
#undef FIELD
        if (o[i].type && strcmp(o[i].type, "NM") && strcmp(o[i].type, "ST") && strcmp(o[i].type, "TX")) {
            snprintf(f, sizeof f, "results[%zu].value_type", i);
            verr_add(v, arena_strdup(req->arena, f), http_t(req, "NM, ST hoặc TX", "NM, ST or TX"));
        }
    }
    *out = o;
    return (int)n;
}

static int set_opt(hl7_msg *m, const char *path, const char *v)
{
    return v && *v ? hl7_set(m, path, v, NULL) : 0;
}

static char *build_oru(const char *from, const char *to, const char *code, const char *our_id,
                       const struct hl7e_patient *p, const struct obs *o, int n, const char *control_id)
{
    char ts[16], path[32], seq[16];
    hl7e_now(ts);
    hl7_msg *m = NULL;
    if (hl7e_msg_start(&m, from, to, "ORU^R01^ORU_R01", control_id, ts) < 0)
        goto fail;
    int rc = hl7e_set_pid(m, p);
    rc |= hl7_set(m, "OBR-1", "1", NULL);
    rc |= hl7_set(m, "OBR-2-1", code, NULL);
    rc |= hl7_set(m, "OBR-3-1", our_id, NULL);
    rc |= hl7_set(m, "OBR-3-2", from, NULL);
    rc |= hl7_set(m, "OBR-4-1", "REFRES", NULL);
    rc |= hl7_set(m, "OBR-4-2", "Kết quả điều trị chuyển tuyến", NULL);
    rc |= hl7_set(m, "OBR-7", ts, NULL);
    rc |= hl7_set(m, "OBR-25", "F", NULL);
    for (int i = 1; i <= n; i++) {
        const struct obs *x = &o[i - 1];
        snprintf(seq, sizeof seq, "%d", i);
#define SETO(f, val)                                                                                             \
    do {                                                                                                         \
        snprintf(path, sizeof path, "OBX[%d]-%s", i, f);                                                         \
        rc |= set_opt(m, path, (val));                                                                           \
    } while (0)
        SETO("1", seq);
        SETO("2", x->type ? x->type : "ST");
        SETO("3-1", x->code);
        SETO("3-2", x->name);
        SETO("5", x->value);
        SETO("6-1", x->unit);
        SETO("7", x->range);
        SETO("8", x->flag);
        SETO("11", "F");
        SETO("14", ts);
#undef SETO
    }
    if (rc < 0)
        goto fail;
    char *er7 = hl7e_to_er7(m);
    hl7_msg_free(m);
    return er7;
fail:
    hl7_msg_free(m);
    return NULL;
}

static void handle_results(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    json_t *b = http_json_body(req);
    if (!b)
        return;
    verr_t v;
    verr_init(&v);
    struct obs *o = NULL;
    int n = parse_results(req, b, &o, &v);
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
    PGresult *r = db_q(&tx, "SELECT direction, code, from_facility, to_facility, patient_id FROM clinical.referrals "
                            "WHERE id = $1",
                       req_ll(req, id));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        db_tx_rollback(&tx);
        reply_not_found(req, "update", id);
        return;
    }
    bool in = !strcmp(db_val(r, 0, 0), "in");
    const char *code = db_val(r, 0, 1);
    const char *me = in ? db_val(r, 0, 3) : db_val(r, 0, 2), *peer = in ? db_val(r, 0, 2) : db_val(r, 0, 3);
    long long pid = db_ll(r, 0, 4);
    const char *ctl = hl7e_control_id(&tx, me);
    struct hl7e_patient p;
    if (!ctl || !patient_row(&tx, req, pid, &p)) {
        req_tx_fail(req, &tx);
        return;
    }
    for (int i = 0; i < n; i++)
        if (!db_q(&tx,
                  "INSERT INTO clinical.referral_results (referral_id, patient_id, direction, seq, code, name, "
                  "value_type, value, unit, reference_range, flag, observed_at, message_control_id) VALUES ($1, $2, "
                  "'out', $3::int, $4, $5, coalesce($6, 'ST'), $7, $8, $9, $10, now(), $11)",
                  req_ll(req, id), req_ll(req, pid), req_ll(req, i + 1), o[i].code, o[i].name, o[i].type,
                  o[i].value, o[i].unit, o[i].range, o[i].flag, ctl)) {
            req_tx_fail(req, &tx);
            return;
        }
    char *er7 = build_oru(me, peer, code, req_ll(req, id), &p, o, n, ctl);
    if (!er7 || hl7e_enqueue(&tx, peer, "ORU^R01", ctl, er7) < 0) {
        free(er7);
        req_tx_fail(req, &tx);
        return;
    }
    free(er7);
    audit_record(&tx, req, "create", "referral_result", req_ll(req, id), pid, "ok",
                 arena_printf(req->arena, "results=%d", n));
    json_t *j = json_object();
    json_object_set_new(j, "referral_id", json_integer(id));
    json_object_set_new(j, "control_id", json_string(ctl));
    json_object_set_new(j, "results", json_integer(n));
    http_reply_json(req, 201, j);
    req_idempotent_store(req, &tx);
    if (req_tx_commit(req, &tx) < 0)
        return;
    outbox_kick();
}

/* ------------------------------------------------------------ /hl7/messages */

/* Message bytes as JSON text when they are UTF-8, else null. */
static json_t *bytes_json(const char *hex)
{
    if (!hex)
        return json_null();
    size_t n = 0;
    unsigned char *b = PQunescapeBytea((const unsigned char *)hex, &n);
    json_t *j = b && text_valid_utf8((const char *)b, n) ? json_stringn((const char *)b, n) : json_null();
    PQfreemem(b);
    return j;
}

static const char *IN_SQL =
    "SELECT id, sender, control_id, message_type, state, ack_code, error, patient_id, "
    "to_char(received_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MSOF'), to_char(processed_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MSOF'), "
    "raw, ack, count(*) OVER () FROM hl7.messages WHERE ($1::text IS NULL OR state = $1) "
    "AND ($4::text IS NULL OR control_id = $4) ORDER BY id DESC LIMIT $2 OFFSET $3";

static const char *OUT_SQL =
    "SELECT id, substr(target, 5), dedupe_key, kind, state, attempts, last_error, errors::text, remote_ref, "
    "to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MSOF'), to_char(acknowledged_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MSOF'), "
    "payload, count(*) OVER () FROM core.outbox WHERE target LIKE 'hl7:%' AND ($1::text IS NULL OR state = $1) "
    "AND ($4::text IS NULL OR dedupe_key = $4) ORDER BY id DESC LIMIT $2 OFFSET $3";

static json_t *in_row(PGresult *r, int i)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", jint(r, i, 0));
    json_object_set_new(o, "direction", json_string("in"));
    json_object_set_new(o, "peer", jstr(db_val(r, i, 1)));
    json_object_set_new(o, "control_id", jstr(db_val(r, i, 2)));
    json_object_set_new(o, "type", jstr(db_val(r, i, 3)));
    json_object_set_new(o, "state", jstr(db_val(r, i, 4)));
    json_object_set_new(o, "ack_code", jstr(db_val(r, i, 5)));
    json_object_set_new(o, "error", jstr(db_val(r, i, 6)));
    json_object_set_new(o, "patient_id", jint(r, i, 7));
    json_object_set_new(o, "received_at", jstr(db_val(r, i, 8)));
    json_object_set_new(o, "processed_at", jstr(db_val(r, i, 9)));
    json_object_set_new(o, "raw", bytes_json(db_val(r, i, 10)));
    json_object_set_new(o, "ack", bytes_json(db_val(r, i, 11)));
    return o;
}

static json_t *out_row(PGresult *r, int i)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", jint(r, i, 0));
    json_object_set_new(o, "direction", json_string("out"));
    json_object_set_new(o, "peer", jstr(db_val(r, i, 1)));
    json_object_set_new(o, "control_id", jstr(db_val(r, i, 2)));
    json_object_set_new(o, "type", jstr(db_val(r, i, 3)));
    json_object_set_new(o, "state", jstr(db_val(r, i, 4)));
    json_object_set_new(o, "attempts", jint(r, i, 5));
    json_object_set_new(o, "error", jstr(db_val(r, i, 6)));
    json_t *errs = db_val(r, i, 7) ? json_loads(db_val(r, i, 7), 0, NULL) : NULL;
    json_object_set_new(o, "errors", errs ? errs : json_null());
    json_object_set_new(o, "ack_control_id", jstr(db_val(r, i, 8)));
    json_object_set_new(o, "created_at", jstr(db_val(r, i, 9)));
    json_object_set_new(o, "acknowledged_at", jstr(db_val(r, i, 10)));
    const char *payload = db_val(r, i, 11);
    json_object_set_new(o, "raw", payload && payload[0] != '{' ? json_string(payload) : json_null());
    return o;
}

static void handle_messages(http_req_t *req)
{
    const char *dir = http_query(req, "direction"), *state = http_query(req, "state");
    const char *ctl = http_query(req, "control_id");
    long long limit, offset;
    if (!list_params(req, &limit, &offset))
        return;
    bool out = dir && !strcmp(dir, "out");
    if (dir && !out && strcmp(dir, "in")) {
        http_problem_field(req, 422, "direction", http_t(req, "direction là in hoặc out", "direction is in or out"));
        return;
    }
    static const char *const in_states = " received processed error ", *const out_states = " queued sent acknowledged error ";
    char key[32];
    snprintf(key, sizeof key, " %.20s ", state ? state : "");
    if (state && (strchr(state, ' ') || !strstr(out ? out_states : in_states, key))) {
        http_problem_field(req, 422, "state",
                           out ? "queued, sent, acknowledged or error" : "received, processed or error");
        return;
    }
    if (ctl && strlen(ctl) > 200) {
        http_problem_field(req, 422, "control_id", http_t(req, "Tối đa 200 ký tự", "at most 200 characters"));
        return;
    }
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx, out ? OUT_SQL : IN_SQL, state, req_ll(req, limit), req_ll(req, offset), ctl);
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    json_t *items = json_array();
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        json_array_append_new(items, out ? out_row(r, i) : in_row(r, i));
    audit_record(&tx, req, "search", "hl7_message", NULL, 0, "ok",
                 arena_printf(req->arena, "direction=%s returned=%d", out ? "out" : "in", n));
    json_t *j = json_object();
    json_object_set_new(j, "items", items);
    json_object_set_new(j, "total", json_integer(n ? db_ll(r, 0, 12) : 0));
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    http_reply_json(req, 200, j);
}

/* ------------------------------------------------------------ /hl7/peers */

static void handle_peers_list(http_req_t *req)
{
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q0(&tx, "SELECT facility_code, host, port, tls, array_to_json(events)::text FROM hl7.peers "
                             "ORDER BY facility_code");
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "code", jstr(db_val(r, i, 0)));
        json_object_set_new(o, "host", jstr(db_val(r, i, 1)));
        json_object_set_new(o, "port", jint(r, i, 2));
        json_object_set_new(o, "tls", json_boolean(db_val(r, i, 3)[0] == 't'));
        json_object_set_new(o, "events", json_loads(db_val(r, i, 4), 0, NULL));
        json_array_append_new(items, o);
    }
    db_tx_rollback(&tx);
    json_t *j = json_object();
    json_object_set_new(j, "items", items);
    json_object_set_new(j, "total", json_integer((json_int_t)json_array_size(items)));
    http_reply_json(req, 200, j);
}

static void handle_peers_put(http_req_t *req)
{
    json_t *b = http_json_body(req);
    if (!b)
        return;
    verr_t v;
    verr_init(&v);
    long long port = 0;
    const char *code = json_str_field(b, "code", "code", true, 5, &v, req);
    const char *host = json_str_field(b, "host", "host", true, 253, &v, req);
    json_int_field(b, "port", "port", true, 1, 65535, &port, &v, req);
    json_t *tls = json_object_get(b, "tls"), *ev = json_object_get(b, "events");
    if (tls && !json_is_boolean(tls))
        verr_add(&v, "tls", http_t(req, "tls là true hoặc false", "tls must be true or false"));
    if (code && !facility_code_shape(code))
        verr_add(&v, "code", http_t(req, "Mã cơ sở gồm 5 ký tự", "a facility code has 5 characters"));
    bool adt = false;
    if (ev && !json_is_array(ev))
        verr_add(&v, "events", "[\"adt\"] or []");
    for (size_t i = 0; json_is_array(ev) && i < json_array_size(ev); i++) {
        json_t *e = json_array_get(ev, i);
        if (json_is_string(e) && !strcmp(json_string_value(e), "adt"))
            adt = true;
        else
            verr_add(&v, "events", "[\"adt\"] or []");
    }
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    if (!db_q(&tx,
              "INSERT INTO hl7.peers (facility_code, host, port, tls, events) VALUES ($1, $2, $3::int, $4::bool, "
              "CASE WHEN $5 THEN ARRAY['adt'] ELSE '{}'::text[] END) ON CONFLICT (facility_code) DO UPDATE SET "
              "host = EXCLUDED.host, port = EXCLUDED.port, tls = EXCLUDED.tls, events = EXCLUDED.events, "
              "updated_at = now()",
              code, host, req_ll(req, port), json_is_true(tls) ? "true" : "false", adt ? "true" : "false")) {
        req_tx_fail(req, &tx);
        return;
    }
    audit_record(&tx, req, "update", "hl7_peer", code, 0, "ok", arena_printf(req->arena, "%s:%lld", host, port));
    if (req_tx_commit(req, &tx) < 0)
        return;
    /* A queued message waiting for this peer can go now. */
    outbox_kick();
    json_t *j = json_object();
    json_object_set_new(j, "code", json_string(code));
    json_object_set_new(j, "host", json_string(host));
    json_object_set_new(j, "port", json_integer(port));
    json_object_set_new(j, "tls", json_boolean(json_is_true(tls)));
    http_reply_json(req, 200, j);
}

void referrals_register_routes(void)
{
    /* The outbox target goes with the routes: both are set up before
     * `his serve` starts its workers. */
    hl7e_outbound_register();
    unsigned clin = ROLE_DOCTOR | ROLE_NURSE;
    http_route("POST", "/api/v1/referrals", handle_create, ROLE_DOCTOR, 0);
    http_route("GET", "/api/v1/referrals", handle_list, clin, 0);
    http_route("GET", "/api/v1/referrals/{id}", handle_get, clin, 0);
    http_route("POST", "/api/v1/referrals/{id}/answer", handle_answer, ROLE_DOCTOR, 0);
    http_route("POST", "/api/v1/referrals/{id}/results", handle_results, ROLE_DOCTOR, 0);
    http_route("GET", "/api/v1/hl7/messages", handle_messages, clin | ROLE_ADMIN, 0);
    http_route("GET", "/api/v1/hl7/peers", handle_peers_list, ROLE_ADMIN, 0);
    http_route("PUT", "/api/v1/hl7/peers", handle_peers_put, ROLE_ADMIN, 0);
}
