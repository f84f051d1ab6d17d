/* Background upkeep of a running server: folds the dashboard's visit deltas
 * into their rollup every few seconds (schema/015_write_path.sql). The
 * charts are exact without it (they read rollup + deltas); folding keeps the
 * delta table small so that reading it stays cheap. */
#include "his/his.h"
#include "core/app.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static void *fold_main(void *arg);

static struct {
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    struct app *app;
    long interval_ms;
} maint = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* One fold; a database outage is logged once per failure and retried at the
 * next tick. */
static void fold_once(struct app *app)
{
    PGconn *c = db_pool_acquire(app->sysdb, 2000);
    if (!c)
        return;
    PGresult *r = PQexec(c, "SELECT dash.fold()");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        log_warn("dashboard fold failed: %s", PQresultErrorMessage(r));
    PQclear(r);
    db_pool_release(app->sysdb, c);
}

static void *fold_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&maint.mu);
    while (!maint.stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += maint.interval_ms / 1000;
        until.tv_nsec += (maint.interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!maint.stopping && pthread_cond_timedwait(&maint.cv, &maint.mu, &until) != ETIMEDOUT)
            ;
        if (maint.stopping)
            break;
        pthread_mutex_unlock(&maint.mu);
        fold_once(maint.app);
        pthread_mutex_lock(&maint.mu);
    }
    pthread_mutex_unlock(&maint.mu);
    return NULL;
}

int maintenance_start(struct app *app)
{
    /* HIS_DASH_FOLD_MS: how often (default 2000 ms, at least 100). */
    const char *e = getenv("HIS_DASH_FOLD_MS");
    maint.interval_ms = e && atol(e) >= 100 ? atol(e) : 2000;
    maint.app = app;
    maint.stopping = false;
    if (pthread_create(&maint.thread, NULL, fold_main, NULL) != 0) {
        log_error("maintenance: cannot start the dashboard fold thread");
        return -1;
    }
    maint.running = true;
    return 0;
}

void maintenance_stop(void)
{
    if (!maint.running)
        return;
    pthread_mutex_lock(&maint.mu);
    maint.stopping = true;
    pthread_cond_broadcast(&maint.cv);
    pthread_mutex_unlock(&maint.mu);
    pthread_join(maint.thread, NULL);
    maint.running = false;
}
