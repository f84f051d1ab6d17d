/* his serve: the embedded or configured database, migrations, then the HTTP
 * server until SIGINT/SIGTERM. */
#include "his/his.h"
#include "core/app.h"
#include "core/auth.h"
#include "core/http.h"
#include "core/log.h"
#include "core/migrate.h"
#include "core/outbox.h"
#include "his/hl7_engine.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void http_set_auth_hook(int (*fn)(http_req_t *req));

static const enum config_key serve_keys[] = {
    CFG_LISTEN, CFG_HL7_LISTEN, CFG_DATA_DIR, CFG_DATABASE_URL, CFG_WEB_DIR, CFG_SCHEMA_DIR, CFG_THREADS,
    CFG_DB_POOL, CFG_LOG_LEVEL, CFG_SESSION_HOURS, CFG_RX_PORTAL_URL, CFG_PHARMACY_PORTAL_URL,
    CFG_CLAIMS_PORTAL_URL, CFG_CONFIG_FILE, CFG_TLS_CERT, CFG_TLS_KEY, CFG__COUNT};

static int prepare_schema(PGconn *c, const struct config *cfg, bool embedded, bool migrate)
{
    char err[2048];
    struct migration_status st;
    if (migrate_status(c, his_schema_dir(cfg), &st, NULL, err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    if (st.changed) {
        fprintf(stderr, "his: an applied migration was changed since it ran; see `his db status`\n");
        return 1;
    }
    if (st.pending) {
        if (!embedded && !migrate) {
            fprintf(stderr, "his: the database has %d pending migration(s); run `his db migrate` or start with --migrate\n",
                    st.pending);
            return 1;
        }
        if (migrate_apply(c, his_schema_dir(cfg), NULL, err, sizeof err) < 0) {
            fprintf(stderr, "his: %s\n", err);
            return 1;
        }
        log_info("applied %d migration(s)", st.pending);
    }
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    struct config cfg;
    const char *pos[32];
    int np;
    static const char *const bools[] = {"--migrate", "--no-seed", NULL};
    bool bv[2] = {false, false};
    int rc = his_parse_args(argc, argv, serve_keys,
                            "Usage: his serve [--listen HOST:PORT] [--hl7-listen HOST:PORT] [--data-dir DIR] "
                            "[--database-url URL] [--migrate] [--no-seed]\n"
                            "  --migrate   apply pending migrations on a configured database (the embedded one always is)\n"
                            "  --no-seed   do not fill demo data on the first start of the embedded database\n"
                            "  HL7 over TLS, limits: HIS_HL7_TLS_CERT, HIS_HL7_TLS_KEY, HIS_HL7_TLS_CA, HIS_HL7_MAX_CONNECTIONS,\n"
                            "  HIS_HL7_MAX_MESSAGE, HIS_HL7_ACK_TIMEOUT_MS (see his hl7 listen --help)\n"
                            "  HTTPS: --tls-cert FILE --tls-key FILE (TLS 1.2/1.3, AEAD ciphers, HSTS, Secure cookies)\n"
                            "  Login rate limits (per minute, sliding window, 0 = off): HIS_LOGIN_RATE_ACCOUNT (default 10),\n"
                            "  HIS_LOGIN_RATE_ADDRESS (default 30); beyond them 429 with Retry-After",
                            &cfg, pos, &np, bools, bv);
    if (rc == 3)
        return 0;
    if (rc)
        return rc;
    if (np) {
        fprintf(stderr, "his serve: unexpected argument %s\n", pos[0]);
        return 2;
    }
    char err[2048];
    struct his_db db;
    if (his_db_open(&cfg, &db, err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    PGconn *c = db_connect(db.conninfo, err, sizeof err);
    if (!c) {
        fprintf(stderr, "his: cannot connect to the database: %s\n", err);
        his_db_close(&db);
        return 1;
    }
    if (prepare_schema(c, &cfg, db.embedded, bv[0]) != 0) {
        PQfinish(c);
        his_db_close(&db);
        return 1;
    }
    if (db.embedded && !bv[1] && !seed_demo_present(c)) {
        log_info("first start: filling the demo province");
        if (seed_demo(c, true, err, sizeof err) < 0)
            log_error("demo data not loaded: %s", err);
    }
    PQfinish(c);

    /* Signals are taken synchronously by this thread; block them before the
     * server's threads start so they inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int threads = config_get_int(&cfg, CFG_THREADS, 16);
    struct app app = {
        .cfg = &cfg,
        .db = db_pool_new(db.conninfo, config_get_int(&cfg, CFG_DB_POOL, 20), "his_app"),
        .sysdb = db_pool_new(db.conninfo, 4, NULL),
        .session_hours = config_get_int(&cfg, CFG_SESSION_HOURS, 10),
    };
    http_set_auth_hook(auth_authenticate);
    his_register_routes();
    struct http_server_opts o = {
        .listen = config_get(&cfg, CFG_LISTEN),
        .threads = threads,
        .web_dir = his_web_dir(&cfg),
        .app = &app,
        .tls_cert_file = config_get(&cfg, CFG_TLS_CERT),
        .tls_key_file = config_get(&cfg, CFG_TLS_KEY),
    };
    http_server_t *srv = http_server_start(&o, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "his: %s\n", err);
        db_pool_free(app.db);
        db_pool_free(app.sysdb);
        his_db_close(&db);
        return 1;
    }
    /* The MLLP listener (and its inbound processor) when configured. */
    hl7srv_t *hl7 = NULL;
    if (config_get(&cfg, CFG_HL7_LISTEN)) {
        hl7 = hl7srv_start(&app, config_get(&cfg, CFG_HL7_LISTEN), err, sizeof err);
        if (!hl7) {
            fprintf(stderr, "his: %s\n", err);
            http_server_stop(srv);
            db_pool_free(app.db);
            db_pool_free(app.sysdb);
            his_db_close(&db);
            return 1;
        }
        printf("his: hl7 listening on port %d\n", hl7srv_port(hl7));
    }
    /* Delivery of the outbox (portals, HL7 peers): after the routes, which
     * register the delivery targets. */
    outbox_workers_start(&app, 4);
    maintenance_start(&app);
    char host[256];
    snprintf(host, sizeof host, "%s", o.listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    if (!*host || strcmp(host, "0.0.0.0") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    printf("his: serving on %s://%s:%d/\n", o.tls_cert_file ? "https" : "http", host, http_server_port(srv));
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    log_info("signal %d: stopping", sig);
    app.stopping = true;
    maintenance_stop();
    outbox_workers_stop();
    hl7srv_stop(hl7);
    http_server_stop(srv);
    db_pool_free(app.db);
    db_pool_free(app.sysdb);
    his_db_close(&db);
    config_free(&cfg);
    return 0;
}
