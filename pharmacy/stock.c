/* Stock: lots per facility, receipts (phiếu nhập, pushed to the pharmacy
 * portal), adjustments with a reason, and the low-stock and near-expiry
 * list. Every change is a row of pharmacy.stock_moves; a lot's quantity is
 * their running sum, kept on the lot row so FEFO allocation is one indexed
 * read. Stock holds no patient data, but it is facility data: same RLS. */
#include "pharmacy/rx_common.h"
#include "core/outbox.h"
#include "core/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool date_ok(const char *s)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return y >= 2000 && y <= 2200 && m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1] && (m != 2 || d < 29 || leap);
}

static bool lot_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 50)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || strchr("./_-", *s)))
            return false;
    return true;
}

/* ---- GET /api/v1/stock ------------------------------------------------------- */

static void handle_stock(http_req_t *req)
{
    const char *q = http_query(req, "q");
    const char *drug = http_query(req, "drug_code");
    const char *all = http_query(req, "include_empty");
    const char *lim = http_query(req, "limit");
    long limit = lim ? strtol(lim, NULL, 10) : 50;
    if (limit < 1 || limit > 200 || (q && strlen(q) > 200) || (drug && strlen(drug) > 50)) {
        http_problem_field(req, 422, limit < 1 || limit > 200 ? "limit" : q && strlen(q) > 200 ? "q" : "drug_code",
                           http_t(req, "Giá trị không hợp lệ", "invalid value"));
        return;
    }
    char fold[600] = "";
    if (q)
        text_fold(q, fold, sizeof fold);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx,
                       "WITH today AS (SELECT (now() AT TIME ZONE '" RX_TZ "')::date AS d),"
                       " s AS (SELECT d.code, d.name, d.unit, d.rx_class,"
                       "   coalesce(sum(l.quantity) FILTER (WHERE l.expiry >= today.d), 0) AS quantity,"
                       "   coalesce(sum(l.quantity) FILTER (WHERE l.expiry < today.d), 0) AS expired_quantity,"
                       "   coalesce(json_agg(json_build_object('id', l.id, 'lot', l.lot, 'expiry', l.expiry,"
                       "     'quantity', l.quantity, 'unit_price', l.unit_price, 'expired', l.expiry < today.d,"
                       "     'received_at', l.received_at) ORDER BY l.expiry, l.id) FILTER (WHERE l.quantity > 0"
                       "     OR $3 = 't'), '[]') AS lots"
                       "  FROM pharmacy.stock_lots l JOIN catalog.drugs d ON d.code = l.drug_code, today"
                       "  WHERE ($1 = '' OR d.name_fold LIKE '%' || $1 || '%' OR lower(d.code) = $1)"
                       "    AND ($2::text IS NULL OR d.code = $2)"
                       "  GROUP BY d.code, d.name, d.unit, d.rx_class"
                       "  HAVING $3 = 't' OR sum(l.quantity) > 0)"
                       " SELECT coalesce((SELECT json_agg(json_build_object('drug_code', code, 'name', name, 'unit', unit,"
                       "   'rx_class', rx_class, 'quantity', quantity, 'expired_quantity', expired_quantity, 'lots', lots)"
                       "   ORDER BY name) FROM (SELECT * FROM s ORDER BY name LIMIT $4) x), '[]'), (SELECT count(*) FROM s)",
                       fold, drug, all && !strcmp(all, "true") ? "t" : "f", arena_printf(req->arena, "%ld", limit));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    json_t *j = json_object();
    json_t *items = json_loads(db_val(r, 0, 0), 0, NULL);
    json_object_set_new(j, "items", items ? items : json_array());
    json_object_set_new(j, "total", json_integer(db_ll(r, 0, 1)));
    db_tx_rollback(&tx);
    http_reply_json(req, 200, j);
}

/* ---- alerts ------------------------------------------------------------------- */

static void handle_alerts(http_req_t *req)
{
    const char *low = http_query(req, "low_below");
    const char *days = http_query(req, "expiring_within_days");
    long lowv = low ? strtol(low, NULL, 10) : 20;
    long daysv = days ? strtol(days, NULL, 10) : 90;
    if (lowv < 0 || lowv > 1000000 || daysv < 0 || daysv > 3650) {
        http_problem_field(req, 422, lowv < 0 || lowv > 1000000 ? "low_below" : "expiring_within_days",
                           http_t(req, "Giá trị không hợp lệ", "invalid value"));
        return;
    }
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    /* Low stock: drugs this facility has stocked at some time whose usable
     * (unexpired) quantity is under the threshold. */
    PGresult *r = db_q(&tx,
                       "WITH today AS (SELECT (now() AT TIME ZONE '" RX_TZ "')::date AS d) SELECT"
                       " (SELECT coalesce(json_agg(x ORDER BY x.quantity, x.name), '[]') FROM ("
                       "   SELECT d.code AS drug_code, d.name, d.unit,"
                       "     coalesce(sum(l.quantity) FILTER (WHERE l.expiry >= today.d), 0) AS quantity, $1::int AS threshold"
                       "   FROM pharmacy.stock_lots l JOIN catalog.drugs d ON d.code = l.drug_code, today"
                       "   GROUP BY d.code, d.name, d.unit"
                       "   HAVING coalesce(sum(l.quantity) FILTER (WHERE l.expiry >= today.d), 0) < $1::int) x),"
                       " (SELECT coalesce(json_agg(x ORDER BY x.expiry, x.drug_code), '[]') FROM ("
                       "   SELECT l.id, l.drug_code, d.name, l.lot, l.expiry, l.quantity, (l.expiry - today.d) AS days_left"
                       "   FROM pharmacy.stock_lots l JOIN catalog.drugs d ON d.code = l.drug_code, today"
                       "   WHERE l.quantity > 0 AND l.expiry >= today.d AND l.expiry <= today.d + $2::int) x),"
                       " (SELECT coalesce(json_agg(x ORDER BY x.expiry, x.drug_code), '[]') FROM ("
                       "   SELECT l.id, l.drug_code, d.name, l.lot, l.expiry, l.quantity"
                       "   FROM pharmacy.stock_lots l JOIN catalog.drugs d ON d.code = l.drug_code, today"
                       "   WHERE l.quantity > 0 AND l.expiry < today.d) x)",
                       arena_printf(req->arena, "%ld", lowv), arena_printf(req->arena, "%ld", daysv));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    json_t *j = json_object();
    json_object_set_new(j, "low_stock", json_loads(db_val(r, 0, 0), 0, NULL));
    json_object_set_new(j, "near_expiry", json_loads(db_val(r, 0, 1), 0, NULL));
    json_object_set_new(j, "expired", json_loads(db_val(r, 0, 2), 0, NULL));
    json_object_set_new(j, "low_below", json_integer(lowv));
    json_object_set_new(j, "expiring_within_days", json_integer(daysv));
    db_tx_rollback(&tx);
    http_reply_json(req, 200, j);
}

/* ---- receipts ------------------------------------------------------------------ */

struct receipt_item {
    const char *drug_code, *lot, *expiry, *price;
    long long quantity;
};

static void handle_receipt(http_req_t *req)
{
    json_t *body = http_json_body(req);
    if (!body)
        return;
    verr_t v;
    verr_init(&v);
    long long kind = 1;
    json_int_field(body, "kind", "kind", false, 1, 3, &kind, &v, req);
    const char *supplier = json_str_field(body, "supplier", "supplier", false, 200, &v, req);
    const char *note = json_str_field(body, "note", "note", false, 500, &v, req);
    json_t *arr = rx_items_array(body, &v, req);
    struct receipt_item items[RX_MAX_ITEMS];
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        struct receipt_item *it = &items[n++];
        memset(it, 0, sizeof *it);
        char f[64];
#define FIELD(name) (snprintf(f, sizeof f, "items[%zu].%s", i, name), arena_strdup(req->arena, f))
        if (!json_is_object(e)) {
            verr_add(&v, arena_printf(req->arena, "items[%zu]", i), http_t(req, "Phải là đối tượng", "must be an object"));
            continue;
        }
        it->drug_code = json_str_field(e, "drug_code", FIELD("drug_code"), true, 50, &v, req);
        it->lot = json_str_field(e, "lot", FIELD("lot"), true, 50, &v, req);
        if (it->lot && !lot_ok(it->lot))
            verr_add(&v, FIELD("lot"), http_t(req, "Số lô chỉ gồm chữ, số và ./_-", "a lot number has letters, digits and ./_- only"));
        it->expiry = json_str_field(e, "expiry", FIELD("expiry"), true, 10, &v, req);
        if (it->expiry && !date_ok(it->expiry))
            verr_add(&v, FIELD("expiry"), http_t(req, "Ngày dạng YYYY-MM-DD", "a date YYYY-MM-DD"));
        json_int_field(e, "quantity", FIELD("quantity"), true, 1, 10000000, &it->quantity, &v, req);
        json_t *p = json_object_get(e, "unit_price");
        if (p && !json_is_null(p)) {
            if (!json_is_number(p) || json_number_value(p) < 0 || json_number_value(p) > 1e12)
                verr_add(&v, FIELD("unit_price"), http_t(req, "Đơn giá là số không âm", "a non-negative number"));
            else
                it->price = arena_printf(req->arena, "%.3f", json_number_value(p));
        }
#undef FIELD
    }
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0 || req_idempotent_replay(req, &tx)) {
        verr_free(&v);
        return;
    }
    PGresult *r = db_q(&tx,
                       "INSERT INTO pharmacy.receipts (kind, supplier, note, created_by) VALUES ($1, $2, $3,"
                       " current_setting('his.user_id')::bigint) RETURNING id, to_char(created_at AT TIME ZONE '" RX_TZ
                       "', 'YYYYMMDD')",
                       req_ll(req, kind), supplier, note);
    if (!r) {
        verr_free(&v);
        req_tx_fail(req, &tx);
        return;
    }
    const char *rid = db_val(r, 0, 0), *day = db_val(r, 0, 1);
    const char *rcode = arena_printf(req->arena, "%s-PN%s", req->user->facility_code, rid);
    json_t *lots = json_array();
    json_t *lines = json_array();
    arena_defer(req->arena, (void (*)(void *))json_decref, lots);
    arena_defer(req->arena, (void (*)(void *))json_decref, lines);
    for (int k = 0; k < n; k++) {
        struct receipt_item *it = &items[k];
        PGresult *d = db_q(&tx, "SELECT name, unit, strength, coalesce(registration_no, '') FROM catalog.drugs WHERE code = $1",
                           it->drug_code);
        if (!d)
            break;
        if (PQntuples(d) == 0) {
            verr_add(&v, arena_printf(req->arena, "items[%d].drug_code", k),
                     http_t(req, "Không có trong danh mục thuốc", "not in the drug catalogue"));
            continue;
        }
        PGresult *past = db_q(&tx, "SELECT $1::date < (now() AT TIME ZONE '" RX_TZ "')::date", it->expiry);
        if (!past)
            break;
        if (!strcmp(db_val(past, 0, 0), "t")) {
            verr_add(&v, arena_printf(req->arena, "items[%d].expiry", k),
                     http_t(req, "Không nhập thuốc đã hết hạn", "expired goods are not received"));
            continue;
        }
        /* The same lot again adds to it; its expiry must agree. */
        PGresult *l = db_q(&tx,
                           "INSERT INTO pharmacy.stock_lots (drug_code, lot, expiry, quantity, unit_price)"
                           " VALUES ($1, $2, $3::date, $4, coalesce($5::numeric, 0))"
                           " ON CONFLICT (facility_id, drug_code, lot) DO UPDATE SET quantity = pharmacy.stock_lots.quantity"
                           "   + EXCLUDED.quantity, unit_price = coalesce($5::numeric, pharmacy.stock_lots.unit_price)"
                           " RETURNING id, expiry = $3::date, quantity",
                           it->drug_code, it->lot, it->expiry, req_ll(req, it->quantity), it->price);
        if (!l)
            break;
        if (strcmp(db_val(l, 0, 1), "t") != 0) {
            verr_add(&v, arena_printf(req->arena, "items[%d].expiry", k),
                     http_t(req, "Lô này đã có trong kho với hạn dùng khác", "this lot is in stock with another expiry date"));
            continue;
        }
        if (!db_q(&tx,
                  "INSERT INTO pharmacy.stock_moves (lot_id, kind, quantity, receipt_id, user_id)"
                  " VALUES ($1, 'receipt', $2, $3, current_setting('his.user_id')::bigint)",
                  db_val(l, 0, 0), req_ll(req, it->quantity), rid))
            break;
        json_t *x = json_object();
        json_object_set_new(x, "id", json_integer(db_ll(l, 0, 0)));
        json_set_str(x, "drug_code", it->drug_code);
        json_set_str(x, "lot", it->lot);
        json_set_str(x, "expiry", it->expiry);
        json_object_set_new(x, "quantity", json_integer(db_ll(l, 0, 2)));
        json_array_append_new(lots, x);
        json_t *pl = json_object();
        json_set_str(pl, "ma_thuoc", it->drug_code);
        json_set_str(pl, "ten_thuoc", db_val(d, 0, 0));
        json_set_str(pl, "so_lo", it->lot);
        json_set_str(pl, "ngay_san_xuat", "");
        json_object_set_new(pl, "han_dung", json_string(arena_printf(req->arena, "%.4s%.2s%.2s", it->expiry, it->expiry + 5,
                                                                     it->expiry + 8)));
        json_set_str(pl, "so_dklh", db_val(d, 0, 3));
        json_object_set_new(pl, "so_luong", json_integer(it->quantity));
        json_object_set_new(pl, "don_gia", json_real(it->price ? strtod(it->price, NULL) : 0));
        json_set_str(pl, "don_vi_tinh", db_val(d, 0, 1));
        json_array_append_new(lines, pl);
    }
    if (tx.failed) {
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
    json_t *p = json_object();
    json_set_str(p, "ma_phieu", rcode);
    json_set_str(p, "ma_co_so", req->user->facility_code);
    json_set_str(p, "ngay_nhap", day);
    json_object_set_new(p, "loai_phieu_nhap", json_integer(kind));
    json_set_str(p, "ghi_chu", note ? note : "");
    json_set_str(p, "ten_co_so_cung_cap", supplier ? supplier : "");
    json_object_set_new(p, "chi_tiet", json_incref(lines));
    char *payload = json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(p);
    arena_defer(req->arena, free, payload);
    if (outbox_enqueue(&tx, "pharmacy-portal", "phieu_nhap", rcode, NULL, payload) < 0) {
        req_tx_fail(req, &tx);
        return;
    }
    audit_record(&tx, req, "create", "stock_receipt", rcode, 0, "ok", NULL);
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer(strtoll(rid, NULL, 10)));
    json_set_str(j, "code", rcode);
    json_object_set_new(j, "kind", json_integer(kind));
    json_object_set_new(j, "items", json_incref(lots));
    http_reply_json(req, 201, j);
    req_idempotent_store(req, &tx);
    if (req_tx_commit(req, &tx) == 0)
        outbox_kick();
}

/* ---- adjustments ------------------------------------------------------------------ */

static bool reason_ok(const char *r)
{
    static const char *const ok[] = {"damaged", "expired", "count_correction", "returned_to_supplier", "lost", "other", NULL};
    for (int i = 0; r && ok[i]; i++)
        if (!strcmp(r, ok[i]))
            return true;
    return false;
}

static void handle_adjust(http_req_t *req)
{
    json_t *body = http_json_body(req);
    if (!body)
        return;
    verr_t v;
    verr_init(&v);
    json_t *arr = rx_items_array(body, &v, req);
    struct {
        const char *drug_code, *lot, *reason, *note;
        long long delta;
    } items[RX_MAX_ITEMS];
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        char f[64];
#define FIELD(name) (snprintf(f, sizeof f, "items[%zu].%s", i, name), arena_strdup(req->arena, f))
        memset(&items[n], 0, sizeof items[n]);
        if (!json_is_object(e)) {
            verr_add(&v, arena_printf(req->arena, "items[%zu]", i), http_t(req, "Phải là đối tượng", "must be an object"));
            n++;
            continue;
        }
        items[n].drug_code = json_str_field(e, "drug_code", FIELD("drug_code"), true, 50, &v, req);
        items[n].lot = json_str_field(e, "lot", FIELD("lot"), true, 50, &v, req);
        items[n].reason = json_str_field(e, "reason", FIELD("reason"), true, 40, &v, req);
        if (items[n].reason && !reason_ok(items[n].reason))
            verr_add(&v, FIELD("reason"), http_t(req, "Lý do: damaged, expired, count_correction, returned_to_supplier, lost, other",
                                                 "reason: damaged, expired, count_correction, returned_to_supplier, lost, other"));
        items[n].note = json_str_field(e, "note", FIELD("note"), false, 500, &v, req);
        if (json_int_field(e, "quantity", FIELD("quantity"), true, -10000000, 10000000, &items[n].delta, &v, req) &&
            items[n].delta == 0)
            verr_add(&v, FIELD("quantity"), http_t(req, "Khác 0 (âm: giảm, dương: tăng)", "non-zero (negative removes, positive adds)"));
        if (items[n].reason && !strcmp(items[n].reason, "other") && !items[n].note)
            verr_add(&v, FIELD("note"), http_t(req, "Cần ghi rõ lý do khác", "explain the other reason"));
        n++;
#undef FIELD
    }
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0 || req_idempotent_replay(req, &tx)) {
        verr_free(&v);
        return;
    }
    json_t *out = json_array();
    arena_defer(req->arena, (void (*)(void *))json_decref, out);
    for (int k = 0; k < n; k++) {
        PGresult *r = db_q(&tx, "SELECT id, quantity FROM pharmacy.stock_lots WHERE drug_code = $1 AND lot = $2 FOR UPDATE",
                           items[k].drug_code, items[k].lot);
        if (!r)
            break;
        if (PQntuples(r) == 0) {
            verr_add(&v, arena_printf(req->arena, "items[%d].lot", k), http_t(req, "Không có lô này trong kho", "no such lot in stock"));
            continue;
        }
        if (db_ll(r, 0, 1) + items[k].delta < 0) {
            verr_add(&v, arena_printf(req->arena, "items[%d].quantity", k),
                     arena_printf(req->arena, "%s %lld", http_t(req, "Không thể giảm quá tồn kho của lô:", "cannot remove more than the lot holds:"),
                                  db_ll(r, 0, 1)));
            continue;
        }
        if (!db_q(&tx, "UPDATE pharmacy.stock_lots SET quantity = quantity + $2 WHERE id = $1", db_val(r, 0, 0),
                  req_ll(req, items[k].delta)) ||
            !db_q(&tx,
                  "INSERT INTO pharmacy.stock_moves (lot_id, kind, quantity, reason, note, user_id)"
                  " VALUES ($1, 'adjust', $2, $3, $4, current_setting('his.user_id')::bigint)",
                  db_val(r, 0, 0), req_ll(req, items[k].delta), items[k].reason, items[k].note))
            break;
        json_t *x = json_object();
        json_object_set_new(x, "id", json_integer(db_ll(r, 0, 0)));
        json_set_str(x, "drug_code", items[k].drug_code);
        json_set_str(x, "lot", items[k].lot);
        json_object_set_new(x, "quantity", json_integer(db_ll(r, 0, 1) + items[k].delta));
        json_array_append_new(out, x);
    }
    if (tx.failed) {
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
    audit_record(&tx, req, "update", "stock", NULL, 0, "ok", "adjustment");
    json_t *j = json_object();
    json_object_set_new(j, "items", json_incref(out));
    http_reply_json(req, 201, j);
    req_idempotent_store(req, &tx);
    req_tx_commit(req, &tx);
}

void stock_register_routes(void)
{
    http_route("GET", "/api/v1/stock", handle_stock, ROLE_PHARMACIST | ROLE_DOCTOR | ROLE_ADMIN, 0);
    http_route("GET", "/api/v1/stock/alerts", handle_alerts, ROLE_PHARMACIST | ROLE_ADMIN, 0);
    http_route("POST", "/api/v1/stock/receipts", handle_receipt, ROLE_PHARMACIST | ROLE_ADMIN, 0);
    http_route("POST", "/api/v1/stock/adjustments", handle_adjust, ROLE_PHARMACIST | ROLE_ADMIN, 0);
}
