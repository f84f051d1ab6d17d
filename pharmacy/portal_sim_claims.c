/* The assessment portal (BHXH "giám định BHYT") part of `his portal-sim`,
 * kept apart from the prescription and pharmacy portals in portal_sim.c,
 * which calls in here for its URLs (vn-standards.md §1.8):
 *
 *   POST /api/token/take  username, password (MD5, upper-case hex)
 *        -> {maKetQua: "200", APIKey: {access_token, id_token, ...}}
 *   POST /api/qd130/guiHoSoXmlQD3176 (also ...QD4750, ...QD130), headers
 *        accessToken, tokenId; form username, loaiHoSo, maTinh, maCSKCB,
 *        fileHSBase64 -> {maKetQua, maGiaoDich, thoiGianTiepNhan, thongDiep}
 *
 * It checks what the portal checks first: the facility signature over the
 * GIAMDINHHS (claim_verify), the envelope and the MA_LK of each record. A
 * file whose content was accepted before is answered with the same
 * transaction code and not counted again (the portal keeps one record per
 * MA_LK; a corrected file replaces it). Test switch:
 *   POST /_sim/claims/reject {ma_lk, code, message, field, table} refuses the
 *   next submission of that MA_LK with that code (maKetQua "400" and the
 *   error in danhSachLoi: the reference does not give the refusal's shape,
 *   docs/claims.md says what was chosen).
 * GET /_sim/received?kind=claims: [{code: MA_LK, count, sends, rejected,
 * national_code: the last maGiaoDich}]. */
#include "pharmacy/portal_sim_claims.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "claims/sign.h"

struct ce {
    char *ma_lk, *sha, *txn, *pending_code, *pending_msg, *pending_field, *pending_table;
    int count, sends, rejected;
    struct ce *next;
};

static struct {
    pthread_mutex_t mu;
    struct ce *first, *last;
    char tokens[32][48];
    int ntok;
    unsigned long seq;
} cs = {.mu = PTHREAD_MUTEX_INITIALIZER};

static struct ce *entry(const char *ma_lk, bool create)
{
    for (struct ce *e = cs.first; e; e = e->next)
        if (!strcmp(e->ma_lk, ma_lk))
            return e;
    if (!create)
        return NULL;
    struct ce *e = calloc(1, sizeof *e);
    e->ma_lk = strdup(ma_lk);
    if (cs.last)
        cs.last->next = e;
    else
        cs.first = e;
    cs.last = e;
    return e;
}

static void clear_entry(struct ce *e)
{
    free(e->ma_lk), free(e->sha), free(e->txn), free(e->pending_code), free(e->pending_msg);
    free(e->pending_field), free(e->pending_table);
    free(e);
}

void portal_sim_claims_reset(void)
{
    pthread_mutex_lock(&cs.mu);
    for (struct ce *e = cs.first, *n; e; e = n) {
        n = e->next;
        clear_entry(e);
    }
    cs.first = cs.last = NULL;
    pthread_mutex_unlock(&cs.mu);
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* Value of a field of an application/x-www-form-urlencoded body, decoded;
 * malloc'd, NULL if absent. */
static char *form_get(const char *body, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = body; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            char *out = malloc(len - nl), *o = out;
            for (const char *s = p + nl + 1; s < p + len; s++) {
                if (*s == '+') {
                    *o++ = ' ';
                } else if (*s == '%' && s + 2 < p + len + 1 && s[1] && s[2]) {
                    char hx[3] = {s[1], s[2], 0};
                    *o++ = (char)strtol(hx, NULL, 16);
                    s += 2;
                } else {
                    *o++ = *s;
                }
            }
            *o = '\0';
            return out;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static unsigned char *unb64(const char *s, size_t *len)
{
    size_t n = strlen(s);
    unsigned char *b = malloc(n + 1);
    int r = EVP_DecodeBlock(b, (const unsigned char *)s, (int)n);
    if (r < 0) {
        free(b);
        return NULL;
    }
    size_t pad = n >= 1 && s[n - 1] == '=' ? (n >= 2 && s[n - 2] == '=' ? 2 : 1) : 0;
    *len = (size_t)r - pad;
    b[*len] = '\0';
    return b;
}

static void stamp(char out[15])
{
    time_t t = time(NULL) + 7 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 15, "%Y%m%d%H%M%S", &tm);
}

static enum MHD_Result token_take(struct MHD_Connection *c, const char *body)
{
    char *u = form_get(body, "username"), *p = form_get(body, "password");
    /* The password arrives as MD5 in upper-case hex; the simulator takes any
     * account whose hash has that form. */
    bool ok = u && *u && p && strlen(p) == 32;
    free(u);
    free(p);
    if (!ok)
        return answer(c, 200, json_pack("{s:s, s:s}", "maKetQua", "401", "thongDiep", "Sai tài khoản hoặc mật khẩu"));
    unsigned char rb[16];
    RAND_bytes(rb, sizeof rb);
    char tok[48];
    for (int i = 0; i < 16; i++)
        snprintf(tok + 2 * i, 3, "%02x", rb[i]);
    pthread_mutex_lock(&cs.mu);
    snprintf(cs.tokens[cs.ntok++ % 32], 48, "%s", tok);
    pthread_mutex_unlock(&cs.mu);
    return answer(c, 200, json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "maKetQua", "200", "APIKey", "access_token", tok,
                                    "id_token", tok, "token_type", "bearer", "username", "sim"));
}

static bool token_ok(struct MHD_Connection *c)
{
    const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "accessToken");
    if (!t)
        return false;
    bool ok = false;
    pthread_mutex_lock(&cs.mu);
    for (int i = 0; i < 32 && !ok; i++)
        ok = !strcmp(cs.tokens[i], t);
    pthread_mutex_unlock(&cs.mu);
    return ok;
}

static xmlNodePtr kid(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr x = n ? n->children : NULL; x; x = x->next)
        if (x->type == XML_ELEMENT_NODE && !strcmp((const char *)x->name, name))
            return x;
    return NULL;
}

/* The MA_LK of each HOSO (from its XML1). */
static int ma_lks(const char *xml, size_t len, char out[][101], int max)
{
    xmlDocPtr d = xmlReadMemory(xml, (int)len, NULL, "utf-8", XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_HUGE);
    int n = 0;
    xmlNodePtr list = kid(kid(xmlDocGetRootElement(d), "THONGTINHOSO"), "DANHSACHHOSO");
    for (xmlNodePtr h = list ? list->children : NULL; h && n < max; h = h->next) {
        if (h->type != XML_ELEMENT_NODE)
            continue;
        out[n][0] = '\0';
        for (xmlNodePtr f = h->children; f; f = f->next) {
            xmlChar *t = xmlNodeGetContent(kid(f, "LOAIHOSO"));
            if (t && !strcmp((char *)t, "XML1")) {
                xmlChar *b = xmlNodeGetContent(kid(f, "NOIDUNGFILE"));
                size_t bl;
                unsigned char *x1 = b ? unb64((char *)b, &bl) : NULL;
                xmlDocPtr d1 = x1 ? xmlReadMemory((char *)x1, (int)bl, NULL, "utf-8", XML_PARSE_NONET | XML_PARSE_NOERROR)
                                  : NULL;
                xmlChar *m = d1 ? xmlNodeGetContent(kid(xmlDocGetRootElement(d1), "MA_LK")) : NULL;
                snprintf(out[n], 101, "%s", m ? (char *)m : "");
                xmlFree(m);
                xmlFreeDoc(d1);
                free(x1);
                xmlFree(b);
            }
            xmlFree(t);
        }
        n++;
    }
    xmlFreeDoc(d);
    return d ? n : -1;
}

static enum MHD_Result submit(struct MHD_Connection *c, const char *body, bool *processed)
{
    if (!token_ok(c))
        return answer(c, 200, json_pack("{s:s, s:s}", "maKetQua", "401", "thongDiep", "Token không hợp lệ"));
    char *fb = form_get(body, "fileHSBase64"), *fac = form_get(body, "maCSKCB");
    size_t xl = 0;
    unsigned char *xml = fb ? unb64(fb, &xl) : NULL;
    free(fb);
    char ts[15], txn[64];
    stamp(ts);
    pthread_mutex_lock(&cs.mu);
    snprintf(txn, sizeof txn, "GD%s%s%06lu", fac ? fac : "", ts, ++cs.seq);
    pthread_mutex_unlock(&cs.mu);
    char err[256];
    char lk[8][101];
    int n = xml ? ma_lks((char *)xml, xl, lk, 8) : -1;
    if (!xml || n <= 0) {
        free(xml);
        free(fac);
        return answer(c, 200, json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s}]}", "maKetQua", "400",
                                        "maGiaoDich", txn, "thoiGianTiepNhan", ts, "thongDiep",
                                        "Tệp hồ sơ không đúng cấu trúc GIAMDINHHS", "danhSachLoi", "maLoi",
                                        "CAU_TRUC", "bang", "GIAMDINHHS", "truong", "", "moTa",
                                        "không đọc được tệp"));
    }
    if (claim_verify((char *)xml, xl, NULL, err, sizeof err) < 0) {
        free(xml);
        free(fac);
        return answer(c, 200, json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s}]}", "maKetQua", "400",
                                        "maGiaoDich", txn, "thoiGianTiepNhan", ts, "thongDiep",
                                        "Chữ ký số của cơ sở không hợp lệ", "danhSachLoi", "maLoi", "CKS", "bang",
                                        "GIAMDINHHS", "truong", "CHUKYDONVI", "moTa", err));
    }
    unsigned char h[32];
    unsigned int hl = 0;
    EVP_Digest(xml + 0, xl, h, &hl, EVP_sha256(), NULL);
    /* The content without its signature decides "the same file": hash from
     * the start of the document to CHUKYDONVI. */
    const char *cut = strstr((char *)xml, "<CHUKYDONVI>");
    EVP_Digest(xml, cut ? (size_t)(cut - (char *)xml) : xl, h, &hl, EVP_sha256(), NULL);
    char sha[65];
    for (int i = 0; i < 32; i++)
        snprintf(sha + 2 * i, 3, "%02x", h[i]);
    free(xml);
    free(fac);
    json_t *errs = json_array();
    const char *result = "200", *reuse_txn = NULL;
    pthread_mutex_lock(&cs.mu);
    for (int i = 0; i < n; i++) {
        struct ce *e = entry(lk[i], true);
        e->sends++;
        if (e->pending_code) {
            json_array_append_new(errs, json_pack("{s:s, s:s, s:s, s:s, s:s}", "maLK", e->ma_lk, "maLoi",
                                                  e->pending_code, "bang", e->pending_table ? e->pending_table : "XML1",
                                                  "truong", e->pending_field ? e->pending_field : "", "moTa",
                                                  e->pending_msg ? e->pending_msg : "Hồ sơ bị từ chối"));
            free(e->pending_code), free(e->pending_msg), free(e->pending_field), free(e->pending_table);
            e->pending_code = e->pending_msg = e->pending_field = e->pending_table = NULL;
            e->rejected++;
            result = "400";
            continue;
        }
        if (e->sha && !strcmp(e->sha, sha)) {
            reuse_txn = e->txn; /* the same file again: same receipt, not counted */
            continue;
        }
        free(e->sha), free(e->txn);
        e->sha = strdup(sha);
        e->txn = strdup(txn);
        e->count++;
    }
    char use_txn[64];
    snprintf(use_txn, sizeof use_txn, "%s", reuse_txn && n == 1 ? reuse_txn : txn);
    pthread_mutex_unlock(&cs.mu);
    *processed = true;
    if (strcmp(result, "200") != 0)
        return answer(c, 200, json_pack("{s:s, s:s, s:s, s:s, s:o}", "maKetQua", result, "maGiaoDich", use_txn,
                                        "thoiGianTiepNhan", ts, "thongDiep", "Hồ sơ có lỗi, đề nghị kiểm tra",
                                        "danhSachLoi", errs));
    json_decref(errs);
    return answer(c, 200, json_pack("{s:s, s:s, s:s, s:s}", "maKetQua", "200", "maGiaoDich", use_txn,
                                    "thoiGianTiepNhan", ts, "thongDiep", "Tiếp nhận hồ sơ thành công"));
}

bool portal_sim_claims_match(const char *url)
{
    return !strcmp(url, "/api/token/take") || !strncmp(url, "/api/qd130/", 11) || !strncmp(url, "/_sim/claims/", 13);
}

enum MHD_Result portal_sim_claims_dispatch(struct MHD_Connection *c, const char *method, const char *url,
                                           const char *body, bool *processed)
{
    const char *b = body ? body : "";
    if (!strcmp(url, "/_sim/claims/reject") && !strcmp(method, "POST")) {
        json_t *p = json_loads(b, 0, NULL);
        const char *lk = json_string_value(json_object_get(p, "ma_lk"));
        if (!lk) {
            json_decref(p);
            return answer(c, 400, json_pack("{s:s}", "message", "ma_lk required"));
        }
        pthread_mutex_lock(&cs.mu);
        struct ce *e = entry(lk, true);
        free(e->pending_code), free(e->pending_msg), free(e->pending_field), free(e->pending_table);
        const char *code = json_string_value(json_object_get(p, "code"));
        const char *msg = json_string_value(json_object_get(p, "message"));
        const char *fld = json_string_value(json_object_get(p, "field"));
        const char *tbl = json_string_value(json_object_get(p, "table"));
        e->pending_code = strdup(code ? code : "GD_TU_CHOI");
        e->pending_msg = msg ? strdup(msg) : NULL;
        e->pending_field = fld ? strdup(fld) : NULL;
        e->pending_table = tbl ? strdup(tbl) : NULL;
        pthread_mutex_unlock(&cs.mu);
        json_t *j = json_pack("{s:s, s:s}", "ma_lk", lk, "armed", "next submission");
        json_decref(p);
        return answer(c, 200, j);
    }
    if (strcmp(method, "POST") != 0)
        return answer(c, 405, json_pack("{s:s}", "message", "POST only"));
    if (!strcmp(url, "/api/token/take"))
        return token_take(c, b);
    if (!strcmp(url, "/api/qd130/guiHoSoXmlQD3176") || !strcmp(url, "/api/qd130/guiHoSoXmlQD4750") ||
        !strcmp(url, "/api/qd130/guiHoSoXmlQD130"))
        return submit(c, b, processed);
    return answer(c, 404, json_pack("{s:s}", "message", "not found"));
}

json_t *portal_sim_claims_received(void)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&cs.mu);
    for (struct ce *e = cs.first; e; e = e->next)
        json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:i, s:s?}", "code", e->ma_lk, "count", e->count,
                                             "sends", e->sends, "rejected", e->rejected, "national_code", e->txn));
    pthread_mutex_unlock(&cs.mu);
    return arr;
}
