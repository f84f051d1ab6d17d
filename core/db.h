/* PostgreSQL access: a small connection pool and one transaction per request
 * with the caller's scope set by SET LOCAL, so row-level security policies
 * see who is asking. Results are owned by the request arena. */
#ifndef CORE_DB_H
#define CORE_DB_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "core/arena.h"

typedef struct db_pool db_pool_t;

/* The scope of a transaction: which user, facility and role the row-level
 * security policies must apply. user_id 0 with role "system" is used by
 * background workers that are not acting for a person. */
struct db_scope {
    long long user_id;
    long long facility_id;
    const char *role;
};

typedef struct db_tx {
    db_pool_t *pool;
    PGconn *conn;
    struct stmt_cache *cache; /* the connection's prepared statements */
    arena_t *arena;
    struct db_deferred *deferred; /* statements sent with COMMIT, in order */
    struct db_deferred **deferred_tail;
    bool failed;
    /* BEGIN and the scope are sent with the first statement (one round trip
     * fewer per request); until then nothing has reached the server. */
    bool begin_pending;
    long long scope_user_id, scope_facility_id;
    char scope_role[40];
    char sqlstate[6];
    char error[256];
} db_tx_t;

/* app_role: role to SET ROLE to on each new connection so that row-level
 * security applies (NULL: stay the connecting user, for migrations/seeding). */
db_pool_t *db_pool_new(const char *conninfo, int size, const char *app_role);
void db_pool_free(db_pool_t *p);
PGconn *db_pool_acquire(db_pool_t *p, int timeout_ms);
void db_pool_release(db_pool_t *p, PGconn *c);
/* True when a fresh query reaches the database. */
bool db_pool_ping(db_pool_t *p);
const char *db_pool_conninfo(const db_pool_t *p);

/* Opens a transaction. Returns 0, or -1 when no connection could be had
 * (database unreachable or pool exhausted): tx->sqlstate is then "08000". */
int db_tx_begin(db_tx_t *tx, db_pool_t *p, arena_t *a, const struct db_scope *scope);
/* Runs one parameterised statement. Returns NULL on error (the transaction is
 * then failed and every later query returns NULL too). */
PGresult *db_query(db_tx_t *tx, const char *sql, int nparams, const char *const *params);
/* Several statements in one round trip, in order, inside the transaction;
 * each sees what the ones before it did and the locks they took (a fresh
 * snapshot per statement). out[i] gets statement i's result. Returns 0, or
 * -1 when one failed (the transaction is then failed). At most 6. */
struct db_stmt {
    const char *sql;
    int nparams;
    const char *const *params;
};
int db_query_many(db_tx_t *tx, int n, const struct db_stmt *st, PGresult **out);
/* Queues a statement to run just before COMMIT, in the same round trip
 * (libpq pipeline mode). For writes whose result nobody reads and that should
 * hold their locks for the shortest time: audit rows (whose hash-chain head is
 * locked to commit) and idempotency records. Parameters are copied. */
void db_defer(db_tx_t *tx, const char *sql, int nparams, const char *const *params);
#define db_defer_q(tx, sql, ...) db_defer((tx), (sql), DB_NARGS(__VA_ARGS__), (const char *[]){__VA_ARGS__})
/* Sends the deferred statements and COMMIT in one round trip. */
int db_tx_commit(db_tx_t *tx);
void db_tx_rollback(db_tx_t *tx);
/* One statement outside an explicit transaction (one round trip), for reads
 * that need no scope, such as the session look-up. NULL on error; *unavailable
 * is set when no connection could be had. */
PGresult *db_query_once(db_pool_t *p, arena_t *a, const char *sql, int nparams, const char *const *params,
                        bool *unavailable);
/* Savepoint helpers for an insert that may conflict. */
int db_tx_exec_simple(db_tx_t *tx, const char *sql);
/* The transaction's connection, its BEGIN sent: for code that talks to
 * libpq directly inside the transaction. NULL when the transaction failed. */
PGconn *db_tx_conn(db_tx_t *tx);

#define DB_NARGS(...) ((int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)))
#define db_q(tx, sql, ...) db_query((tx), (sql), DB_NARGS(__VA_ARGS__), (const char *[]){__VA_ARGS__})
#define db_q0(tx, sql) db_query((tx), (sql), 0, NULL)

/* Value helpers: NULL for SQL NULL. */
const char *db_val(PGresult *r, int row, int col);
long long db_ll(PGresult *r, int row, int col);
bool db_is_unique_violation(const db_tx_t *tx);
bool db_is_connection_error(const db_tx_t *tx);

/* One-shot connection helpers for command-line tools. */
PGconn *db_connect(const char *conninfo, char *err, size_t errlen);
int db_exec_cmd(PGconn *c, const char *sql, char *err, size_t errlen);

#endif
