/* The durable outbox: every message to an outside system is a row of
 * core.outbox written in the business transaction (outbox_enqueue), and a
 * pool of worker threads started by `his serve` delivers it.
 *
 * Delivery is at-least-once on our side and exactly-once in effect: a row is
 * settled only after the remote answered, a crash between the remote's
 * answer and our update makes the row go out again after its lease, and the
 * remote dedupes by the row's key (the prescription code, the invoice
 * number, MSH-10). Each target registers one delivery function, which must
 * treat the remote's "already have it" answer as delivered.
 *
 * Rows with a partition key are delivered strictly in order within their
 * (target, partition): the next row waits until the previous one is settled
 * (acknowledged or refused). HL7 uses the peer as partition; the portals
 * need no order. A target registered as ordered gets its target name as the
 * partition when the caller gives none. */
#ifndef CORE_OUTBOX_H
#define CORE_OUTBOX_H

#include <stdbool.h>
#include <jansson.h>

#include "core/arena.h"
#include "core/db.h"

struct app;

enum outbox_status {
    OUTBOX_DELIVERED,    /* the remote has it: acknowledged */
    OUTBOX_REJECTED,     /* refused for good (validation): state error, errors kept */
    OUTBOX_RETRY,        /* transient (timeout, 5xx, connection): again after a backoff */
    OUTBOX_UNCONFIGURED, /* no URL or account: stays queued, attempts not counted */
};

struct outbox_msg {
    long long id;
    long long facility_id;
    const char *target;
    const char *kind;
    const char *key;
    const char *partition; /* NULL if unordered */
    const char *payload;
    int attempts;          /* including this one */
    long long created_by;  /* user id or 0 */
};

struct outbox_result {
    enum outbox_status status;
    char error[512];       /* why it failed (no patient data: it is logged) */
    char remote_ref[200];  /* the remote's id for it, if it gave one */
    json_t *errors;        /* rejection list [{field, code, message}], owned by the worker after return */
    int retry_after_ms;    /* >0: the remote asked for this delay */
};

/* Delivers one message. Called on a worker thread, without any database
 * transaction open; `a` is an arena for this call. */
typedef void (*outbox_deliver_fn)(struct app *app, const struct outbox_msg *m, arena_t *a, struct outbox_result *res);
/* Tells whether the target can deliver at all (URL configured), for the
 * API; NULL means always. */
typedef bool (*outbox_configured_fn)(const struct app *app);

/* Registers the delivery function for targets equal to prefix or starting
 * with prefix followed by ':' ("hl7" serves "hl7:lab1"). Call before
 * outbox_workers_start. */
void outbox_register_target(const char *prefix, outbox_deliver_fn fn, bool ordered);
void outbox_set_configured_fn(const char *prefix, outbox_configured_fn fn);

/* Writes one message in the caller's transaction (facility from the
 * transaction's scope). A second row with the same target and key is
 * ignored: returns 1 then, 0 when written, -1 on error (tx failed). */
int outbox_enqueue(db_tx_t *tx, const char *target, const char *kind, const char *key, const char *partition,
                   const char *payload);
/* The same for owner connections outside a request (seeding, commands):
 * facility_id explicit. */
int outbox_enqueue_conn(PGconn *c, long long facility_id, const char *target, const char *kind, const char *key,
                        const char *partition, const char *payload);

/* Starts nworkers delivery threads on app->sysdb. Rows left in flight by a
 * previous run are made due at once. Returns 0 or -1. */
int outbox_workers_start(struct app *app, int nworkers);
/* Stops the threads (each finishes the message in hand). */
void outbox_workers_stop(void);
/* Wakes idle workers (after a commit that enqueued something). */
void outbox_kick(void);

/* Backoff before attempt n+1 after n failed attempts, in milliseconds:
 * base * 2^(n-1) capped at max, times a random factor in [0.5, 1.5).
 * Exposed for tests. */
long outbox_backoff_ms(int attempts, long base_ms, long max_ms, double unit_random);

/* GET /api/v1/outbox, POST /api/v1/outbox/{id}/retry. */
void outbox_register_routes(void);

/* The outbox state of one message for other modules' replies (the
 * prescription shows its portal state): {state, attempts, last_error,
 * errors, remote_ref, sent_at, acknowledged_at, configured} or NULL if
 * there is no such row. Runs in the caller's transaction. */
json_t *outbox_status_json(db_tx_t *tx, struct app *app, const char *target, const char *key);

#endif
