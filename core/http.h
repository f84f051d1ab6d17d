/* HTTP core on libmicrohttpd: a router by method and path pattern, one arena
 * per request, JSON in and out, RFC 9457 problem+json errors naming the field
 * at fault, request ids and an access log without patient data.
 *
 * Handler convention: a handler receives the request, does its work and
 * replies exactly once through one of the http_reply_* / http_problem*
 * functions. Returning without a reply is answered with 500. */
#ifndef CORE_HTTP_H
#define CORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "core/arena.h"

struct MHD_Connection;
struct auth_user;
struct app;

#define HTTP_MAX_PARAMS 6
#define HTTP_BODY_MAX (1024 * 1024)

/* Role bits for route permission masks. */
enum {
    ROLE_DOCTOR = 1 << 0,
    ROLE_NURSE = 1 << 1,
    ROLE_PHARMACIST = 1 << 2,
    ROLE_COMMUNE_WORKER = 1 << 3,
    ROLE_CLAIMS_OFFICER = 1 << 4,
    ROLE_HEALTH_DEPARTMENT = 1 << 5,
    ROLE_ADMIN = 1 << 6,
    ROLE_ANY = 0x7f,
};

/* Route flags. */
enum {
    ROUTE_PUBLIC = 1 << 0,    /* no session needed */
    ROUTE_NO_CSRF = 1 << 1,   /* state-changing but exempt from CSRF (login) */
};

typedef struct http_req {
    arena_t *arena;
    struct MHD_Connection *conn;
    struct app *app;
    const char *method;
    const char *path;
    const char *params[HTTP_MAX_PARAMS]; /* path parameters in pattern order */
    const char *param_names[HTTP_MAX_PARAMS];
    int nparams;
    char *body;
    size_t body_len;
    size_t body_cap;
    bool body_too_large;
    char request_id[24];
    const char *lang; /* "vi" or "en" */
    struct auth_user *user; /* NULL for anonymous */
    bool via_cookie;

    /* reply */
    int status;
    char *reply_body;
    size_t reply_len;
    const char *content_type;
    int nheaders;
    const char *header_names[8];
    const char *header_values[8];
    bool replied;
    /* set by handlers for the access log: never patient data */
    const char *log_note;
    bool tls; /* the connection is HTTPS */
} http_req_t;

typedef void (*http_handler_fn)(http_req_t *req);

struct http_route_def {
    const char *method;
    const char *pattern; /* "/api/v1/patients/{id}" */
    http_handler_fn fn;
    unsigned roles;  /* ROLE_* mask; ignored for ROUTE_PUBLIC */
    unsigned flags;  /* ROUTE_* */
};

void http_route(const char *method, const char *pattern, http_handler_fn fn, unsigned roles, unsigned flags);
void http_routes_clear(void);
/* Exposed for tests: finds the route for a method and path, filling params. */
const struct http_route_def *http_match(const char *method, const char *path, http_req_t *req, bool *method_mismatch);
size_t http_route_count(void);
const struct http_route_def *http_route_at(size_t i);

typedef struct http_server http_server_t;
struct http_server_opts {
    const char *listen;     /* HOST:PORT */
    int threads;
    const char *web_dir;    /* static files, may be NULL */
    struct app *app;
    /* HTTPS: PEM files of the certificate (chain) and private key; both or
     * neither. TLS 1.2 and 1.3 with AEAD ciphers only; HSTS on replies. */
    const char *tls_cert_file;
    const char *tls_key_file;
};
http_server_t *http_server_start(const struct http_server_opts *o, char *err, size_t errlen);
void http_server_stop(http_server_t *s);
int http_server_port(const http_server_t *s);

/* Request helpers */
const char *http_header(http_req_t *req, const char *name);
const char *http_query(http_req_t *req, const char *name);
const char *http_cookie(http_req_t *req, const char *name);
const char *http_param(http_req_t *req, const char *name);
/* The peer's numeric address ("127.0.0.1", "::1"), or "" when unknown. */
const char *http_client_address(http_req_t *req);
/* Parses the body as a JSON object; on failure replies 400/415 and returns NULL. */
json_t *http_json_body(http_req_t *req);
/* Vietnamese or English text by the request's language. */
const char *http_t(http_req_t *req, const char *vi, const char *en);

/* Replies */
void http_add_header(http_req_t *req, const char *name, const char *value);
void http_reply_json(http_req_t *req, int status, json_t *body); /* steals body */
void http_reply_raw(http_req_t *req, int status, const char *content_type, const char *body, size_t len);
void http_problem(http_req_t *req, int status, const char *title, const char *detail);
/* errors: JSON array of {field, message}; stolen */
void http_problem_fields(http_req_t *req, int status, const char *title, json_t *errors);
void http_problem_field(http_req_t *req, int status, const char *field, const char *message);

/* Field error collection for validation: add as you check, reply once. */
typedef struct verr {
    json_t *list;
} verr_t;
void verr_init(verr_t *v);
void verr_add(verr_t *v, const char *field, const char *message);
bool verr_any(const verr_t *v);
/* Replies 422 with the collected errors (and releases them). */
void verr_reply(http_req_t *req, verr_t *v);
void verr_free(verr_t *v);

/* JSON helpers that tolerate absence: return NULL/def when the member is
 * missing, add a field error when present with the wrong type. */
const char *json_str_field(json_t *obj, const char *key, const char *field, bool required, size_t maxlen,
                           verr_t *v, http_req_t *req);
bool json_int_field(json_t *obj, const char *key, const char *field, bool required, long long min, long long max,
                    long long *out, verr_t *v, http_req_t *req);
/* Adds s to obj under key, or JSON null when s is NULL. */
void json_set_str(json_t *obj, const char *key, const char *s);

#endif
