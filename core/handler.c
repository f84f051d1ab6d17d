#include "core/handler.h"
#include "core/log.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int req_tx_begin(http_req_t *req, db_tx_t *tx)
{
    struct db_scope scope;
    auth_scope(req, &scope);
    if (db_tx_begin(tx, req->app->db, req->arena, &scope) < 0) {
        http_add_header(req, "Retry-After", "5");
        http_problem(req, 503, NULL,
                     http_t(req, "Cơ sở dữ liệu tạm thời không truy cập được; vui lòng thử lại",
                            "the database is unavailable; please retry"));
        return -1;
    }
    return 0;
}

void req_tx_fail(http_req_t *req, db_tx_t *tx)
{
    db_tx_t copy = *tx;
    db_tx_rollback(tx);
    if (req->replied)
        return;
    if (db_is_connection_error(&copy)) {
        http_add_header(req, "Retry-After", "5");
        http_problem(req, 503, NULL, http_t(req, "Cơ sở dữ liệu tạm thời không truy cập được; vui lòng thử lại",
                                            "the database is unavailable; please retry"));
    } else if (db_is_unique_violation(&copy)) {
        http_problem(req, 409, NULL, http_t(req, "Bản ghi đã tồn tại", "the record exists already"));
    } else if (strncmp(copy.sqlstate, "23", 2) == 0) {
        http_problem(req, 422, NULL, http_t(req, "Dữ liệu vi phạm ràng buộc", "the data breaks a constraint"));
    } else if (strcmp(copy.sqlstate, "53100") == 0) {
        /* disk_full: the transaction was rolled back, nothing of it is kept. */
        log_error("request %s failed: the database's disk is full: %s", req->request_id, copy.error);
        http_add_header(req, "Retry-After", "60");
        http_problem(req, 507, "Insufficient Storage",
                     http_t(req, "Ổ đĩa của cơ sở dữ liệu đã đầy: dữ liệu chưa được lưu; vui lòng báo bộ phận CNTT",
                            "the database's disk is full: nothing was saved; please tell the IT staff"));
    } else if (strncmp(copy.sqlstate, "53", 2) == 0) {
        /* out of memory, too many connections: passing */
        http_add_header(req, "Retry-After", "5");
        http_problem(req, 503, NULL, http_t(req, "Cơ sở dữ liệu đang quá tải; vui lòng thử lại",
                                            "the database is short of resources; please retry"));
    } else if (strcmp(copy.sqlstate, "42501") == 0) {
        http_problem(req, 403, NULL, http_t(req, "Không có quyền", "not permitted"));
    } else if (strcmp(copy.sqlstate, "40001") == 0 || strcmp(copy.sqlstate, "40P01") == 0) {
        http_add_header(req, "Retry-After", "1");
        http_problem(req, 503, NULL, http_t(req, "Xung đột đồng thời; vui lòng thử lại", "concurrent update; please retry"));
    } else {
        log_error("request %s failed: %s %s", req->request_id, copy.sqlstate, copy.error);
        http_problem(req, 500, NULL, http_t(req, "Lỗi hệ thống", "internal error"));
    }
}

int req_tx_commit(http_req_t *req, db_tx_t *tx)
{
    if (tx->failed) {
        req_tx_fail(req, tx);
        return -1;
    }
    if (db_tx_commit(tx) < 0) {
        /* The reply prepared for success must not go out. */
        req->replied = false;
        req->nheaders = 0;
        req_tx_fail(req, tx);
        return -1;
    }
    return 0;
}

bool req_id_param(http_req_t *req, const char *name, long long *id)
{
    const char *s = http_param(req, name);
    char *end;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || *end || v <= 0 || strlen(s) > 18) {
        http_problem(req, 404, NULL, http_t(req, "Không tìm thấy", "not found"));
        return false;
    }
    *id = v;
    return true;
}

void req_set_etag(http_req_t *req, long long version)
{
    http_add_header(req, "ETag", arena_printf(req->arena, "\"%lld\"", version));
}

bool req_if_match(http_req_t *req, long long *version)
{
    const char *h = http_header(req, "If-Match");
    if (!h) {
        http_problem_field(req, 428, "If-Match",
                           http_t(req, "Cần gửi If-Match với ETag của lần đọc gần nhất",
                                  "send If-Match with the ETag of your last read"));
        return false;
    }
    if (strncmp(h, "W/", 2) == 0)
        h += 2;
    char *end;
    long long v = strtoll(h[0] == '"' ? h + 1 : h, &end, 10);
    if ((h[0] == '"' && *end != '"') || (h[0] != '"' && *end) || v < 0) {
        http_problem_field(req, 412, "If-Match", http_t(req, "If-Match không hợp lệ", "malformed If-Match"));
        return false;
    }
    *version = v;
    return true;
}

static const char *request_hash(http_req_t *req)
{
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, req->method, strlen(req->method));
    EVP_DigestUpdate(ctx, " ", 1);
    EVP_DigestUpdate(ctx, req->path, strlen(req->path));
    EVP_DigestUpdate(ctx, "\n", 1);
    if (req->body_len)
        EVP_DigestUpdate(ctx, req->body, req->body_len);
    EVP_DigestFinal_ex(ctx, d, &dl);
    EVP_MD_CTX_free(ctx);
    char *hex = arena_alloc(req->arena, 65);
    for (int i = 0; i < 32; i++)
        snprintf(hex + i * 2, 3, "%02x", d[i]);
    return hex;
}

bool req_idempotent_replay(http_req_t *req, db_tx_t *tx)
{
    return req_idempotent_replay_then(req, tx, NULL, NULL);
}

bool req_idempotent_replay_then(http_req_t *req, db_tx_t *tx, const struct db_stmt *next, PGresult **next_result)
{
    const char *key = http_header(req, "Idempotency-Key");
    if (!key || !req->user) {
        if (next) {
            *next_result = db_query(tx, next->sql, next->nparams, next->params);
            if (!*next_result) {
                req_tx_fail(req, tx);
                return true;
            }
        }
        return false;
    }
    if (strlen(key) == 0 || strlen(key) > 200) {
        db_tx_rollback(tx);
        http_problem_field(req, 400, "Idempotency-Key", http_t(req, "Khóa không hợp lệ (1-200 ký tự)", "key must have 1-200 characters"));
        return true;
    }
    /* Serialise requests with the same key: the second waits for the first
     * (the look-up after the lock has a snapshot of its own, so it sees the
     * first one's row). One round trip with the handler's first statement. */
    const char *uid = req_ll(req, req->user->id);
    const char *lp[2] = {uid, key};
    struct db_stmt st[3] = {
        {"SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))", 2, lp},
        {"SELECT request_hash, status, response FROM core.idempotency WHERE user_id = $1 AND key = $2", 2, lp},
    };
    if (next)
        st[2] = *next;
    PGresult *out[3];
    if (db_query_many(tx, next ? 3 : 2, st, out) < 0) {
        req_tx_fail(req, tx);
        return true;
    }
    PGresult *r = out[1];
    if (PQntuples(r) == 0) {
        if (next)
            *next_result = out[2];
        return false;
    }
    const char *h = request_hash(req);
    if (strcmp(h, db_val(r, 0, 0)) != 0) {
        db_tx_rollback(tx);
        http_problem_field(req, 422, "Idempotency-Key",
                           http_t(req, "Khóa đã dùng cho một yêu cầu khác", "the key was used for a different request"));
        return true;
    }
    int status = atoi(db_val(r, 0, 1));
    const char *body = db_val(r, 0, 2);
    http_reply_raw(req, status, "application/json; charset=utf-8", body, strlen(body));
    http_add_header(req, "Idempotent-Replayed", "true");
    db_tx_rollback(tx);
    return true;
}

void req_idempotent_store(http_req_t *req, db_tx_t *tx)
{
    const char *key = http_header(req, "Idempotency-Key");
    if (!key || !req->user || !req->replied)
        return;
    char st[8];
    snprintf(st, sizeof st, "%d", req->status);
    db_defer_q(tx, "INSERT INTO core.idempotency (user_id, key, request_hash, status, response) VALUES ($1, $2, $3, $4, $5)",
         req_ll(req, req->user->id), key, request_hash(req), st, req->reply_body ? req->reply_body : "");
}

const char *req_ll(http_req_t *req, long long v)
{
    return arena_printf(req->arena, "%lld", v);
}
