/* fuzz_router.c -- libFuzzer target: every route's request handling in
 * process, without a network or a database.
 *
 * Input: byte 0 picks a route from the registered table (index modulo the
 * number of routes), byte 1 picks the role of the caller among the route's
 * roles, the language and the value put in the path parameters; the rest up
 * to the first '\n' is the query string (k=v&k=v, no decoding), everything
 * after it the request body, sent as application/json unless byte 1 says
 * otherwise. The handler runs as dispatch() would run it after the session
 * and CSRF checks. The app's pools point at a socket that does not exist, so
 * every handler stops with 503 where it would first touch the database,
 * after parsing and validating the body and the query.
 *
 * Promises checked with abort(): the handler replies exactly once, never
 * with 500, and a problem reply is valid JSON. Build and run: make
 * fuzz-smoke (tests/fuzz/local.mk). */
#include "core/app.h"
#include "core/auth.h"
#include "core/config.h"
#include "core/db.h"
#include "core/http.h"
#include "core/log.h"
#include "his/his.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(c, ...) do { if (!(c)) { \
        fprintf(stderr, "fuzz_router: check failed: %s: ", #c); \
        fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); abort(); } } while (0)

/* The request's headers and query, read by http_header/http_query through
 * MHD_lookup_connection_value (and MHD_get_connection_info below): these
 * definitions in the executable takes the
 * place of libmicrohttpd's for the code linked here. A handler calling any
 * other MHD function on req->conn needs a stand-in here too. */
#define MAXQ 16
static struct fake_conn {
    const char *content_type;
    const char *lang;
    const char *if_match;
    const char *idem_key;
    int nq;
    const char *qk[MAXQ], *qv[MAXQ];
} fc;

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                        const char *key)
{
    (void)connection;
    if (kind == MHD_HEADER_KIND) {
        if (!strcasecmp(key, "Content-Type"))
            return fc.content_type;
        if (!strcasecmp(key, "Accept-Language"))
            return fc.lang;
        if (!strcasecmp(key, "If-Match"))
            return fc.if_match;
        if (!strcasecmp(key, "Idempotency-Key"))
            return fc.idem_key;
        return NULL;
    }
    if (kind == MHD_GET_ARGUMENT_KIND) {
        for (int i = fc.nq - 1; i >= 0; i--)
            if (!strcmp(fc.qk[i], key))
                return fc.qv[i];
        return NULL;
    }
    return NULL;
}

/* The client's address (a documentation address, not loopback); any other
 * connection information is absent. */
const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *connection,
                                                        enum MHD_ConnectionInfoType info_type, ...)
{
    static struct sockaddr_in sin;
    static union MHD_ConnectionInfo ci;
    (void)connection;
    if (info_type != MHD_CONNECTION_INFO_CLIENT_ADDRESS)
        return NULL;
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(0xC0000201); /* 192.0.2.1 */
    ci.client_addr = (struct sockaddr *)&sin;
    return &ci;
}

static struct config cfg;
static struct app app;
static const char *const role_names[] = {"doctor", "nurse", "pharmacist", "commune_worker", "claims_officer",
                                         "health_department", "admin"};
static const char *const param_values[] = {"1", "0", "-1", "abc", "99999999999999999999", "2026-01",
                                           "A00", "01894", "%27%3B", "1e3", "19010", "x"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR);
    char err[256];
    /* A unix socket in a folder that does not exist: refused at once. */
    setenv("HIS_DATABASE_URL", "host=/nonexistent/his-fuzz port=1 dbname=none", 1);
    config_load(&cfg, NULL, err, sizeof err);
    app.cfg = &cfg;
    app.db = db_pool_new("host=/nonexistent/his-fuzz port=1 dbname=none", 2, "his_app");
    app.sysdb = db_pool_new("host=/nonexistent/his-fuzz port=1 dbname=none", 2, NULL);
    app.session_hours = 10;
    his_register_routes();
    if (getenv("HIS_FUZZ_LIST_ROUTES")) {
        for (size_t i = 0; i < http_route_count(); i++)
            printf("%zu %s %s\n", i, http_route_at(i)->method, http_route_at(i)->pattern);
        exit(0);
    }
    return 0;
}

/* The pattern with each {name} replaced by val. */
static char *fill_path(arena_t *a, const char *pattern, const char *val)
{
    size_t cap = strlen(pattern) * 2 + 256, n = 0;
    char *out = arena_alloc(a, cap);
    for (const char *p = pattern; *p && n + strlen(val) + 2 < cap;) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close)
                break;
            n += (size_t)snprintf(out + n, cap - n, "%s", val);
            p = close + 1;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nr = http_route_count();
    if (size < 2 || nr == 0 || size > HTTP_BODY_MAX)
        return 0;
    const struct http_route_def *r = http_route_at(data[0] % nr);
    uint8_t b = data[1];
    const char *rest = (const char *)data + 2;
    size_t rlen = size - 2;
    const char *nl = memchr(rest, '\n', rlen);
    size_t qlen = nl ? (size_t)(nl - rest) : 0;

    http_req_t req;
    memset(&req, 0, sizeof req);
    req.arena = arena_new(8192);
    req.conn = (struct MHD_Connection *)&fc;
    req.app = &app;
    req.method = r->method;
    snprintf(req.request_id, sizeof req.request_id, "fuzz");
    req.lang = (b & 0x80) ? "en" : "vi";

    memset(&fc, 0, sizeof fc);
    fc.content_type = (b & 0x40) ? "text/plain" : "application/json; charset=utf-8";
    fc.lang = req.lang;
    fc.if_match = (b & 0x20) ? "\"1\"" : NULL;
    fc.idem_key = (b & 0x10) ? "fuzz-key-0001" : NULL;

    /* query string: k=v pairs split on '&', copied into the arena */
    if (qlen) {
        char *q = arena_strndup(req.arena, rest, qlen);
        for (char *save = NULL, *kv = strtok_r(q, "&", &save); kv && fc.nq < MAXQ; kv = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(kv, '=');
            if (eq)
                *eq++ = '\0';
            fc.qk[fc.nq] = kv;
            fc.qv[fc.nq] = eq ? eq : "";
            fc.nq++;
        }
    }
    /* body: everything after the first newline (the arena copy is
     * NUL-terminated, as access_handler leaves it) */
    if (nl) {
        size_t blen = rlen - qlen - 1;
        req.body = arena_alloc(req.arena, blen + 1);
        memcpy(req.body, nl + 1, blen);
        req.body[blen] = '\0';
        req.body_len = blen;
        req.body_cap = blen + 1;
    }

    const char *val = param_values[(b & 0x0f) % (sizeof param_values / sizeof *param_values)];
    req.path = fill_path(req.arena, r->pattern, val);
    bool mismatch;
    const struct http_route_def *m = http_match(r->method, req.path, &req, &mismatch);
    if (!m) { /* a parameter value that the pattern does not take */
        arena_free(req.arena);
        return 0;
    }

    struct auth_user user;
    memset(&user, 0, sizeof user);
    if (!(m->flags & ROUTE_PUBLIC)) {
        unsigned roles = m->roles ? m->roles : ROLE_ANY;
        int allowed[7], na = 0;
        for (int i = 0; i < 7; i++)
            if (roles & (1u << i))
                allowed[na++] = i;
        user.id = 1;
        user.username = "fuzz";
        user.full_name = "Fuzz";
        user.role = role_names[allowed[(b >> 4) % (na ? na : 1)]];
        user.facility_id = 19010;
        user.facility_code = "19010";
        user.facility_name = "Fuzz";
        user.facility_level = "district_hospital";
        user.province_code = "19";
        user.commune_code = "01894";
        user.csrf = "csrf";
        req.user = &user;
    }

    m->fn(&req);
    CHECK(req.replied, "%s %s did not reply", m->method, m->pattern);
    CHECK(req.status != 500, "%s %s replied 500: %.*s", m->method, m->pattern, (int)req.reply_len,
          req.reply_body ? req.reply_body : "");
    CHECK(req.status >= 200 && req.status < 600, "%s %s status %d", m->method, m->pattern, req.status);
    if (req.content_type && strstr(req.content_type, "json") && req.reply_len) {
        json_t *j = json_loadb(req.reply_body, req.reply_len, 0, NULL);
        CHECK(j != NULL, "%s %s replied invalid JSON", m->method, m->pattern);
        json_decref(j);
    }
    arena_free(req.arena);
    return 0;
}
