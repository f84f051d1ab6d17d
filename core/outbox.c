/* The durable outbox: enqueue in the business transaction, deliver from a
 * pool of worker threads (see core/outbox.h for the guarantees).
 *
 * A worker claims due rows with one statement (SELECT ... FOR UPDATE SKIP
 * LOCKED inside an UPDATE that marks them 'sent', counts the attempt and sets
 * a lease in next_attempt_at), commits, then calls the target's delivery
 * function with no transaction open, and settles each row with one more
 * statement. No connection is held while the remote thinks, so a slow portal
 * does not starve the owner pool; a crash leaves the row 'sent' until its
 * lease runs out (or the next start), and it goes out again under the same
 * key. */
#include "core/outbox.h"
#include "core/app.h"
#include "core/handler.h"
#include "core/log.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OUTBOX_MAX_TARGETS 16
#define OUTBOX_MAX_WORKERS 32
#define OUTBOX_BATCH 8
/* A claimed row is the worker's for this long; delivery functions time out
 * well before (the portal client: 20 s). */
#define OUTBOX_LEASE_S 60
#define OUTBOX_BASE_MS 1000L
#define OUTBOX_MAX_MS_DEFAULT 60000L
#define OUTBOX_IDLE_MS 200
#define OUTBOX_UNCONFIGURED_WAIT_S 30

struct outbox_target {
    char prefix[64];
    outbox_deliver_fn fn;
    outbox_configured_fn configured;
    bool ordered;
};

static struct outbox_target targets[OUTBOX_MAX_TARGETS];
static int ntargets;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t threads[OUTBOX_MAX_WORKERS];
    int nthreads;
    volatile bool stopping;
    unsigned long kicks;
    struct app *app;
    long max_backoff_ms;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, false, 0, NULL, OUTBOX_MAX_MS_DEFAULT};

/* ---- registry ----------------------------------------------------------- */

static struct outbox_target *target_find(const char *target)
{
    for (int i = 0; i < ntargets; i++) {
        size_t n = strlen(targets[i].prefix);
        if (strncmp(target, targets[i].prefix, n) == 0 && (target[n] == '\0' || target[n] == ':'))
            return &targets[i];
    }
    return NULL;
}

void outbox_register_target(const char *prefix, outbox_deliver_fn fn, bool ordered)
{
    struct outbox_target *t = NULL;
    for (int i = 0; i < ntargets; i++)
        if (strcmp(targets[i].prefix, prefix) == 0)
            t = &targets[i];
    if (!t) {
        if (ntargets >= OUTBOX_MAX_TARGETS) {
            log_error("outbox: too many targets, %s not registered", prefix);
            return;
        }
        t = &targets[ntargets++];
        memset(t, 0, sizeof(*t));
        snprintf(t->prefix, sizeof t->prefix, "%s", prefix);
    }
    t->fn = fn;
    t->ordered = ordered;
}

void outbox_set_configured_fn(const char *prefix, outbox_configured_fn fn)
{
    for (int i = 0; i < ntargets; i++)
        if (strcmp(targets[i].prefix, prefix) == 0)
            targets[i].configured = fn;
}

/* ---- enqueue ------------------------------------------------------------ */

static const char *effective_partition(const char *target, const char *partition)
{
    if (partition && *partition)
        return partition;
    struct outbox_target *t = target_find(target);
    return t && t->ordered ? target : NULL;
}

int outbox_enqueue(db_tx_t *tx, const char *target, const char *kind, const char *key, const char *partition,
                   const char *payload)
{
    PGresult *r = db_q(tx,
                       "INSERT INTO core.outbox (target, kind, dedupe_key, partition_key, payload, created_by) "
                       "VALUES ($1, $2, $3, $4, $5, NULLIF(current_setting('his.user_id', true), '0')::bigint) "
                       "ON CONFLICT (target, dedupe_key) DO NOTHING RETURNING id",
                       target, kind, key, effective_partition(target, partition), payload);
    if (!r)
        return -1;
    return PQntuples(r) == 1 ? 0 : 1;
}

int outbox_enqueue_conn(PGconn *c, long long facility_id, const char *target, const char *kind, const char *key,
                        const char *partition, const char *payload)
{
    char fid[24];
    snprintf(fid, sizeof fid, "%lld", facility_id);
    const char *p[6] = {fid, target, kind, key, effective_partition(target, partition), payload};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO core.outbox (facility_id, target, kind, dedupe_key, partition_key, payload) "
                               "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (target, dedupe_key) DO NOTHING RETURNING id",
                               6, NULL, p, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? (PQntuples(r) == 1 ? 0 : 1) : -1;
    if (rc < 0)
        log_error("outbox: enqueue failed: %s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

/* ---- backoff ------------------------------------------------------------ */

long outbox_backoff_ms(int attempts, long base_ms, long max_ms, double unit_random)
{
    if (attempts < 1)
        attempts = 1;
    double d = (double)base_ms;
    for (int i = 1; i < attempts && d < (double)max_ms; i++)
        d *= 2;
    if (d > (double)max_ms)
        d = (double)max_ms;
    if (unit_random < 0)
        unit_random = 0;
    if (unit_random >= 1)
        unit_random = 0.999999;
    /* Jitter spreads the retries of many rows that failed together (a portal
     * outage) so they do not return as one burst. */
    return (long)(d * (0.5 + unit_random));
}

static double unit_rand(void)
{
    unsigned int v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
        v = (unsigned int)rand();
    return (double)v / 4294967296.0;
}

/* ---- workers ------------------------------------------------------------ */

/* The registered targets that can deliver now, as a PostgreSQL text[]
 * literal of prefixes (built from our own registry, passed as a parameter). */
static char *deliverable_prefixes(arena_t *a)
{
    size_t cap = 16;
    for (int i = 0; i < ntargets; i++)
        cap += strlen(targets[i].prefix) + 3;
    char *s = arena_alloc(a, cap);
    size_t n = 0;
    s[n++] = '{';
    bool any = false;
    for (int i = 0; i < ntargets; i++) {
        if (!targets[i].fn || (targets[i].configured && !targets[i].configured(pool.app)))
            continue;
        n += (size_t)snprintf(s + n, cap - n, "%s\"%s\"", any ? "," : "", targets[i].prefix);
        any = true;
    }
    s[n++] = '}';
    s[n] = '\0';
    return any ? s : NULL;
}

static const char *CLAIM_SQL =
    "WITH c AS ("
    "  SELECT o.id FROM core.outbox o"
    "  WHERE o.state IN ('queued', 'sent') AND o.next_attempt_at <= now()"
    "    AND split_part(o.target, ':', 1) = ANY($2::text[])"
    "    AND (o.partition_key IS NULL OR NOT EXISTS ("
    "         SELECT 1 FROM core.outbox p WHERE p.target = o.target AND p.partition_key = o.partition_key"
    "           AND p.id < o.id AND p.state IN ('queued', 'sent')))"
    "  ORDER BY o.next_attempt_at, o.id LIMIT $1 FOR UPDATE SKIP LOCKED) "
    "UPDATE core.outbox o SET state = 'sent', attempts = o.attempts + 1, sent_at = now(),"
    "  next_attempt_at = now() + make_interval(secs => $3) "
    "FROM c WHERE o.id = c.id "
    "RETURNING o.id, o.facility_id, o.target, o.kind, o.dedupe_key, o.partition_key, o.payload, o.attempts,"
    "  coalesce(o.created_by, 0), o.partition_key IS NOT NULL";

static PGresult *claim(arena_t *a, db_tx_t *tx)
{
    const char *prefixes = deliverable_prefixes(a);
    if (!prefixes)
        return NULL;
    struct db_scope scope = {0, 0, "system"};
    if (db_tx_begin(tx, pool.app->sysdb, a, &scope) < 0)
        return NULL;
    /* Ordered rows are claimed one per partition per statement by the NOT
     * EXISTS; a batch of unordered rows amortises the round trips. */
    char batch[8], lease[8];
    snprintf(batch, sizeof batch, "%d", OUTBOX_BATCH);
    snprintf(lease, sizeof lease, "%d", OUTBOX_LEASE_S);
    PGresult *r = db_q(tx, CLAIM_SQL, batch, prefixes, lease);
    if (!r || db_tx_commit(tx) < 0) {
        db_tx_rollback(tx);
        return NULL;
    }
    return r;
}

static void settle(arena_t *a, const struct outbox_msg *m, struct outbox_result *res)
{
    db_tx_t tx;
    struct db_scope scope = {0, 0, "system"};
    const char *id = arena_printf(a, "%lld", m->id);
    const char *err = res->error[0] ? res->error : NULL;
    const char *ref = res->remote_ref[0] ? res->remote_ref : NULL;
    char *errors = res->errors ? json_dumps(res->errors, JSON_COMPACT) : NULL;
    if (errors)
        arena_defer(a, free, errors);
    /* The database may be down for a moment: keep trying, the remote's
     * answer must not be forgotten while we are alive (after a crash the
     * lease makes the row go out again, and the remote dedupes). */
    for (int tries = 0; !pool.stopping || tries < 3; tries++) {
        if (db_tx_begin(&tx, pool.app->sysdb, a, &scope) == 0) {
            PGresult *r = NULL;
            switch (res->status) {
            case OUTBOX_DELIVERED:
                r = db_q(&tx,
                         "UPDATE core.outbox SET state = 'acknowledged', acknowledged_at = now(), last_error = NULL,"
                         " errors = NULL, remote_ref = coalesce($2, remote_ref) WHERE id = $1 AND state = 'sent'",
                         id, ref);
                break;
            case OUTBOX_REJECTED:
                r = db_q(&tx,
                         "UPDATE core.outbox SET state = 'error', last_error = $2, errors = $3::jsonb,"
                         " remote_ref = coalesce($4, remote_ref) WHERE id = $1 AND state = 'sent'",
                         id, err ? err : "rejected", errors ? errors : "[]", ref);
                break;
            case OUTBOX_RETRY: {
                long ms = outbox_backoff_ms(m->attempts, OUTBOX_BASE_MS, pool.max_backoff_ms, unit_rand());
                if (res->retry_after_ms > ms)
                    ms = res->retry_after_ms;
                r = db_q(&tx,
                         "UPDATE core.outbox SET state = 'queued', last_error = $2,"
                         " next_attempt_at = now() + make_interval(secs => $3::double precision / 1000)"
                         " WHERE id = $1 AND state = 'sent'",
                         id, err ? err : "retry", arena_printf(a, "%ld", ms));
                break;
            }
            case OUTBOX_UNCONFIGURED:
                r = db_q(&tx,
                         "UPDATE core.outbox SET state = 'queued', attempts = greatest(attempts - 1, 0),"
                         " last_error = $2, next_attempt_at = now() + make_interval(secs => $3)"
                         " WHERE id = $1 AND state = 'sent'",
                         id, err ? err : "not configured", arena_printf(a, "%d", OUTBOX_UNCONFIGURED_WAIT_S));
                break;
            }
            if (r && db_tx_commit(&tx) == 0)
                return;
            db_tx_rollback(&tx);
        }
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    log_error("outbox: could not record the outcome of message %lld; it will be sent again", m->id);
}

static void deliver_one(arena_t *a, PGresult *r, int row)
{
    struct outbox_msg m = {
        .id = db_ll(r, row, 0),
        .facility_id = db_ll(r, row, 1),
        .target = db_val(r, row, 2),
        .kind = db_val(r, row, 3),
        .key = db_val(r, row, 4),
        .partition = db_val(r, row, 5),
        .payload = db_val(r, row, 6),
        .attempts = (int)db_ll(r, row, 7),
        .created_by = db_ll(r, row, 8),
    };
    struct outbox_result res;
    memset(&res, 0, sizeof res);
    res.status = OUTBOX_RETRY;
    struct outbox_target *t = target_find(m.target);
    if (!t || !t->fn) {
        res.status = OUTBOX_UNCONFIGURED;
        snprintf(res.error, sizeof res.error, "no delivery for target %s", m.target);
    } else {
        t->fn(pool.app, &m, a, &res);
    }
    if (res.status != OUTBOX_DELIVERED)
        log_info("outbox: message %lld (%s %s) attempt %d: %s%s%s", m.id, m.target, m.kind, m.attempts,
                 res.status == OUTBOX_REJECTED ? "rejected" : res.status == OUTBOX_RETRY ? "retry" : "waiting",
                 res.error[0] ? ": " : "", res.error);
    settle(a, &m, &res);
    if (res.errors)
        json_decref(res.errors);
}

static void idle_wait(unsigned long seen)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += OUTBOX_IDLE_MS * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&pool.mu);
    while (!pool.stopping && pool.kicks == seen)
        if (pthread_cond_timedwait(&pool.cv, &pool.mu, &dl) != 0)
            break;
    pthread_mutex_unlock(&pool.mu);
}

static void *worker_main(void *arg)
{
    (void)arg;
    arena_t *a = arena_new(16384);
    while (!pool.stopping) {
        pthread_mutex_lock(&pool.mu);
        unsigned long seen = pool.kicks;
        pthread_mutex_unlock(&pool.mu);
        db_tx_t tx;
        PGresult *r = claim(a, &tx);
        int n = r ? PQntuples(r) : 0;
        for (int i = 0; i < n; i++)
            deliver_one(a, r, i);
        arena_reset(a);
        if (n == 0)
            idle_wait(seen);
    }
    arena_free(a);
    return NULL;
}

void outbox_kick(void)
{
    pthread_mutex_lock(&pool.mu);
    pool.kicks++;
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
}

int outbox_workers_start(struct app *app, int nworkers)
{
    /* HIS_OUTBOX_WORKERS: more workers for a slow remote (each delivers one
     * message at a time). */
    const char *nw = getenv("HIS_OUTBOX_WORKERS");
    if (nw && atoi(nw) > 0)
        nworkers = atoi(nw);
    if (nworkers < 1)
        nworkers = 1;
    if (nworkers > OUTBOX_MAX_WORKERS)
        nworkers = OUTBOX_MAX_WORKERS;
    pool.app = app;
    pool.stopping = false;
    const char *mx = getenv("HIS_OUTBOX_BACKOFF_MAX_MS");
    if (mx && atol(mx) >= 100)
        pool.max_backoff_ms = atol(mx);
    /* One server delivers for its database: whatever the previous run left
     * in flight is due now (the remote dedupes if it had arrived). */
    PGconn *c = db_pool_acquire(app->sysdb, 5000);
    if (c) {
        PGresult *r = PQexec(c, "UPDATE core.outbox SET next_attempt_at = now() WHERE state = 'sent'");
        if (PQresultStatus(r) == PGRES_COMMAND_OK && atoi(PQcmdTuples(r)) > 0)
            log_info("outbox: %s message(s) in flight at the last stop will be sent again", PQcmdTuples(r));
        PQclear(r);
        db_pool_release(app->sysdb, c);
    }
    for (int i = 0; i < nworkers; i++) {
        if (pthread_create(&pool.threads[pool.nthreads], NULL, worker_main, NULL) != 0) {
            log_error("outbox: cannot start worker %d", i);
            return pool.nthreads ? 0 : -1;
        }
        pool.nthreads++;
    }
    log_info("outbox: %d delivery worker(s)", pool.nthreads);
    return 0;
}

void outbox_workers_stop(void)
{
    pthread_mutex_lock(&pool.mu);
    pool.stopping = true;
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 0; i < pool.nthreads; i++)
        pthread_join(pool.threads[i], NULL);
    pool.nthreads = 0;
}

/* ---- API ---------------------------------------------------------------- */

static bool target_configured(const struct app *app, const char *target)
{
    struct outbox_target *t = target_find(target);
    if (!t || !t->fn)
        return false;
    return !t->configured || t->configured(app);
}

static json_t *parse_json_or(const char *s, json_t *def)
{
    json_t *j = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
    if (!j)
        return def;
    json_decref(def); /* the default is built by the caller whether needed or not */
    return j;
}

static const char *OUTBOX_ROW_JSON =
    "json_build_object('id', o.id, 'target', o.target, 'kind', o.kind, 'key', o.dedupe_key,"
    " 'partition', o.partition_key, 'state', o.state, 'attempts', o.attempts,"
    " 'next_attempt_at', CASE WHEN o.state IN ('queued', 'sent') THEN o.next_attempt_at END,"
    " 'last_error', o.last_error, 'errors', o.errors, 'remote_ref', o.remote_ref,"
    " 'created_at', o.created_at, 'sent_at', o.sent_at, 'acknowledged_at', o.acknowledged_at)";

json_t *outbox_status_json(db_tx_t *tx, struct app *app, const char *target, const char *key)
{
    char *sql = arena_printf(tx->arena, "SELECT %s FROM core.outbox o WHERE o.target = $1 AND o.dedupe_key = $2",
                             OUTBOX_ROW_JSON);
    PGresult *r = db_q(tx, sql, target, key);
    if (!r || PQntuples(r) == 0)
        return NULL;
    json_t *j = parse_json_or(db_val(r, 0, 0), json_object());
    json_object_set_new(j, "configured", json_boolean(target_configured(app, target)));
    return j;
}

static bool valid_state(const char *s)
{
    return !strcmp(s, "queued") || !strcmp(s, "sent") || !strcmp(s, "acknowledged") || !strcmp(s, "error");
}

static void handle_list(http_req_t *req)
{
    const char *target = http_query(req, "target");
    const char *state = http_query(req, "state");
    const char *lim = http_query(req, "limit");
    const char *before = http_query(req, "before_id");
    verr_t v;
    verr_init(&v);
    if (target && (strlen(target) > 80 || !*target))
        verr_add(&v, "target", http_t(req, "Đích không hợp lệ", "invalid target"));
    if (state && !valid_state(state))
        verr_add(&v, "state", http_t(req, "Trạng thái phải là queued, sent, acknowledged hoặc error",
                                     "state must be queued, sent, acknowledged or error"));
    long limit = lim ? strtol(lim, NULL, 10) : 50;
    if (limit < 1 || limit > 200)
        verr_add(&v, "limit", http_t(req, "Giới hạn 1..200", "limit must be 1..200"));
    long long before_id = before ? strtoll(before, NULL, 10) : 0;
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    /* "hl7" lists every peer's queue ("hl7:lab1", ...). */
    char *sql = arena_printf(req->arena,
                             "SELECT coalesce(json_agg(%s ORDER BY o.id DESC), '[]'),"
                             " (SELECT count(*) FROM core.outbox o WHERE ($1::text IS NULL OR o.target = $1"
                             "   OR o.target LIKE $1 || ':%%') AND ($2::text IS NULL OR o.state = $2))"
                             " FROM (SELECT * FROM core.outbox o WHERE ($1::text IS NULL OR o.target = $1"
                             "   OR o.target LIKE $1 || ':%%') AND ($2::text IS NULL OR o.state = $2)"
                             "   AND ($4 = '0' OR o.id < $4::bigint) ORDER BY o.id DESC LIMIT $3) o",
                             OUTBOX_ROW_JSON);
    PGresult *r = db_q(&tx, sql, target, state, arena_printf(req->arena, "%ld", limit),
                       arena_printf(req->arena, "%lld", before_id > 0 ? before_id : 0));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    json_t *j = json_object();
    json_object_set_new(j, "items", parse_json_or(db_val(r, 0, 0), json_array()));
    json_object_set_new(j, "total", json_integer(db_ll(r, 0, 1)));
    json_t *ts = json_object();
    static const char *const known[] = {"prescription-portal", "pharmacy-portal", "claims-portal", "hl7", NULL};
    for (int i = 0; known[i]; i++) {
        bool conf = target_configured(req->app, known[i]);
        json_t *t = json_object();
        json_object_set_new(t, "configured", json_boolean(conf));
        if (!conf)
            json_object_set_new(t, "message", json_string(http_t(req, "Chưa cấu hình cổng kết nối; tin nhắn được giữ trong hàng đợi",
                                                               "the portal is not configured; messages stay queued")));
        json_object_set_new(ts, known[i], t);
    }
    json_object_set_new(j, "targets", ts);
    /* The rows carry patient data in their payloads: the listing is audited
     * even though it shows only the envelope. */
    audit_record(&tx, req, "search", "outbox", target, 0, "ok", state);
    if (req_tx_commit(req, &tx) < 0) {
        json_decref(j);
        return;
    }
    http_reply_json(req, 200, j);
}

static void handle_retry(http_req_t *req)
{
    long long id;
    if (!req_id_param(req, "id", &id))
        return;
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    /* Only waiting or refused rows: an acknowledged message is never sent
     * twice by hand, and one in flight belongs to its worker. */
    PGresult *r = db_q(&tx,
                       "UPDATE core.outbox SET state = 'queued', next_attempt_at = now() WHERE id = $1"
                       " AND state IN ('queued', 'error') RETURNING id",
                       req_ll(req, id));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (PQntuples(r) == 0) {
        db_tx_rollback(&tx);
        http_problem(req, 409, NULL, http_t(req, "Tin nhắn không ở trạng thái chờ hoặc lỗi",
                                            "the message is not queued or refused"));
        return;
    }
    audit_record(&tx, req, "update", "outbox", req_ll(req, id), 0, "ok", "retry");
    if (req_tx_commit(req, &tx) < 0)
        return;
    outbox_kick();
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer(id));
    json_object_set_new(j, "state", json_string("queued"));
    http_reply_json(req, 200, j);
}

void outbox_register_routes(void)
{
    unsigned roles = ROLE_DOCTOR | ROLE_NURSE | ROLE_PHARMACIST | ROLE_CLAIMS_OFFICER | ROLE_ADMIN;
    http_route("GET", "/api/v1/outbox", handle_list, roles, 0);
    http_route("POST", "/api/v1/outbox/{id}/retry", handle_retry, roles, 0);
}
