/* his portal-sim: a stand-in for the national prescription system and the
 * pharmacy (Cục QLD) portal, speaking the APIs the client uses
 * (vn-standards.md §4.4 and §5.2) with in-memory state:
 *
 *   POST /api/auth/dang-nhap-bac-si, /api/auth/dang-nhap-co-so-kham-chua-benh -> {token, token_type}
 *   POST /api/v1/gui-don-thuoc (Bearer)  200 | 422 danh_sach_cac_loi | 401
 *   GET  /api/v1/thong-tin-don-thuoc/{code} (app-name, app-key)
 *   POST /api/tai_khoan/dang_nhap {usr, pwd} -> {code, message, data: {token}}
 *   POST /api/lien_thong/hoa_don, /api/lien_thong/phieu_nhap (bearer)
 *
 * Like the real portal it dedupes by code: a prescription code accepted
 * once is answered "already used" (422) afterwards, an invoice or receipt
 * number 409. Test switches (flags, or POST /_sim/control at run time):
 * latency, a rate of 5xx answers, a rate of dropped connections (the
 * request is processed and the answer lost: the case that needs the
 * dedupe), a full outage (every connection dropped unanswered), rejection
 * of the next N prescriptions, token expiry.
 * GET /_sim/received?kind=prescription|dispensing|receipt|claims lists what
 * was accepted: [{code, count, sends, ...}] where count is how many times
 * the portal accepted it as new (1 when dedupe works) and sends how many
 * times it was posted in all (re-sends included). */
#include "pharmacy/pharmacy.h"
#include "pharmacy/portal_sim_claims.h" /* the assessment (claims) portal */

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SIM_BODY_MAX (4 * 1024 * 1024)
#define SIM_BUCKETS 4096

struct sim_entry {
    char *kind, *code, *rx_code, *payload, *national;
    int count, sends;
    char first[32], last[32];
    struct sim_entry *next_hash, *next_order;
};

struct sim_token {
    char token[48];
    time_t expires;
    struct sim_token *next;
};

static struct {
    pthread_mutex_t mu;
    int latency_ms;
    double error_rate, drop_rate;
    bool outage;
    int reject_next;
    int token_ttl_s;
    const char *password;
    struct sim_token *tokens;
    struct sim_entry *buckets[SIM_BUCKETS];
    struct sim_entry *first, *last;
    unsigned long seq;
} sim = {.mu = PTHREAD_MUTEX_INITIALIZER, .token_ttl_s = 3600, .password = "Demo@2026"};

struct conn {
    char *body;
    size_t len;
    bool too_big;
};

/* ---- store --------------------------------------------------------------------- */

static unsigned hash(const char *kind, const char *code)
{
    unsigned h = 2166136261u;
    for (const char *p = kind; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (const char *p = code; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % SIM_BUCKETS;
}

static void now_iso(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Under sim.mu. */
static struct sim_entry *find(const char *kind, const char *code)
{
    for (struct sim_entry *e = sim.buckets[hash(kind, code)]; e; e = e->next_hash)
        if (!strcmp(e->kind, kind) && !strcmp(e->code, code))
            return e;
    return NULL;
}

/* Under sim.mu: the first send of a code stores it; later ones count. */
static struct sim_entry *record(const char *kind, const char *code, const char *rx_code, const char *payload,
                                bool *duplicate)
{
    struct sim_entry *e = find(kind, code);
    if (e) {
        e->sends++;
        now_iso(e->last);
        *duplicate = true;
        return e;
    }
    *duplicate = false;
    e = calloc(1, sizeof *e);
    e->kind = strdup(kind);
    e->code = strdup(code);
    e->rx_code = rx_code ? strdup(rx_code) : NULL;
    e->payload = strdup(payload);
    e->count = 1;
    e->sends = 1;
    char nat[64];
    snprintf(nat, sizeof nat, "%s_QG_%08lu", !strcmp(kind, "dispensing") ? "HD" : !strcmp(kind, "receipt") ? "PN" : "DT",
             ++sim.seq);
    e->national = strdup(nat);
    now_iso(e->first);
    memcpy(e->last, e->first, sizeof e->last);
    unsigned h = hash(kind, code);
    e->next_hash = sim.buckets[h];
    sim.buckets[h] = e;
    if (sim.last)
        sim.last->next_order = e;
    else
        sim.first = e;
    sim.last = e;
    return e;
}

static void clear_all(void)
{
    for (struct sim_entry *e = sim.first, *n; e; e = n) {
        n = e->next_order;
        free(e->kind);
        free(e->code);
        free(e->rx_code);
        free(e->payload);
        free(e->national);
        free(e);
    }
    memset(sim.buckets, 0, sizeof sim.buckets);
    sim.first = sim.last = NULL;
}

static double rnd(void)
{
    unsigned int v;
    if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
        v = (unsigned int)random();
    return (double)v / 4294967296.0;
}

/* ---- tokens -------------------------------------------------------------------- */

static void new_token(char out[48])
{
    unsigned char b[16];
    RAND_bytes(b, sizeof b);
    for (int i = 0; i < 16; i++)
        snprintf(out + i * 2, 3, "%02x", b[i]);
    pthread_mutex_lock(&sim.mu);
    struct sim_token *t = calloc(1, sizeof *t);
    snprintf(t->token, sizeof t->token, "%s", out);
    t->expires = time(NULL) + sim.token_ttl_s;
    t->next = sim.tokens;
    sim.tokens = t;
    pthread_mutex_unlock(&sim.mu);
}

static bool token_ok(struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "bearer ", 7) != 0)
        return false;
    bool ok = false;
    time_t now = time(NULL);
    pthread_mutex_lock(&sim.mu);
    for (struct sim_token *t = sim.tokens; t; t = t->next)
        if (!strcmp(t->token, h + 7) && t->expires > now)
            ok = true;
    pthread_mutex_unlock(&sim.mu);
    return ok;
}

static void expire_tokens(void)
{
    for (struct sim_token *t = sim.tokens; t; t = t->next)
        t->expires = 0;
}

/* ---- replies -------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static json_t *err_item(const char *field, const char *code, const char *msg)
{
    return json_pack("{s:s, s:s, s:s}", "truong", field, "ma_loi", code, "thong_bao", msg);
}

static enum MHD_Result reply_422(struct MHD_Connection *c, const char *msg, json_t *errors)
{
    return reply(c, 422, json_pack("{s:s, s:o, s:s}", "success", msg, "danh_sach_cac_loi", errors, "checksum", ""));
}

static const char *sget(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool nonempty(json_t *o, const char *k)
{
    const char *s = sget(o, k);
    return s && *s;
}

static long numish(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    if (json_is_real(v))
        return (long)json_real_value(v);
    if (json_is_string(v) && *json_string_value(v)) {
        char *end;
        long n = strtol(json_string_value(v), &end, 10);
        return *end ? -1 : n;
    }
    return -1;
}

/* ---- national prescription system ------------------------------------------------ */

static json_t *validate_rx(json_t *p)
{
    json_t *e = json_array();
    const char *loai = sget(p, "loai_don_thuoc");
    char type = codes_type_from_portal(loai);
    if (!type)
        json_array_append_new(e, err_item("loai_don_thuoc", "LOAI_DON_KHONG_HOP_LE", "Loại đơn thuốc phải là c, h, n hoặc y"));
    const char *code = sget(p, "ma_don_thuoc");
    if (!rx_code_valid(code))
        json_array_append_new(e, err_item("ma_don_thuoc", "MA_DON_KHONG_HOP_LE", "Mã đơn thuốc phải gồm 14 ký tự theo quy định"));
    else if (type && (code[13] & ~0x20) != type)
        json_array_append_new(e, err_item("ma_don_thuoc", "MA_DON_SAI_LOAI", "Ký tự cuối mã đơn không khớp loại đơn thuốc"));
    if (!nonempty(p, "ho_ten_benh_nhan"))
        json_array_append_new(e, err_item("ho_ten_benh_nhan", "BAT_BUOC", "Thiếu họ tên bệnh nhân"));
    const char *dob = sget(p, "ngay_sinh_benh_nhan");
    int d = 0, m = 0, y = 0;
    bool full = dob && sscanf(dob, "%2d/%2d/%4d", &d, &m, &y) == 3 && strlen(dob) == 10;
    bool year_only = dob && strlen(dob) == 4 && sscanf(dob, "%4d", &y) == 1;
    if (!full && !year_only)
        json_array_append_new(e, err_item("ngay_sinh_benh_nhan", "NGAY_SINH_KHONG_HOP_LE", "Ngày sinh phải có dạng dd/MM/yyyy"));
    if (full) {
        /* Children under 72 months need their weight (TT 26/2025). */
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        int months = (tm.tm_year + 1900 - y) * 12 + (tm.tm_mon + 1 - m) - (tm.tm_mday < d ? 1 : 0);
        if (months < 72 && !nonempty(p, "can_nang"))
            json_array_append_new(e, err_item("can_nang", "THIEU_CAN_NANG", "Trẻ dưới 72 tháng tuổi phải có cân nặng"));
    }
    long sex = numish(p, "gioi_tinh");
    if (sex < 1 || sex > 3)
        json_array_append_new(e, err_item("gioi_tinh", "GIOI_TINH_KHONG_HOP_LE", "Giới tính: 1 chưa xác định, 2 nam, 3 nữ"));
    json_t *cd = json_object_get(p, "chan_doan");
    if (!json_is_array(cd) || json_array_size(cd) == 0 || !nonempty(json_array_get(cd, 0), "ma_chan_doan"))
        json_array_append_new(e, err_item("chan_doan", "BAT_BUOC", "Thiếu chẩn đoán"));
    json_t *items = json_object_get(p, "thong_tin_don_thuoc");
    if (!json_is_array(items) || json_array_size(items) == 0)
        json_array_append_new(e, err_item("thong_tin_don_thuoc", "BAT_BUOC", "Đơn thuốc không có thuốc"));
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        char f[64];
        if (!nonempty(it, "ma_thuoc") || !nonempty(it, "ten_thuoc") || !nonempty(it, "don_vi_tinh")) {
            snprintf(f, sizeof f, "thong_tin_don_thuoc[%zu]", i);
            json_array_append_new(e, err_item(f, "BAT_BUOC", "Thiếu mã, tên hoặc đơn vị tính của thuốc"));
        }
        if (numish(it, "so_luong") <= 0) {
            snprintf(f, sizeof f, "thong_tin_don_thuoc[%zu].so_luong", i);
            json_array_append_new(e, err_item(f, "SO_LUONG_KHONG_HOP_LE", "Số lượng phải lớn hơn 0"));
        }
        if (!nonempty(it, "cach_dung")) {
            snprintf(f, sizeof f, "thong_tin_don_thuoc[%zu].cach_dung", i);
            json_array_append_new(e, err_item(f, "BAT_BUOC", "Thiếu cách dùng"));
        }
    }
    const char *at = sget(p, "ngay_gio_ke_don");
    int Y, M, D, hh, mm, ss;
    if (!at || strlen(at) != 19 || sscanf(at, "%4d-%2d-%2d %2d:%2d:%2d", &Y, &M, &D, &hh, &mm, &ss) != 6)
        json_array_append_new(e, err_item("ngay_gio_ke_don", "NGAY_KHONG_HOP_LE", "Ngày giờ kê đơn dạng Y-m-d H:i:s"));
    return e;
}

static enum MHD_Result rx_send(struct MHD_Connection *c, json_t *p, const char *raw, bool *processed)
{
    if (!token_ok(c))
        return reply(c, 401, json_pack("{s:s}", "message", "Unauthenticated."));
    json_t *errs = validate_rx(p);
    pthread_mutex_lock(&sim.mu);
    if (json_array_size(errs) == 0 && sim.reject_next > 0) {
        sim.reject_next--;
        json_array_append_new(errs, err_item("chan_doan", "CHAN_DOAN_KHONG_HOP_LE",
                                             "Chẩn đoán không phù hợp với thuốc kê (từ chối thử nghiệm)"));
    }
    if (json_array_size(errs)) {
        pthread_mutex_unlock(&sim.mu);
        return reply_422(c, "Dữ liệu đơn thuốc không hợp lệ", errs);
    }
    json_decref(errs);
    bool dup;
    struct sim_entry *e = record("prescription", sget(p, "ma_don_thuoc"), NULL, raw, &dup);
    char nat[64];
    snprintf(nat, sizeof nat, "%s", e->national);
    pthread_mutex_unlock(&sim.mu);
    *processed = true;
    if (dup)
        return reply_422(c, "Đơn thuốc đã được sử dụng trước đó",
                         json_pack("[o]", err_item("ma_don_thuoc", "DON_THUOC_DA_TON_TAI", "Đơn thuốc đã được sử dụng trước đó")));
    return reply(c, 200, json_pack("{s:s, s:s}", "success", "Gửi đơn thuốc thành công", "checksum", nat));
}

static bool app_key_ok(struct MHD_Connection *c)
{
    const char *n = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "app-name");
    const char *k = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "app-key");
    return n && *n && k && !strcmp(k, sim.password);
}

/* The prescription as sent, plus what pharmacies reported against it. */
static enum MHD_Result rx_lookup(struct MHD_Connection *c, const char *code)
{
    if (!app_key_ok(c))
        return reply(c, 401, json_pack("{s:s}", "message", "app-name/app-key không hợp lệ"));
    char up[32];
    snprintf(up, sizeof up, "%s", code);
    if (strlen(up) == 14 && up[13] >= 'a' && up[13] <= 'z')
        up[13] = (char)(up[13] - 32);
    pthread_mutex_lock(&sim.mu);
    struct sim_entry *e = find("prescription", up);
    json_t *j = e ? json_loads(e->payload, 0, NULL) : NULL;
    if (j) {
        json_t *sold = json_array();
        for (struct sim_entry *d = sim.first; d; d = d->next_order)
            if (!strcmp(d->kind, "dispensing") && d->rx_code && !strcmp(d->rx_code, up))
                json_array_append_new(sold, json_pack("{s:s, s:s}", "ma_hoa_don", d->code, "ma_hoa_don_quoc_gia", d->national));
        json_object_set_new(j, "hoa_don_da_ban", sold);
    }
    pthread_mutex_unlock(&sim.mu);
    if (!j)
        return reply(c, 404, json_pack("{s:s}", "success", "Không tìm thấy đơn thuốc"));
    return reply(c, 200, j);
}

/* ---- pharmacy portal ------------------------------------------------------------- */

static enum MHD_Result pharmacy_post(struct MHD_Connection *c, const char *kind, json_t *p, const char *raw,
                                     bool *processed)
{
    if (!token_ok(c))
        return reply(c, 401, json_pack("{s:s, s:s}", "code", "401", "message", "Phiên đăng nhập hết hạn"));
    bool invoice = !strcmp(kind, "dispensing");
    json_t *errs = json_array();
    const char *code = sget(p, invoice ? "ma_hoa_don" : "ma_phieu");
    const char *rx = invoice ? sget(p, "ma_don_thuoc_quoc_gia") : NULL;
    if (!code || !*code || strlen(code) > 50)
        json_array_append_new(errs, err_item(invoice ? "ma_hoa_don" : "ma_phieu", "BAT_BUOC", "Thiếu mã chứng từ"));
    if (!nonempty(p, "ma_co_so"))
        json_array_append_new(errs, err_item("ma_co_so", "BAT_BUOC", "Thiếu mã cơ sở"));
    const char *day = sget(p, invoice ? "ngay_ban" : "ngay_nhap");
    if (!day || strlen(day) != 8)
        json_array_append_new(errs, err_item(invoice ? "ngay_ban" : "ngay_nhap", "NGAY_KHONG_HOP_LE", "Ngày dạng yyyyMMdd"));
    if (!invoice && (numish(p, "loai_phieu_nhap") < 1 || numish(p, "loai_phieu_nhap") > 3))
        json_array_append_new(errs, err_item("loai_phieu_nhap", "KHONG_HOP_LE", "Loại phiếu nhập 1, 2 hoặc 3"));
    json_t *lines = json_object_get(p, invoice ? "hoa_don_chi_tiet" : "chi_tiet");
    if (!json_is_array(lines) || json_array_size(lines) == 0)
        json_array_append_new(errs, err_item(invoice ? "hoa_don_chi_tiet" : "chi_tiet", "BAT_BUOC", "Không có dòng thuốc"));
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) {
        const char *hd = sget(l, "han_dung");
        if (!nonempty(l, "ma_thuoc") || !nonempty(l, "so_lo") || !hd || strlen(hd) != 8 || numish(l, "so_luong") <= 0) {
            char f[64];
            snprintf(f, sizeof f, "%s[%zu]", invoice ? "hoa_don_chi_tiet" : "chi_tiet", i);
            json_array_append_new(errs, err_item(f, "KHONG_HOP_LE", "Cần mã thuốc, số lô, hạn dùng yyyyMMdd và số lượng"));
        }
    }
    pthread_mutex_lock(&sim.mu);
    if (invoice && !json_array_size(errs) && (!rx || !find("prescription", rx)))
        json_array_append_new(errs, err_item("ma_don_thuoc_quoc_gia", "KHONG_TIM_THAY_DON_THUOC",
                                             "Không tìm thấy đơn thuốc trên hệ thống quốc gia"));
    if (json_array_size(errs)) {
        pthread_mutex_unlock(&sim.mu);
        return reply(c, 422, json_pack("{s:s, s:s, s:o}", "code", "422", "mess", "Dữ liệu không hợp lệ",
                                       "danh_sach_cac_loi", errs));
    }
    json_decref(errs);
    char key[128];
    snprintf(key, sizeof key, "%s/%s", sget(p, "ma_co_so"), code);
    bool dup;
    struct sim_entry *e = record(kind, key, rx, raw, &dup);
    char nat[64];
    snprintf(nat, sizeof nat, "%s", e->national);
    pthread_mutex_unlock(&sim.mu);
    *processed = true;
    const char *natkey = invoice ? "ma_hoa_don_quoc_gia" : "ma_phieu_nhap_quoc_gia";
    if (dup)
        return reply(c, 409, json_pack("{s:s, s:s, s:s}", "code", "409", "mess", "Chứng từ đã tồn tại", natkey, nat));
    return reply(c, 200, json_pack("{s:s, s:s, s:s}", "code", "200", "mess", "Thành công", natkey, nat));
}

/* ---- logins ---------------------------------------------------------------------- */

static enum MHD_Result login(struct MHD_Connection *c, json_t *p, const char *user_key, const char *pass_key,
                             bool nested)
{
    const char *u = sget(p, user_key), *pw = sget(p, pass_key);
    if (!u || !*u || !pw || strcmp(pw, sim.password) != 0)
        return reply(c, 401, nested ? json_pack("{s:s, s:s}", "code", "401", "message", "Sai tài khoản hoặc mật khẩu")
                                    : json_pack("{s:s}", "message", "Sai tài khoản hoặc mật khẩu"));
    char tok[48];
    new_token(tok);
    if (nested)
        return reply(c, 200, json_pack("{s:s, s:s, s:{s:s, s:s}}", "code", "200", "message", "Đăng nhập thành công", "data",
                                       "token", tok, "token_type", "bearer"));
    return reply(c, 200, json_pack("{s:s, s:s}", "token", tok, "token_type", "bearer"));
}

/* ---- /_sim ----------------------------------------------------------------------- */

static json_t *control_json(void)
{
    return json_pack("{s:b, s:i, s:f, s:f, s:i, s:i}", "outage", sim.outage, "latency_ms", sim.latency_ms, "error_rate",
                     sim.error_rate, "drop_rate", sim.drop_rate, "reject_next", sim.reject_next, "token_ttl_s",
                     sim.token_ttl_s);
}

static enum MHD_Result sim_control(struct MHD_Connection *c, const char *method, json_t *p)
{
    pthread_mutex_lock(&sim.mu);
    if (!strcmp(method, "POST") && p) {
        json_t *v;
        if ((v = json_object_get(p, "outage")) && json_is_boolean(v))
            sim.outage = json_is_true(v);
        if ((v = json_object_get(p, "latency_ms")) && json_is_integer(v))
            sim.latency_ms = (int)json_integer_value(v);
        if ((v = json_object_get(p, "error_rate")) && json_is_number(v))
            sim.error_rate = json_number_value(v);
        if ((v = json_object_get(p, "drop_rate")) && json_is_number(v))
            sim.drop_rate = json_number_value(v);
        if ((v = json_object_get(p, "reject_next")) && json_is_integer(v))
            sim.reject_next = (int)json_integer_value(v);
        if ((v = json_object_get(p, "token_ttl_s")) && json_is_integer(v))
            sim.token_ttl_s = (int)json_integer_value(v);
        if (json_is_true(json_object_get(p, "expire_tokens")))
            expire_tokens();
        if (json_is_true(json_object_get(p, "reset"))) {
            clear_all();
            portal_sim_claims_reset();
        }
    }
    json_t *j = control_json();
    pthread_mutex_unlock(&sim.mu);
    return reply(c, 200, j);
}

static enum MHD_Result sim_received(struct MHD_Connection *c)
{
    const char *kind = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "kind");
    const char *full = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "full");
    if (!kind)
        kind = "prescription";
    if (!strcmp(kind, "claims"))
        return reply(c, 200, portal_sim_claims_received());
    json_t *arr = json_array();
    pthread_mutex_lock(&sim.mu);
    for (struct sim_entry *e = sim.first; e; e = e->next_order) {
        if (strcmp(e->kind, kind) != 0)
            continue;
        /* Invoices and receipts are keyed by facility/number; show the number. */
        const char *slash = strchr(e->code, '/');
        json_t *x = json_pack("{s:s, s:i, s:i, s:s, s:s, s:s}", "code", slash ? slash + 1 : e->code, "count", e->count,
                              "sends", e->sends, "national_code", e->national, "first_received_at", e->first,
                              "last_received_at", e->last);
        if (e->rx_code)
            json_object_set_new(x, "prescription_code", json_string(e->rx_code));
        if (full && !strcmp(full, "1")) {
            json_t *pl = json_loads(e->payload, 0, NULL);
            json_object_set_new(x, "payload", pl ? pl : json_null());
        }
        json_array_append_new(arr, x);
    }
    pthread_mutex_unlock(&sim.mu);
    return reply(c, 200, arr);
}

/* ---- dispatch -------------------------------------------------------------------- */

static enum MHD_Result dispatch(struct MHD_Connection *c, const char *method, const char *url, struct conn *st)
{
    json_t *p = st->body ? json_loads(st->body, 0, NULL) : NULL;
    enum MHD_Result rc;
    if (!strncmp(url, "/_sim/", 6)) {
        if (!strcmp(url, "/_sim/control"))
            rc = sim_control(c, method, p);
        else if (!strcmp(url, "/_sim/received") && !strcmp(method, "GET"))
            rc = sim_received(c);
        else if (portal_sim_claims_match(url))
            rc = portal_sim_claims_dispatch(c, method, url, st->body, &(bool){false});
        else
            rc = reply(c, 404, json_pack("{s:s}", "message", "not found"));
        json_decref(p);
        return rc;
    }
    pthread_mutex_lock(&sim.mu);
    bool outage = sim.outage;
    int latency = sim.latency_ms;
    double er = sim.error_rate, dr = sim.drop_rate;
    pthread_mutex_unlock(&sim.mu);
    if (outage) {
        json_decref(p);
        return MHD_NO; /* the connection is closed unanswered */
    }
    if (latency > 0)
        usleep((useconds_t)latency * 1000);
    if (er > 0 && rnd() < er) {
        json_decref(p);
        return reply(c, 503, json_pack("{s:s}", "message", "Hệ thống đang bận (mô phỏng)"));
    }
    if (portal_sim_claims_match(url)) { /* form-encoded, not JSON: pharmacy/portal_sim_claims.c */
        bool done = false;
        json_decref(p);
        rc = portal_sim_claims_dispatch(c, method, url, st->body, &done);
        return done && dr > 0 && rnd() < dr ? MHD_NO : rc;
    }
    bool post = !strcmp(method, "POST");
    bool processed = false;
    if (post && !p && strncmp(url, "/api/", 5) == 0)
        rc = reply(c, 400, json_pack("{s:s}", "message", "JSON không hợp lệ"));
    else if (post && !strcmp(url, "/api/auth/dang-nhap-bac-si"))
        rc = login(c, p, "ma_lien_thong_bac_si", "password", false);
    else if (post && !strcmp(url, "/api/auth/dang-nhap-co-so-kham-chua-benh"))
        rc = login(c, p, "ma_lien_thong_co_so_kham_chua_benh", "password", false);
    else if (post && !strcmp(url, "/api/v1/gui-don-thuoc"))
        rc = rx_send(c, p, st->body, &processed);
    else if (!strcmp(method, "GET") && !strncmp(url, "/api/v1/thong-tin-don-thuoc/", 28))
        rc = rx_lookup(c, url + 28);
    else if (post && !strcmp(url, "/api/tai_khoan/dang_nhap"))
        rc = login(c, p, "usr", "pwd", true);
    else if (post && !strcmp(url, "/api/lien_thong/hoa_don"))
        rc = pharmacy_post(c, "dispensing", p, st->body, &processed);
    else if (post && !strcmp(url, "/api/lien_thong/phieu_nhap"))
        rc = pharmacy_post(c, "receipt", p, st->body, &processed);
    else
        rc = reply(c, 404, json_pack("{s:s}", "message", "not found"));
    json_decref(p);
    /* A dropped answer after the work is done: the sender cannot know it
     * arrived, sends again, and must be deduped. (The reply is queued
     * already; returning MHD_NO closes the connection before it goes.) */
    if (processed && dr > 0 && rnd() < dr)
        return MHD_NO;
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct conn *st = *con_cls;
    if (!st) {
        *con_cls = calloc(1, sizeof *st);
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (st->too_big || st->len + n > SIM_BODY_MAX) {
            st->too_big = true;
            return MHD_YES;
        }
        st->body = realloc(st->body, st->len + n + 1);
        memcpy(st->body + st->len, upload, n);
        st->len += n;
        st->body[st->len] = '\0';
        return MHD_YES;
    }
    if (st->too_big)
        return reply(c, 413, json_pack("{s:s}", "message", "too large"));
    return dispatch(c, method, url, st);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)c;
    (void)t;
    struct conn *st = *con_cls;
    if (st) {
        free(st->body);
        free(st);
    }
    *con_cls = NULL;
}

int cmd_portal_sim(int argc, char **argv)
{
    const char *listen = "127.0.0.1:8090";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("Usage: his portal-sim [--listen HOST:PORT] [--latency-ms N] [--error-rate R] [--drop-rate R]\n"
                   "                      [--outage] [--password P] [--token-ttl S]\n"
                   "A stand-in for the national prescription portal and the pharmacy portal (in memory).\n"
                   "  --error-rate R   answer 503 to a fraction R (0..1) of portal requests\n"
                   "  --drop-rate R    process, then drop the connection unanswered, for a fraction R\n"
                   "  --outage         drop every portal connection (switch at run time: POST /_sim/control)\n"
                   "  --password P     the password and app-key every account uses (default Demo@2026)\n"
                   "GET /_sim/received?kind=prescription|dispensing|receipt|claims lists what arrived.\n");
            return 0;
        } else if (!strcmp(a, "--listen") && more) {
            listen = argv[++i];
        } else if (!strcmp(a, "--latency-ms") && more) {
            sim.latency_ms = atoi(argv[++i]);
        } else if (!strcmp(a, "--error-rate") && more) {
            sim.error_rate = atof(argv[++i]);
        } else if (!strcmp(a, "--drop-rate") && more) {
            sim.drop_rate = atof(argv[++i]);
        } else if (!strcmp(a, "--password") && more) {
            sim.password = argv[++i];
        } else if (!strcmp(a, "--token-ttl") && more) {
            sim.token_ttl_s = atoi(argv[++i]);
        } else if (!strcmp(a, "--outage")) {
            sim.outage = true;
        } else {
            fprintf(stderr, "his portal-sim: unknown or incomplete option %s (see --help)\n", a);
            return 2;
        }
    }
    if (sim.error_rate < 0 || sim.error_rate > 1 || sim.drop_rate < 0 || sim.drop_rate > 1 || sim.latency_ms < 0) {
        fprintf(stderr, "his portal-sim: rates are 0..1 and latency is >= 0\n");
        return 2;
    }
    char host[256];
    snprintf(host, sizeof host, "%s", listen);
    char *colon = strrchr(host, ':');
    if (!colon) {
        fprintf(stderr, "his portal-sim: --listen needs HOST:PORT\n");
        return 2;
    }
    *colon = '\0';
    int port = atoi(colon + 1);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, *host ? host : "127.0.0.1", &sa.sin_addr) != 1) {
        fprintf(stderr, "his portal-sim: %s is not an IPv4 address\n", host);
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)2000, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "his portal-sim: cannot listen on %s\n", listen);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("portal-sim: listening on http://%s:%d/\n", *host ? host : "127.0.0.1", info ? info->port : port);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    pthread_mutex_lock(&sim.mu);
    clear_all();
    for (struct sim_token *t = sim.tokens, *n; t; t = n) {
        n = t->next;
        free(t);
    }
    pthread_mutex_unlock(&sim.mu);
    return 0;
}
