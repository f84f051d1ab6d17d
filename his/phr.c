/* phr: personal health records (issue 4 point 3), the four sections of the
 * QĐ 831/QĐ-BYT form, one record per patient:
 *   1 identity     administrative data beyond the patient row (blood group,
 *                  family, caregiver, household keys ...); the patient row
 *                  itself is shown beside it, not copied
 *   2 history      birth, risk factors, disabilities, allergies, diseases,
 *                  surgeries, family history
 *   3 prevention   vaccinations, pregnancies, screenings, chronic-disease
 *                  follow-up
 *   4 examinations the patient's visits, linked (never stored here)
 *
 *   GET /api/v1/patients/{id}/health-record           ETag = version (0: none yet)
 *   PUT /api/v1/patients/{id}/health-record           If-Match; sections sent replace the stored ones
 *   GET /api/v1/patients/{id}/health-record/versions  every state, newest first
 *
 * Sections 1-3 are JSON whose structure is checked here field by field
 * against the tables below (unknown members, types, lengths, enumerations,
 * dates, ICD-10 codes), so what is stored is always what the screens and a
 * QĐ 831 export can read. Every change writes a full copy to
 * health_record_versions in the same transaction. */
#include "his/modules.h"
#include "core/handler.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PHR_ROLES (ROLE_DOCTOR | ROLE_NURSE | ROLE_COMMUNE_WORKER)
#define PHR_MAX_ICD 600
#define PHR_EXAMS_SHOWN 50

bool catalog_icd10_normalize(const char *in, char *out, size_t outlen);

/* ---- structure of the sections ------------------------------------------ */

enum phr_type { PHR_STR, PHR_DATE, PHR_INT, PHR_BOOL, PHR_ENUM, PHR_OBJ, PHR_LIST, PHR_ICD };

struct phr_field {
    const char *key;
    enum phr_type type;
    bool required;
    long min, max;                 /* STR: max length; INT: range; LIST: max items */
    const char *const *values;     /* ENUM */
    const struct phr_field *sub;   /* OBJ members / LIST item members; NULL-key terminated */
};

/* ICD-10 codes met while checking, for one look-up in the catalogue. */
struct phr_icd_refs {
    int n;
    const char *path[PHR_MAX_ICD];
    const char *code[PHR_MAX_ICD];
};

#define S(k, max) {k, PHR_STR, false, 0, max, NULL, NULL}
#define SR(k, max) {k, PHR_STR, true, 0, max, NULL, NULL}
#define D(k) {k, PHR_DATE, false, 0, 0, NULL, NULL}
#define DR(k) {k, PHR_DATE, true, 0, 0, NULL, NULL}
#define I(k, lo, hi) {k, PHR_INT, false, lo, hi, NULL, NULL}
#define B(k) {k, PHR_BOOL, false, 0, 0, NULL, NULL}
#define E(k, vals) {k, PHR_ENUM, false, 0, 0, vals, NULL}
#define ER(k, vals) {k, PHR_ENUM, true, 0, 0, vals, NULL}
#define O(k, sub) {k, PHR_OBJ, false, 0, 0, NULL, sub}
#define L(k, max, sub) {k, PHR_LIST, false, 0, max, NULL, sub}
#define ICD(k) {k, PHR_ICD, false, 0, 0, NULL, NULL}
#define END {NULL, PHR_STR, false, 0, 0, NULL, NULL}

static const char *const abo[] = {"A", "B", "AB", "O", NULL};
static const char *const rh[] = {"+", "-", NULL};
static const char *const marital[] = {"single", "married", "divorced", "widowed", "other", NULL};
static const char *const delivery[] = {"normal", "caesarean", "other", NULL};
static const char *const risk_types[] = {"smoking", "alcohol", "drugs", "physical_inactivity", "other", NULL};
static const char *const risk_status[] = {"current", "former", "never", NULL};
static const char *const disability_types[] = {"hearing", "vision", "hands", "legs", "spine",
                                               "cleft_lip_palate", "other", NULL};
static const char *const allergy_types[] = {"drug", "chemical", "food", "other", NULL};
static const char *const disease_status[] = {"active", "resolved", NULL};
static const char *const pregnancy_outcomes[] = {"ongoing", "live_birth", "stillbirth", "miscarriage",
                                                 "abortion", NULL};

/* Section 1: administrative data (QĐ 831 THONGTINCHUNG beyond the patient row). */
static const struct phr_field identity_fields[] = {
    E("blood_group_abo", abo), E("blood_group_rh", rh), S("birth_place", 200), S("religion", 50),
    S("education", 100), S("occupation", 100), E("marital_status", marital), S("father_name", 200),
    S("mother_name", 200), S("caregiver", 200), S("caregiver_relationship", 50), S("household_code", 30),
    S("relationship_to_head", 50), S("home_phone", 20), S("email", 254), S("current_address", 300),
    D("id_issued_on"), S("id_issued_by", 200), S("note", 2000), END,
};

/* Section 2: history and risk factors (TIENSU). */
static const struct phr_field birth_fields[] = {
    E("delivery", delivery), B("preterm"), B("birth_asphyxia"), I("weight_g", 300, 7000),
    I("length_cm", 20, 70), S("congenital_defects", 500), S("note", 500), END,
};
static const struct phr_field risk_fields[] = {
    ER("type", risk_types), E("status", risk_status), S("detail", 500), D("since"), END,
};
static const struct phr_field disability_fields[] = {
    ER("type", disability_types), S("detail", 500), END,
};
static const struct phr_field allergy_fields[] = {
    ER("type", allergy_types), SR("agent", 200), S("reaction", 500), END,
};
static const struct phr_field disease_fields[] = {
    ICD("icd10"), SR("name", 300), D("since"), E("status", disease_status), S("note", 500), END,
};
static const struct phr_field surgery_fields[] = {
    SR("name", 300), D("date"), S("place", 200), S("note", 500), END,
};
static const struct phr_field family_fields[] = {
    SR("relationship", 50), ICD("icd10"), SR("name", 300), S("note", 500), END,
};
static const struct phr_field history_fields[] = {
    O("birth", birth_fields), L("risk_factors", 20, risk_fields), L("disabilities", 20, disability_fields),
    L("allergies", 50, allergy_fields), L("diseases", 100, disease_fields), L("surgeries", 50, surgery_fields),
    L("family_history", 50, family_fields), S("reproductive_health", 2000), S("other_issues", 2000), END,
};

/* Section 3: vaccinations, pregnancies, screenings, chronic-disease follow-up. */
static const struct phr_field vaccination_fields[] = {
    SR("vaccine", 100), I("dose", 1, 10), DR("date"), S("lot", 50), S("place", 200), S("reaction", 500), END,
};
static const struct phr_field pregnancy_fields[] = {
    D("last_period"), D("due_date"), E("outcome", pregnancy_outcomes), D("ended_on"), E("delivery", delivery),
    I("antenatal_visits", 0, 50), S("note", 1000), END,
};
static const struct phr_field screening_fields[] = {
    SR("type", 100), DR("date"), S("result", 500), D("next_due"), END,
};
static const struct phr_field followup_fields[] = {
    DR("date"), I("systolic", 40, 300), I("diastolic", 20, 200), S("note", 1000), END,
};
static const struct phr_field chronic_fields[] = {
    ICD("icd10"), SR("name", 300), D("diagnosed_on"), S("program", 100), L("follow_ups", 200, followup_fields),
    END,
};
static const struct phr_field prevention_fields[] = {
    L("vaccinations", 200, vaccination_fields), L("pregnancies", 30, pregnancy_fields),
    L("screenings", 200, screening_fields), L("chronic_diseases", 50, chronic_fields), END,
};

static const struct {
    const char *name;
    const struct phr_field *fields;
} phr_sections[] = {
    {"identity", identity_fields},
    {"history", history_fields},
    {"prevention", prevention_fields},
};
#define PHR_NSECTIONS 3

bool phr_date_ok(const char *s);
void phr_check_object(http_req_t *req, json_t *obj, const struct phr_field *fields, const char *path,
                      struct phr_icd_refs *icd, verr_t *v);
bool phr_check_section(http_req_t *req, const char *name, json_t *obj, struct phr_icd_refs *icd, verr_t *v);
int phr_validate(http_req_t *req, const char *section, json_t *obj, verr_t *v);

/* A date, or a year-month, or a year: history is often known only so far.
 * "YYYY-MM-DD" (a real calendar day), "YYYY-MM" or "YYYY", years 1880-2200. */
bool phr_date_ok(const char *s)
{
    size_t n = strlen(s);
    if (n != 4 && n != 7 && n != 10)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((i == 4 || i == 7) ? s[i] != '-' : !isdigit((unsigned char)s[i]))
            return false;
    int y = atoi(s), m = n >= 7 ? atoi(s + 5) : 1, d = n == 10 ? atoi(s + 8) : 1;
    if (y < 1880 || y > 2200 || m < 1 || m > 12 || d < 1)
        return false;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int last = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    return d <= last;
}

static void check_value(http_req_t *req, json_t *j, const struct phr_field *f, const char *path,
                        struct phr_icd_refs *icd, verr_t *v);

void phr_check_object(http_req_t *req, json_t *obj, const struct phr_field *fields, const char *path,
                      struct phr_icd_refs *icd, verr_t *v)
{
    const char *pre = *path ? arena_printf(req->arena, "%s.", path) : "";
    if (!json_is_object(obj)) {
        verr_add(v, *path ? path : "body", http_t(req, "Phải là một đối tượng", "must be an object"));
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        const struct phr_field *f = fields;
        while (f->key && strcmp(f->key, key) != 0)
            f++;
        if (!f->key)
            verr_add(v, arena_printf(req->arena, "%s%s", pre, key), http_t(req, "Trường không được hỗ trợ", "unknown field"));
    }
    for (const struct phr_field *f = fields; f->key; f++) {
        json_t *j = json_object_get(obj, f->key);
        const char *p = arena_printf(req->arena, "%s%s", pre, f->key);
        if (!j || json_is_null(j)) {
            if (f->required)
                verr_add(v, p, http_t(req, "Bắt buộc", "required"));
            continue;
        }
        check_value(req, j, f, p, icd, v);
    }
}

static void check_value(http_req_t *req, json_t *j, const struct phr_field *f, const char *path,
                        struct phr_icd_refs *icd, verr_t *v)
{
    switch (f->type) {
    case PHR_STR:
        if (!json_is_string(j))
            verr_add(v, path, http_t(req, "Phải là chuỗi ký tự", "must be a string"));
        else if ((long)json_string_length(j) > f->max || strlen(json_string_value(j)) != json_string_length(j))
            verr_add(v, path, arena_printf(req->arena, "%s %ld", http_t(req, "Dài quá, tối đa", "too long, at most"), f->max));
        else if (f->required && json_string_length(j) == 0)
            verr_add(v, path, http_t(req, "Bắt buộc", "required"));
        break;
    case PHR_DATE:
        if (!json_is_string(j) || !phr_date_ok(json_string_value(j)))
            verr_add(v, path, http_t(req, "Ngày dạng YYYY-MM-DD, YYYY-MM hoặc YYYY", "a date YYYY-MM-DD, YYYY-MM or YYYY"));
        break;
    case PHR_INT:
        if (!json_is_integer(j) || json_integer_value(j) < f->min || json_integer_value(j) > f->max)
            verr_add(v, path, arena_printf(req->arena, "%s %ld..%ld", http_t(req, "Số nguyên trong khoảng", "an integer in"),
                                           f->min, f->max));
        break;
    case PHR_BOOL:
        if (!json_is_boolean(j))
            verr_add(v, path, http_t(req, "Phải là true/false", "must be true or false"));
        break;
    case PHR_ENUM: {
        bool ok = false;
        for (int i = 0; json_is_string(j) && f->values[i]; i++)
            ok = ok || strcmp(json_string_value(j), f->values[i]) == 0;
        if (!ok) {
            char *list = arena_strdup(req->arena, "");
            for (int i = 0; f->values[i]; i++)
                list = arena_printf(req->arena, "%s%s%s", list, i ? ", " : "", f->values[i]);
            verr_add(v, path, arena_printf(req->arena, "%s: %s", http_t(req, "Một trong", "one of"), list));
        }
        break;
    }
    case PHR_ICD: {
        char code[8];
        if (!json_is_string(j) || !catalog_icd10_normalize(json_string_value(j), code, sizeof code))
            verr_add(v, path, http_t(req, "Không phải mã ICD-10", "not an ICD-10 code"));
        else if (icd->n >= PHR_MAX_ICD)
            verr_add(v, path, http_t(req, "Quá nhiều mã ICD-10", "too many ICD-10 codes"));
        else {
            icd->path[icd->n] = path;
            icd->code[icd->n++] = arena_strdup(req->arena, code);
        }
        break;
    }
    case PHR_OBJ:
        phr_check_object(req, j, f->sub, path, icd, v);
        break;
    case PHR_LIST:
        if (!json_is_array(j)) {
            verr_add(v, path, http_t(req, "Phải là một mảng", "must be an array"));
        } else if ((long)json_array_size(j) > f->max) {
            verr_add(v, path, arena_printf(req->arena, "%s %ld", http_t(req, "Tối đa số mục", "at most items:"), f->max));
        } else {
            size_t i;
            json_t *it;
            json_array_foreach(j, i, it)
                phr_check_object(req, it, f->sub, arena_printf(req->arena, "%s[%zu]", path, i), icd, v);
        }
        break;
    }
}

/* Checks one section by name; false for an unknown section name. */
bool phr_check_section(http_req_t *req, const char *name, json_t *obj, struct phr_icd_refs *icd, verr_t *v)
{
    for (int i = 0; i < PHR_NSECTIONS; i++)
        if (strcmp(name, phr_sections[i].name) == 0) {
            phr_check_object(req, obj, phr_sections[i].fields, name, icd, v);
            return true;
        }
    return false;
}

/* The structure check alone (for tests and tools): the number of ICD-10
 * codes found, -1 for an unknown section name. */
int phr_validate(http_req_t *req, const char *section, json_t *obj, verr_t *v)
{
    struct phr_icd_refs *icd = arena_calloc(req->arena, 1, sizeof *icd);
    return phr_check_section(req, section, obj, icd, v) ? icd->n : -1;
}

/* ---- reading -------------------------------------------------------------- */

/* The record as the API shows it, with the patient row beside section 1 and
 * the patient's latest visits as section 4. One row: text, version; no row
 * when the patient is not visible to this facility. */
static PGresult *phr_fetch(db_tx_t *tx, http_req_t *req, long long pid)
{
    return db_q(tx,
        "SELECT jsonb_build_object("
        "  'patient_id', p.id, 'version', coalesce(r.version, 0), "
        "  'patient', jsonb_build_object('id', p.id, 'code', p.code, 'full_name', p.full_name, "
        "     'birth_date', coalesce(to_char(p.birth_date, 'YYYY-MM-DD'), p.birth_year::text), 'sex', p.sex, "
        "     'cccd', p.cccd, 'phone', p.phone, 'ethnicity', p.ethnicity, 'nationality', p.nationality, "
        "     'occupation', p.occupation, 'address', jsonb_build_object('province_code', p.province_code, "
        "     'commune_code', p.commune_code, 'village', p.village, 'line', p.address_line), "
        "     'insurance_card', CASE WHEN p.card_number IS NULL THEN NULL ELSE jsonb_build_object("
        "        'number', p.card_number, 'valid_from', p.card_valid_from, 'valid_to', p.card_valid_to, "
        "        'primary_facility', p.card_primary_facility) END, "
        "     'household', (SELECT jsonb_build_object('id', h.id, 'code', h.code, 'relationship', m.relationship) "
        "        FROM clinical.household_members m JOIN clinical.households h ON h.id = m.household_id "
        "        WHERE m.patient_id = p.id AND m.left_at IS NULL LIMIT 1)), "
        "  'identity', coalesce(r.identity, '{}'::jsonb), 'history', coalesce(r.history, '{}'::jsonb), "
        "  'prevention', coalesce(r.prevention, '{}'::jsonb), "
        "  'examinations', jsonb_build_object("
        "     'items', coalesce((SELECT jsonb_agg(e.x ORDER BY e.received_at DESC, e.id DESC) FROM ("
        "        SELECT v.id, v.received_at, jsonb_build_object('visit_id', v.id, 'ma_lk', v.ma_lk, "
        "          'href', '/api/v1/visits/' || v.id, 'kind', v.kind, 'state', v.state, "
        "          'received_at', v.received_at, 'discharged_at', v.discharged_at, 'reason', v.reason, "
        "          'vitals', jsonb_strip_nulls(jsonb_build_object('pulse', v.pulse, 'temperature', v.temperature, "
        "             'systolic', v.systolic, 'diastolic', v.diastolic, 'respiration', v.respiration, "
        "             'weight_kg', v.weight_kg, 'height_cm', v.height_cm)), "
        "          'diagnoses', coalesce((SELECT jsonb_agg(jsonb_build_object('icd10', d.icd10, 'primary', "
        "             d.is_primary, 'name', i.name_vi) ORDER BY d.seq) FROM clinical.visit_diagnoses d "
        "             JOIN catalog.icd10 i ON i.code = d.icd10 WHERE d.visit_id = v.id), '[]'::jsonb)) AS x "
        "        FROM clinical.visits v WHERE v.patient_id = p.id "
        "        ORDER BY v.received_at DESC, v.id DESC LIMIT $2) e), '[]'::jsonb), "
        "     'total', (SELECT count(*) FROM clinical.visits v WHERE v.patient_id = p.id)), "
        "  'created_at', r.created_at, 'updated_at', r.updated_at, 'updated_by', r.updated_by)::text, "
        "  coalesce(r.version, 0) "
        "FROM clinical.patients p LEFT JOIN clinical.health_records r ON r.patient_id = p.id WHERE p.id = $1",
        req_ll(req, pid), req_ll(req, PHR_EXAMS_SHOWN));
}

static void reply_not_found(http_req_t *req, const char *action, long long pid)
{
    audit_record_alone(req, action, "health_record", req_ll(req, pid), pid, "not_found", NULL);
    http_problem(req, 404, NULL, http_t(req, "Không tìm thấy bệnh nhân", "patient not found"));
}

/* Audits, commits and replies with the record read in this transaction. */
static void reply_record(http_req_t *req, db_tx_t *tx, long long pid, const char *action, const char *detail)
{
    PGresult *r = phr_fetch(tx, req, pid);
    if (!r || PQntuples(r) == 0) {
        req_tx_fail(req, tx);
        return;
    }
    audit_record(tx, req, action, "health_record", req_ll(req, pid), pid, "ok", detail);
    const char *body = db_val(r, 0, 0);
    long long version = db_ll(r, 0, 1);
    if (req_tx_commit(req, tx) < 0)
        return;
    req_set_etag(req, version);
    http_reply_raw(req, 200, "application/json; charset=utf-8", body, strlen(body));
}

static void handle_get(http_req_t *req)
{
    long long pid;
    if (!req_id_param(req, "id", &pid))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx, "SELECT 1 FROM clinical.patients WHERE id = $1", req_ll(req, pid));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        db_tx_rollback(&tx);
        reply_not_found(req, "read", pid);
        return;
    }
    reply_record(req, &tx, pid, "read", NULL);
}

/* ---- PUT ---------------------------------------------------------------- */

struct phr_put {
    const char *section[PHR_NSECTIONS]; /* JSON text, NULL: unchanged */
    struct phr_icd_refs icd;
};

static bool parse_put(http_req_t *req, json_t *b, struct phr_put *p, verr_t *v)
{
    /* what GET returned may be sent back: its read-only members are ignored */
    static const char *const readonly[] = {"patient_id", "version", "patient", "examinations", "created_at",
                                           "updated_at", "updated_by", NULL};
    memset(p->section, 0, sizeof p->section);
    p->icd.n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(b, key, val) {
        bool ro = false;
        for (int i = 0; readonly[i]; i++)
            ro = ro || strcmp(key, readonly[i]) == 0;
        if (ro)
            continue;
        int s = 0;
        while (s < PHR_NSECTIONS && strcmp(key, phr_sections[s].name) != 0)
            s++;
        if (s == PHR_NSECTIONS) {
            verr_add(v, key, http_t(req, "Trường không được hỗ trợ (identity, history, prevention)",
                                    "unknown field (identity, history, prevention)"));
            continue;
        }
        phr_check_section(req, key, val, &p->icd, v);
        char *js = json_dumps(val, JSON_COMPACT);
        p->section[s] = js ? arena_strdup(req->arena, js) : NULL;
        free(js);
    }
    return !verr_any(v);
}

/* Every ICD-10 code named in the sections must be in the catalogue. */
static bool check_icd(http_req_t *req, db_tx_t *tx, const struct phr_icd_refs *icd, verr_t *v)
{
    if (icd->n == 0)
        return true;
    json_t *arr = json_array();
    for (int i = 0; i < icd->n; i++)
        json_array_append_new(arr, json_string(icd->code[i]));
    char *js = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    PGresult *r = db_q(tx,
                       "SELECT x.ord - 1 FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS x(c, ord) "
                       "WHERE NOT EXISTS (SELECT 1 FROM catalog.icd10 i WHERE i.code = x.c) ORDER BY x.ord",
                       arena_strdup(req->arena, js));
    free(js);
    if (!r)
        return false;
    for (int i = 0; i < PQntuples(r); i++)
        verr_add(v, icd->path[db_ll(r, i, 0)], http_t(req, "Mã ICD-10 không có trong danh mục", "unknown ICD-10 code"));
    return true;
}

/* Writes the new state and its version row; false when the stored version
 * is not `want` (the caller answers 412, nothing written). */
static bool write_record(http_req_t *req, db_tx_t *tx, long long pid, long long want, const struct phr_put *p,
                         long long *current)
{
    const char *spid = req_ll(req, pid), *uid = req_ll(req, req->user->id);
    PGresult *r;
    if (want == 0) {
        /* first record: a concurrent first writer makes this insert a no-op */
        r = db_q(tx,
                 "INSERT INTO clinical.health_records (patient_id, identity, history, prevention, updated_by) "
                 "VALUES ($1, coalesce($2::jsonb, '{}'), coalesce($3::jsonb, '{}'), coalesce($4::jsonb, '{}'), $5) "
                 "ON CONFLICT (patient_id) DO NOTHING RETURNING version",
                 spid, p->section[0], p->section[1], p->section[2], uid);
    } else {
        r = db_q(tx,
                 "UPDATE clinical.health_records SET identity = coalesce($2::jsonb, identity), "
                 "  history = coalesce($3::jsonb, history), prevention = coalesce($4::jsonb, prevention), "
                 "  version = version + 1, updated_at = now(), updated_by = $5 "
                 "WHERE patient_id = $1 AND version = $6 RETURNING version",
                 spid, p->section[0], p->section[1], p->section[2], uid, req_ll(req, want));
    }
    if (!r)
        return false;
    if (PQntuples(r) == 0) {
        PGresult *c = db_q(tx, "SELECT version FROM clinical.health_records WHERE patient_id = $1", spid);
        *current = c && PQntuples(c) ? db_ll(c, 0, 0) : 0;
        return false;
    }
    *current = db_ll(r, 0, 0);
    phr_save_version(tx, spid, uid);
    return true;
}

/* The record as it now stands becomes a version row, naming the sections
 * that changed since the version before. */
bool phr_save_version(db_tx_t *tx, const char *patient_id, const char *user_id)
{
    return db_q(tx,
                "INSERT INTO clinical.health_record_versions (patient_id, version, facility_id, identity, history, "
                "  prevention, changed_sections, saved_by) "
                "SELECT r.patient_id, r.version, r.facility_id, r.identity, r.history, r.prevention, "
                "  array_remove(ARRAY[CASE WHEN p.identity IS DISTINCT FROM r.identity THEN 'identity' END, "
                "                     CASE WHEN p.history IS DISTINCT FROM r.history THEN 'history' END, "
                "                     CASE WHEN p.prevention IS DISTINCT FROM r.prevention THEN 'prevention' END], "
                "               NULL), "
                "  NULLIF($2, '0')::bigint "
                "FROM clinical.health_records r LEFT JOIN clinical.health_record_versions p "
                "  ON p.patient_id = r.patient_id AND p.version = r.version - 1 WHERE r.patient_id = $1",
                patient_id, user_id) != NULL;
}

static void handle_put(http_req_t *req)
{
    long long pid, want, current = 0;
    if (!req_id_param(req, "id", &pid))
        return;
    json_t *b = http_json_body(req);
    if (!b)
        return;
    if (!req_if_match(req, &want))
        return;
    verr_t v;
    verr_init(&v);
    struct phr_put *p = arena_calloc(req->arena, 1, sizeof *p);
    if (!parse_put(req, b, p, &v)) {
        verr_reply(req, &v);
        return;
    }
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0) {
        verr_free(&v);
        return;
    }
    PGresult *r = db_q(&tx, "SELECT 1 FROM clinical.patients WHERE id = $1", req_ll(req, pid));
    if (!r || !check_icd(req, &tx, &p->icd, &v)) {
        verr_free(&v);
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        verr_free(&v);
        db_tx_rollback(&tx);
        reply_not_found(req, "update", pid);
        return;
    }
    if (verr_any(&v)) {
        db_tx_rollback(&tx);
        audit_record_alone(req, "update", "health_record", req_ll(req, pid), pid, "invalid", NULL);
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    if (!write_record(req, &tx, pid, want, p, &current)) {
        if (tx.failed) {
            req_tx_fail(req, &tx);
            return;
        }
        /* Stale If-Match: nothing was written; the client re-reads and merges. */
        db_tx_rollback(&tx);
        audit_record_alone(req, "update", "health_record", req_ll(req, pid), pid, "conflict", NULL);
        req_set_etag(req, current);
        http_problem_field(req, 412, "If-Match",
                           arena_printf(req->arena, "%s (%lld)",
                                        http_t(req, "Hồ sơ đã được người khác sửa; hãy tải lại phiên bản hiện tại",
                                               "the record was changed meanwhile; reload the current version"),
                                        current));
        return;
    }
    if (tx.failed) {
        req_tx_fail(req, &tx);
        return;
    }
    reply_record(req, &tx, pid, want == 0 ? "create" : "update", arena_printf(req->arena, "version %lld", current));
}

/* ---- versions ------------------------------------------------------------- */

static void handle_versions(http_req_t *req)
{
    long long pid, limit = 50, offset = 0;
    if (!req_id_param(req, "id", &pid))
        return;
    const char *l = http_query(req, "limit"), *o = http_query(req, "offset");
    char *end;
    verr_t v;
    verr_init(&v);
    if (l && ((limit = strtoll(l, &end, 10)) < 1 || limit > 200 || *end || end == l))
        verr_add(&v, "limit", http_t(req, "Phải từ 1 đến 200", "must be 1 to 200"));
    if (o && ((offset = strtoll(o, &end, 10)) < 0 || offset > 100000 || *end || end == o))
        verr_add(&v, "offset", http_t(req, "Phải từ 0 đến 100000", "must be 0 to 100000"));
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx,
        "SELECT jsonb_build_object('items', coalesce((SELECT jsonb_agg(x.j ORDER BY x.version DESC) FROM ("
        "     SELECT w.version, jsonb_build_object('version', w.version, 'saved_at', w.saved_at, "
        "       'saved_by', w.saved_by, 'saved_by_name', u.full_name, 'changed_sections', to_jsonb(w.changed_sections), "
        "       'identity', w.identity, 'history', w.history, 'prevention', w.prevention) AS j "
        "     FROM clinical.health_record_versions w LEFT JOIN core.users u ON u.id = w.saved_by "
        "     WHERE w.patient_id = p.id ORDER BY w.version DESC LIMIT $2 OFFSET $3) x), '[]'::jsonb), "
        "  'total', (SELECT count(*) FROM clinical.health_record_versions w WHERE w.patient_id = p.id))::text "
        "FROM clinical.patients p WHERE p.id = $1",
        req_ll(req, pid), req_ll(req, limit), req_ll(req, offset));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        db_tx_rollback(&tx);
        reply_not_found(req, "read", pid);
        return;
    }
    audit_record(&tx, req, "read", "health_record_versions", req_ll(req, pid), pid, "ok", NULL);
    const char *body = db_val(r, 0, 0);
    if (req_tx_commit(req, &tx) < 0)
        return;
    http_reply_raw(req, 200, "application/json; charset=utf-8", body, strlen(body));
}

void phr_register_routes(void)
{
    http_route("GET", "/api/v1/patients/{id}/health-record", handle_get, PHR_ROLES, 0);
    http_route("PUT", "/api/v1/patients/{id}/health-record", handle_put, PHR_ROLES, 0);
    http_route("GET", "/api/v1/patients/{id}/health-record/versions", handle_versions, PHR_ROLES, 0);
}
