/* Dispensing against a prescription: all or part of each item, from stock
 * lots first-expiring-first (expired lots never), the rest staying open
 * until the prescription's validity ends. The prescription row is locked
 * FOR UPDATE for the whole transaction, so two pharmacists dispensing the
 * same prescription at once are serialised: the second sees what the first
 * took and is refused if it would exceed the prescribed quantity. Each
 * dispensing is a sales invoice (hoa_don) pushed to the pharmacy portal
 * through the outbox. */
#include "pharmacy/rx_common.h"
#include "core/log.h"
#include "core/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct disp_item {
    const char *drug_code, *lot;
    long long quantity;
    int seq;              /* prescription item */
    const char *name, *unit;
};

struct disp_line {
    const char *lot_id, *lot, *expiry_ymd, *unit_price, *drug_code, *name, *unit, *strength, *route, *regno;
    long long quantity;
    int seq;
};

static bool parse_body(http_req_t *req, json_t *body, struct disp_item *items, int *n, verr_t *v)
{
    json_t *arr = rx_items_array(body, v, req);
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        struct disp_item *it = &items[(*n)++];
        memset(it, 0, sizeof *it);
        char f[64];
#define FIELD(name) (snprintf(f, sizeof f, "items[%zu].%s", i, name), arena_strdup(req->arena, f))
        if (!json_is_object(e)) {
            verr_add(v, arena_printf(req->arena, "items[%zu]", i), http_t(req, "Phải là đối tượng", "must be an object"));
            continue;
        }
        it->drug_code = json_str_field(e, "drug_code", FIELD("drug_code"), true, 50, v, req);
        it->lot = json_str_field(e, "lot", FIELD("lot"), false, 50, v, req);
        json_int_field(e, "quantity", FIELD("quantity"), true, 1, 100000, &it->quantity, v, req);
        for (size_t k = 0; k < i && it->drug_code; k++)
            if (items[k].drug_code && !strcmp(items[k].drug_code, it->drug_code))
                verr_add(v, FIELD("drug_code"), http_t(req, "Thuốc lặp lại", "the drug is listed twice"));
#undef FIELD
    }
    return !verr_any(v);
}

/* Prescription state checks under the row lock. Replies itself. */
static bool check_prescription(http_req_t *req, db_tx_t *tx, long long rx_id, long long *patient_id,
                               const char **patient_name)
{
    PGresult *r = db_q(tx,
                       "SELECT state, valid_until < (now() AT TIME ZONE '" RX_TZ "')::date, version,"
                       " coalesce(patient_id, 0), patient_name, valid_until FROM pharmacy.prescriptions WHERE id = $1",
                       req_ll(req, rx_id));
    if (!r) {
        req_tx_fail(req, tx);
        return false;
    }
    *patient_id = db_ll(r, 0, 3);
    *patient_name = db_val(r, 0, 4);
    const char *state = db_val(r, 0, 0);
    int status = 0;
    const char *msg = NULL;
    if (!strcmp(state, "cancelled")) {
        status = 409;
        msg = http_t(req, "Đơn thuốc đã bị hủy hoặc thay thế; không được phát thuốc",
                     "the prescription was cancelled or replaced: it may not be filled");
    } else if (!strcmp(state, "dispensed")) {
        status = 409;
        msg = http_t(req, "Đơn thuốc đã được phát đủ", "the prescription was filled completely");
    } else if (!strcmp(db_val(r, 0, 1), "t")) {
        status = 422;
        msg = arena_printf(req->arena, "%s %s", http_t(req, "Đơn thuốc đã hết hạn mua/lĩnh thuốc từ sau ngày",
                                                       "the prescription expired after"), db_val(r, 0, 5));
    }
    if (msg) {
        db_tx_rollback(tx);
        audit_record_alone(req, "create", "dispensing", NULL, *patient_id, "conflict", state);
        http_problem(req, status, NULL, msg);
        return false;
    }
    const char *im = http_header(req, "If-Match");
    if (im) {
        long long want;
        if (!req_if_match(req, &want)) {
            db_tx_rollback(tx);
            return false;
        }
        if (want != db_ll(r, 0, 2)) {
            db_tx_rollback(tx);
            req_set_etag(req, db_ll(r, 0, 2));
            http_problem_field(req, 412, "If-Match",
                               http_t(req, "Đơn thuốc vừa được người khác cập nhật; hãy tải lại",
                                      "the prescription changed meanwhile; reload it"));
            return false;
        }
    }
    return true;
}

/* Each requested drug against the prescription's remaining quantity. */
static bool check_remaining(http_req_t *req, db_tx_t *tx, long long rx_id, struct disp_item *items, int n,
                            verr_t *v, bool *conflict)
{
    PGresult *r = db_q(tx,
                       "SELECT seq, drug_code, drug_name, unit, quantity - dispensed FROM pharmacy.prescription_items"
                       " WHERE prescription_id = $1 ORDER BY seq",
                       req_ll(req, rx_id));
    if (!r)
        return false;
    for (int i = 0; i < n; i++) {
        int row = -1;
        for (int k = 0; k < PQntuples(r); k++)
            if (!strcmp(db_val(r, k, 1), items[i].drug_code))
                row = k;
        if (row < 0) {
            verr_add(v, arena_printf(req->arena, "items[%d].drug_code", i),
                     http_t(req, "Thuốc không có trong đơn", "the drug is not on the prescription"));
            continue;
        }
        items[i].seq = (int)db_ll(r, row, 0);
        items[i].name = db_val(r, row, 2);
        items[i].unit = db_val(r, row, 3);
        long long remaining = db_ll(r, row, 4);
        if (items[i].quantity > remaining) {
            *conflict = true;
            verr_add(v, arena_printf(req->arena, "items[%d].quantity", i),
                     arena_printf(req->arena, "%s %lld %s", http_t(req, "Vượt số lượng còn lại của đơn: còn", "more than the prescription has left:"),
                                  remaining, items[i].unit));
        }
    }
    return true;
}

/* First-expiring-first allocation from non-expired lots (or the named lot),
 * the lots locked FOR UPDATE. */
static bool allocate(http_req_t *req, db_tx_t *tx, struct disp_item *it, int idx, struct disp_line *lines, int *nl,
                     int maxl, verr_t *v)
{
    PGresult *r;
    const char *cols = "id, lot, to_char(expiry, 'YYYYMMDD'), quantity, unit_price, expiry < (now() AT TIME ZONE '" RX_TZ
                       "')::date";
    if (it->lot)
        r = db_q(tx, arena_printf(req->arena, "SELECT %s FROM pharmacy.stock_lots WHERE drug_code = $1 AND lot = $2 FOR UPDATE",
                                  cols),
                 it->drug_code, it->lot);
    else
        r = db_q(tx,
                 arena_printf(req->arena,
                              "SELECT %s FROM pharmacy.stock_lots WHERE drug_code = $1 AND quantity > 0"
                              " ORDER BY expiry, id FOR UPDATE",
                              cols),
                 it->drug_code);
    if (!r)
        return false;
    if (it->lot && PQntuples(r) == 0) {
        verr_add(v, arena_printf(req->arena, "items[%d].lot", idx), http_t(req, "Không có lô này trong kho", "no such lot in stock"));
        return true;
    }
    if (it->lot && !strcmp(db_val(r, 0, 5), "t")) {
        verr_add(v, arena_printf(req->arena, "items[%d].lot", idx),
                 arena_printf(req->arena, "%s %.4s-%.2s-%.2s", http_t(req, "Lô đã hết hạn sử dụng, không được phát:", "the lot has expired and may not be dispensed:"),
                              db_val(r, 0, 2), db_val(r, 0, 2) + 4, db_val(r, 0, 2) + 6));
        return true;
    }
    long long need = it->quantity, usable = 0, expired = 0;
    int first = *nl;
    for (int k = 0; k < PQntuples(r); k++) {
        long long q = db_ll(r, k, 3);
        if (!strcmp(db_val(r, k, 5), "t")) {
            expired += q;
            continue;
        }
        usable += q;
        if (need == 0 || q == 0)
            continue;
        if (*nl >= maxl)
            break;
        long long take = q < need ? q : need;
        struct disp_line *l = &lines[(*nl)++];
        memset(l, 0, sizeof *l);
        l->lot_id = db_val(r, k, 0);
        l->lot = db_val(r, k, 1);
        l->expiry_ymd = db_val(r, k, 2);
        l->unit_price = db_val(r, k, 4);
        l->drug_code = it->drug_code;
        l->quantity = take;
        l->seq = it->seq;
        need -= take;
    }
    if (need > 0) {
        *nl = first;
        verr_add(v, arena_printf(req->arena, "items[%d].quantity", idx),
                 arena_printf(req->arena, "%s %lld%s", http_t(req, "Không đủ thuốc còn hạn trong kho: còn", "not enough unexpired stock: available"),
                              usable,
                              expired ? arena_printf(req->arena, " (%lld %s)", expired,
                                                     http_t(req, "đã hết hạn, không được phát", "expired, not dispensable"))
                                      : ""));
    }
    return true;
}

static const char *DRUG_SQL =
    "SELECT name, unit, strength, route, coalesce(registration_no, '') FROM catalog.drugs WHERE code = $1";

/* The sales invoice for the pharmacy portal (hoa_don, vn-standards §5.2). */
static char *invoice_payload(http_req_t *req, db_tx_t *tx, const char *invoice, const char *rx_code,
                             const char *patient_name, const char *day, struct disp_line *lines, int nl)
{
    json_t *j = json_object();
    json_set_str(j, "ma_hoa_don", invoice);
    json_set_str(j, "ma_co_so", req->user->facility_code);
    json_set_str(j, "ma_don_thuoc_quoc_gia", rx_code);
    json_set_str(j, "ngay_ban", day);
    json_set_str(j, "ho_ten_nguoi_ban", req->user->full_name);
    json_set_str(j, "ho_ten_khach_hang", patient_name);
    json_t *arr = json_array();
    for (int i = 0; i < nl; i++) {
        struct disp_line *l = &lines[i];
        PGresult *d = db_q(tx, DRUG_SQL, l->drug_code);
        bool known = d && PQntuples(d) == 1;
        json_t *x = json_object();
        json_set_str(x, "ma_thuoc", l->drug_code);
        json_set_str(x, "ten_thuoc", known ? db_val(d, 0, 0) : l->drug_code);
        json_set_str(x, "so_lo", l->lot);
        json_set_str(x, "ngay_san_xuat", "");
        json_set_str(x, "han_dung", l->expiry_ymd);
        json_set_str(x, "don_vi_tinh", known ? db_val(d, 0, 1) : "");
        json_set_str(x, "ham_luong", known ? db_val(d, 0, 2) : "");
        json_object_set_new(x, "so_luong", json_integer(l->quantity));
        double price = strtod(l->unit_price, NULL);
        json_object_set_new(x, "don_gia", json_real(price));
        json_object_set_new(x, "thanh_tien", json_real(price * (double)l->quantity));
        json_object_set_new(x, "ty_le_quy_doi", json_integer(1));
        json_set_str(x, "lieu_dung", "");
        json_set_str(x, "duong_dung", known ? db_val(d, 0, 3) : "");
        json_set_str(x, "so_dang_ky", known ? db_val(d, 0, 4) : "");
        json_array_append_new(arr, x);
    }
    json_object_set_new(j, "hoa_don_chi_tiet", arr);
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(j);
    arena_defer(req->arena, free, s);
    return s;
}

static bool record(http_req_t *req, db_tx_t *tx, long long rx_id, struct disp_item *items, int n,
                   struct disp_line *lines, int nl, const char **invoice, const char **day)
{
    PGresult *r = db_q(tx,
                       "WITH n AS (SELECT nextval('pharmacy.dispensings_id_seq') AS id)"
                       " INSERT INTO pharmacy.dispensings (id, prescription_id, invoice_code, dispensed_by)"
                       " SELECT n.id, $1, $2 || '-HD' || n.id, current_setting('his.user_id')::bigint FROM n"
                       " RETURNING id, invoice_code, to_char(dispensed_at AT TIME ZONE '" RX_TZ "', 'YYYYMMDD')",
                       req_ll(req, rx_id), req->user->facility_code);
    if (!r)
        return false;
    const char *did = db_val(r, 0, 0);
    *invoice = db_val(r, 0, 1);
    *day = db_val(r, 0, 2);
    for (int i = 0; i < nl; i++) {
        if (!db_q(tx, "UPDATE pharmacy.stock_lots SET quantity = quantity - $2 WHERE id = $1", lines[i].lot_id,
                  req_ll(req, lines[i].quantity)) ||
            !db_q(tx,
                  "INSERT INTO pharmacy.stock_moves (lot_id, kind, quantity, dispensing_id, item_seq, user_id)"
                  " VALUES ($1, 'dispense', -$2::int, $3, $4, current_setting('his.user_id')::bigint)",
                  lines[i].lot_id, req_ll(req, lines[i].quantity), did, req_ll(req, lines[i].seq)))
            return false;
    }
    for (int i = 0; i < n; i++)
        if (!db_q(tx,
                  "UPDATE pharmacy.prescription_items SET dispensed = dispensed + $3 WHERE prescription_id = $1"
                  " AND seq = $2",
                  req_ll(req, rx_id), req_ll(req, items[i].seq), req_ll(req, items[i].quantity)))
            return false;
    return db_q(tx,
                "UPDATE pharmacy.prescriptions SET version = version + 1, state = CASE WHEN"
                " (SELECT bool_and(dispensed = quantity) FROM pharmacy.prescription_items WHERE prescription_id = $1)"
                " THEN 'dispensed' ELSE 'partially_dispensed' END WHERE id = $1",
                req_ll(req, rx_id)) != NULL;
}

static void handle_dispense(http_req_t *req)
{
    const char *code = http_param(req, "code");
    if (!code || strlen(code) != RX_CODE_LEN) {
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy đơn thuốc", "prescription not found"));
        return;
    }
    char *ucode = arena_strdup(req->arena, code);
    if (ucode[13] >= 'a' && ucode[13] <= 'z')
        ucode[13] = (char)(ucode[13] - 32);
    json_t *body = http_json_body(req);
    if (!body)
        return;
    struct disp_item items[RX_MAX_ITEMS];
    int n = 0;
    verr_t v;
    verr_init(&v);
    if (!parse_body(req, body, items, &n, &v)) {
        verr_reply(req, &v);
        return;
    }
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0 || req_idempotent_replay(req, &tx)) {
        verr_free(&v);
        return;
    }
    long long rx_id = rx_find_or_import(req, &tx, ucode, true);
    long long patient_id = 0;
    const char *patient_name = NULL;
    if (!rx_id || !check_prescription(req, &tx, rx_id, &patient_id, &patient_name)) {
        verr_free(&v);
        return;
    }
    bool conflict = false;
    if (!check_remaining(req, &tx, rx_id, items, n, &v, &conflict)) {
        verr_free(&v);
        req_tx_fail(req, &tx);
        return;
    }
    struct disp_line *lines = arena_calloc(req->arena, 256, sizeof *lines);
    int nl = 0;
    for (int i = 0; i < n && !verr_any(&v); i++)
        if (!allocate(req, &tx, &items[i], i, lines, &nl, 256, &v)) {
            verr_free(&v);
            req_tx_fail(req, &tx);
            return;
        }
    if (verr_any(&v)) {
        db_tx_rollback(&tx);
        audit_record_alone(req, "create", "dispensing", ucode, patient_id, conflict ? "conflict" : "invalid", NULL);
        /* More than is left is a conflict with what others dispensed (the
         * loser of two concurrent dispensings gets it): 409; stock and lot
         * problems are 422. Both name the item. */
        if (conflict)
            http_problem_fields(req, 409, NULL, v.list);
        else
            http_problem_fields(req, 422, NULL, v.list);
        v.list = NULL;
        return;
    }
    verr_free(&v);
    const char *invoice, *day;
    if (!record(req, &tx, rx_id, items, n, lines, nl, &invoice, &day)) {
        req_tx_fail(req, &tx);
        return;
    }
    char *payload = invoice_payload(req, &tx, invoice, ucode, patient_name, day, lines, nl);
    if (outbox_enqueue(&tx, "pharmacy-portal", "hoa_don", invoice, NULL, payload) < 0) {
        req_tx_fail(req, &tx);
        return;
    }
    long long version = 0;
    json_t *rx = rx_json(req, &tx, ucode, NULL, &version);
    if (!rx) {
        req_tx_fail(req, &tx);
        return;
    }
    json_t *j = json_object();
    json_set_str(j, "invoice_code", invoice);
    json_t *jl = json_array();
    for (int i = 0; i < nl; i++) {
        json_t *x = json_object();
        json_set_str(x, "drug_code", lines[i].drug_code);
        json_set_str(x, "lot", lines[i].lot);
        json_set_str(x, "expiry", arena_printf(req->arena, "%.4s-%.2s-%.2s", lines[i].expiry_ymd,
                                               lines[i].expiry_ymd + 4, lines[i].expiry_ymd + 6));
        json_object_set_new(x, "quantity", json_integer(lines[i].quantity));
        json_array_append_new(jl, x);
    }
    json_object_set_new(j, "lines", jl);
    json_object_set_new(j, "prescription", rx);
    audit_record(&tx, req, "create", "dispensing", invoice, patient_id, "ok", ucode);
    http_reply_json(req, 201, j);
    req_idempotent_store(req, &tx);
    if (req_tx_commit(req, &tx) < 0)
        return;
    req_set_etag(req, version);
    outbox_kick();
}

void dispense_register_routes(void)
{
    http_route("POST", "/api/v1/prescriptions/{code}/dispensings", handle_dispense, ROLE_PHARMACIST, 0);
}
