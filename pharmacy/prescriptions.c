/* E-prescriptions inside a visit: issue (with the national code, the limits,
 * the facility signature and the outbox row for the national portal, all in
 * one transaction), read, cancel, and replace (a new prescription that
 * cancels and links the old one: a prescription once issued is never
 * edited). */
#include "pharmacy/rx_common.h"
#include "core/log.h"
#include "core/outbox.h"
#include "core/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading ----------------------------------------------------------------- */

static const char *RX_JSON_SQL =
    "SELECT json_build_object("
    " 'id', p.id, 'code', p.code, 'type', p.type, 'origin', p.origin,"
    " 'issuer_facility_code', p.issuer_facility_code,"
    " 'state', CASE WHEN p.state IN ('active', 'partially_dispensed')"
    "               AND p.valid_until < (now() AT TIME ZONE '" RX_TZ "')::date THEN 'expired' ELSE p.state END,"
    " 'visit_id', p.visit_id, 'patient_id', p.patient_id,"
    " 'patient', json_build_object('name', p.patient_name, 'birth_date', p.patient_birth, 'sex', p.patient_sex,"
    "    'card_number', p.card_number, 'weight_kg', p.weight_kg::text),"
    " 'diagnoses', p.diagnoses, 'chronic', p.chronic, 'advice', p.advice,"
    " 'doctor', json_build_object('id', p.doctor_id, 'name', p.doctor_name),"
    " 'issued_at', p.issued_at, 'valid_until', p.valid_until,"
    " 'replaces', p.replaces_code, 'replaced_by', p.replaced_by_code,"
    " 'cancelled_at', p.cancelled_at, 'cancel_reason', p.cancel_reason,"
    " 'signature', p.signature, 'version', p.version,"
    " 'items', (SELECT coalesce(json_agg(json_build_object('drug_code', i.drug_code, 'name', i.drug_name,"
    "     'quantity', i.quantity, 'unit', i.unit, 'dosage', i.dosage, 'days', i.days, 'dispensed', i.dispensed,"
    "     'remaining', i.quantity - i.dispensed) ORDER BY i.seq), '[]')"
    "   FROM pharmacy.prescription_items i WHERE i.prescription_id = p.id),"
    " 'dispensings', (SELECT coalesce(json_agg(json_build_object('invoice_code', d.invoice_code,"
    "     'dispensed_at', d.dispensed_at, 'dispensed_by', d.dispensed_by,"
    "     'lines', (SELECT coalesce(json_agg(json_build_object('drug_code', l.drug_code, 'lot', l.lot,"
    "                 'expiry', l.expiry, 'quantity', -m.quantity, 'unit_price', l.unit_price) ORDER BY m.id), '[]')"
    "               FROM pharmacy.stock_moves m JOIN pharmacy.stock_lots l ON l.id = m.lot_id"
    "               WHERE m.dispensing_id = d.id)) ORDER BY d.id), '[]')"
    "   FROM pharmacy.dispensings d WHERE d.prescription_id = p.id)"
    "), coalesce(p.patient_id, 0), p.version, p.origin "
    "FROM pharmacy.prescriptions p WHERE p.code = $1";

json_t *rx_json(http_req_t *req, db_tx_t *tx, const char *code, long long *patient_id, long long *version)
{
    PGresult *r = db_q(tx, RX_JSON_SQL, code);
    if (!r || PQntuples(r) == 0)
        return NULL;
    json_t *j = json_loads(db_val(r, 0, 0), 0, NULL);
    if (!j)
        return NULL;
    if (patient_id)
        *patient_id = db_ll(r, 0, 1);
    if (version)
        *version = db_ll(r, 0, 2);
    if (!strcmp(db_val(r, 0, 3), "local")) {
        json_t *portal = outbox_status_json(tx, req->app, "prescription-portal", code);
        if (!portal) {
            portal = json_object();
            json_object_set_new(portal, "state", json_string("none"));
        }
        if (!json_is_true(json_object_get(portal, "configured")))
            json_object_set_new(portal, "message",
                                json_string(http_t(req, "Chưa cấu hình cổng Đơn thuốc quốc gia; đơn được giữ trong hàng đợi",
                                                   "the national prescription portal is not configured; the prescription stays queued")));
        json_object_set_new(j, "portal", portal);
    }
    return j;
}

static void reply_rx(http_req_t *req, db_tx_t *tx, int status, const char *code, const char *action,
                     const char *detail)
{
    long long pid = 0, version = 0;
    json_t *j = rx_json(req, tx, code, &pid, &version);
    if (!j) {
        req_tx_fail(req, tx);
        return;
    }
    audit_record(tx, req, action, "prescription", code, pid, "ok", detail);
    http_reply_json(req, status, j);
    req_idempotent_store(req, tx);
    if (req_tx_commit(req, tx) < 0)
        return;
    req_set_etag(req, version);
}

/* ---- import from the national portal ----------------------------------------- */

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (json_is_string(v))
        return json_string_value(v);
    return NULL;
}

static long jlong(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    if (json_is_real(v))
        return (long)json_real_value(v);
    if (json_is_string(v))
        return strtol(json_string_value(v), NULL, 10);
    return 0;
}

/* The portal's prescription (gui-don-thuoc fields) into local rows. */
static bool import_rows(http_req_t *req, db_tx_t *tx, const char *code, json_t *p)
{
    char type = codes_type_from_portal(jstr(p, "loai_don_thuoc"));
    if (!type)
        type = code[13] ? (char)(code[13] & ~0x20) : 'C';
    json_t *sexv = json_object_get(p, "gioi_tinh");
    int sexn = json_is_integer(sexv) ? (int)json_integer_value(sexv) : (int)jlong(p, "gioi_tinh");
    const char *sex = codes_sex_from_rx_portal(sexn);
    json_t *dx = json_array();
    json_t *cd = json_object_get(p, "chan_doan");
    size_t i;
    json_t *e;
    json_array_foreach(cd, i, e) {
        json_t *d = json_object();
        json_set_str(d, "icd10", jstr(e, "ma_chan_doan"));
        json_set_str(d, "name", jstr(e, "ten_chan_doan"));
        json_array_append_new(dx, d);
    }
    char *dxs = json_dumps(dx, JSON_COMPACT);
    json_decref(dx);
    arena_defer(req->arena, free, dxs);
    const char *issued = jstr(p, "ngay_gio_ke_don"); /* "Y-m-d H:i:s", local time */
    char fac[6];
    memcpy(fac, code, 5);
    fac[5] = '\0';
    const char *name = jstr(p, "ho_ten_benh_nhan");
    PGresult *r = db_q(tx,
                       "INSERT INTO pharmacy.prescriptions (code, type, origin, issuer_facility_code, patient_name,"
                       " patient_birth, patient_sex, patient_cccd, card_number, patient_address, diagnoses, advice,"
                       " doctor_name, issued_at, valid_until)"
                       " VALUES ($1, $2, 'portal', $3, $4, $5, $6, nullif($7, ''), nullif($8, ''), $9, $10::jsonb, $11,"
                       " $12, coalesce(($13::timestamp AT TIME ZONE '" RX_TZ "'), now()),"
                       " coalesce($13::timestamp::date, (now() AT TIME ZONE '" RX_TZ "')::date) + " "5)"
                       " ON CONFLICT (facility_id, code) DO NOTHING RETURNING id",
                       code, arena_printf(req->arena, "%c", type), fac, name && *name ? name : "?",
                       jstr(p, "ngay_sinh_benh_nhan"), sex ? sex : "unknown", jstr(p, "ma_dinh_danh_cong_dan"),
                       jstr(p, "ma_so_the_bao_hiem_y_te"), jstr(p, "dia_chi"), dxs, jstr(p, "loi_dan"),
                       jstr(p, "ten_bac_si"), issued);
    if (!r)
        return false;
    if (PQntuples(r) == 0)
        return true; /* imported by a colleague a moment ago */
    const char *id = db_val(r, 0, 0);
    json_t *items = json_object_get(p, "thong_tin_don_thuoc");
    json_array_foreach(items, i, e) {
        long qty = jlong(e, "so_luong");
        long days = jlong(e, "so_ngay");
        const char *dname = jstr(e, "biet_duoc");
        if (!dname || !*dname)
            dname = jstr(e, "ten_thuoc");
        if (!db_q(tx,
                  "INSERT INTO pharmacy.prescription_items (prescription_id, seq, drug_code, drug_name, quantity, unit,"
                  " dosage, days) VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, ''), $8)",
                  id, arena_printf(req->arena, "%zu", i), jstr(e, "ma_thuoc"), dname && *dname ? dname : "?",
                  arena_printf(req->arena, "%ld", qty > 0 ? qty : 1), jstr(e, "don_vi_tinh"), jstr(e, "cach_dung"),
                  arena_printf(req->arena, "%ld", days >= 1 && days <= 90 ? days : 1)))
            return false;
    }
    return true;
}

static const char *FIND_SQL = "SELECT id FROM pharmacy.prescriptions WHERE code = $1";
static const char *FIND_LOCK_SQL = "SELECT id FROM pharmacy.prescriptions WHERE code = $1 FOR UPDATE";

long long rx_find_or_import(http_req_t *req, db_tx_t *tx, const char *code, bool lock)
{
    PGresult *r = db_q(tx, lock ? FIND_LOCK_SQL : FIND_SQL, code);
    if (!r) {
        req_tx_fail(req, tx);
        return 0;
    }
    if (PQntuples(r) == 1)
        return db_ll(r, 0, 0);
    db_tx_rollback(tx);
    /* Our own facility's codes are all here: absent means unknown. Only a
     * pharmacist fetches another facility's prescription from the portal. */
    if (!rx_code_valid(code) || strncmp(code, req->user->facility_code, 5) == 0 ||
        strcmp(req->user->role, "pharmacist") != 0) {
        audit_record_alone(req, "read", "prescription", code, 0, "not_found", NULL);
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy đơn thuốc", "prescription not found"));
        return 0;
    }
    if (!portal_rx_configured(req->app)) {
        http_problem(req, 404, NULL,
                     http_t(req, "Không tìm thấy đơn thuốc tại cơ sở; chưa cấu hình cổng Đơn thuốc quốc gia để tra cứu",
                            "prescription not found here, and the national prescription portal is not configured"));
        return 0;
    }
    int st = 0;
    char err[256] = "";
    char *text = portal_fetch_prescription(req->app, req->user->facility_id, code, &st, err, sizeof err);
    if (!text) {
        if (st == 404) {
            audit_record_alone(req, "read", "prescription", code, 0, "not_found", "portal");
            http_problem(req, 404, NULL, http_t(req, "Cổng Đơn thuốc quốc gia không có đơn thuốc này",
                                                "the national prescription portal has no such prescription"));
        } else {
            log_warn("portal look-up of a prescription failed: %s", err);
            http_add_header(req, "Retry-After", "10");
            http_problem(req, 502, NULL, http_t(req, "Không kết nối được cổng Đơn thuốc quốc gia; vui lòng thử lại",
                                                "the national prescription portal did not answer; please retry"));
        }
        return 0;
    }
    json_t *p = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_object(p)) {
        json_decref(p);
        http_problem(req, 502, NULL, http_t(req, "Cổng Đơn thuốc quốc gia trả lời không hợp lệ",
                                            "the national prescription portal gave an invalid answer"));
        return 0;
    }
    arena_defer(req->arena, (void (*)(void *))json_decref, p);
    if (req_tx_begin(req, tx) < 0)
        return 0;
    if (!import_rows(req, tx, code, p)) {
        req_tx_fail(req, tx);
        return 0;
    }
    r = db_q(tx, lock ? FIND_LOCK_SQL : FIND_SQL, code);
    if (!r || PQntuples(r) != 1) {
        req_tx_fail(req, tx);
        return 0;
    }
    return db_ll(r, 0, 0);
}

/* ---- issuing ------------------------------------------------------------------ */

struct rx_item_in {
    const char *drug_code, *unit, *dosage;
    long long quantity, days;
    /* from the catalogue */
    const char *name, *ingredient, *ingredient_code, *strength, *drug_unit, *rx_class;
};

struct rx_in {
    char type;
    const char *advice, *replaces;
    struct rx_item_in items[RX_MAX_ITEMS];
    int nitems;
};

json_t *rx_items_array(json_t *body, verr_t *v, http_req_t *req)
{
    json_t *items = json_object_get(body, "items");
    if (!json_is_array(items) || json_array_size(items) == 0) {
        verr_add(v, "items", http_t(req, "Cần ít nhất một thuốc", "at least one item is required"));
        return NULL;
    }
    if (json_array_size(items) > RX_MAX_ITEMS) {
        verr_add(v, "items", arena_printf(req->arena, "%s %d", http_t(req, "Tối đa", "at most"), RX_MAX_ITEMS));
        return NULL;
    }
    return items;
}

static bool parse_issue(http_req_t *req, json_t *body, struct rx_in *in, verr_t *v)
{
    const char *type = json_str_field(body, "type", "type", true, 1, v, req);
    in->type = rx_type_parse(type);
    if (type && !in->type)
        verr_add(v, "type", http_t(req, "Loại đơn phải là N, H, C hoặc T", "type must be N, H, C or T"));
    in->advice = json_str_field(body, "advice", "advice", false, 2000, v, req);
    in->replaces = json_str_field(body, "replaces", "replaces", false, 20, v, req);
    if (in->replaces && !rx_code_valid(in->replaces))
        verr_add(v, "replaces", http_t(req, "Mã đơn thuốc không hợp lệ", "not a prescription code"));
    json_t *items = rx_items_array(body, v, req);
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e) {
        struct rx_item_in *it = &in->items[in->nitems++];
        memset(it, 0, sizeof *it);
        char f[64];
        if (!json_is_object(e)) {
            snprintf(f, sizeof f, "items[%zu]", i);
            verr_add(v, arena_strdup(req->arena, f), http_t(req, "Phải là đối tượng", "must be an object"));
            continue;
        }
#define FIELD(name) (snprintf(f, sizeof f, "items[%zu].%s", i, name), arena_strdup(req->arena, f))
        it->drug_code = json_str_field(e, "drug_code", FIELD("drug_code"), true, 50, v, req);
        it->unit = json_str_field(e, "unit", FIELD("unit"), false, 50, v, req);
        it->dosage = json_str_field(e, "dosage", FIELD("dosage"), true, 500, v, req);
        json_int_field(e, "quantity", FIELD("quantity"), true, 1, 100000, &it->quantity, v, req);
        /* Any positive number of days parses; the limit check names the rule. */
        json_int_field(e, "days", FIELD("days"), true, 1, 10000, &it->days, v, req);
        for (size_t k = 0; k < i && it->drug_code; k++)
            if (in->items[k].drug_code && !strcmp(in->items[k].drug_code, it->drug_code))
                verr_add(v, FIELD("drug_code"), http_t(req, "Thuốc đã có trong đơn", "the drug is on the prescription already"));
#undef FIELD
    }
    return !verr_any(v);
}

struct visit_ctx {
    long long patient_id;
    const char *ma_lk, *state, *name, *birth, *sex, *cccd, *card, *address, *weight, *doctor_name;
    char *diagnoses_json;
    json_t *diagnoses; /* [{icd10, name, primary}] */
    struct rx_context rules;
};

static const char *VISIT_SQL =
    "SELECT v.patient_id, v.ma_lk, v.state, p.full_name,"
    " CASE WHEN p.birth_date IS NOT NULL THEN to_char(p.birth_date, 'DD/MM/YYYY') ELSE p.birth_year::text END,"
    " p.sex, p.cccd, coalesce(v.card_number, p.card_number),"
    " nullif(concat_ws(', ', p.address_line, p.village,"
    "   (SELECT a.name FROM catalog.admin_units a WHERE a.code = p.commune_code AND a.level = 'commune' LIMIT 1),"
    "   (SELECT a.name FROM catalog.admin_units a WHERE a.code = p.province_code AND a.level = 'province' LIMIT 1)), ''),"
    " v.weight_kg, (SELECT full_name FROM core.users WHERE id = current_setting('his.user_id')::bigint),"
    " (SELECT coalesce(json_agg(json_build_object('icd10', d.icd10, 'name', i.name_vi, 'primary', d.is_primary)"
    "     ORDER BY d.is_primary DESC, d.seq), '[]')"
    "   FROM clinical.visit_diagnoses d JOIN catalog.icd10 i ON i.code = d.icd10 WHERE d.visit_id = v.id)"
    " FROM clinical.visits v JOIN clinical.patients p ON p.id = v.patient_id WHERE v.id = $1";

/* Loads the visit, its patient and diagnoses. Replies itself on failure. */
static bool load_visit(http_req_t *req, db_tx_t *tx, long long visit_id, struct visit_ctx *vc)
{
    PGresult *r = db_q(tx, VISIT_SQL, req_ll(req, visit_id));
    if (!r) {
        req_tx_fail(req, tx);
        return false;
    }
    if (PQntuples(r) == 0) {
        db_tx_rollback(tx);
        audit_record_alone(req, "create", "prescription", NULL, 0, "not_found", req_ll(req, visit_id));
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy lượt khám", "visit not found"));
        return false;
    }
    vc->patient_id = db_ll(r, 0, 0);
    vc->ma_lk = db_val(r, 0, 1);
    vc->state = db_val(r, 0, 2);
    vc->name = db_val(r, 0, 3);
    vc->birth = db_val(r, 0, 4);
    vc->sex = db_val(r, 0, 5);
    vc->cccd = db_val(r, 0, 6);
    vc->card = db_val(r, 0, 7);
    vc->address = db_val(r, 0, 8);
    vc->weight = db_val(r, 0, 9);
    vc->doctor_name = db_val(r, 0, 10);
    vc->diagnoses_json = arena_strdup(req->arena, db_val(r, 0, 11));
    vc->diagnoses = json_loads(vc->diagnoses_json, 0, NULL);
    if (!vc->diagnoses)
        vc->diagnoses = json_array();
    arena_defer(req->arena, (void (*)(void *))json_decref, vc->diagnoses);
    size_t i;
    json_t *d;
    json_array_foreach(vc->diagnoses, i, d) {
        const char *code = jstr(d, "icd10");
        vc->rules.chronic |= rx_icd10_chronic(code);
        vc->rules.cancer_or_aids |= rx_icd10_cancer_or_aids(code);
    }
    return true;
}

static const char *type_name(http_req_t *req, char t)
{
    switch (t) {
    case 'N': return http_t(req, "đơn thuốc gây nghiện (N)", "narcotic prescription (N)");
    case 'H': return http_t(req, "đơn thuốc hướng thần, tiền chất (H)", "psychotropic/precursor prescription (H)");
    case 'T': return http_t(req, "đơn thuốc thang (T)", "herbal decoction prescription (T)");
    default: return http_t(req, "đơn thuốc thường (C)", "general prescription (C)");
    }
}

/* Catalogue look-up and the rules of TT 26: class matches type, unit, days. */
static bool check_items(http_req_t *req, db_tx_t *tx, struct rx_in *in, const struct visit_ctx *vc, verr_t *v)
{
    const char *why;
    int max_days = rx_max_days(in->type, &vc->rules, &why);
    /* One catalogue read for all items (the codes passed as a JSON array). */
    json_t *codes = json_array();
    for (int i = 0; i < in->nitems; i++)
        json_array_append_new(codes, json_string(in->items[i].drug_code));
    char *cj = json_dumps(codes, JSON_COMPACT);
    json_decref(codes);
    arena_defer(req->arena, free, cj);
    PGresult *r = db_q(tx,
                       "SELECT code, name, ingredient, ingredient_code, strength, unit, rx_class, valid"
                       " FROM catalog.drugs WHERE code IN (SELECT jsonb_array_elements_text($1::jsonb))",
                       cj);
    if (!r)
        return false;
    for (int i = 0; i < in->nitems; i++) {
        struct rx_item_in *it = &in->items[i];
        int row = -1;
        for (int k = 0; k < PQntuples(r); k++)
            if (!strcmp(db_val(r, k, 0), it->drug_code))
                row = k;
        char f[64];
#define FIELD(name) (snprintf(f, sizeof f, "items[%d].%s", i, name), arena_strdup(req->arena, f))
        if (row < 0 || strcmp(db_val(r, row, 7), "t") != 0) {
            verr_add(v, FIELD("drug_code"), http_t(req, "Không có trong danh mục thuốc", "not in the drug catalogue"));
            continue;
        }
        it->name = db_val(r, row, 1);
        it->ingredient = db_val(r, row, 2);
        it->ingredient_code = db_val(r, row, 3);
        it->strength = db_val(r, row, 4);
        it->drug_unit = db_val(r, row, 5);
        it->rx_class = db_val(r, row, 6);
        char want = rx_class_type(rx_class_parse(it->rx_class));
        if (want != in->type) {
            verr_add(v, FIELD("drug_code"),
                     arena_printf(req->arena, "%s %s %s", it->name,
                                  http_t(req, "phải kê trên", "must be prescribed on a"), type_name(req, want)));
        }
        if (it->unit && strcmp(it->unit, it->drug_unit) != 0)
            verr_add(v, FIELD("unit"), arena_printf(req->arena, "%s: %s", http_t(req, "Đơn vị tính của thuốc là", "the drug's unit is"),
                                                    it->drug_unit));
        if (it->days > max_days) {
            const char *rule =
                !strcmp(why, "chronic") ? http_t(req, "bệnh mạn tính", "chronic disease")
                : !strcmp(why, "cancer_or_aids_batch") ? http_t(req, "mỗi đợt cho người bệnh ung thư/AIDS", "per batch for cancer/AIDS patients")
                : !strcmp(why, "decoction") ? http_t(req, "thuốc thang", "decoction")
                : !strcmp(why, "general") ? http_t(req, "bệnh thông thường", "non-chronic disease")
                : http_t(req, "bệnh cấp tính", "acute disease");
            verr_add(v, FIELD("days"),
                     arena_printf(req->arena, "%s %d %s (%s, %s); %s %lld",
                                  http_t(req, "Tối đa", "At most"), max_days, http_t(req, "ngày", "days"),
                                  type_name(req, in->type), rule, http_t(req, "đã kê", "prescribed"), it->days));
        }
#undef FIELD
    }
    return true;
}

/* The old prescription a new one replaces: cancelled now (if still active)
 * and linked both ways. Replies itself on refusal; returns false then. */
static bool replace_old(http_req_t *req, db_tx_t *tx, const char *old_code, const char *new_code, long long visit_patient)
{
    PGresult *r = db_q(tx,
                       "SELECT id, state, replaced_by_code, coalesce(patient_id, 0), origin,"
                       " (SELECT coalesce(sum(dispensed), 0) FROM pharmacy.prescription_items WHERE prescription_id = p.id)"
                       " FROM pharmacy.prescriptions p WHERE code = $1 FOR UPDATE",
                       old_code);
    if (!r) {
        req_tx_fail(req, tx);
        return false;
    }
    const char *msg = NULL;
    if (PQntuples(r) == 0 || strcmp(db_val(r, 0, 4), "local") != 0)
        msg = http_t(req, "Không tìm thấy đơn thuốc cần thay thế", "the prescription to replace was not found");
    else if (db_val(r, 0, 2))
        msg = http_t(req, "Đơn thuốc này đã được thay thế", "that prescription was replaced already");
    else if (db_ll(r, 0, 3) != visit_patient)
        msg = http_t(req, "Đơn thay thế phải cùng người bệnh", "the replacement must be for the same patient");
    else if (db_ll(r, 0, 5) > 0)
        msg = http_t(req, "Đơn đã phát thuốc, không thể thay thế", "drugs were dispensed on it: it cannot be replaced");
    if (msg) {
        db_tx_rollback(tx);
        http_problem_field(req, PQntuples(r) == 0 ? 422 : 409, "replaces", msg);
        return false;
    }
    if (!db_q(tx,
              "UPDATE pharmacy.prescriptions SET replaced_by_code = $2, version = version + 1,"
              " state = 'cancelled', cancelled_at = coalesce(cancelled_at, now()),"
              " cancelled_by = coalesce(cancelled_by, current_setting('his.user_id')::bigint),"
              " cancel_reason = coalesce(cancel_reason, 'replaced') WHERE id = $1",
              db_val(r, 0, 0), new_code)) {
        req_tx_fail(req, tx);
        return false;
    }
    return true;
}

/* The gui-don-thuoc JSON (vn-standards.md §4.4), built once at issue and
 * kept in the outbox row: what was signed is what is sent. */
static char *portal_payload(http_req_t *req, const struct rx_in *in, const struct visit_ctx *vc, const char *code,
                            const char *issued_local, const char *from, const char *to, const char *signature)
{
    json_t *j = json_object();
    json_set_str(j, "loai_don_thuoc", codes_type_to_portal(in->type));
    json_set_str(j, "ma_don_thuoc", code);
    json_set_str(j, "ho_ten_benh_nhan", vc->name);
    json_set_str(j, "ma_dinh_danh_y_te", "");
    json_set_str(j, "ma_dinh_danh_cong_dan", vc->cccd ? vc->cccd : "");
    json_set_str(j, "ngay_sinh_benh_nhan", vc->birth);
    json_set_str(j, "can_nang", vc->weight ? vc->weight : "");
    json_object_set_new(j, "gioi_tinh", json_string(arena_printf(req->arena, "%d", codes_sex_to_rx_portal(vc->sex))));
    json_set_str(j, "ma_so_the_bao_hiem_y_te", vc->card ? vc->card : "");
    json_set_str(j, "thong_tin_nguoi_giam_ho", "");
    json_set_str(j, "dia_chi", vc->address ? vc->address : "");
    json_t *cd = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(vc->diagnoses, i, d) {
        json_t *x = json_object();
        json_set_str(x, "ma_chan_doan", jstr(d, "icd10"));
        json_set_str(x, "ten_chan_doan", jstr(d, "name"));
        json_set_str(x, "ket_luan", "");
        json_array_append_new(cd, x);
    }
    json_object_set_new(j, "chan_doan", cd);
    json_set_str(j, "luu_y", "");
    json_set_str(j, "hinh_thuc_dieu_tri", "1"); /* outpatient; enumeration unconfirmed (docs/pharmacy.md) */
    json_t *dot = json_object();
    json_set_str(dot, "dot", "1");
    json_set_str(dot, "tu_ngay", from);
    json_set_str(dot, "den_ngay", to);
    json_set_str(dot, "so_thang_thuoc", "");
    json_object_set_new(j, "dot_dung_thuoc", dot);
    json_t *items = json_array();
    for (int k = 0; k < in->nitems; k++) {
        const struct rx_item_in *it = &in->items[k];
        json_t *x = json_object();
        json_set_str(x, "ma_thuoc", it->drug_code);
        json_set_str(x, "biet_duoc", it->name);
        json_object_set_new(x, "ten_thuoc", json_string(arena_printf(req->arena, "%s %s", it->ingredient, it->strength)));
        json_set_str(x, "don_vi_tinh", it->drug_unit);
        json_object_set_new(x, "so_luong", json_integer(it->quantity));
        json_set_str(x, "cach_dung", it->dosage);
        json_object_set_new(x, "so_ngay", json_integer(it->days));
        json_array_append_new(items, x);
    }
    json_object_set_new(j, "thong_tin_don_thuoc", items);
    json_set_str(j, "loi_dan", in->advice ? in->advice : "");
    json_set_str(j, "so_dien_thoai_nguoi_kham_benh", "");
    json_set_str(j, "ngay_tai_kham", "");
    json_set_str(j, "ngay_gio_ke_don", issued_local);
    json_set_str(j, "ten_bac_si", vc->doctor_name);
    json_set_str(j, "signature", signature);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    arena_defer(req->arena, free, s);
    return s;
}

/* The facility key, from the process cache or (first use) through the
 * owner pool. Free with EVP_PKEY_free. */
static EVP_PKEY *facility_key(http_req_t *req)
{
    char err[256];
    EVP_PKEY *k = rx_facility_key(NULL, req->user->facility_id, err, sizeof err);
    if (k)
        return k;
    PGconn *c = db_pool_acquire(req->app->sysdb, 5000);
    if (!c)
        return NULL;
    k = rx_facility_key(c, req->user->facility_id, err, sizeof err);
    db_pool_release(req->app->sysdb, c);
    if (!k)
        log_error("facility key: %s", err);
    return k;
}

/* 1 inserted, 0 the code exists already (draw another), -1 error. */
static int insert_rx(http_req_t *req, db_tx_t *tx, const struct rx_in *in, const struct visit_ctx *vc,
                     long long visit_id, const char *code, const char **id, const char **issued_local,
                     const char **from, const char **to)
{
    int max_days = 0;
    for (int i = 0; i < in->nitems; i++)
        if (in->items[i].days > max_days)
            max_days = (int)in->items[i].days;
    PGresult *r = db_q(tx,
                       "INSERT INTO pharmacy.prescriptions (code, type, issuer_facility_code, visit_id, patient_id,"
                       " patient_name, patient_birth, patient_sex, patient_cccd, card_number, patient_address, weight_kg,"
                       " diagnoses, chronic, advice, doctor_id, doctor_name, valid_until, replaces_code)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::numeric, $13::jsonb, $14, $15,"
                       " current_setting('his.user_id')::bigint, $16,"
                       " (now() AT TIME ZONE '" RX_TZ "')::date + $17::int, $18)"
                       " ON CONFLICT (facility_id, code) DO NOTHING RETURNING id, to_char(issued_at AT TIME ZONE '" RX_TZ "', 'YYYY-MM-DD HH24:MI:SS'),"
                       " to_char(issued_at AT TIME ZONE '" RX_TZ "', 'DD/MM/YYYY'),"
                       " to_char((issued_at AT TIME ZONE '" RX_TZ "')::date + $19::int - 1, 'DD/MM/YYYY')",
                       code, arena_printf(req->arena, "%c", in->type), req->user->facility_code,
                       req_ll(req, visit_id), req_ll(req, vc->patient_id), vc->name, vc->birth, vc->sex, vc->cccd,
                       vc->card, vc->address, vc->weight, vc->diagnoses_json, vc->rules.chronic ? "t" : "f",
                       in->advice, vc->doctor_name, arena_printf(req->arena, "%d", RX_VALID_DAYS), in->replaces,
                       arena_printf(req->arena, "%d", max_days));
    if (!r)
        return -1;
    if (PQntuples(r) == 0)
        return 0;
    *id = db_val(r, 0, 0);
    *issued_local = db_val(r, 0, 1);
    *from = db_val(r, 0, 2);
    *to = db_val(r, 0, 3);
    for (int i = 0; i < in->nitems; i++) {
        const struct rx_item_in *it = &in->items[i];
        if (!db_q(tx,
                  "INSERT INTO pharmacy.prescription_items (prescription_id, seq, drug_code, drug_name, quantity, unit,"
                  " dosage, days) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                  *id, arena_printf(req->arena, "%d", i), it->drug_code, it->name, req_ll(req, it->quantity),
                  it->drug_unit, it->dosage, req_ll(req, it->days)))
            return -1;
    }
    return 1;
}

static void handle_issue(http_req_t *req)
{
    long long visit_id;
    if (!req_id_param(req, "id", &visit_id))
        return;
    json_t *body = http_json_body(req);
    if (!body)
        return;
    struct rx_in *in = arena_calloc(req->arena, 1, sizeof *in);
    verr_t v;
    verr_init(&v);
    if (!parse_issue(req, body, in, &v)) {
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
    struct visit_ctx vc;
    memset(&vc, 0, sizeof vc);
    if (!load_visit(req, &tx, visit_id, &vc)) {
        verr_free(&v);
        return;
    }
    if (strcmp(vc.state, "open") != 0) {
        db_tx_rollback(&tx);
        verr_free(&v);
        http_problem(req, 409, NULL, http_t(req, "Lượt khám đã kết thúc; không thể kê đơn mới", "the visit is closed"));
        return;
    }
    if (json_array_size(vc.diagnoses) == 0)
        verr_add(&v, "diagnoses", http_t(req, "Lượt khám chưa có chẩn đoán (ICD-10): cần chẩn đoán trước khi kê đơn",
                                         "the visit has no ICD-10 diagnosis yet: diagnose before prescribing"));
    if (!check_items(req, &tx, in, &vc, &v)) {
        verr_free(&v);
        req_tx_fail(req, &tx);
        return;
    }
    if (verr_any(&v)) {
        db_tx_rollback(&tx);
        audit_record_alone(req, "create", "prescription", NULL, vc.patient_id, "invalid", NULL);
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    /* A fresh random code: a clash with one of this facility's codes has
     * odds of 1 in 36^7 per prescription, and then another is drawn. */
    char code[RX_CODE_LEN + 1];
    const char *id = NULL, *issued_local, *from, *to;
    int ins = 0;
    for (int tries = 0; tries < 5 && ins == 0; tries++) {
        if (rx_code_generate(req->user->facility_code, in->type, code) < 0)
            break;
        ins = insert_rx(req, &tx, in, &vc, visit_id, code, &id, &issued_local, &from, &to);
    }
    if (ins != 1) {
        req_tx_fail(req, &tx);
        return;
    }
    if (in->replaces && !replace_old(req, &tx, in->replaces, code, vc.patient_id))
        return;
    EVP_PKEY *key = facility_key(req);
    char err[256] = "";
    char *sig = key ? rx_sign_stored(db_tx_conn(&tx), key, strtoll(id, NULL, 10), err, sizeof err) : NULL;
    EVP_PKEY_free(key);
    if (!sig) {
        log_error("prescription signing failed: %s", err);
        db_tx_rollback(&tx);
        http_problem(req, 500, NULL, http_t(req, "Không ký được đơn thuốc", "the prescription could not be signed"));
        return;
    }
    arena_defer(req->arena, free, sig);
    char *payload = portal_payload(req, in, &vc, code, issued_local, from, to, sig);
    if (outbox_enqueue(&tx, "prescription-portal", "gui-don-thuoc", code, NULL, payload) < 0) {
        req_tx_fail(req, &tx);
        return;
    }
    reply_rx(req, &tx, 201, code, "create", in->replaces ? arena_printf(req->arena, "replaces %s", in->replaces) : NULL);
    if (req->status == 201) {
        http_add_header(req, "Location", arena_printf(req->arena, "/api/v1/prescriptions/%s", code));
        outbox_kick();
    }
}

/* ---- reading, cancelling, listing --------------------------------------------- */

static bool code_param(http_req_t *req, const char **code)
{
    *code = http_param(req, "code");
    if (!*code || strlen(*code) != RX_CODE_LEN) {
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy đơn thuốc", "prescription not found"));
        return false;
    }
    /* The type letter is upper case in storage; accept the portal's lower case. */
    char *c = arena_strdup(req->arena, *code);
    if (c[13] >= 'a' && c[13] <= 'z')
        c[13] = (char)(c[13] - 32);
    *code = c;
    return true;
}

static void handle_get(http_req_t *req)
{
    const char *code;
    if (!code_param(req, &code))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    if (!rx_find_or_import(req, &tx, code, false))
        return;
    long long pid = 0, version = 0;
    json_t *j = rx_json(req, &tx, code, &pid, &version);
    if (!j) {
        req_tx_fail(req, &tx);
        return;
    }
    audit_record(&tx, req, "read", "prescription", code, pid, "ok", NULL);
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    req_set_etag(req, version);
    http_reply_json(req, 200, j);
}

static void handle_cancel(http_req_t *req)
{
    const char *code;
    if (!code_param(req, &code))
        return;
    const char *reason = NULL;
    if (req->body_len) {
        json_t *body = http_json_body(req);
        if (!body)
            return;
        verr_t v;
        verr_init(&v);
        reason = json_str_field(body, "reason", "reason", false, 500, &v, req);
        if (verr_any(&v)) {
            verr_reply(req, &v);
            return;
        }
        verr_free(&v);
    }
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx,
                       "SELECT id, state, origin, coalesce(patient_id, 0),"
                       " (SELECT coalesce(sum(dispensed), 0) FROM pharmacy.prescription_items WHERE prescription_id = p.id)"
                       " FROM pharmacy.prescriptions p WHERE code = $1 FOR UPDATE",
                       code);
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0 || strcmp(db_val(r, 0, 2), "local") != 0) {
        db_tx_rollback(&tx);
        audit_record_alone(req, "update", "prescription", code, 0, "not_found", "cancel");
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy đơn thuốc", "prescription not found"));
        return;
    }
    long long pid = db_ll(r, 0, 3);
    const char *msg = NULL;
    if (!strcmp(db_val(r, 0, 1), "cancelled"))
        msg = http_t(req, "Đơn thuốc đã bị hủy", "the prescription is cancelled already");
    else if (db_ll(r, 0, 4) > 0)
        msg = http_t(req, "Đơn đã phát thuốc, không thể hủy", "drugs were dispensed on it: it cannot be cancelled");
    if (msg) {
        db_tx_rollback(&tx);
        audit_record_alone(req, "update", "prescription", code, pid, "conflict", "cancel");
        http_problem(req, 409, NULL, msg);
        return;
    }
    if (!db_q(&tx,
              "UPDATE pharmacy.prescriptions SET state = 'cancelled', cancelled_at = now(),"
              " cancelled_by = current_setting('his.user_id')::bigint, cancel_reason = $2, version = version + 1"
              " WHERE id = $1",
              db_val(r, 0, 0), reason ? reason : "cancelled")) {
        req_tx_fail(req, &tx);
        return;
    }
    reply_rx(req, &tx, 200, code, "update", "cancel");
}

static void handle_visit_list(http_req_t *req)
{
    long long visit_id;
    if (!req_id_param(req, "id", &visit_id))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx,
                       "SELECT v.patient_id, (SELECT coalesce(json_agg(json_build_object('code', p.code, 'type', p.type,"
                       " 'state', CASE WHEN p.state IN ('active', 'partially_dispensed') AND p.valid_until <"
                       "   (now() AT TIME ZONE '" RX_TZ "')::date THEN 'expired' ELSE p.state END,"
                       " 'issued_at', p.issued_at, 'valid_until', p.valid_until, 'replaces', p.replaces_code,"
                       " 'replaced_by', p.replaced_by_code, 'portal_state', o.state) ORDER BY p.id), '[]')"
                       " FROM pharmacy.prescriptions p LEFT JOIN core.outbox o ON o.target = 'prescription-portal'"
                       "   AND o.dedupe_key = p.code WHERE p.visit_id = v.id)"
                       " FROM clinical.visits v WHERE v.id = $1",
                       req_ll(req, visit_id));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        db_tx_rollback(&tx);
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy lượt khám", "visit not found"));
        return;
    }
    json_t *items = json_loads(db_val(r, 0, 1), 0, NULL);
    audit_record(&tx, req, "search", "prescription", req_ll(req, visit_id), db_ll(r, 0, 0), "ok", "visit");
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(items);
        return;
    }
    json_t *j = json_object();
    json_object_set_new(j, "total", json_integer((json_int_t)json_array_size(items)));
    json_object_set_new(j, "items", items ? items : json_array());
    http_reply_json(req, 200, j);
}

/* What the prescription form shows while the doctor types: the limits
 * that apply to this visit's diagnoses. */
static void handle_limits(http_req_t *req)
{
    long long visit_id;
    if (!req_id_param(req, "id", &visit_id))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    struct visit_ctx vc;
    memset(&vc, 0, sizeof vc);
    if (!load_visit(req, &tx, visit_id, &vc))
        return;
    audit_record(&tx, req, "read", "visit", req_ll(req, visit_id), vc.patient_id, "ok", "prescription-limits");
    if (req_tx_commit(req, &tx) < 0)
        return;
    json_t *j = json_object();
    json_object_set_new(j, "chronic", json_boolean(vc.rules.chronic));
    json_object_set_new(j, "cancer_or_aids", json_boolean(vc.rules.cancer_or_aids));
    json_object_set_new(j, "valid_days", json_integer(RX_VALID_DAYS));
    json_t *lim = json_object();
    static const char types[] = "CNHT";
    for (int i = 0; types[i]; i++) {
        const char *why;
        int d = rx_max_days(types[i], &vc.rules, &why);
        json_t *t = json_object();
        json_object_set_new(t, "max_days", json_integer(d));
        json_object_set_new(t, "rule", json_string(why));
        char k[2] = {types[i], 0};
        json_object_set_new(lim, k, t);
    }
    json_object_set_new(j, "limits", lim);
    json_object_set_new(j, "diagnoses", json_incref(vc.diagnoses));
    http_reply_json(req, 200, j);
}

void rx_register_routes(void)
{
    http_route("POST", "/api/v1/visits/{id}/prescriptions", handle_issue, ROLE_DOCTOR, 0);
    http_route("GET", "/api/v1/visits/{id}/prescriptions", handle_visit_list, ROLE_DOCTOR | ROLE_NURSE | ROLE_PHARMACIST, 0);
    http_route("GET", "/api/v1/visits/{id}/prescription-limits", handle_limits, ROLE_DOCTOR | ROLE_NURSE, 0);
    http_route("GET", "/api/v1/prescriptions/{code}", handle_get, ROLE_DOCTOR | ROLE_NURSE | ROLE_PHARMACIST, 0);
    http_route("POST", "/api/v1/prescriptions/{code}/cancel", handle_cancel, ROLE_DOCTOR, 0);
}
