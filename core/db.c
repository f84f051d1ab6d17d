#include "core/db.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Prepared statements, per connection: each distinct SQL text a
 * connection runs is parsed once (PQprepare) and executed by name after
 * that, instead of parsed, analysed and planned on every call as an unnamed
 * statement; PostgreSQL then keeps a generic plan where it is as good as a
 * custom one. The texts are the program's own (constants, or built from
 * fixed pieces), so the set is small; past STMT_MAX a text runs unprepared.
 * HIS_DB_PREPARE=0 turns it off. */
#define STMT_SLOTS 1024
#define STMT_MAX 512

struct stmt_entry {
    uint64_t h;
    char *sql;
};

struct stmt_cache {
    struct stmt_entry e[STMT_SLOTS];
    int n;
};

struct db_slot {
    PGconn *conn;
    bool busy;
    struct stmt_cache *cache;
};

struct db_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *conninfo;
    char *app_role;
    int size;
    struct db_slot *slots;
};

static PGconn *open_conn(db_pool_t *p, int slot);
static PGconn *pool_acquire(db_pool_t *p, int timeout_ms, struct stmt_cache **cache);
static void clear_result(void *r);
static void tx_fail(db_tx_t *tx, PGresult *r, const char *fallback);

db_pool_t *db_pool_new(const char *conninfo, int size, const char *app_role)
{
    db_pool_t *p = calloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->conninfo = strdup(conninfo ? conninfo : "");
    p->app_role = app_role ? strdup(app_role) : NULL;
    p->size = size < 1 ? 1 : size;
    p->slots = calloc((size_t)p->size, sizeof(struct db_slot));
    return p;
}

void db_pool_free(db_pool_t *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->size; i++) {
        if (p->slots[i].conn)
            PQfinish(p->slots[i].conn);
        if (p->slots[i].cache)
            for (int k = 0; k < STMT_SLOTS; k++)
                free(p->slots[i].cache->e[k].sql);
        free(p->slots[i].cache);
    }
    free(p->slots);
    free(p->conninfo);
    free(p->app_role);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

const char *db_pool_conninfo(const db_pool_t *p)
{
    return p->conninfo;
}

PGconn *db_connect(const char *conninfo, char *err, size_t errlen)
{
    /* A short connect timeout: a dead database must turn into a quick 503,
     * not a request that hangs. */
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {conninfo, "3", "his", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        if (err) {
            snprintf(err, errlen, "%s", PQerrorMessage(c));
            size_t n = strlen(err);
            while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
                err[--n] = '\0';
        }
        PQfinish(c);
        return NULL;
    }
    return c;
}

int db_exec_cmd(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        if (err)
            snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        rc = -1;
    }
    PQclear(r);
    return rc;
}

static PGconn *open_conn(db_pool_t *p, int slot)
{
    char err[256];
    PGconn *c = db_connect(p->conninfo, err, sizeof err);
    if (!c) {
        log_warn("database connection failed: %s", err);
        return NULL;
    }
    if (p->app_role) {
        char *q = PQescapeIdentifier(c, p->app_role, strlen(p->app_role));
        char sql[256];
        /* his.audit_shard: this connection writes its own audit chain per
         * facility (schema/015_write_path.sql), so concurrent requests never
         * queue on one chain head. */
        snprintf(sql, sizeof sql, "SET ROLE %s; SET his.audit_shard = '%d'", q, slot % 256);
        PQfreemem(q);
        if (db_exec_cmd(c, sql, err, sizeof err) < 0) {
            log_error("SET ROLE %s failed: %s", p->app_role, err);
            PQfinish(c);
            return NULL;
        }
    }
    return c;
}

static bool prepare_enabled(void)
{
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("HIS_DB_PREPARE");
        on = !(e && strcmp(e, "0") == 0);
    }
    return on;
}

/* A new connection starts with no prepared statements. */
static void cache_reset(struct db_slot *s)
{
    if (!prepare_enabled())
        return;
    if (!s->cache) {
        s->cache = calloc(1, sizeof *s->cache);
        return;
    }
    for (int k = 0; k < STMT_SLOTS; k++)
        free(s->cache->e[k].sql);
    memset(s->cache, 0, sizeof *s->cache);
}

PGconn *db_pool_acquire(db_pool_t *p, int timeout_ms)
{
    return pool_acquire(p, timeout_ms, NULL);
}

static PGconn *pool_acquire(db_pool_t *p, int timeout_ms, struct stmt_cache **cache)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    int slot = -1;
    for (;;) {
        /* Prefer a slot with an open connection. */
        for (int i = 0; i < p->size; i++)
            if (!p->slots[i].busy && p->slots[i].conn) {
                slot = i;
                break;
            }
        if (slot < 0)
            for (int i = 0; i < p->size; i++)
                if (!p->slots[i].busy) {
                    slot = i;
                    break;
                }
        if (slot >= 0)
            break;
        if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
    }
    p->slots[slot].busy = true;
    PGconn *c = p->slots[slot].conn;
    p->slots[slot].conn = NULL;
    pthread_mutex_unlock(&p->mu);

    if (c && PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        c = NULL;
    }
    bool fresh = !c;
    if (!c)
        c = open_conn(p, slot); /* outside the lock: connecting may take a while */
    /* The slot is ours (busy) until released: its cache is ours too. */
    if (c && (fresh || (prepare_enabled() && !p->slots[slot].cache)))
        cache_reset(&p->slots[slot]);
    if (cache)
        *cache = c ? p->slots[slot].cache : NULL;

    pthread_mutex_lock(&p->mu);
    if (!c) {
        p->slots[slot].busy = false;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        return NULL;
    }
    /* Remember which slot holds this connection through its pointer. */
    p->slots[slot].conn = c;
    pthread_mutex_unlock(&p->mu);
    return c;
}

void db_pool_release(db_pool_t *p, PGconn *c)
{
    if (!c)
        return;
    /* A connection left inside a transaction or broken is not reused as is. */
    bool bad = PQstatus(c) != CONNECTION_OK;
    if (!bad && PQtransactionStatus(c) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c, "ROLLBACK");
        PQclear(r);
        bad = PQtransactionStatus(c) != PQTRANS_IDLE;
    }
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->size; i++) {
        if (p->slots[i].busy && p->slots[i].conn == c) {
            p->slots[i].busy = false;
            if (bad)
                p->slots[i].conn = NULL;
            break;
        }
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (bad)
        PQfinish(c);
}

bool db_pool_ping(db_pool_t *p)
{
    PGconn *c = db_pool_acquire(p, 2000);
    if (!c)
        return false;
    PGresult *r = PQexec(c, "SELECT 1");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    db_pool_release(p, c);
    return ok;
}

static void clear_result(void *r)
{
    PQclear(r);
}

static void tx_fail(db_tx_t *tx, PGresult *r, const char *fallback)
{
    tx->failed = true;
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!st && PQstatus(tx->conn) != CONNECTION_OK)
        st = "08006";
    snprintf(tx->sqlstate, sizeof tx->sqlstate, "%s", st ? st : "XX000");
    const char *msg = r ? PQresultErrorMessage(r) : fallback;
    snprintf(tx->error, sizeof tx->error, "%s", msg && *msg ? msg : fallback);
}

static uint64_t sql_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Runs sql through the connection's prepared statements (prepared on first
 * use); unprepared when there is no cache or it is full. A failed prepare
 * returns its error result, as a failed unnamed statement would. */
static PGresult *exec_params(PGconn *c, struct stmt_cache *sc, const char *sql, int n, const char *const *params)
{
    if (!sc)
        return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    uint64_t h = sql_hash(sql);
    size_t i = (size_t)(h % STMT_SLOTS);
    char name[24];
    while (sc->e[i].sql && !(sc->e[i].h == h && strcmp(sc->e[i].sql, sql) == 0))
        i = (i + 1) % STMT_SLOTS;
    snprintf(name, sizeof name, "his_%zu", i);
    if (!sc->e[i].sql) {
        if (sc->n >= STMT_MAX)
            return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
        PGresult *pr = PQprepare(c, name, sql, n, NULL);
        if (PQresultStatus(pr) != PGRES_COMMAND_OK)
            return pr;
        PQclear(pr);
        sc->e[i].h = h;
        sc->e[i].sql = strdup(sql);
        sc->n++;
    }
    return PQexecPrepared(c, name, n, params, NULL, NULL, 0);
}

int db_tx_begin(db_tx_t *tx, db_pool_t *p, arena_t *a, const struct db_scope *scope)
{
    memset(tx, 0, sizeof(*tx));
    tx->pool = p;
    tx->arena = a;
    tx->conn = pool_acquire(p, 5000, &tx->cache);
    if (!tx->conn) {
        tx->failed = true;
        strcpy(tx->sqlstate, "08000");
        snprintf(tx->error, sizeof tx->error, "database unavailable");
        return -1;
    }
    /* The role is checked against a fixed alphabet; values go as
     * parameters. BEGIN itself waits for the first statement. */
    const char *role = scope && scope->role ? scope->role : "anonymous";
    if (strlen(role) >= sizeof tx->scope_role)
        role = "anonymous";
    for (const char *c = role; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
            role = "anonymous";
    snprintf(tx->scope_role, sizeof tx->scope_role, "%s", role);
    tx->scope_user_id = scope ? scope->user_id : 0;
    tx->scope_facility_id = scope ? scope->facility_id : 0;
    tx->begin_pending = true;
    return 0;
}

static const char SCOPE_SQL[] = "SELECT set_config('his.user_id', $1, true), set_config('his.facility_id', $2, true), "
                                "set_config('his.role', $3, true)";

/* The prepared statement name for sql in the connection's cache, or NULL
 * when it is not cached (no cache, or full). *prepare: not prepared yet. */
static const char *stmt_slot(struct stmt_cache *sc, const char *sql, char name[24], size_t *slot, bool *prepare,
                             const size_t *taken, int ntaken)
{
    *prepare = false;
    if (!sc)
        return NULL;
    uint64_t h = sql_hash(sql);
    size_t i = (size_t)(h % STMT_SLOTS);
    /* taken: slots being prepared in the same pipeline, not yet recorded. */
    for (;;) {
        bool busy = sc->e[i].sql && !(sc->e[i].h == h && strcmp(sc->e[i].sql, sql) == 0);
        for (int t = 0; t < ntaken && !busy; t++)
            busy = taken[t] == i;
        if (!busy)
            break;
        i = (i + 1) % STMT_SLOTS;
    }
    if (!sc->e[i].sql && sc->n >= STMT_MAX)
        return NULL;
    snprintf(name, 24, "his_%zu", i);
    *slot = i;
    *prepare = !sc->e[i].sql;
    return name;
}

static void stmt_remember(struct stmt_cache *sc, size_t slot, const char *sql)
{
    sc->e[slot].h = sql_hash(sql);
    sc->e[slot].sql = strdup(sql);
    sc->n++;
}

/* Queues one statement in pipeline mode (prepared through the cache when it
 * can be). Returns how many results it will produce (0 on a send error). */
static int send_stmt(PGconn *c, struct stmt_cache *sc, const char *sql, int n, const char *const *params,
                     size_t *slot, bool *prepare, const size_t *taken, int ntaken)
{
    char name[24];
    const char *nm = stmt_slot(sc, sql, name, slot, prepare, taken, ntaken);
    if (!nm)
        return PQsendQueryParams(c, sql, n, NULL, params, NULL, NULL, 0) == 1;
    if (*prepare && PQsendPrepare(c, nm, sql, n, NULL) != 1)
        return 0;
    if (PQsendQueryPrepared(c, nm, n, params, NULL, NULL, 0) != 1)
        return 0;
    return *prepare ? 2 : 1;
}

/* The result of one pipelined query: its last result, or the first error. */
static PGresult *pipeline_take(PGconn *c)
{
    PGresult *keep = NULL, *r;
    while ((r = PQgetResult(c)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        bool err = st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK;
        if (!keep || (err && (PQresultStatus(keep) == PGRES_COMMAND_OK || PQresultStatus(keep) == PGRES_TUPLES_OK))) {
            PQclear(keep);
            keep = r;
        } else {
            PQclear(r);
        }
    }
    return keep;
}

#define PIPE_MAX 8 /* statements in one round trip, BEGIN and scope included */

/* Statements in one round trip (libpq pipeline mode), preceded by BEGIN and
 * the scope when the transaction has not been opened yet. Each runs after
 * the one before, inside the transaction, with a snapshot of its own (READ
 * COMMITTED), so a lock taken by one is held when the next reads. out[i]
 * gets statement i's result when all succeeded; otherwise *err gets the
 * first error result (NULL when nothing came back: the connection is gone)
 * and -1 is returned. Prepared statements are recorded only on success. */
static int pipeline_run(db_tx_t *tx, int n, const struct db_stmt *st, PGresult **out, PGresult **err)
{
    PGconn *c = tx->conn;
    *err = NULL;
    struct db_stmt all[PIPE_MAX];
    int m = 0, first = 0;
    char uid[24], fid[24];
    const char *sp[3] = {uid, fid, tx->scope_role};
    if (tx->begin_pending) {
        tx->begin_pending = false;
        snprintf(uid, sizeof uid, "%lld", tx->scope_user_id);
        snprintf(fid, sizeof fid, "%lld", tx->scope_facility_id);
        all[m++] = (struct db_stmt){"BEGIN", 0, NULL};
        all[m++] = (struct db_stmt){SCOPE_SQL, 3, sp};
        first = 2;
    }
    if (n < 0 || m + n > PIPE_MAX)
        return -1;
    for (int i = 0; i < n; i++)
        all[m++] = st[i];
    if (PQenterPipelineMode(c) != 1)
        return -1;
    size_t slot[PIPE_MAX];
    bool prep[PIPE_MAX] = {false};
    int nres[PIPE_MAX] = {0};
    bool ok = true;
    for (int i = 0; i < m && ok; i++) {
        /* A statement prepared earlier in this pipeline has its slot taken
         * already (recorded only once the round trip succeeded). */
        size_t taken[PIPE_MAX];
        int ntaken = 0;
        for (int j = 0; j < i; j++)
            if (prep[j])
                taken[ntaken++] = slot[j];
        struct stmt_cache *sc = first && i == 0 ? NULL : tx->cache; /* BEGIN is not prepared */
        nres[i] = send_stmt(c, sc, all[i].sql, all[i].nparams, all[i].params, &slot[i], &prep[i], taken, ntaken);
        ok = nres[i] > 0;
    }
    if (PQpipelineSync(c) != 1)
        ok = false;
    PGresult *res[PIPE_MAX] = {NULL};
    for (int i = 0; i < m; i++)
        for (int k = 0; k < nres[i]; k++) {
            PGresult *r = pipeline_take(c);
            /* A named statement the server prepared stays prepared whatever
             * becomes of the rest: recorded as soon as its Parse succeeded. */
            if (prep[i] && k == 0 && r && PQresultStatus(r) == PGRES_COMMAND_OK)
                stmt_remember(tx->cache, slot[i], all[i].sql);
            /* Keep the execution's result, or the prepare's if that failed. */
            if (!res[i] || PQresultStatus(res[i]) == PGRES_COMMAND_OK) {
                PQclear(res[i]);
                res[i] = r;
            } else {
                PQclear(r);
            }
        }
    PGresult *r;
    while ((r = PQgetResult(c)) != NULL) /* the sync point */
        PQclear(r);
    PQexitPipelineMode(c);
    for (int i = 0; i < m; i++) {
        ExecStatusType s = PQresultStatus(res[i]);
        if (res[i] && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK))
            continue;
        ok = false;
        if (!*err && res[i] && s != PGRES_PIPELINE_ABORTED) {
            *err = res[i]; /* the first real error: what failed and why */
            res[i] = NULL;
        }
    }
    for (int i = 0; i < m; i++) {
        if (ok && i >= first)
            out[i - first] = res[i];
        else
            PQclear(res[i]);
    }
    return ok ? 0 : -1;
}

/* BEGIN, the scope and (when sql is given) the first statement in one round
 * trip: the statement's result, or the first error (NULL: nothing back). */
static PGresult *begin_with(db_tx_t *tx, const char *sql, int n, const char *const *params)
{
    struct db_stmt one = {sql, n, params};
    PGresult *out = NULL, *err = NULL;
    if (pipeline_run(tx, sql ? 1 : 0, &one, &out, &err) < 0)
        return err;
    if (!sql) /* only BEGIN and the scope: report success as a result */
        return PQmakeEmptyPGresult(tx->conn, PGRES_TUPLES_OK);
    return out;
}

/* A statement failed: the transaction fails with its error (r, freed here).
 * Nothing back from the round trip that opened the transaction means the
 * connection is gone (a restarted server), as when BEGIN was sent alone.
 * Constraint violations (class 23) are the caller's business, not logged. */
static void query_failed(db_tx_t *tx, PGresult *r, bool opening)
{
    tx_fail(tx, r, "query failed");
    if (opening && !r)
        snprintf(tx->sqlstate, sizeof tx->sqlstate, "08006");
    if (tx->sqlstate[0] != '2' || tx->sqlstate[1] != '3')
        log_warn("query failed (%s): %s", tx->sqlstate, tx->error);
    PQclear(r);
}

int db_query_many(db_tx_t *tx, int n, const struct db_stmt *st, PGresult **out)
{
    for (int i = 0; i < n; i++)
        out[i] = NULL;
    if (tx->failed || !tx->conn)
        return -1;
    bool opening = tx->begin_pending;
    PGresult *err = NULL;
    if (pipeline_run(tx, n, st, out, &err) < 0) {
        query_failed(tx, err, opening);
        return -1;
    }
    for (int i = 0; i < n; i++)
        arena_defer(tx->arena, clear_result, out[i]);
    return 0;
}

/* Sends a pending BEGIN on its own; -1 (the transaction failed) on error. */
static int flush_begin(db_tx_t *tx)
{
    if (!tx->begin_pending)
        return 0;
    PGresult *r = begin_with(tx, NULL, 0, NULL);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        tx_fail(tx, r, "BEGIN failed");
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

PGconn *db_tx_conn(db_tx_t *tx)
{
    if (tx->failed || !tx->conn || flush_begin(tx) < 0)
        return NULL;
    return tx->conn;
}

PGresult *db_query(db_tx_t *tx, const char *sql, int nparams, const char *const *params)
{
    if (tx->failed || !tx->conn)
        return NULL;
    bool opening = tx->begin_pending;
    PGresult *r = opening ? begin_with(tx, sql, nparams, params)
                          : exec_params(tx->conn, tx->cache, sql, nparams, params);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        query_failed(tx, r, opening);
        return NULL;
    }
    arena_defer(tx->arena, clear_result, r);
    return r;
}

PGresult *db_query_once(db_pool_t *p, arena_t *a, const char *sql, int nparams, const char *const *params,
                        bool *unavailable)
{
    *unavailable = false;
    struct stmt_cache *sc;
    PGconn *c = pool_acquire(p, 5000, &sc);
    if (!c) {
        *unavailable = true;
        return NULL;
    }
    PGresult *r = exec_params(c, sc, sql, nparams, params);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
        if (PQstatus(c) != CONNECTION_OK)
            *unavailable = true;
        else
            log_warn("query failed: %s", PQresultErrorMessage(r));
        PQclear(r);
        db_pool_release(p, c);
        return NULL;
    }
    db_pool_release(p, c);
    arena_defer(a, clear_result, r);
    return r;
}

int db_tx_exec_simple(db_tx_t *tx, const char *sql)
{
    if (!tx->conn || flush_begin(tx) < 0)
        return -1;
    PGresult *r = PQexec(tx->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc < 0)
        tx_fail(tx, r, "statement failed");
    PQclear(r);
    return rc;
}

struct db_deferred {
    struct db_deferred *next;
    const char *sql;
    int nparams;
    const char **params;
};

void db_defer(db_tx_t *tx, const char *sql, int nparams, const char *const *params)
{
    if (tx->failed || !tx->conn)
        return;
    struct db_deferred *d = arena_calloc(tx->arena, 1, sizeof(*d));
    d->sql = sql;
    d->nparams = nparams;
    d->params = arena_calloc(tx->arena, (size_t)(nparams > 0 ? nparams : 1), sizeof(char *));
    for (int i = 0; i < nparams; i++)
        d->params[i] = params[i] ? arena_strdup(tx->arena, params[i]) : NULL;
    if (!tx->deferred_tail)
        tx->deferred_tail = &tx->deferred;
    *tx->deferred_tail = d;
    tx->deferred_tail = &d->next;
}

/* Reads one pipelined statement's results; returns false on an error. */
static bool pipeline_result(db_tx_t *tx)
{
    bool ok = true;
    PGresult *r;
    while ((r = PQgetResult(tx->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            if (ok && !tx->failed)
                tx_fail(tx, st == PGRES_PIPELINE_ABORTED ? NULL : r, "statement failed in pipeline");
            ok = false;
        }
        PQclear(r);
    }
    return ok;
}

/* The deferred statements, then COMMIT, sent together and read back in
 * order: one round trip instead of one per statement. */
static int commit_pipelined(db_tx_t *tx)
{
    PGconn *c = tx->conn;
    if (PQenterPipelineMode(c) != 1) {
        tx_fail(tx, NULL, "cannot enter pipeline mode");
        return -1;
    }
    int sent = 0, nd = 0;
    bool ok = true;
    for (struct db_deferred *d = tx->deferred; d; d = d->next)
        nd++;
    /* Prepared through the connection's cache like any statement (the audit
     * row's INSERT is in every write); recorded once the commit succeeded. */
    size_t *slot = arena_calloc(tx->arena, (size_t)nd + 1, sizeof(size_t));
    bool *prep = arena_calloc(tx->arena, (size_t)nd + 1, sizeof(bool));
    const char **sqls = arena_calloc(tx->arena, (size_t)nd + 1, sizeof(char *));
    size_t *taken = arena_calloc(tx->arena, (size_t)nd + 1, sizeof(size_t));
    int ntaken = 0, nsent = 0;
    for (struct db_deferred *d = tx->deferred; d && ok; d = d->next, nsent++) {
        int k = send_stmt(c, tx->cache, d->sql, d->nparams, d->params, &slot[nsent], &prep[nsent], taken, ntaken);
        ok = k > 0;
        sqls[nsent] = d->sql;
        if (ok && prep[nsent])
            taken[ntaken++] = slot[nsent];
        if (!ok)
            break;
    }
    sent = 0;
    if (ok) {
        ok = PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1;
        sent += ok;
    }
    if (PQpipelineSync(c) != 1)
        ok = false;
    /* A named statement the server prepared stays prepared whatever becomes
     * of the transaction: recorded as soon as its Parse succeeded. */
    for (int j = 0; j < nsent; j++) {
        if (prep[j]) {
            PGresult *pr = pipeline_take(c);
            if (pr && PQresultStatus(pr) == PGRES_COMMAND_OK)
                stmt_remember(tx->cache, slot[j], sqls[j]);
            else
                ok = false;
            PQclear(pr);
        }
        if (!pipeline_result(tx))
            ok = false;
    }
    if (sent && !pipeline_result(tx)) /* COMMIT */
        ok = false;
    PGresult *r = PQgetResult(c); /* the sync point */
    if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC)
        ok = false;
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
    PQexitPipelineMode(c);
    if (!ok && !tx->failed)
        tx_fail(tx, NULL, "commit failed");
    /* A COMMIT in a transaction aborted by an earlier error reports success
     * as ROLLBACK; the transaction status tells the truth. */
    return ok && !tx->failed && PQtransactionStatus(c) == PQTRANS_IDLE ? 0 : -1;
}

int db_tx_commit(db_tx_t *tx)
{
    if (!tx->conn)
        return -1;
    int rc = -1;
    if (!tx->failed && tx->begin_pending && !tx->deferred) {
        rc = 0; /* nothing was sent: nothing to commit */
    } else if (!tx->failed && flush_begin(tx) == 0) {
        if (tx->deferred) {
            rc = commit_pipelined(tx);
        } else {
            PGresult *r = PQexec(tx->conn, "COMMIT");
            if (PQresultStatus(r) == PGRES_COMMAND_OK)
                rc = 0;
            else
                tx_fail(tx, r, "COMMIT failed");
            PQclear(r);
        }
    }
    db_pool_release(tx->pool, tx->conn); /* rolls back if still open */
    tx->conn = NULL;
    return rc;
}

void db_tx_rollback(db_tx_t *tx)
{
    if (!tx->conn)
        return;
    if (!tx->begin_pending) {
        PGresult *r = PQexec(tx->conn, "ROLLBACK");
        PQclear(r);
    }
    db_pool_release(tx->pool, tx->conn);
    tx->conn = NULL;
}

const char *db_val(PGresult *r, int row, int col)
{
    if (!r || row >= PQntuples(r) || col >= PQnfields(r) || PQgetisnull(r, row, col))
        return NULL;
    return PQgetvalue(r, row, col);
}

long long db_ll(PGresult *r, int row, int col)
{
    const char *v = db_val(r, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

bool db_is_unique_violation(const db_tx_t *tx)
{
    return strcmp(tx->sqlstate, "23505") == 0;
}

bool db_is_connection_error(const db_tx_t *tx)
{
    /* 08: connection exceptions; 57P: the server is shutting down or
     * restarting (admin_shutdown, crash_shutdown, cannot_connect_now). */
    return (tx->sqlstate[0] == '0' && tx->sqlstate[1] == '8') || strncmp(tx->sqlstate, "57P", 3) == 0;
}
