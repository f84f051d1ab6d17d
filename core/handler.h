/* Helpers every handler uses: the request's transaction with the user's
 * scope, the reply for a failed transaction, path ids, ETag/If-Match row
 * versions and Idempotency-Key replay. All reply on failure themselves, so a
 * handler reads as: parse, check, act, reply. */
#ifndef CORE_HANDLER_H
#define CORE_HANDLER_H

#include <stdbool.h>
#include <stdlib.h>
#include "core/app.h"
#include "core/audit.h"
#include "core/auth.h"
#include "core/db.h"
#include "core/http.h"

/* Opens the transaction with SET LOCAL his.user_id/facility_id/role; on
 * failure replies 503 with Retry-After and returns -1. */
int req_tx_begin(http_req_t *req, db_tx_t *tx);
/* Rolls back and replies for a failed statement: 503 (database gone),
 * 409 (unique violation), 422 (check/foreign-key violation), else 500. */
void req_tx_fail(http_req_t *req, db_tx_t *tx);
/* Commits; on failure replies as req_tx_fail and returns -1. */
int req_tx_commit(http_req_t *req, db_tx_t *tx);

/* Reads path parameter `name` as a positive integer id; replies 404 if it is
 * not one. */
bool req_id_param(http_req_t *req, const char *name, long long *id);

/* Row versions: ETag is "\"<version>\"". */
void req_set_etag(http_req_t *req, long long version);
/* Reads If-Match into *version. Replies 428 when missing and 412 when
 * malformed; returns false then. */
bool req_if_match(http_req_t *req, long long *version);

/* Idempotency-Key on POSTs that create. Call inside the transaction before
 * acting: returns true when the request was answered already (same key and
 * body: the stored answer is replayed; same key, other body: 422) and the
 * caller must stop (the transaction is rolled back). */
bool req_idempotent_replay(http_req_t *req, db_tx_t *tx);
/* The same, with the handler's first statement in the same round trip when
 * the request goes on: *next_result is its result (arena-owned). Returns
 * true when a reply was made (replay, bad key, or a failed statement). */
bool req_idempotent_replay_then(http_req_t *req, db_tx_t *tx, const struct db_stmt *next, PGresult **next_result);
/* Stores the answer about to be sent under the request's key (no-op without
 * a key). Call after the reply is set and before commit. */
void req_idempotent_store(http_req_t *req, db_tx_t *tx);

/* Test builds only (-DHIS_TEST_BUILD or AddressSanitizer, which no release
 * build has): with HIS_TEST_DISABLE_HANDLER_SCOPE=1 the facility/commune
 * checks that handlers make beside SQL become no-ops, so the authorization
 * matrix shows what row-level security alone enforces. Always false in a
 * release build. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HIS_TEST_HOOKS 1
#endif
#endif
#if defined(HIS_TEST_BUILD) || defined(__SANITIZE_ADDRESS__)
#define HIS_TEST_HOOKS 1
#endif
static inline bool req_handler_scope_disabled(void)
{
#ifdef HIS_TEST_HOOKS
    const char *e = getenv("HIS_TEST_DISABLE_HANDLER_SCOPE");
    return e && e[0] == '1' && e[1] == '\0';
#else
    return false;
#endif
}

/* Text of a long long in the arena (for query parameters). */
const char *req_ll(http_req_t *req, long long v);

#endif
