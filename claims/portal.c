/* The delivery of a visit's signed claim file to the assessment portal through the outbox
 * (target "claims-portal"), speaking the VSS API of vn-standards.md §1.8:
 * POST /api/token/take (username, MD5 of the password in upper-case hex),
 * then POST /api/qd130/guiHoSoXmlQD3176 with accessToken/tokenId/
 * passwordHash headers and the form fields username, loaiHoSo=130, maTinh,
 * maCSKCB, fileHSBase64. The answer {maKetQua, maGiaoDich,
 * thoiGianTiepNhan, thongDiep} is written back to the claim's submission
 * and batch item here, through the owner connection (scoped by hand). */
#include "claims/claims.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "claims/xml.h"
#include "core/app.h"
#include "core/config.h"
#include "core/log.h"
#include "core/outbox.h"

/* ---- delivery ------------------------------------------------------------------------- */

struct resp {
    claim_buf_t b;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ctx)
{
    struct resp *r = ctx;
    if (r->b.len + sz * n > 1024 * 1024)
        return 0;
    claim_buf_add(&r->b, p, sz * n);
    return sz * n;
}

/* POSTs a form; returns the HTTP status (0: no answer) and the body. */
static long post_form(const char *url, struct curl_slist *h, const char *form, claim_buf_t *body, char *err,
                      size_t errlen)
{
    CURL *c = curl_easy_init();
    if (!c)
        return 0;
    struct resp r = {{0}};
    struct curl_slist *hh = curl_slist_append(h, "Content-Type: application/x-www-form-urlencoded");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hh);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, errlen, "%s", curl_easy_strerror(rc));
    curl_slist_free_all(hh);
    curl_easy_cleanup(c);
    *body = r.b;
    return status;
}

static char *esc(const char *s)
{
    CURL *c = curl_easy_init();
    char *e = c ? curl_easy_escape(c, s, 0) : NULL;
    char *out = e ? strdup(e) : NULL;
    curl_free(e);
    curl_easy_cleanup(c);
    return out;
}

static void md5_upper(const char *s, char out[33])
{
    unsigned char d[16];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), d, &n, EVP_md5(), NULL);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02X", d[i]);
}

static bool portal_configured(const struct app *app)
{
    const char *u = config_get(app->cfg, CFG_CLAIMS_PORTAL_URL);
    return u && *u;
}

/* Writes the portal's answer to the submission and its batch item. */
static void record_answer(struct app *app, const struct outbox_msg *m, arena_t *a, const char *state,
                          const char *txn, const char *code, const char *answer)
{
    db_tx_t tx;
    struct db_scope sc = {0, m->facility_id, "system"};
    if (db_tx_begin(&tx, app->sysdb, a, &sc) < 0)
        return;
    char fid[32];
    snprintf(fid, sizeof fid, "%lld", m->facility_id);
    db_q(&tx,
         "UPDATE claims.submissions SET state = $3, transaction_code = $4, result_code = $5, answer = $6::jsonb, "
         "answered_at = now() WHERE outbox_key = $1 AND facility_id = $2::bigint",
         m->key, fid, state, txn, code, answer);
    db_q(&tx,
         "UPDATE claims.batch_items i SET state = $3, transaction_code = $4, answered_at = now(), "
         "rejection = CASE WHEN $3 = 'rejected' THEN $5::jsonb ELSE NULL END "
         "FROM claims.submissions s WHERE s.outbox_key = $1 AND s.facility_id = $2::bigint AND i.id = s.item_id "
         "AND i.state = 'sent' AND i.content_sha256 = s.content_sha256",
         m->key, fid, state, txn, answer);
    if (tx.failed)
        db_tx_rollback(&tx);
    else
        db_tx_commit(&tx);
}

static void deliver(struct app *app, const struct outbox_msg *m, arena_t *a, struct outbox_result *res)
{
    const char *base = config_get(app->cfg, CFG_CLAIMS_PORTAL_URL);
    if (!base || !*base) {
        res->status = OUTBOX_UNCONFIGURED;
        return;
    }
    json_t *pl = json_loads(m->payload, 0, NULL);
    const char *fac = json_string_value(json_object_get(pl, "maCSKCB"));
    const char *xml = json_string_value(json_object_get(pl, "file"));
    if (!fac || !xml || strlen(fac) != 5) {
        res->status = OUTBOX_REJECTED;
        snprintf(res->error, sizeof res->error, "malformed claims payload");
        json_decref(pl);
        return;
    }
    const char *user = getenv("HIS_CLAIMS_PORTAL_USER") ? getenv("HIS_CLAIMS_PORTAL_USER") : fac;
    const char *pass = getenv("HIS_CLAIMS_PORTAL_PASSWORD") ? getenv("HIS_CLAIMS_PORTAL_PASSWORD") : "Demo@2026";
    char md5[33];
    md5_upper(pass, md5);
    char *ue = esc(user);
    char *form = arena_printf(a, "username=%s&password=%s", ue ? ue : "", md5);
    claim_buf_t body = {0};
    char err[256] = "";
    long st = post_form(arena_printf(a, "%s/api/token/take", base), NULL, form, &body, err, sizeof err);
    json_t *tok = st == 200 && body.data ? json_loads(body.data, 0, NULL) : NULL;
    claim_buf_free(&body);
    json_t *key = json_object_get(tok, "APIKey");
    const char *at = json_string_value(json_object_get(key, "access_token")),
               *it = json_string_value(json_object_get(key, "id_token"));
    if (!at || !it) {
        res->status = OUTBOX_RETRY;
        snprintf(res->error, sizeof res->error, "token/take: HTTP %ld %s", st, err);
        goto out;
    }
    claim_buf_t b64 = {0};
    claim_buf_base64(&b64, xml, strlen(xml));
    char *fe = esc(b64.data), *fa = esc(fac);
    claim_buf_free(&b64);
    claim_buf_t f = {0};
    claim_buf_str(&f, "username=");
    claim_buf_str(&f, ue ? ue : "");
    claim_buf_str(&f, "&loaiHoSo=130&maTinh=");
    claim_buf_add(&f, fac, 2);
    claim_buf_str(&f, "&maCSKCB=");
    claim_buf_str(&f, fa ? fa : "");
    claim_buf_str(&f, "&fileHSBase64=");
    claim_buf_str(&f, fe ? fe : "");
    free(fe);
    free(fa);
    struct curl_slist *h = curl_slist_append(NULL, arena_printf(a, "accessToken: %s", at));
    h = curl_slist_append(h, arena_printf(a, "tokenId: %s", it));
    h = curl_slist_append(h, arena_printf(a, "passwordHash: %s", md5));
    st = post_form(arena_printf(a, "%s/api/qd130/guiHoSoXmlQD3176", base), h, f.data, &body, err, sizeof err);
    claim_buf_free(&f);
    json_t *ans = st == 200 && body.data ? json_loads(body.data, 0, NULL) : NULL;
    const char *kq = json_string_value(json_object_get(ans, "maKetQua"));
    const char *txn = json_string_value(json_object_get(ans, "maGiaoDich"));
    if (!kq) {
        res->status = OUTBOX_RETRY;
        snprintf(res->error, sizeof res->error, "guiHoSoXmlQD3176: HTTP %ld %s", st, err);
    } else if (!strcmp(kq, "200")) {
        res->status = OUTBOX_DELIVERED;
        snprintf(res->remote_ref, sizeof res->remote_ref, "%s", txn ? txn : "");
        record_answer(app, m, a, "accepted", txn, kq, body.data);
    } else if (!strcmp(kq, "401") || !strcmp(kq, "403") || kq[0] == '5') {
        res->status = OUTBOX_RETRY; /* credentials or the portal itself: try again later */
        snprintf(res->error, sizeof res->error, "portal answered %s", kq);
    } else {
        res->status = OUTBOX_REJECTED;
        snprintf(res->error, sizeof res->error, "portal refused the claim: %s", kq);
        snprintf(res->remote_ref, sizeof res->remote_ref, "%s", txn ? txn : "");
        json_t *errs = json_object_get(ans, "danhSachLoi");
        res->errors = json_is_array(errs) ? json_deep_copy(errs) : json_array();
        record_answer(app, m, a, "rejected", txn, kq, body.data);
    }
    claim_buf_free(&body);
    json_decref(ans);
out:
    free(ue);
    json_decref(tok);
    json_decref(pl);
}

void claims_portal_register(void)
{
    outbox_register_target("claims-portal", deliver, false);
    outbox_set_configured_fn("claims-portal", portal_configured);
}
