/* Patients (issue 4 point 1): registration with duplicate flagging, search by
 * name without diacritics, CCCD, card number or phone, read with ETag, edit
 * with If-Match, merge; plus the administrative-unit and ethnicity look-ups.
 * Facility scope comes from row-level security (schema/002); every read and
 * write of patient data is audited in the same transaction. */
#include "his/modules.h"
#include "his/idcard.h"
#include "his/patients.h"

#include "core/handler.h"
#include "core/text.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PATIENT_ROLES (ROLE_DOCTOR | ROLE_NURSE | ROLE_COMMUNE_WORKER | ROLE_ADMIN)
#define LIST_DEFAULT 50
#define LIST_MAX 200
#define OFFSET_MAX 10000
#define Q_MAX 100

/* ---- the record: JSON in, checks, JSON out ------------------------------ */

void patient_rec_defaults(struct patient_rec *p)
{
    memset(p, 0, sizeof *p);
    p->sex = "unknown";
    p->nationality = "VN";
}

/* Sets *dst from obj[key] when the member is present: null or "" clear it. */
static void take(json_t *obj, const char *key, const char *path, size_t max, const char **dst, verr_t *v,
                 http_req_t *req)
{
    json_t *j = json_object_get(obj, key);
    if (!j)
        return;
    if (json_is_null(j)) {
        *dst = NULL;
        return;
    }
    const char *s = json_str_field(obj, key, path, false, max, v, req);
    if (s)
        *dst = *s ? s : NULL;
}

static const char *fpath(http_req_t *req, const char *prefix, const char *name)
{
    return *prefix ? arena_printf(req->arena, "%s%s", prefix, name) : name;
}

/* A nested object member: absent (NULL, *present false), null (NULL, present)
 * or an object; anything else is a field error. */
static json_t *take_object(json_t *obj, const char *key, const char *path, bool *present, verr_t *v,
                           http_req_t *req)
{
    json_t *j = json_object_get(obj, key);
    *present = j != NULL;
    if (!j || json_is_null(j))
        return NULL;
    if (!json_is_object(j)) {
        verr_add(v, path, http_t(req, "Phải là một đối tượng", "must be an object"));
        return NULL;
    }
    return j;
}

void patient_rec_from_json(json_t *obj, const char *prefix, struct patient_rec *p, verr_t *v, http_req_t *req)
{
#define F(name) fpath(req, prefix, name)
    take(obj, "full_name", F("full_name"), 200, &p->full_name, v, req);
    take(obj, "birth_date", F("birth_date"), 10, &p->birth, v, req);
    take(obj, "sex", F("sex"), 10, &p->sex, v, req);
    take(obj, "cccd", F("cccd"), 12, &p->cccd, v, req);
    take(obj, "phone", F("phone"), 20, &p->phone, v, req);
    take(obj, "ethnicity", F("ethnicity"), 2, &p->ethnicity, v, req);
    take(obj, "nationality", F("nationality"), 3, &p->nationality, v, req);
    take(obj, "occupation", F("occupation"), 100, &p->occupation, v, req);
    bool present;
    json_t *a = take_object(obj, "address", F("address"), &present, v, req);
    if (present && !a) /* "address": null clears it */
        p->province_code = p->commune_code = p->village = p->line = p->old_district_code = NULL;
    if (a) {
        take(a, "province_code", F("address.province_code"), 2, &p->province_code, v, req);
        take(a, "commune_code", F("address.commune_code"), 5, &p->commune_code, v, req);
        take(a, "village", F("address.village"), 100, &p->village, v, req);
        take(a, "line", F("address.line"), 300, &p->line, v, req);
        take(a, "old_district_code", F("address.old_district_code"), 3, &p->old_district_code, v, req);
    }
    json_t *c = take_object(obj, "insurance_card", F("insurance_card"), &present, v, req);
    if (present && !c)
        p->card_number = p->card_from = p->card_to = p->card_facility = NULL;
    if (c) {
        take(c, "number", F("insurance_card.number"), 15, &p->card_number, v, req);
        take(c, "valid_from", F("insurance_card.valid_from"), 10, &p->card_from, v, req);
        take(c, "valid_to", F("insurance_card.valid_to"), 10, &p->card_to, v, req);
        take(c, "primary_facility", F("insurance_card.primary_facility"), 5, &p->card_facility, v, req);
    }
#undef F
}

static bool all_match(const char *s, const char *set, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr(set, s[i]) || s[i] == '\0')
            return false;
    return true;
}

static const char DIGITS[] = "0123456789";

static void check_idcard(verr_t *v, http_req_t *req, const char *path, enum idcard_err e)
{
    if (e != IDCARD_OK)
        verr_add(v, path, http_t(req, idcard_msg_vi(e), idcard_msg_en(e)));
}

static void today(int *y, char *iso, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    *y = tm.tm_year + 1900;
    strftime(iso, n, "%Y-%m-%d", &tm);
}

static void check_identity(struct patient_rec *p, const char *prefix, verr_t *v, http_req_t *req, int *year)
{
#define F(name) fpath(req, prefix, name)
    *year = 0;
    if (!p->full_name) {
        verr_add(v, F("full_name"), http_t(req, "Bắt buộc", "required"));
    } else {
        char fold[420];
        if (!text_valid_utf8(p->full_name, strlen(p->full_name)) || strchr(p->full_name, '\n') ||
            strchr(p->full_name, '\t') || text_fold(p->full_name, fold, sizeof fold) == 0)
            verr_add(v, F("full_name"), http_t(req, "Họ tên không hợp lệ", "not a valid name"));
        else
            p->name_fold = arena_strdup(req->arena, fold);
    }
    bool has_day;
    int cur;
    char iso[16];
    today(&cur, iso, sizeof iso);
    if (!p->birth) {
        verr_add(v, F("birth_date"), http_t(req, "Bắt buộc (YYYY-MM-DD hoặc YYYY)", "required (YYYY-MM-DD or YYYY)"));
    } else if (!idcard_birth_parse(p->birth, year, &has_day)) {
        verr_add(v, F("birth_date"), http_t(req, "Ngày sinh phải có dạng YYYY-MM-DD hoặc YYYY",
                                             "birth_date must be YYYY-MM-DD or YYYY"));
        *year = 0;
    } else if (*year > cur || (has_day && strcmp(p->birth, iso) > 0)) {
        verr_add(v, F("birth_date"), http_t(req, "Ngày sinh ở tương lai", "birth date in the future"));
        *year = 0;
    } else {
        p->birth_date = has_day ? p->birth : NULL;
        p->birth_year = arena_printf(req->arena, "%d", *year);
    }
    if (!p->sex || (strcmp(p->sex, "male") && strcmp(p->sex, "female") && strcmp(p->sex, "unknown")))
        verr_add(v, F("sex"), http_t(req, "Phải là male, female hoặc unknown", "must be male, female or unknown"));
#undef F
}

void patient_rec_check(struct patient_rec *p, const char *prefix, verr_t *v, http_req_t *req)
{
#define F(name) fpath(req, prefix, name)
    int year;
    check_identity(p, prefix, v, req, &year);
    if (p->cccd) {
        enum idcard_sex sx = !p->sex ? IDCARD_SEX_UNKNOWN
                             : !strcmp(p->sex, "male") ? IDCARD_SEX_MALE
                             : !strcmp(p->sex, "female") ? IDCARD_SEX_FEMALE : IDCARD_SEX_UNKNOWN;
        check_idcard(v, req, F("cccd"), idcard_cccd_check(p->cccd, year, sx));
    }
    if (p->phone) {
        char norm[16];
        if (idcard_phone_normalize(p->phone, norm, sizeof norm) != IDCARD_OK)
            check_idcard(v, req, F("phone"), IDCARD_ERR_PHONE);
        else
            p->phone = arena_strdup(req->arena, norm);
    }
    if (p->ethnicity && (!all_match(p->ethnicity, DIGITS, 2) || atoi(p->ethnicity) < 1 || atoi(p->ethnicity) > 54))
        verr_add(v, F("ethnicity"), http_t(req, "Mã dân tộc phải từ 01 đến 54", "ethnicity code must be 01 to 54"));
    if (!p->nationality || strlen(p->nationality) < 2 || !all_match(p->nationality, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                                                                     strlen(p->nationality)))
        verr_add(v, F("nationality"), http_t(req, "Mã quốc tịch không hợp lệ", "not a nationality code"));
    if (p->province_code && (!all_match(p->province_code, DIGITS, 2) || !idcard_province_known(atoi(p->province_code))))
        check_idcard(v, req, F("address.province_code"), IDCARD_ERR_PROVINCE);
    if (p->commune_code && !all_match(p->commune_code, DIGITS, 5))
        verr_add(v, F("address.commune_code"), http_t(req, "Mã xã gồm 5 chữ số", "the commune code has 5 digits"));
    if (p->old_district_code && !all_match(p->old_district_code, DIGITS, 3))
        verr_add(v, F("address.old_district_code"), http_t(req, "Mã huyện cũ gồm 3 chữ số", "the old district code has 3 digits"));
    if (p->card_number) {
        check_idcard(v, req, F("insurance_card.number"), idcard_card_check(p->card_number));
    } else if (p->card_from || p->card_to || p->card_facility) {
        verr_add(v, F("insurance_card.number"), http_t(req, "Bắt buộc khi có thẻ BHYT", "required with a card"));
    }
    enum idcard_err de = idcard_card_dates_check(p->card_from, p->card_to);
    if (de == IDCARD_ERR_DATE_ORDER)
        check_idcard(v, req, F("insurance_card.valid_to"), de);
    else if (de != IDCARD_OK)
        check_idcard(v, req, F(idcard_card_dates_check(p->card_from, NULL) ? "insurance_card.valid_from"
                                                                           : "insurance_card.valid_to"), de);
    if (p->card_facility && !idcard_facility_code_ok(p->card_facility))
        verr_add(v, F("insurance_card.primary_facility"),
                 http_t(req, "Mã cơ sở KCB ban đầu gồm 5 ký tự", "the facility code has 5 characters"));
#undef F
}

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *patient_json(PGresult *r, int row)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer(db_ll(r, row, 0)));
    json_object_set_new(j, "code", jstr(db_val(r, row, 1)));
    json_object_set_new(j, "full_name", jstr(db_val(r, row, 2)));
    /* Year-only births go out as "YYYY". */
    json_object_set_new(j, "birth_date", jstr(db_val(r, row, 3) ? db_val(r, row, 3) : db_val(r, row, 4)));
    json_object_set_new(j, "sex", jstr(db_val(r, row, 5)));
    json_object_set_new(j, "cccd", jstr(db_val(r, row, 6)));
    json_object_set_new(j, "phone", jstr(db_val(r, row, 7)));
    json_object_set_new(j, "ethnicity", jstr(db_val(r, row, 8)));
    json_object_set_new(j, "nationality", jstr(db_val(r, row, 9)));
    json_object_set_new(j, "occupation", jstr(db_val(r, row, 10)));
    json_t *a = json_object();
    json_object_set_new(a, "province_code", jstr(db_val(r, row, 11)));
    json_object_set_new(a, "commune_code", jstr(db_val(r, row, 12)));
    json_object_set_new(a, "village", jstr(db_val(r, row, 13)));
    json_object_set_new(a, "line", jstr(db_val(r, row, 14)));
    json_object_set_new(a, "old_district_code", jstr(db_val(r, row, 15)));
    json_object_set_new(j, "address", a);
    if (db_val(r, row, 16)) {
        json_t *c = json_object();
        json_object_set_new(c, "number", jstr(db_val(r, row, 16)));
        json_object_set_new(c, "valid_from", jstr(db_val(r, row, 17)));
        json_object_set_new(c, "valid_to", jstr(db_val(r, row, 18)));
        json_object_set_new(c, "primary_facility", jstr(db_val(r, row, 19)));
        json_object_set_new(j, "insurance_card", c);
    } else {
        json_object_set_new(j, "insurance_card", json_null());
    }
    json_object_set_new(j, "merged_into", db_val(r, row, 20) ? json_integer(db_ll(r, row, 20)) : json_null());
    json_object_set_new(j, "version", json_integer(db_ll(r, row, 21)));
    json_object_set_new(j, "created_at", jstr(db_val(r, row, 22)));
    json_object_set_new(j, "updated_at", jstr(db_val(r, row, 23)));
    return j;
}

/* Rebuilds the record from a row (for PATCH: overlay the body, check all). */
static void patient_rec_from_row(PGresult *r, struct patient_rec *p)
{
    patient_rec_defaults(p);
    p->full_name = db_val(r, 0, 2);
    p->birth = db_val(r, 0, 3) ? db_val(r, 0, 3) : db_val(r, 0, 4);
    p->sex = db_val(r, 0, 5);
    p->cccd = db_val(r, 0, 6);
    p->phone = db_val(r, 0, 7);
    p->ethnicity = db_val(r, 0, 8);
    p->nationality = db_val(r, 0, 9);
    p->occupation = db_val(r, 0, 10);
    p->province_code = db_val(r, 0, 11);
    p->commune_code = db_val(r, 0, 12);
    p->village = db_val(r, 0, 13);
    p->line = db_val(r, 0, 14);
    p->old_district_code = db_val(r, 0, 15);
    p->card_number = db_val(r, 0, 16);
    p->card_from = db_val(r, 0, 17);
    p->card_to = db_val(r, 0, 18);
    p->card_facility = db_val(r, 0, 19);
}

PGresult *patient_insert(db_tx_t *tx, const struct patient_rec *p)
{
    return db_q(tx,
                "INSERT INTO clinical.patients AS p (full_name, name_fold, birth_date, birth_year, sex, cccd, phone, "
                "ethnicity, nationality, occupation, province_code, commune_code, village, address_line, "
                "old_district_code, card_number, card_valid_from, card_valid_to, card_primary_facility) "
                "VALUES ($1, $2, $3::date, $4::smallint, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
                "$17::date, $18::date, $19) RETURNING " PATIENT_COLS,
                p->full_name, p->name_fold, p->birth_date, p->birth_year, p->sex, p->cccd, p->phone, p->ethnicity,
                p->nationality, p->occupation, p->province_code, p->commune_code, p->village, p->line,
                p->old_district_code, p->card_number, p->card_from, p->card_to, p->card_facility);
}

json_t *patient_duplicates(db_tx_t *tx, const struct patient_rec *p)
{
    PGresult *r = db_q(tx,
                       "SELECT id, code, full_name, coalesce(to_char(birth_date, 'YYYY-MM-DD'), birth_year::text), "
                       "  concat_ws(',', CASE WHEN cccd = $1 THEN 'cccd' END, "
                       "    CASE WHEN card_number = $2 THEN 'insurance_card' END, "
                       "    CASE WHEN phone = $3 AND name_fold = $4 AND birth_year = $5::smallint THEN 'phone_name_birth_year' END, "
                       "    CASE WHEN name_fold = $4 AND birth_date = $6::date THEN 'name_birth_date' END) "
                       "FROM clinical.patients WHERE merged_into IS NULL AND ("
                       "  cccd = $1 OR card_number = $2 "
                       "  OR (phone = $3 AND name_fold = $4 AND birth_year = $5::smallint) "
                       "  OR (name_fold = $4 AND birth_date = $6::date)) "
                       "ORDER BY id LIMIT 10",
                       p->cccd, p->card_number, p->phone, p->name_fold, p->birth_year, p->birth_date);
    if (!r)
        return NULL;
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *c = json_object();
        json_object_set_new(c, "id", json_integer(db_ll(r, i, 0)));
        json_object_set_new(c, "code", jstr(db_val(r, i, 1)));
        json_object_set_new(c, "full_name", jstr(db_val(r, i, 2)));
        json_object_set_new(c, "birth_date", jstr(db_val(r, i, 3)));
        json_object_set_new(c, "reason", jstr(db_val(r, i, 4)));
        json_array_append_new(a, c);
    }
    return a;
}

void patient_reply_duplicates(http_req_t *req, json_t *cands)
{
    json_t *j = json_object();
    json_object_set_new(j, "type", json_string("about:blank"));
    json_object_set_new(j, "title", json_string(http_t(req, "Có thể trùng bệnh nhân", "Possible duplicate patient")));
    json_object_set_new(j, "status", json_integer(409));
    json_object_set_new(j, "detail", json_string(http_t(req,
        "Đã có bệnh nhân trùng CCCD, thẻ BHYT hoặc họ tên và ngày sinh; chọn bệnh nhân có sẵn hoặc gửi lại với \"confirm_new\": true",
        "a patient with the same CCCD, card, or name and birth date exists; pick one or resend with \"confirm_new\": true")));
    json_t *ids = json_array();
    for (size_t i = 0; i < json_array_size(cands); i++)
        json_array_append_new(ids, json_incref(json_object_get(json_array_get(cands, i), "id")));
    json_object_set_new(j, "candidate_ids", ids);
    json_object_set_new(j, "candidates", cands);
    json_t *errs = json_array();
    json_t *e = json_object();
    json_object_set_new(e, "field", json_string("confirm_new"));
    json_object_set_new(e, "message", json_string(http_t(req, "Có thể trùng bệnh nhân đã có", "possible duplicate")));
    json_array_append_new(errs, e);
    json_object_set_new(j, "errors", errs);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s) {
        http_problem(req, 500, NULL, "encoding failed");
        return;
    }
    http_reply_raw(req, 409, "application/problem+json", s, strlen(s));
    free(s);
}

static const char *id_list(http_req_t *req, json_t *cands)
{
    const char *s = "";
    for (size_t i = 0; i < json_array_size(cands); i++)
        s = arena_printf(req->arena, "%s%s%lld", s, i ? "," : "",
                         (long long)json_integer_value(json_object_get(json_array_get(cands, i), "id")));
    return s;
}

/* ---- POST /patients ----------------------------------------------------- */

static void handle_create(http_req_t *req)
{
    json_t *body = http_json_body(req);
    if (!body)
        return;
    verr_t v;
    verr_init(&v);
    struct patient_rec p;
    patient_rec_defaults(&p);
    patient_rec_from_json(body, "", &p, &v, req);
    json_t *cn = json_object_get(body, "confirm_new");
    if (cn && !json_is_boolean(cn))
        verr_add(&v, "confirm_new", http_t(req, "Phải là true hoặc false", "must be true or false"));
    if (!verr_any(&v))
        patient_rec_check(&p, "", &v, req);
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
    json_t *cands = patient_duplicates(&tx, &p);
    if (!cands) {
        req_tx_fail(req, &tx);
        return;
    }
    if (json_array_size(cands) > 0 && !json_is_true(cn)) {
        db_tx_rollback(&tx);
        audit_record_alone(req, "create", "patient", NULL, 0, "conflict",
                           arena_printf(req->arena, "duplicate candidates: %s", id_list(req, cands)));
        patient_reply_duplicates(req, cands);
        return;
    }
    const char *confirmed = json_array_size(cands) ? arena_printf(req->arena, "confirmed new despite candidates: %s",
                                                                  id_list(req, cands)) : NULL;
    json_decref(cands);
    PGresult *r = patient_insert(&tx, &p);
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    long long id = db_ll(r, 0, 0);
    audit_record(&tx, req, "create", "patient", req_ll(req, id), id, "ok", confirmed);
    req_set_etag(req, db_ll(r, 0, 21));
    http_add_header(req, "Location", arena_printf(req->arena, "/api/v1/patients/%lld", id));
    http_reply_json(req, 201, patient_json(r, 0));
    req_idempotent_store(req, &tx);
    req_tx_commit(req, &tx);
}

/* ---- GET /patients?q= --------------------------------------------------- */

enum q_kind { Q_ALL, Q_NAME, Q_CCCD, Q_CARD, Q_PHONE, Q_NAME_PREFIX, Q_NAME_GIVEN };

/* What the query text is: 12 digits a CCCD, 2 letters + 13 digits a card,
 * a phone number, else a name (folded). */
static enum q_kind classify(http_req_t *req, const char *q, const char **key)
{
    char compact[Q_MAX + 1];
    size_t n = 0;
    for (const char *s = q; *s && n < Q_MAX; s++)
        if (!strchr(" .-", *s))
            compact[n++] = *s;
    compact[n] = '\0';
    if (n == 0)
        return Q_ALL;
    if (all_match(compact, DIGITS, 12)) {
        *key = arena_strdup(req->arena, compact);
        return Q_CCCD;
    }
    if (n == 15) {
        char up[16];
        for (int i = 0; i < 15; i++)
            up[i] = (compact[i] >= 'a' && compact[i] <= 'z') ? (char)(compact[i] - 32) : compact[i];
        up[15] = '\0';
        if (idcard_card_check(up) != IDCARD_ERR_FORMAT) {
            *key = arena_strdup(req->arena, up);
            return Q_CARD;
        }
    }
    char phone[16];
    if ((compact[0] == '+' || (compact[0] >= '0' && compact[0] <= '9')) &&
        idcard_phone_normalize(q, phone, sizeof phone) == IDCARD_OK) {
        *key = arena_strdup(req->arena, phone);
        return Q_PHONE;
    }
    char fold[4 * Q_MAX + 8];
    if (text_fold(q, fold, sizeof fold) == 0)
        return Q_ALL;
    *key = arena_strdup(req->arena, fold);
    return Q_NAME_PREFIX;
}

static bool list_params(http_req_t *req, long long *limit, long long *offset)
{
    const char *l = http_query(req, "limit"), *o = http_query(req, "offset");
    char *end;
    *limit = LIST_DEFAULT;
    *offset = 0;
    if (l) {
        *limit = strtoll(l, &end, 10);
        if (*end || *limit < 1 || *limit > LIST_MAX) {
            http_problem_field(req, 422, "limit", http_t(req, "limit phải từ 1 đến 200", "limit must be 1 to 200"));
            return false;
        }
    }
    if (o) {
        *offset = strtoll(o, &end, 10);
        if (*end || *offset < 0 || *offset > OFFSET_MAX) {
            http_problem_field(req, 422, "offset", http_t(req, "offset phải từ 0 đến 10000", "offset must be 0 to 10000"));
            return false;
        }
    }
    return true;
}

/* The matches are counted up to a cap (COUNT_CAP, or further when the page
 * asked for lies beyond it): counting every "nguyen" of a station cost more
 * than finding the page. The reply says total_capped when there are more.
 * Each statement's last column is that capped count; $4 is the cap + 1. */
#define COUNT_CAP 1000
static const char *const search_sql[] = {
    [Q_ALL] = "SELECT " PATIENT_COLS ", (SELECT count(*) FROM (SELECT 1 FROM clinical.patients c "
              "  WHERE c.merged_into IS NULL LIMIT $4) x) "
              "FROM clinical.patients p WHERE merged_into IS NULL "
              "AND $1::text IS NULL ORDER BY p.id DESC LIMIT $2 OFFSET $3",
    /* Any word start, words in order: clinical.patient_name_search
     * (schema/009) finds the page and the capped count with the trigram
     * index, scoped to the caller's facility; the rows are read here again
     * through row-level security. */
    [Q_NAME] = "SELECT " PATIENT_COLS ", m.total FROM clinical.patient_name_search($1, $2::int, $3::int, $4::int) m "
               "JOIN clinical.patients p ON p.id = m.id ORDER BY m.ord",
    /* The same, the last word typed starting the given name: a range of the
     * index patients_given_name (schema/009); $5 is that word. */
    [Q_NAME_GIVEN] = "SELECT " PATIENT_COLS ", m.total FROM clinical.patient_given_search($1, $5, $2::int, $3::int, "
                     "$4::int) m JOIN clinical.patients p ON p.id = m.id ORDER BY m.ord",
    [Q_CCCD] = "SELECT " PATIENT_COLS ", count(*) OVER () FROM clinical.patients p WHERE merged_into IS NULL "
               "AND cccd = $1 AND $4::int > 0 ORDER BY p.id LIMIT $2 OFFSET $3",
    [Q_CARD] = "SELECT " PATIENT_COLS ", count(*) OVER () FROM clinical.patients p WHERE merged_into IS NULL "
               "AND card_number = $1 AND $4::int > 0 ORDER BY p.id LIMIT $2 OFFSET $3",
    [Q_PHONE] = "SELECT " PATIENT_COLS ", count(*) OVER () FROM clinical.patients p WHERE merged_into IS NULL "
                "AND phone = $1 AND $4::int > 0 ORDER BY p.id LIMIT $2 OFFSET $3",
    /* A range scan of the index patients_name_prefix, in name order. Not
     * LIKE: under row-level security only leakproof operators may be index
     * conditions, and textlike is not leakproof while ~>=~ and ~<~ are.
     * Folded names are ASCII, so every name starting with $1 sorts below
     * $1 || chr(127). Ordered with ~<~ (byte order, alphabetical for the
     * folded ASCII names) so the index gives the order and the scan stops
     * after the page; with the collation's order it read every match and
     * sorted them. The count is an index-only scan of the same range. */
    [Q_NAME_PREFIX] = "SELECT " PATIENT_COLS ", (SELECT count(*) FROM (SELECT 1 FROM clinical.patients c "
                      "  WHERE c.merged_into IS NULL AND c.name_fold ~>=~ $1 AND c.name_fold ~<~ ($1 || chr(127)) "
                      "  LIMIT $4) x) "
                      "FROM clinical.patients p WHERE merged_into IS NULL "
                      "AND name_fold ~>=~ $1 AND name_fold ~<~ ($1 || chr(127)) "
                      "ORDER BY p.name_fold USING ~<~, p.id LIMIT $2 OFFSET $3",
};
static const char *const kind_names[] = {"all", "name_word", "cccd", "card", "phone", "name", "name_given"};

/* "% w1% w2%" with LIKE's pattern characters escaped: each word of the
 * folded query at the start of a word of (' ' || name_fold), in order
 * ("van an", "nguyen an", "an"). */
static const char *word_start_pattern(http_req_t *req, const char *fold)
{
    char *pat = arena_alloc(req->arena, 3 * strlen(fold) + 4), *o = pat;
    *o++ = '%';
    *o++ = ' ';
    for (const char *s = fold; *s; s++) {
        if (*s == ' ') {
            *o++ = '%';
            *o++ = ' ';
            continue;
        }
        if (*s == '%' || *s == '_' || *s == '\\')
            *o++ = '\\';
        *o++ = *s;
    }
    *o++ = '%';
    *o = '\0';
    return pat;
}

/* Runs one search; *total counts the matches up to the cap (a page past
 * the end is counted by a second, one-row query); *capped when there are
 * more than *total. */
static PGresult *search_q(db_tx_t *tx, http_req_t *req, enum q_kind kind, const char *key, const char *given,
                          const char *limit, const char *offset, const char *cap)
{
    if (kind == Q_NAME_GIVEN)
        return db_q(tx, search_sql[kind], key, limit, offset, cap, given);
    return db_q(tx, search_sql[kind], key, limit, offset, cap);
}

static PGresult *run_search(db_tx_t *tx, http_req_t *req, enum q_kind kind, const char *key, const char *given,
                            long long limit, long long offset, long long *total, bool *capped)
{
    long long cap = offset + limit > COUNT_CAP ? offset + limit : COUNT_CAP;
    const char *capp = req_ll(req, cap + 1);
    PGresult *r = search_q(tx, req, kind, key, given, req_ll(req, limit), req_ll(req, offset), capp);
    if (!r)
        return NULL;
    *total = PQntuples(r) ? db_ll(r, 0, PATIENT_NCOLS) : 0;
    if (PQntuples(r) == 0 && offset > 0) {
        PGresult *c = search_q(tx, req, kind, key, given, "1", "0", capp);
        if (!c)
            return NULL;
        *total = PQntuples(c) ? db_ll(c, 0, PATIENT_NCOLS) : 0;
    }
    *capped = *total > cap;
    if (*capped)
        *total = cap;
    return r;
}

static void handle_search(http_req_t *req)
{
    const char *q = http_query(req, "q");
    long long limit, offset;
    if (!list_params(req, &limit, &offset))
        return;
    if (q && (strlen(q) > Q_MAX || !text_valid_utf8(q, strlen(q)))) {
        http_problem_field(req, 422, "q", http_t(req, "q tối đa 100 ký tự", "q has at most 100 characters"));
        return;
    }
    const char *key = NULL;
    enum q_kind kind = q ? classify(req, q, &key) : Q_ALL;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    long long total = 0;
    bool capped = false;
    PGresult *r = run_search(&tx, req, kind, key, NULL, limit, offset, &total, &capped);
    /* Names are typed family name first, so the start of the full name is
     * tried first (a btree range, fast at any size); only when nothing
     * starts so, any word start, words in order ("van an", "nguyen an",
     * "an"): first among the names whose given name (last word) starts with
     * the last word typed (a btree range), and only when none matches so,
     * anywhere (the trigram index): clinical.patient_given_search and
     * patient_name_search (schema/009). */
    if (r && kind == Q_NAME_PREFIX && total == 0) {
        const char *last = strrchr(key, ' ');
        const char *given = last ? last + 1 : key;
        kind = Q_NAME_GIVEN;
        key = word_start_pattern(req, key);
        r = run_search(&tx, req, kind, key, given, limit, offset, &total, &capped);
        if (r && total == 0) {
            kind = Q_NAME;
            r = run_search(&tx, req, kind, key, NULL, limit, offset, &total, &capped);
        }
    }
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    json_t *items = json_array();
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        json_array_append_new(items, patient_json(r, i));
    /* One event per search, not one per row: the kind and counts, never the text. */
    audit_record(&tx, req, "search", "patient", NULL, n == 1 ? db_ll(r, 0, 0) : 0, "ok",
                 arena_printf(req->arena, "kind=%s returned=%d total=%lld%s", kind_names[kind], n, total,
                              capped ? "+" : ""));
    json_t *j = json_object();
    json_object_set_new(j, "items", items);
    json_object_set_new(j, "total", json_integer(total));
    json_object_set_new(j, "total_capped", json_boolean(capped));
    json_object_set_new(j, "limit", json_integer(limit));
    json_object_set_new(j, "offset", json_integer(offset));
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    http_reply_json(req, 200, j);
}

/* ---- GET /patients/{id} ------------------------------------------------- */

static void reply_not_found(http_req_t *req, const char *action, long long id)
{
    audit_record_alone(req, action, "patient", req_ll(req, id), 0, "not_found", NULL);
    http_problem(req, 404, NULL, http_t(req, "Không tìm thấy bệnh nhân", "patient not found"));
}

static void handle_get(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx, "SELECT " PATIENT_COLS " FROM clinical.patients p WHERE p.id = $1", req_ll(req, id));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) { /* RLS hides other facilities' rows: same as absent */
        db_tx_rollback(&tx);
        reply_not_found(req, "read", id);
        return;
    }
    audit_record(&tx, req, "read", "patient", req_ll(req, id), id, "ok", NULL);
    if (req_tx_commit(req, &tx) < 0)
        return;
    req_set_etag(req, db_ll(r, 0, 21));
    http_reply_json(req, 200, patient_json(r, 0));
}

/* ---- PATCH /patients/{id} ----------------------------------------------- */

static const char *const patchable[] = {"full_name", "birth_date", "sex", "cccd", "phone", "ethnicity",
                                        "nationality", "occupation", "address", "insurance_card", NULL};

static const char *changed_fields(http_req_t *req, json_t *body)
{
    const char *s = "";
    for (const char *const *k = patchable; *k; k++)
        if (json_object_get(body, *k))
            s = arena_printf(req->arena, "%s%s%s", s, *s ? "," : "", *k);
    return s;
}

static void reply_stale(http_req_t *req, long long current)
{
    req_set_etag(req, current);
    json_t *errs = json_array();
    json_t *e = json_object();
    json_object_set_new(e, "field", json_string("If-Match"));
    json_object_set_new(e, "message",
                        json_string(arena_printf(req->arena, "%s %lld",
                                                 http_t(req, "Bản ghi đã được người khác sửa; phiên bản hiện tại",
                                                        "the record was changed by someone else; current version"),
                                                 current)));
    json_array_append_new(errs, e);
    http_problem_fields(req, 412, http_t(req, "Phiên bản đã cũ", "Stale version"), errs);
}

static void handle_patch(http_req_t *req)
{
    long long id, want;
    if (!req_id_param(req, "id", &id) || !req_if_match(req, &want))
        return;
    json_t *body = http_json_body(req);
    if (!body)
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *cur = db_q(&tx, "SELECT " PATIENT_COLS " FROM clinical.patients p WHERE p.id = $1 FOR UPDATE",
                         req_ll(req, id));
    if (!cur) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(cur) == 0) {
        db_tx_rollback(&tx);
        reply_not_found(req, "update", id);
        return;
    }
    long long version = db_ll(cur, 0, 21);
    if (version != want) { /* nothing written: the other edit stays, the client re-reads */
        db_tx_rollback(&tx);
        audit_record_alone(req, "update", "patient", req_ll(req, id), id, "conflict",
                           arena_printf(req->arena, "stale version %lld, current %lld", want, version));
        reply_stale(req, version);
        return;
    }
    if (db_val(cur, 0, 20)) {
        db_tx_rollback(&tx);
        http_problem(req, 409, NULL, http_t(req, "Bệnh nhân đã được gộp vào hồ sơ khác", "the patient was merged into another record"));
        return;
    }
    verr_t v;
    verr_init(&v);
    struct patient_rec p;
    patient_rec_from_row(cur, &p);
    patient_rec_from_json(body, "", &p, &v, req);
    if (!verr_any(&v))
        patient_rec_check(&p, "", &v, req);
    if (verr_any(&v)) {
        db_tx_rollback(&tx);
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    PGresult *r = db_q(&tx,
                       "UPDATE clinical.patients AS p SET full_name = $3, name_fold = $4, birth_date = $5::date, "
                       "birth_year = $6::smallint, sex = $7, cccd = $8, phone = $9, ethnicity = $10, nationality = $11, "
                       "occupation = $12, province_code = $13, commune_code = $14, village = $15, address_line = $16, "
                       "old_district_code = $17, card_number = $18, card_valid_from = $19::date, "
                       "card_valid_to = $20::date, card_primary_facility = $21, version = version + 1, "
                       "updated_at = now() WHERE id = $1 AND version = $2 RETURNING " PATIENT_COLS,
                       req_ll(req, id), req_ll(req, want), p.full_name, p.name_fold, p.birth_date, p.birth_year, p.sex,
                       p.cccd, p.phone, p.ethnicity, p.nationality, p.occupation, p.province_code, p.commune_code,
                       p.village, p.line, p.old_district_code, p.card_number, p.card_from, p.card_to,
                       p.card_facility);
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    audit_record(&tx, req, "update", "patient", req_ll(req, id), id, "ok",
                 arena_printf(req->arena, "fields=%s", changed_fields(req, body)));
    if (req_tx_commit(req, &tx) < 0)
        return;
    req_set_etag(req, db_ll(r, 0, 21));
    http_reply_json(req, 200, patient_json(r, 0));
}

/* ---- POST /patients/{id}/merge ------------------------------------------ */

/* Tables whose rows follow the survivor. Only those that exist (other
 * modules' migrations may not have landed) and that have the column; each
 * is a fixed name, never request text. Claims stay with the record they
 * were sent for (the XML already went out with it). The health record,
 * one per patient, is merged instead (merge_health_record). */
static const char *const merge_tables[] = {"clinical.visits", "pharmacy.prescriptions", NULL};

/* The merged patient's health record joins the survivor's: copied when the
 * survivor has none, else merged section by section
 * (clinical.health_section_merge, schema/016). Either way the survivor's
 * record gets a new version row, like any edit; the merged patient's record
 * and its versions stay as they were, readable through the merged patient.
 * Returns "health_record:copied|merged|none", or NULL on a database error. */
static const char *merge_health_record(db_tx_t *tx, const char *from, const char *into, const char *uid)
{
    PGresult *r = db_q(tx, "SELECT patient_id FROM clinical.health_records WHERE patient_id IN ($1, $2) "
                           "ORDER BY patient_id FOR UPDATE", from, into);
    if (!r)
        return NULL;
    bool has_from = false, has_into = false;
    for (int i = 0; i < PQntuples(r); i++) {
        has_from |= strcmp(db_val(r, i, 0), from) == 0;
        has_into |= strcmp(db_val(r, i, 0), into) == 0;
    }
    if (!has_from)
        return "health_record:none";
    PGresult *w = has_into
        ? db_q(tx, "UPDATE clinical.health_records s SET "
                   "  identity = clinical.health_section_merge(s.identity, m.identity), "
                   "  history = clinical.health_section_merge(s.history, m.history), "
                   "  prevention = clinical.health_section_merge(s.prevention, m.prevention), "
                   "  version = s.version + 1, updated_at = now(), updated_by = NULLIF($3, '0')::bigint "
                   "FROM clinical.health_records m WHERE s.patient_id = $2 AND m.patient_id = $1 RETURNING s.version",
               from, into, uid)
        : db_q(tx, "INSERT INTO clinical.health_records (patient_id, identity, history, prevention, updated_by) "
                   "SELECT $2, m.identity, m.history, m.prevention, NULLIF($3, '0')::bigint "
                   "FROM clinical.health_records m WHERE m.patient_id = $1 RETURNING version",
               from, into, uid);
    if (!w || PQntuples(w) != 1)
        return NULL;
    if (!phr_save_version(tx, into, uid))
        return NULL;
    return has_into ? "health_record:merged" : "health_record:copied";
}

static const char *move_rows(db_tx_t *tx, http_req_t *req, const char *from, const char *into)
{
    const char *moved = "";
    for (const char *const *t = merge_tables; *t; t++) {
        PGresult *e = db_q(tx,
                           "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'patient_id' "
                           "AND NOT attisdropped",
                           *t);
        if (!e || PQntuples(e) == 0)
            continue;
        PGresult *u = db_q(tx, arena_printf(req->arena, "UPDATE %s SET patient_id = $2 WHERE patient_id = $1", *t),
                           from, into);
        if (!u)
            return NULL;
        moved = arena_printf(req->arena, "%s%s%s:%s", moved, *moved ? ";" : "", *t, PQcmdTuples(u));
    }
    /* Household membership: the survivor keeps its own; else it takes the merged one's. */
    PGresult *h = db_q(tx,
                       "UPDATE clinical.household_members SET patient_id = $2 WHERE patient_id = $1 AND left_at IS NULL "
                       "AND NOT EXISTS (SELECT 1 FROM clinical.household_members WHERE patient_id = $2 AND left_at IS NULL)",
                       from, into);
    PGresult *h2 = db_q(tx, "UPDATE clinical.household_members SET left_at = now() WHERE patient_id = $1 AND left_at IS NULL",
                        from);
    PGresult *h3 = db_q(tx, "UPDATE clinical.households SET head_patient_id = $2, version = version + 1 "
                            "WHERE head_patient_id = $1", from, into);
    if (!h || !h2 || !h3)
        return NULL;
    return arena_printf(req->arena, "%s%shousehold_members:%s", moved, *moved ? ";" : "", PQcmdTuples(h));
}

static void handle_merge(http_req_t *req)
{
    long long id, into = 0;
    if (!req_id_param(req, "id", &id))
        return;
    json_t *body = http_json_body(req);
    if (!body)
        return;
    verr_t v;
    verr_init(&v);
    json_int_field(body, "into", "into", true, 1, 999999999999999LL, &into, &v, req);
    if (!verr_any(&v) && into == id)
        verr_add(&v, "into", http_t(req, "Không thể gộp bệnh nhân vào chính mình", "cannot merge a patient into itself"));
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    const char *sid = req_ll(req, id), *sinto = req_ll(req, into);
    /* Lock both in id order so two crossed merges cannot deadlock. */
    PGresult *r = db_q(&tx, "SELECT id, merged_into FROM clinical.patients WHERE id IN ($1, $2) ORDER BY id FOR UPDATE",
                       sid, sinto);
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) < 2) {
        db_tx_rollback(&tx);
        audit_record_alone(req, "merge", "patient", sid, id, "not_found", arena_printf(req->arena, "into=%lld", into));
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy bệnh nhân", "patient not found"));
        return;
    }
    if (db_val(r, 0, 1) || db_val(r, 1, 1)) {
        db_tx_rollback(&tx);
        http_problem_field(req, 409, "into", http_t(req, "Một trong hai hồ sơ đã được gộp", "one of the records was merged already"));
        return;
    }
    /* The survivor keeps its own values and takes the merged record's where it has none. */
    PGresult *u = db_q(&tx,
                       "UPDATE clinical.patients s SET cccd = coalesce(s.cccd, m.cccd), phone = coalesce(s.phone, m.phone), "
                       "ethnicity = coalesce(s.ethnicity, m.ethnicity), occupation = coalesce(s.occupation, m.occupation), "
                       "birth_date = coalesce(s.birth_date, CASE WHEN s.birth_year = m.birth_year THEN m.birth_date END), "
                       "card_number = coalesce(s.card_number, m.card_number), "
                       "card_valid_from = CASE WHEN s.card_number IS NULL THEN m.card_valid_from ELSE s.card_valid_from END, "
                       "card_valid_to = CASE WHEN s.card_number IS NULL THEN m.card_valid_to ELSE s.card_valid_to END, "
                       "card_primary_facility = CASE WHEN s.card_number IS NULL THEN m.card_primary_facility "
                       "  ELSE s.card_primary_facility END, "
                       "version = s.version + 1, updated_at = now() FROM clinical.patients m WHERE s.id = $2 AND m.id = $1",
                       sid, sinto);
    PGresult *m = db_q(&tx, "UPDATE clinical.patients SET merged_into = $2, version = version + 1, updated_at = now() "
                            "WHERE id = $1", sid, sinto);
    const char *uid = req_ll(req, req->user ? req->user->id : 0);
    const char *moved = u && m ? move_rows(&tx, req, sid, sinto) : NULL;
    const char *hr = moved ? merge_health_record(&tx, sid, sinto, uid) : NULL;
    if (hr)
        moved = arena_printf(req->arena, "%s;%s", moved, hr);
    else
        moved = NULL;
    PGresult *log = moved ? db_q(&tx, "INSERT INTO clinical.patient_merges (from_patient_id, into_patient_id, merged_by, moved) "
                                      "VALUES ($1, $2, NULLIF($3, '0')::bigint, $4)",
                                 sid, sinto, uid, moved) : NULL;
    PGresult *out = log ? db_q(&tx, "SELECT " PATIENT_COLS " FROM clinical.patients p WHERE p.id = $1", sinto) : NULL;
    if (!out) {
        req_tx_fail(req, &tx);
        return;
    }
    const char *detail = arena_printf(req->arena, "from=%lld into=%lld moved=%s", id, into, moved);
    audit_record(&tx, req, "merge", "patient", sid, id, "ok", detail);
    audit_record(&tx, req, "merge", "patient", sinto, into, "ok", detail);
    if (req_tx_commit(req, &tx) < 0)
        return;
    req_set_etag(req, db_ll(out, 0, 21));
    http_reply_json(req, 200, patient_json(out, 0));
}

/* ---- look-ups: administrative units, ethnic groups ---------------------- */

static void handle_admin_units(http_req_t *req)
{
    const char *q = http_query(req, "q"), *level = http_query(req, "level"), *parent = http_query(req, "parent");
    long long limit, offset;
    if (!list_params(req, &limit, &offset))
        return;
    if ((q && strlen(q) > Q_MAX) || (level && strlen(level) > 20) || (parent && strlen(parent) > 5)) {
        http_problem_field(req, 422, "q", http_t(req, "Tham số quá dài", "parameter too long"));
        return;
    }
    char fold[4 * Q_MAX + 8] = "";
    if (q)
        text_fold(q, fold, sizeof fold);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    /* q matches the code's start or the folded name anywhere. */
    PGresult *r = db_q(&tx,
                       "SELECT code, level, name, parent_code, valid_from::text, valid_to::text, count(*) OVER () "
                       "FROM catalog.admin_units WHERE ($1 = '' OR code LIKE $1 || '%' OR name_fold LIKE '%' || $1 || '%') "
                       "AND ($2::text IS NULL OR level = $2) AND ($3::text IS NULL OR parent_code = $3) "
                       "ORDER BY level DESC, valid_to IS NOT NULL, code LIMIT $4 OFFSET $5",
                       fold, level, parent, req_ll(req, limit), req_ll(req, offset));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    db_tx_rollback(&tx); /* read-only reference data */
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "code", jstr(db_val(r, i, 0)));
        json_object_set_new(o, "level", jstr(db_val(r, i, 1)));
        json_object_set_new(o, "name", jstr(db_val(r, i, 2)));
        json_object_set_new(o, "parent_code", jstr(db_val(r, i, 3)));
        json_object_set_new(o, "valid_from", jstr(db_val(r, i, 4)));
        json_object_set_new(o, "valid_to", jstr(db_val(r, i, 5)));
        json_array_append_new(items, o);
    }
    json_t *j = json_object();
    json_object_set_new(j, "items", items);
    json_object_set_new(j, "total", json_integer(PQntuples(r) ? db_ll(r, 0, 6) : 0));
    http_reply_json(req, 200, j);
}

static void handle_ethnicities(http_req_t *req)
{
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q0(&tx, "SELECT code, name FROM catalog.ethnicities ORDER BY code");
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    db_tx_rollback(&tx);
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "code", jstr(db_val(r, i, 0)));
        json_object_set_new(o, "name", jstr(db_val(r, i, 1)));
        json_array_append_new(items, o);
    }
    json_t *j = json_object();
    json_object_set_new(j, "items", items);
    json_object_set_new(j, "total", json_integer(PQntuples(r)));
    http_reply_json(req, 200, j);
}

void patients_register_routes(void)
{
    http_route("POST", "/api/v1/patients", handle_create, PATIENT_ROLES, 0);
    http_route("GET", "/api/v1/patients", handle_search, PATIENT_ROLES, 0);
    http_route("GET", "/api/v1/patients/{id}", handle_get, PATIENT_ROLES, 0);
    http_route("PATCH", "/api/v1/patients/{id}", handle_patch, PATIENT_ROLES, 0);
    http_route("POST", "/api/v1/patients/{id}/merge", handle_merge, PATIENT_ROLES, 0);
    http_route("GET", "/api/v1/admin-units", handle_admin_units, ROLE_ANY, 0);
    http_route("GET", "/api/v1/ethnicities", handle_ethnicities, ROLE_ANY, 0);
}
