/* The server's shared state, handed to every handler through req->app. */
#ifndef CORE_APP_H
#define CORE_APP_H

#include <stdbool.h>
#include "core/config.h"
#include "core/db.h"

struct app {
    const struct config *cfg;
    db_pool_t *db;    /* connections as the application role: RLS applies */
    db_pool_t *sysdb; /* connections as the owner: background workers only */
    int session_hours;
    volatile bool stopping;
};

#endif
