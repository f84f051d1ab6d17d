#include "core/http.h"
#include "core/metrics.h"
#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUTES 256
#define MAX_SEGMENTS 12

struct http_server {
    struct MHD_Daemon *daemon;
    char *web_dir;
    struct app *app;
    int port;
    bool tls;
    char *tls_cert; /* PEM text, kept while the daemon runs */
    char *tls_key;
    size_t tls_key_len;
};

/* TLS 1.2 and 1.3 only, AEAD ciphers only (GnuTLS priority string). */
#define HTTP_TLS_PRIORITIES \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:%SERVER_PRECEDENCE"
#define HTTP_HSTS "max-age=31536000"


static struct http_route_def routes[MAX_ROUTES];
static size_t nroutes;
static int (*auth_hook)(http_req_t *req);

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version, const char *upload_data,
                                      size_t *upload_data_size, void **con_cls);
static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe);
static void dispatch(struct http_server *srv, http_req_t *req);
static enum MHD_Result send_reply(http_req_t *req);
static void serve_static(struct http_server *srv, http_req_t *req);
static unsigned role_bit(const char *role);
static double now_ms(void);

/* ---- routing ---------------------------------------------------------- */

void http_route(const char *method, const char *pattern, http_handler_fn fn, unsigned roles, unsigned flags)
{
    if (nroutes >= MAX_ROUTES) {
        log_error("too many routes");
        abort();
    }
    routes[nroutes++] = (struct http_route_def){method, pattern, fn, roles, flags};
}

void http_routes_clear(void)
{
    nroutes = 0;
}

size_t http_route_count(void)
{
    return nroutes;
}

const struct http_route_def *http_route_at(size_t i)
{
    return i < nroutes ? &routes[i] : NULL;
}

void http_set_auth_hook(int (*fn)(http_req_t *req));
void http_set_auth_hook(int (*fn)(http_req_t *req))
{
    auth_hook = fn;
}

/* Matches path segment by segment; "{name}" captures one non-empty segment. */
static bool match_pattern(const char *pattern, const char *path, http_req_t *req)
{
    int np = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close)
                return false;
            const char *seg_end = strchr(s, '/');
            size_t len = seg_end ? (size_t)(seg_end - s) : strlen(s);
            if (len == 0 || np >= HTTP_MAX_PARAMS)
                return false;
            if (req) {
                req->params[np] = arena_strndup(req->arena, s, len);
                req->param_names[np] = arena_strndup(req->arena, p + 1, (size_t)(close - p - 1));
            }
            np++;
            p = close + 1;
            s += len;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    if (*p || *s)
        return false;
    if (req)
        req->nparams = np;
    return true;
}

const struct http_route_def *http_match(const char *method, const char *path, http_req_t *req, bool *method_mismatch)
{
    *method_mismatch = false;
    for (size_t i = 0; i < nroutes; i++) {
        if (!match_pattern(routes[i].pattern, path, NULL))
            continue;
        if (strcmp(routes[i].method, method) != 0 &&
            !(strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0)) {
            *method_mismatch = true;
            continue;
        }
        if (req)
            match_pattern(routes[i].pattern, path, req);
        return &routes[i];
    }
    return NULL;
}

/* ---- request helpers -------------------------------------------------- */

const char *http_header(http_req_t *req, const char *name)
{
    return req->conn ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name) : NULL;
}

const char *http_query(http_req_t *req, const char *name)
{
    return req->conn ? MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name) : NULL;
}

const char *http_cookie(http_req_t *req, const char *name)
{
    return req->conn ? MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name) : NULL;
}

const char *http_param(http_req_t *req, const char *name)
{
    for (int i = 0; i < req->nparams; i++)
        if (strcmp(req->param_names[i], name) == 0)
            return req->params[i];
    return NULL;
}

const char *http_client_address(http_req_t *req)
{
    if (!req->conn)
        return "";
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return "";
    char host[NI_MAXHOST];
    socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo(ci->client_addr, len, host, sizeof host, NULL, 0, NI_NUMERICHOST) != 0)
        return "";
    return arena_strdup(req->arena, host);
}

const char *http_t(http_req_t *req, const char *vi, const char *en)
{
    return req->lang && strcmp(req->lang, "en") == 0 ? en : vi;
}

static void json_decref_cb(void *p)
{
    json_decref(p);
}

json_t *http_json_body(http_req_t *req)
{
    const char *ct = http_header(req, "Content-Type");
    /* "application/json" itself, with parameters at most: not a longer type
     * that starts the same ("application/jsonp", found by hostile.test.mjs). */
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ' && ct[16] != '\t')) {
        http_problem_field(req, 415, "body",
                           http_t(req, "Nội dung phải là JSON (Content-Type: application/json)",
                                  "the body must be JSON (Content-Type: application/json)"));
        return NULL;
    }
    if (req->body_len == 0) {
        http_problem_field(req, 400, "body", http_t(req, "Thiếu nội dung yêu cầu", "the request body is empty"));
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        char *msg = arena_printf(req->arena, "%s (%s %d, %s %d)",
                                 http_t(req, "JSON không hợp lệ", "malformed JSON"), http_t(req, "dòng", "line"),
                                 jerr.line, http_t(req, "cột", "column"), jerr.column);
        http_problem_field(req, 400, "body", msg);
        return NULL;
    }
    arena_defer(req->arena, json_decref_cb, j);
    if (!json_is_object(j)) {
        http_problem_field(req, 400, "body", http_t(req, "Nội dung phải là một đối tượng JSON", "the body must be a JSON object"));
        return NULL;
    }
    return j;
}

/* ---- replies ---------------------------------------------------------- */

void http_add_header(http_req_t *req, const char *name, const char *value)
{
    if (req->nheaders >= 8)
        return;
    req->header_names[req->nheaders] = name;
    req->header_values[req->nheaders] = arena_strdup(req->arena, value);
    req->nheaders++;
}

void http_reply_raw(http_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    if (req->replied) {
        log_error("handler replied twice (request %s)", req->request_id);
        return;
    }
    req->replied = true;
    req->status = status;
    req->content_type = content_type;
    req->reply_body = arena_strndup(req->arena, body ? body : "", len);
    req->reply_len = len;
}

void http_reply_json(http_req_t *req, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s) {
        http_problem(req, 500, "Internal error", "could not encode the reply");
        return;
    }
    http_reply_raw(req, status, "application/json; charset=utf-8", s, strlen(s));
    free(s);
}

static const char *status_title(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
    }
}

void http_problem_fields(http_req_t *req, int status, const char *title, json_t *errors)
{
    json_t *p = json_object();
    json_object_set_new(p, "type", json_string("about:blank"));
    json_object_set_new(p, "title", json_string(title ? title : status_title(status)));
    json_object_set_new(p, "status", json_integer(status));
    if (req->path)
        json_object_set_new(p, "instance", json_string(req->path));
    json_object_set_new(p, "request_id", json_string(req->request_id));
    json_object_set_new(p, "errors", errors ? errors : json_array());
    char *s = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    http_reply_raw(req, status, "application/problem+json; charset=utf-8", s, strlen(s));
    free(s);
}

void http_problem(http_req_t *req, int status, const char *title, const char *detail)
{
    json_t *errs = json_array();
    if (detail) {
        json_t *e = json_object();
        json_object_set_new(e, "field", json_null());
        json_object_set_new(e, "message", json_string(detail));
        json_array_append_new(errs, e);
    }
    http_problem_fields(req, status, title, errs);
    /* Problem documents carry the detail as well, for clients that read it. */
    if (detail && req->reply_body) {
        json_t *p = json_loadb(req->reply_body, req->reply_len, 0, NULL);
        if (p) {
            json_object_set_new(p, "detail", json_string(detail));
            char *s = json_dumps(p, JSON_COMPACT);
            json_decref(p);
            req->reply_body = arena_strdup(req->arena, s);
            req->reply_len = strlen(s);
            free(s);
        }
    }
}

void http_problem_field(http_req_t *req, int status, const char *field, const char *message)
{
    json_t *errs = json_array();
    json_t *e = json_object();
    json_object_set_new(e, "field", field ? json_string(field) : json_null());
    json_object_set_new(e, "message", json_string(message));
    json_array_append_new(errs, e);
    http_problem_fields(req, status, NULL, errs);
}

void verr_init(verr_t *v)
{
    v->list = json_array();
}

void verr_add(verr_t *v, const char *field, const char *message)
{
    json_t *e = json_object();
    json_object_set_new(e, "field", json_string(field));
    json_object_set_new(e, "message", json_string(message));
    json_array_append_new(v->list, e);
}

bool verr_any(const verr_t *v)
{
    return json_array_size(v->list) > 0;
}

void verr_reply(http_req_t *req, verr_t *v)
{
    http_problem_fields(req, 422, http_t(req, "Dữ liệu không hợp lệ", "Invalid data"), v->list);
    v->list = NULL;
}

void verr_free(verr_t *v)
{
    json_decref(v->list);
    v->list = NULL;
}

void json_set_str(json_t *obj, const char *key, const char *s)
{
    json_object_set_new(obj, key, s ? json_string(s) : json_null());
}

const char *json_str_field(json_t *obj, const char *key, const char *field, bool required, size_t maxlen,
                           verr_t *v, http_req_t *req)
{
    json_t *j = json_object_get(obj, key);
    if (!j || json_is_null(j)) {
        if (required)
            verr_add(v, field, http_t(req, "Bắt buộc", "required"));
        return NULL;
    }
    if (!json_is_string(j)) {
        verr_add(v, field, http_t(req, "Phải là chuỗi ký tự", "must be a string"));
        return NULL;
    }
    const char *s = json_string_value(j);
    if (json_string_length(j) != strlen(s)) {
        verr_add(v, field, http_t(req, "Chứa ký tự NUL", "contains a NUL character"));
        return NULL;
    }
    if (maxlen && json_string_length(j) > maxlen) {
        verr_add(v, field, arena_printf(req->arena, "%s %zu", http_t(req, "Dài quá, tối đa", "too long, at most"), maxlen));
        return NULL;
    }
    if (required && *s == '\0') {
        verr_add(v, field, http_t(req, "Bắt buộc", "required"));
        return NULL;
    }
    return s;
}

bool json_int_field(json_t *obj, const char *key, const char *field, bool required, long long min, long long max,
                    long long *out, verr_t *v, http_req_t *req)
{
    json_t *j = json_object_get(obj, key);
    if (!j || json_is_null(j)) {
        if (required)
            verr_add(v, field, http_t(req, "Bắt buộc", "required"));
        return false;
    }
    if (!json_is_integer(j)) {
        verr_add(v, field, http_t(req, "Phải là số nguyên", "must be an integer"));
        return false;
    }
    long long n = json_integer_value(j);
    if (n < min || n > max) {
        verr_add(v, field, arena_printf(req->arena, "%s %lld..%lld", http_t(req, "Ngoài khoảng", "out of range"), min, max));
        return false;
    }
    *out = n;
    return true;
}

/* ---- server ----------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

struct req_state {
    http_req_t req;
    double started;
};

static void new_request_id(char out[24])
{
    unsigned char b[8];
    if (RAND_bytes(b, sizeof b) != 1)
        memset(b, 0, sizeof b);
    for (int i = 0; i < 8; i++)
        snprintf(out + i * 2, 3, "%02x", b[i]);
}

static const char *pick_lang(http_req_t *req)
{
    const char *c = http_cookie(req, "his_lang");
    if (c && strcmp(c, "en") == 0)
        return "en";
    if (c && strcmp(c, "vi") == 0)
        return "vi";
    const char *al = http_header(req, "Accept-Language");
    if (al && strncasecmp(al, "en", 2) == 0)
        return "en";
    return "vi";
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version, const char *upload_data,
                                      size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof(*st));
        st->started = now_ms();
        http_req_t *req = &st->req;
        req->arena = arena_new(8192);
        req->conn = conn;
        req->app = srv->app;
        req->method = arena_strdup(req->arena, method);
        req->path = arena_strdup(req->arena, url);
        req->tls = srv->tls;
        new_request_id(req->request_id);
        req->lang = pick_lang(req);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (*end || n > HTTP_BODY_MAX)
                req->body_too_large = true;
        }
        *con_cls = st;
        return MHD_YES;
    }
    http_req_t *req = &st->req;
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->body_too_large || req->body_len + n > HTTP_BODY_MAX) {
            req->body_too_large = true; /* keep reading and discarding; answer 413 at the end */
            return MHD_YES;
        }
        if (req->body_len + n + 1 > req->body_cap) {
            size_t cap = req->body_cap ? req->body_cap : 1024;
            while (cap < req->body_len + n + 1)
                cap *= 2;
            char *nb = arena_alloc(req->arena, cap);
            if (req->body_len)
                memcpy(nb, req->body, req->body_len);
            req->body = nb;
            req->body_cap = cap;
        }
        memcpy(req->body + req->body_len, upload_data, n);
        req->body_len += n;
        req->body[req->body_len] = '\0';
        return MHD_YES;
    }
    if (req->replied) /* already queued */
        return MHD_YES;
    if (req->body_too_large) {
        http_problem_field(req, 413, "body",
                           http_t(req, "Nội dung yêu cầu quá lớn (tối đa 1 MiB)", "request body too large (at most 1 MiB)"));
    } else {
        dispatch(srv, req);
    }
    return send_reply(req);
}

static unsigned role_bit(const char *role)
{
    static const char *names[] = {"doctor", "nurse", "pharmacist", "commune_worker", "claims_officer",
                                  "health_department", "admin"};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
        if (role && strcmp(role, names[i]) == 0)
            return 1u << i;
    return 0;
}

unsigned http_role_bit(const char *role);
unsigned http_role_bit(const char *role)
{
    return role_bit(role);
}

/* struct auth_user is defined by the auth module; http only needs its role
 * and CSRF token, reached through these accessors to keep the layers apart. */
const char *auth_user_role(const struct auth_user *u);
const char *auth_user_csrf(const struct auth_user *u);

static void dispatch(struct http_server *srv, http_req_t *req)
{
    if (strncmp(req->path, "/api/", 5) != 0 && strcmp(req->path, "/healthz") != 0 &&
        strcmp(req->path, "/readyz") != 0 && strcmp(req->path, "/metrics") != 0) {
        serve_static(srv, req);
        return;
    }
    bool method_mismatch;
    const struct http_route_def *r = http_match(req->method, req->path, req, &method_mismatch);
    if (!r) {
        if (method_mismatch)
            http_problem(req, 405, NULL, http_t(req, "Phương thức không được hỗ trợ", "method not allowed"));
        else
            http_problem(req, 404, NULL, http_t(req, "Không tìm thấy", "not found"));
        return;
    }
    if (!(r->flags & ROUTE_PUBLIC)) {
        if (!auth_hook || auth_hook(req) != 0) {
            if (!req->replied)
                http_problem(req, 401, NULL, http_t(req, "Cần đăng nhập", "authentication required"));
            return;
        }
        if (!(role_bit(auth_user_role(req->user)) & r->roles)) {
            http_problem(req, 403, NULL, http_t(req, "Vai trò của bạn không được phép", "your role is not allowed"));
            return;
        }
        bool safe = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
        if (req->via_cookie && !safe && !(r->flags & ROUTE_NO_CSRF)) {
            const char *sent = http_header(req, "X-CSRF-Token");
            const char *want = auth_user_csrf(req->user);
            if (!sent || !want || strlen(sent) != strlen(want) || CRYPTO_memcmp(sent, want, strlen(want)) != 0) {
                http_problem_field(req, 403, "X-CSRF-Token", http_t(req, "Thiếu hoặc sai mã CSRF", "missing or wrong CSRF token"));
                return;
            }
        }
    }
    r->fn(req);
    if (!req->replied) {
        log_error("handler %s %s did not reply", r->method, r->pattern);
        http_problem(req, 500, NULL, http_t(req, "Lỗi hệ thống", "internal error"));
    }
    req->log_note = r->pattern;
}

static const char *content_type_for(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot)
        return "application/octet-stream";
    if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
    if (!strcmp(dot, ".js") || !strcmp(dot, ".mjs")) return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
    if (!strcmp(dot, ".json")) return "application/json; charset=utf-8";
    if (!strcmp(dot, ".svg")) return "image/svg+xml";
    if (!strcmp(dot, ".png")) return "image/png";
    if (!strcmp(dot, ".ico")) return "image/x-icon";
    if (!strcmp(dot, ".woff2")) return "font/woff2";
    return "application/octet-stream";
}

static void serve_static(struct http_server *srv, http_req_t *req)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        http_problem(req, 405, NULL, http_t(req, "Phương thức không được hỗ trợ", "method not allowed"));
        return;
    }
    if (!srv->web_dir) {
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy", "not found"));
        return;
    }
    const char *p = req->path;
    /* Only plain names: no "..", no hidden files, no backslashes, bounded. */
    if (strlen(p) > 256 || strstr(p, "..") || strstr(p, "/.") || strchr(p, '\\')) {
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy", "not found"));
        return;
    }
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20) {
            http_problem(req, 404, NULL, http_t(req, "Không tìm thấy", "not found"));
            return;
        }
    const char *rel = strcmp(p, "/") == 0 ? "/index.html" : p;
    char *full = arena_printf(req->arena, "%s%s", srv->web_dir, rel);
    struct stat sb;
    if (stat(full, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        /* Single-page app: unknown paths without an extension get the shell. */
        if (!strchr(strrchr(rel, '/'), '.')) {
            full = arena_printf(req->arena, "%s/index.html", srv->web_dir);
            rel = "/index.html";
            if (stat(full, &sb) != 0) {
                http_problem(req, 404, NULL, http_t(req, "Không tìm thấy", "not found"));
                return;
            }
        } else {
            http_problem(req, 404, NULL, http_t(req, "Không tìm thấy", "not found"));
            return;
        }
    }
    if (sb.st_size > 16 * 1024 * 1024) {
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy", "not found"));
        return;
    }
    FILE *f = fopen(full, "rb");
    if (!f) {
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy", "not found"));
        return;
    }
    char *buf = arena_alloc(req->arena, (size_t)sb.st_size + 1);
    size_t n = fread(buf, 1, (size_t)sb.st_size, f);
    fclose(f);
    req->replied = true;
    req->status = 200;
    req->content_type = content_type_for(rel);
    req->reply_body = buf;
    req->reply_len = n;
    http_add_header(req, "Cache-Control", strcmp(rel, "/index.html") == 0 ? "no-cache" : "max-age=300");
    req->log_note = "static";
}

static enum MHD_Result send_reply(http_req_t *req)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(req->reply_len, req->reply_body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", req->content_type ? req->content_type : "text/plain");
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    if (req->tls)
        MHD_add_response_header(resp, "Strict-Transport-Security", HTTP_HSTS);
    if (strncmp(req->path, "/api/", 5) == 0)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    for (int i = 0; i < req->nheaders; i++)
        MHD_add_response_header(resp, req->header_names[i], req->header_values[i]);
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)req->status, resp);
    MHD_destroy_response(resp);
    return r;
}

long long auth_user_id_for_log(const struct auth_user *u);

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct req_state *st = *con_cls;
    if (!st)
        return;
    http_req_t *req = &st->req;
    metrics_http_request(req->method, req->log_note, req->status, now_ms() - st->started);
    /* Access log: method, route pattern (not the raw path, never the query
     * string or body, which may carry names), status, time, user id. */
    if (req->status && req->log_note && strcmp(req->log_note, "static") != 0)
        log_info("http %s %s %d %.1fms req=%s user=%lld", req->method, req->log_note, req->status,
                 now_ms() - st->started, req->request_id, req->user ? auth_user_id_for_log(req->user) : 0LL);
    else if (req->status >= 400)
        log_info("http %s - %d %.1fms req=%s", req->method, req->status, now_ms() - st->started, req->request_id);
    arena_free(req->arena);
    free(st);
    *con_cls = NULL;
}

static void free_server(struct http_server *srv)
{
    free(srv->web_dir);
    free(srv->tls_cert);
    if (srv->tls_key) {
        OPENSSL_cleanse(srv->tls_key, srv->tls_key_len);
        free(srv->tls_key);
    }
    free(srv);
}

static char *read_pem(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(256 * 1024 + 1);
    size_t n = fread(buf, 1, 256 * 1024 + 1, f);
    fclose(f);
    if (n == 0 || n > 256 * 1024 || !strstr(buf, "-----BEGIN ")) {
        snprintf(err, errlen, "%s is not a PEM file (or larger than 256 KiB)", path);
        OPENSSL_cleanse(buf, n);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int load_tls(struct http_server *srv, const struct http_server_opts *o, char *err, size_t errlen)
{
    if (!o->tls_cert_file || !*o->tls_cert_file || !o->tls_key_file || !*o->tls_key_file) {
        snprintf(err, errlen, "HTTPS needs both --tls-cert and --tls-key");
        return -1;
    }
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        snprintf(err, errlen, "this libmicrohttpd is built without TLS support");
        return -1;
    }
    size_t n;
    if (!(srv->tls_cert = read_pem(o->tls_cert_file, &n, err, errlen)))
        return -1;
    if (!(srv->tls_key = read_pem(o->tls_key_file, &srv->tls_key_len, err, errlen)))
        return -1;
    srv->tls = true;
    return 0;
}

static int parse_listen(const char *listen, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return -1;
    size_t hl = (size_t)(colon - listen);
    if (hl >= hostlen || strlen(colon + 1) >= portlen || strlen(colon + 1) == 0)
        return -1;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    snprintf(port, portlen, "%s", colon + 1);
    return 0;
}

http_server_t *http_server_start(const struct http_server_opts *o, char *err, size_t errlen)
{
    char host[256], port[16];
    if (parse_listen(o->listen, host, sizeof host, port, sizeof port) < 0) {
        snprintf(err, errlen, "listen address must be HOST:PORT, got '%s'", o->listen);
        return NULL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", o->listen, gai_strerror(gai));
        return NULL;
    }
    struct http_server *srv = calloc(1, sizeof(*srv));
    srv->app = o->app;
    if (o->web_dir)
        srv->web_dir = strdup(o->web_dir);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if ((o->tls_cert_file && *o->tls_cert_file) || (o->tls_key_file && *o->tls_key_file)) {
        if (load_tls(srv, o, err, errlen) < 0) {
            freeaddrinfo(ai);
            free_server(srv);
            return NULL;
        }
        flags |= MHD_USE_TLS;
    }
    int threads = o->threads > 0 ? o->threads : 8;
    /* MHD ignores an option's value when TLS is off, but refuses the HTTPS
     * options on a plain daemon: pass them only for TLS. */
    struct MHD_OptionItem tls_opts[] = {
        {srv->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, srv->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTP_TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, &access_handler, srv, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, &request_completed, srv,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)4000, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)0,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!srv->daemon) {
        if (srv->tls)
            snprintf(err, errlen, "cannot listen on %s (address in use, not permitted, or the TLS certificate and key "
                     "were refused: do they match?)", o->listen);
        else
            snprintf(err, errlen, "cannot listen on %s (address in use or not permitted)", o->listen);
        free_server(srv);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : atoi(port);
    return srv;
}

int http_server_port(const http_server_t *s)
{
    return s->port;
}

void http_server_stop(http_server_t *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    free_server(s);
}
