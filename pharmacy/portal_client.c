/* The national portals' client (libcurl), as outbox delivery functions:
 *
 * prescription-portal (HIS_RX_PORTAL_URL): the national prescription system.
 *   Doctor login POST /api/auth/dang-nhap-bac-si -> bearer token (cached,
 *   renewed on 401); POST /api/v1/gui-don-thuoc with the JSON built at issue.
 *   200: delivered. 422 with danh_sach_cac_loi: refused, the list kept for
 *   the doctor -- except the portal's "already used" answer for our own code,
 *   which means an earlier attempt arrived (we crashed or the connection
 *   dropped before its answer): delivered. Timeouts, connection errors, 5xx,
 *   429: retried with backoff by the outbox.
 *   Look-up of another facility's prescription: GET
 *   /api/v1/thong-tin-don-thuoc/{code} with app-name/app-key headers.
 *
 * pharmacy-portal (HIS_PHARMACY_PORTAL_URL): the Cục QLD connection API.
 *   Login POST /api/tai_khoan/dang_nhap {usr, pwd}; POST
 *   /api/lien_thong/hoa_don (a dispensing) and /api/lien_thong/phieu_nhap (a
 *   goods receipt). 200: delivered with the national number; 409: the
 *   portal has that invoice already: delivered; 422 naming an unknown
 *   prescription: retried (it may not have reached the national system yet);
 *   other 422: refused.
 *
 * Accounts (link codes, passwords, app keys) live in pharmacy.portal_accounts,
 * read through the owner pool. Nothing from a payload is logged. */
#include "pharmacy/pharmacy.h"
#include "core/app.h"
#include "core/config.h"
#include "core/http.h"
#include "core/log.h"
#include "core/outbox.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PORTAL_CONNECT_TIMEOUT_MS 3000L
#define PORTAL_TIMEOUT_MS 15000L
#define PORTAL_BODY_MAX (4 * 1024 * 1024)
/* The token lifetime is undocumented (one source says 7 days): renew after
 * an hour anyway, and at once on a 401. */
#define PORTAL_TOKEN_TTL_S 3600

/* ---- HTTP ----------------------------------------------------------------------- */

struct resp {
    long status; /* 0: no HTTP answer (connection, timeout) */
    char *body;
    size_t len;
    char err[256];
};

static pthread_key_t curl_key;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_free_handle(void *h)
{
    curl_easy_cleanup(h);
}

static void curl_key_init(void)
{
    pthread_key_create(&curl_key, curl_free_handle);
}

/* One handle per thread: its connection cache keeps the portal's TLS
 * session alive between messages. */
static CURL *thread_curl(void)
{
    pthread_once(&curl_once, curl_key_init);
    CURL *h = pthread_getspecific(curl_key);
    if (!h) {
        h = curl_easy_init();
        pthread_setspecific(curl_key, h);
    } else {
        curl_easy_reset(h);
    }
    return h;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t k = size * n;
    if (r->len + k > PORTAL_BODY_MAX)
        return 0;
    char *nb = realloc(r->body, r->len + k + 1);
    if (!nb)
        return 0;
    r->body = nb;
    memcpy(r->body + r->len, p, k);
    r->len += k;
    r->body[r->len] = '\0';
    return k;
}

static void http_call(const char *method, const char *url, struct curl_slist *hdrs, const char *body, struct resp *r)
{
    memset(r, 0, sizeof *r);
    CURL *h = thread_curl();
    if (!h) {
        snprintf(r->err, sizeof r->err, "curl unavailable");
        return;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, PORTAL_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, PORTAL_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        snprintf(r->err, sizeof r->err, "%s", curl_easy_strerror(rc));
        r->status = 0;
        return;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
}

static char *url_join(arena_t *a, const char *base, const char *path)
{
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    return arena_printf(a, "%.*s%s", (int)n, base, path);
}

static const char *cfg_url(const struct app *app, enum config_key k)
{
    const char *u = app && app->cfg ? config_get(app->cfg, k) : NULL;
    return u && *u ? u : NULL;
}

bool portal_rx_configured(const struct app *app)
{
    return cfg_url(app, CFG_RX_PORTAL_URL) != NULL;
}

bool portal_pharmacy_configured(const struct app *app)
{
    return cfg_url(app, CFG_PHARMACY_PORTAL_URL) != NULL;
}

/* ---- accounts and tokens -------------------------------------------------------- */

struct account {
    const char *login, *facility_link, *secret;
};

static bool load_account(struct app *app, arena_t *a, const char *portal, long long facility_id, long long user_id,
                         struct account *acc)
{
    bool unavailable;
    const char *p[3] = {portal, arena_printf(a, "%lld", facility_id), arena_printf(a, "%lld", user_id)};
    /* The doctor's own account first, else the facility's. */
    PGresult *r = db_query_once(app->sysdb, a,
                                "SELECT login, coalesce(facility_link, ''), secret FROM pharmacy.portal_accounts"
                                " WHERE portal = $1 AND facility_id = $2 AND (user_id = $3 OR user_id IS NULL)"
                                " ORDER BY user_id NULLS LAST LIMIT 1",
                                3, p, &unavailable);
    if (!r || PQntuples(r) != 1)
        return false;
    acc->login = db_val(r, 0, 0);
    acc->facility_link = db_val(r, 0, 1);
    acc->secret = db_val(r, 0, 2);
    return true;
}

#define TOKEN_SLOTS 128
static struct {
    char key[300];
    char token[600];
    time_t expires;
} tokens[TOKEN_SLOTS];
static pthread_mutex_t token_mu = PTHREAD_MUTEX_INITIALIZER;

static bool token_get(const char *key, char *out, size_t outlen)
{
    bool ok = false;
    time_t now = time(NULL);
    pthread_mutex_lock(&token_mu);
    for (int i = 0; i < TOKEN_SLOTS; i++)
        if (tokens[i].key[0] && !strcmp(tokens[i].key, key) && tokens[i].expires > now) {
            snprintf(out, outlen, "%s", tokens[i].token);
            ok = true;
            break;
        }
    pthread_mutex_unlock(&token_mu);
    return ok;
}

static void token_put(const char *key, const char *token)
{
    pthread_mutex_lock(&token_mu);
    int slot = -1;
    time_t oldest = 0;
    for (int i = 0; i < TOKEN_SLOTS; i++) {
        if (!strcmp(tokens[i].key, key) || !tokens[i].key[0]) {
            slot = i;
            break;
        }
        if (slot < 0 || tokens[i].expires < oldest) {
            slot = i;
            oldest = tokens[i].expires;
        }
    }
    snprintf(tokens[slot].key, sizeof tokens[slot].key, "%s", key);
    snprintf(tokens[slot].token, sizeof tokens[slot].token, "%s", token);
    tokens[slot].expires = time(NULL) + PORTAL_TOKEN_TTL_S;
    pthread_mutex_unlock(&token_mu);
}

static void token_drop(const char *key)
{
    pthread_mutex_lock(&token_mu);
    for (int i = 0; i < TOKEN_SLOTS; i++)
        if (!strcmp(tokens[i].key, key))
            tokens[i].key[0] = '\0';
    pthread_mutex_unlock(&token_mu);
}

enum login_result { LOGIN_OK, LOGIN_RETRY, LOGIN_REFUSED };

/* Logs in (POST path with body) and finds the token at `token_path`
 * ("token" or "data.token"). */
static enum login_result login(arena_t *a, const char *base, const char *path, json_t *body, bool nested,
                               char *token, size_t toklen, char *err, size_t errlen)
{
    char *b = json_dumps(body, JSON_COMPACT);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct resp r;
    http_call("POST", url_join(a, base, path), h, b, &r);
    curl_slist_free_all(h);
    free(b);
    enum login_result res = LOGIN_RETRY;
    if (r.status == 200) {
        json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
        json_t *t = nested ? json_object_get(json_object_get(j, "data"), "token") : json_object_get(j, "token");
        if (json_is_string(t) && json_string_length(t) < toklen) {
            snprintf(token, toklen, "%s", json_string_value(t));
            res = LOGIN_OK;
        } else {
            snprintf(err, errlen, "login answer without a token");
        }
        json_decref(j);
    } else if (r.status == 401 || r.status == 403 || r.status == 422 || r.status == 400) {
        snprintf(err, errlen, "the portal refused the login (HTTP %ld)", r.status);
        res = LOGIN_REFUSED;
    } else if (r.status) {
        snprintf(err, errlen, "login: HTTP %ld", r.status);
    } else {
        snprintf(err, errlen, "login: %s", r.err);
    }
    free(r.body);
    return res;
}

/* ---- error lists ------------------------------------------------------------------ */

/* danh_sach_cac_loi [{truong, ma_loi, thong_bao}] -> [{field, code, message}] */
static json_t *portal_errors(json_t *j)
{
    json_t *out = json_array();
    json_t *list = json_object_get(j, "danh_sach_cac_loi");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        json_t *x = json_object();
        json_t *f = json_object_get(e, "truong"), *c = json_object_get(e, "ma_loi"), *m = json_object_get(e, "thong_bao");
        json_object_set_new(x, "field", json_is_string(f) ? json_incref(f) : json_null());
        json_object_set_new(x, "code", json_is_string(c) ? json_incref(c) : json_null());
        json_object_set_new(x, "message", json_is_string(m) ? json_incref(m) : json_null());
        json_array_append_new(out, x);
    }
    if (json_array_size(out) == 0) {
        /* No list: keep the portal's message as the one error. */
        json_t *s = json_object_get(j, "success");
        if (!json_is_string(s))
            s = json_object_get(j, "mess");
        if (!json_is_string(s))
            s = json_object_get(j, "message");
        json_t *x = json_object();
        json_object_set_new(x, "field", json_null());
        json_object_set_new(x, "code", json_null());
        json_object_set_new(x, "message", json_is_string(s) ? json_incref(s) : json_string("rejected"));
        json_array_append_new(out, x);
    }
    return out;
}

static bool has_error_code(json_t *errors, const char *code)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) {
        json_t *c = json_object_get(e, "code");
        if (json_is_string(c) && !strcmp(json_string_value(c), code))
            return true;
    }
    return false;
}

/* "Đơn thuốc đã được sử dụng trước đó": the code is known to the portal. */
static bool is_duplicate_rx(json_t *body, json_t *errors)
{
    if (has_error_code(errors, "DON_THUOC_DA_TON_TAI"))
        return true;
    json_t *s = json_object_get(body, "success");
    return json_is_string(s) && strstr(json_string_value(s), "đã được sử dụng") != NULL;
}

static void transient(struct outbox_result *res, const struct resp *r, const char *what)
{
    res->status = OUTBOX_RETRY;
    if (r->status)
        snprintf(res->error, sizeof res->error, "%s: HTTP %ld", what, r->status);
    else
        snprintf(res->error, sizeof res->error, "%s: %s", what, r->err);
}

/* ---- prescription portal ------------------------------------------------------------ */

static void deliver_rx(struct app *app, const struct outbox_msg *m, arena_t *a, struct outbox_result *res)
{
    const char *base = cfg_url(app, CFG_RX_PORTAL_URL);
    struct account acc;
    if (!base) {
        res->status = OUTBOX_UNCONFIGURED;
        snprintf(res->error, sizeof res->error, "HIS_RX_PORTAL_URL is not set");
        return;
    }
    if (!load_account(app, a, "prescription", m->facility_id, m->created_by, &acc)) {
        res->status = OUTBOX_UNCONFIGURED;
        snprintf(res->error, sizeof res->error, "no national prescription portal account for the prescriber");
        return;
    }
    const char *tkey = arena_printf(a, "rx|%s|%s|%s", base, acc.facility_link, acc.login);
    for (int round = 0; round < 2; round++) {
        char token[600];
        if (!token_get(tkey, token, sizeof token)) {
            json_t *lb = json_object();
            json_set_str(lb, "ma_lien_thong_bac_si", acc.login);
            json_set_str(lb, "ma_lien_thong_co_so_kham_chua_benh", acc.facility_link);
            json_set_str(lb, "password", acc.secret);
            enum login_result lr = login(a, base, "/api/auth/dang-nhap-bac-si", lb, false, token, sizeof token,
                                         res->error, sizeof res->error);
            json_decref(lb);
            if (lr != LOGIN_OK) {
                res->status = lr == LOGIN_REFUSED ? OUTBOX_UNCONFIGURED : OUTBOX_RETRY;
                return;
            }
            token_put(tkey, token);
        }
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        h = curl_slist_append(h, arena_printf(a, "Authorization: Bearer %s", token));
        struct resp r;
        http_call("POST", url_join(a, base, "/api/v1/gui-don-thuoc"), h, m->payload, &r);
        curl_slist_free_all(h);
        arena_defer(a, free, r.body);
        if (r.status == 401 && round == 0) {
            token_drop(tkey); /* expired or revoked: log in again once */
            continue;
        }
        json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
        if (j)
            arena_defer(a, (void (*)(void *))json_decref, j);
        if (r.status == 200) {
            res->status = OUTBOX_DELIVERED;
            json_t *ck = json_object_get(j, "checksum");
            if (json_is_string(ck))
                snprintf(res->remote_ref, sizeof res->remote_ref, "%s", json_string_value(ck));
        } else if (r.status == 422) {
            json_t *errs = portal_errors(j);
            if (is_duplicate_rx(j, errs)) {
                /* Sent before, its answer lost: the portal has it. */
                res->status = OUTBOX_DELIVERED;
                snprintf(res->remote_ref, sizeof res->remote_ref, "already-received");
                json_decref(errs);
            } else {
                res->status = OUTBOX_REJECTED;
                res->errors = errs;
                snprintf(res->error, sizeof res->error, "refused by the national prescription portal (%zu error(s))",
                         json_array_size(errs));
            }
        } else if (r.status == 0 || r.status >= 500 || r.status == 429 || r.status == 408 || r.status == 401) {
            transient(res, &r, "gui-don-thuoc");
        } else {
            res->status = OUTBOX_REJECTED;
            res->errors = portal_errors(j);
            snprintf(res->error, sizeof res->error, "gui-don-thuoc: HTTP %ld", r.status);
        }
        return;
    }
}

char *portal_fetch_prescription(struct app *app, long long facility_id, const char *code, int *http_status, char *err,
                                size_t errlen)
{
    *http_status = 0;
    const char *base = cfg_url(app, CFG_RX_PORTAL_URL);
    if (!base) {
        snprintf(err, errlen, "HIS_RX_PORTAL_URL is not set");
        return NULL;
    }
    arena_t *a = arena_new(4096);
    struct account acc;
    char *out = NULL;
    if (!load_account(app, a, "rx-lookup", facility_id, 0, &acc)) {
        snprintf(err, errlen, "no app-name/app-key for the portal look-up");
        arena_free(a);
        return NULL;
    }
    char *ecode = curl_easy_escape(NULL, code, 0);
    struct curl_slist *h = curl_slist_append(NULL, arena_printf(a, "app-name: %s", acc.login));
    h = curl_slist_append(h, arena_printf(a, "app-key: %s", acc.secret));
    struct resp r;
    http_call("GET", url_join(a, base, arena_printf(a, "/api/v1/thong-tin-don-thuoc/%s", ecode)), h, NULL, &r);
    curl_slist_free_all(h);
    curl_free(ecode);
    *http_status = (int)r.status;
    if (r.status == 200 && r.body) {
        out = r.body;
        r.body = NULL;
    } else if (r.status) {
        snprintf(err, errlen, "thong-tin-don-thuoc: HTTP %ld", r.status);
    } else {
        snprintf(err, errlen, "thong-tin-don-thuoc: %s", r.err);
    }
    free(r.body);
    arena_free(a);
    return out;
}

/* ---- pharmacy portal ------------------------------------------------------------------ */

static void deliver_pharmacy(struct app *app, const struct outbox_msg *m, arena_t *a, struct outbox_result *res)
{
    const char *base = cfg_url(app, CFG_PHARMACY_PORTAL_URL);
    struct account acc;
    if (!base) {
        res->status = OUTBOX_UNCONFIGURED;
        snprintf(res->error, sizeof res->error, "HIS_PHARMACY_PORTAL_URL is not set");
        return;
    }
    const char *path = !strcmp(m->kind, "hoa_don") ? "/api/lien_thong/hoa_don"
                       : !strcmp(m->kind, "phieu_nhap") ? "/api/lien_thong/phieu_nhap" : NULL;
    if (!path) {
        res->status = OUTBOX_REJECTED;
        snprintf(res->error, sizeof res->error, "unknown message kind %s", m->kind);
        return;
    }
    if (!load_account(app, a, "pharmacy", m->facility_id, 0, &acc)) {
        res->status = OUTBOX_UNCONFIGURED;
        snprintf(res->error, sizeof res->error, "no pharmacy portal account for the facility");
        return;
    }
    const char *tkey = arena_printf(a, "ph|%s|%s", base, acc.login);
    for (int round = 0; round < 2; round++) {
        char token[600];
        if (!token_get(tkey, token, sizeof token)) {
            json_t *lb = json_object();
            json_set_str(lb, "usr", acc.login);
            json_set_str(lb, "pwd", acc.secret);
            enum login_result lr = login(a, base, "/api/tai_khoan/dang_nhap", lb, true, token, sizeof token,
                                         res->error, sizeof res->error);
            json_decref(lb);
            if (lr != LOGIN_OK) {
                res->status = lr == LOGIN_REFUSED ? OUTBOX_UNCONFIGURED : OUTBOX_RETRY;
                return;
            }
            token_put(tkey, token);
        }
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        h = curl_slist_append(h, arena_printf(a, "Authorization: bearer %s", token));
        struct resp r;
        http_call("POST", url_join(a, base, path), h, m->payload, &r);
        curl_slist_free_all(h);
        arena_defer(a, free, r.body);
        if (r.status == 401 && round == 0) {
            token_drop(tkey);
            continue;
        }
        json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
        if (j)
            arena_defer(a, (void (*)(void *))json_decref, j);
        json_t *ref = json_object_get(j, !strcmp(m->kind, "hoa_don") ? "ma_hoa_don_quoc_gia" : "ma_phieu_nhap_quoc_gia");
        if (r.status == 200 || r.status == 409) {
            res->status = OUTBOX_DELIVERED;
            if (json_is_string(ref))
                snprintf(res->remote_ref, sizeof res->remote_ref, "%s", json_string_value(ref));
        } else if (r.status == 422) {
            json_t *errs = portal_errors(j);
            if (has_error_code(errs, "KHONG_TIM_THAY_DON_THUOC")) {
                /* Our prescription may still be on its way to the national
                 * system (its own queue): wait for it. */
                json_decref(errs);
                res->status = OUTBOX_RETRY;
                snprintf(res->error, sizeof res->error, "the prescription is not at the portal yet");
            } else {
                res->status = OUTBOX_REJECTED;
                res->errors = errs;
                snprintf(res->error, sizeof res->error, "refused by the pharmacy portal (%zu error(s))",
                         json_array_size(errs));
            }
        } else if (r.status == 0 || r.status >= 500 || r.status == 429 || r.status == 408 || r.status == 401) {
            transient(res, &r, m->kind);
        } else {
            res->status = OUTBOX_REJECTED;
            res->errors = portal_errors(j);
            snprintf(res->error, sizeof res->error, "%s: HTTP %ld", m->kind, r.status);
        }
        return;
    }
}

void portal_register_targets(void)
{
    static bool done;
    if (!done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        done = true;
    }
    outbox_register_target("prescription-portal", deliver_rx, false);
    outbox_set_configured_fn("prescription-portal", portal_rx_configured);
    outbox_register_target("pharmacy-portal", deliver_pharmacy, false);
    outbox_set_configured_fn("pharmacy-portal", portal_pharmacy_configured);
}
