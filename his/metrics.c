/* GET /metrics: the Prometheus text format (version 0.0.4).
 *
 * Who may read it: any client connecting from the loopback address (the
 * monitoring agent on the server itself: node_exporter's textfile or a local
 * Prometheus / Grafana Agent), with no session; from anywhere else, only a
 * signed-in admin (Bearer token or session cookie). A request that carries
 * X-Forwarded-For or Forwarded came through a proxy and is never taken as
 * local. See docs/deploy/district-hospital.md.
 *
 * HTTP counters and the latency histogram come from core/metrics.c (atomics,
 * counted in core/http.c). The rest is read at scrape time through the
 * owner pool (app->sysdb), a few small indexed queries:
 *   his_db_pool_size, his_db_connections{state}    the pool and the database's view of our connections
 *   his_outbox_messages{target,state}, his_outbox_oldest_age_seconds{target,state}
 *   his_hl7_inbound_queue, his_hl7_inbound_oldest_age_seconds   received, ACKed, not processed yet
 *   his_replication_lag_seconds / _bytes{kind, name}   kind standby (a physical replica of us), subscriber
 *     (the province reading us), replica (we are a standby), subscription (we are the province)
 */
#include "his/his.h"
#include "his/modules.h"
#include "core/app.h"
#include "core/auth.h"
#include "core/handler.h"
#include "core/http.h"
#include "core/metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

const char *auth_user_role(const struct auth_user *u);

static bool from_loopback(http_req_t *req)
{
    if (http_header(req, "X-Forwarded-For") || http_header(req, "Forwarded") || !req->conn)
        return false;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return false;
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ci->client_addr;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ci->client_addr;
        if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

static PGresult *q(http_req_t *req, const char *sql)
{
    bool unavailable = false;
    PGresult *r = db_query_once(req->app->sysdb, req->arena, sql, 0, NULL, &unavailable);
    return r && PQresultStatus(r) == PGRES_TUPLES_OK ? r : NULL;
}

static void head(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
    metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void handle_metrics(http_req_t *req)
{
    if (!from_loopback(req)) {
        if (auth_authenticate(req) != 0) {
            if (!req->replied)
                http_problem(req, 401, NULL, http_t(req, "Cần đăng nhập", "authentication required"));
            return;
        }
        if (!req->user || strcmp(auth_user_role(req->user), "admin") != 0) {
            http_problem(req, 403, NULL, http_t(req, "Chỉ quản trị viên", "admin only"));
            return;
        }
    }
    struct metrics_buf b = {0};
    metrics_http_render(&b);

    bool db_ok = db_pool_ping(req->app->sysdb);
    head(&b, "his_up", "gauge", "1 when the database answers (same as /readyz).");
    metrics_printf(&b, "his_up %d\n", db_ok ? 1 : 0);

    head(&b, "his_db_pool_size", "gauge", "Connections the request pool may open (--db-pool).");
    metrics_printf(&b, "his_db_pool_size{pool=\"app\"} %d\nhis_db_pool_size{pool=\"system\"} 4\n",
                   config_get_int(req->app->cfg, CFG_DB_POOL, 20));
    PGresult *r = db_ok ? q(req,
                            "SELECT s.state, count(a.pid) FROM unnest(ARRAY['active','idle','idle in transaction']) s(state) "
                            "LEFT JOIN pg_stat_activity a ON a.state = s.state AND a.application_name = 'his' "
                            " AND a.datname = current_database() AND a.pid <> pg_backend_pid() GROUP BY 1 ORDER BY 1")
                        : NULL;
    head(&b, "his_db_connections", "gauge",
         "Open connections of his processes to this database by state; active and idle in transaction are in use.");
    for (int i = 0; r && i < PQntuples(r); i++) {
        metrics_printf(&b, "his_db_connections{state=\"%s\"} %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    }

    r = db_ok ? q(req, "SELECT target, state, count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 "
                       "FROM core.outbox WHERE state IN ('queued','sent','error') GROUP BY 1, 2 ORDER BY 1, 2")
              : NULL;
    head(&b, "his_outbox_messages", "gauge", "Outbox messages not acknowledged, by target and state.");
    for (int i = 0; r && i < PQntuples(r); i++) {
        metrics_printf(&b, "his_outbox_messages{target=\"");
        metrics_label(&b, PQgetvalue(r, i, 0));
        metrics_printf(&b, "\",state=\"%s\"} %s\n", PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
    }
    head(&b, "his_outbox_oldest_age_seconds", "gauge", "Age of the oldest outbox message not acknowledged, by target and state.");
    for (int i = 0; r && i < PQntuples(r); i++) {
        metrics_printf(&b, "his_outbox_oldest_age_seconds{target=\"");
        metrics_label(&b, PQgetvalue(r, i, 0));
        metrics_printf(&b, "\",state=\"%s\"} %.3f\n", PQgetvalue(r, i, 1), atof(PQgetvalue(r, i, 3)));
    }

    r = db_ok ? q(req, "SELECT count(*), coalesce(extract(epoch FROM now() - min(received_at)), 0)::float8 "
                       "FROM hl7.messages WHERE state = 'received'")
              : NULL;
    head(&b, "his_hl7_inbound_queue", "gauge", "HL7 messages received and acknowledged but not processed yet.");
    if (r && PQntuples(r) == 1)
        metrics_printf(&b, "his_hl7_inbound_queue %s\n", PQgetvalue(r, 0, 0));
    head(&b, "his_hl7_inbound_oldest_age_seconds", "gauge", "Age of the oldest HL7 message waiting for processing.");
    if (r && PQntuples(r) == 1)
        metrics_printf(&b, "his_hl7_inbound_oldest_age_seconds %.3f\n", atof(PQgetvalue(r, 0, 1)));

    /* Replication: standbys streaming from us (walsender), our own replay
     * when we are a standby, and the province's subscriptions to districts. */
    r = db_ok ? q(req,
                  "SELECT CASE WHEN pid IN (SELECT active_pid FROM pg_replication_slots WHERE slot_type = 'logical' "
                  "  AND active_pid IS NOT NULL) THEN 'subscriber' ELSE 'standby' END, "
                  "  coalesce(application_name, '') || '@' || coalesce(client_addr::text, 'local'), "
                  "  coalesce(extract(epoch FROM replay_lag), 0)::float8, "
                  "  coalesce(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
                  "    ELSE pg_current_wal_lsn() END, replay_lsn), 0)::float8 "
                  "FROM pg_stat_replication "
                  "UNION ALL "
                  "SELECT 'replica', 'self', coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)::float8, "
                  "  coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::float8 "
                  "WHERE pg_is_in_recovery() "
                  "UNION ALL "
                  "SELECT 'subscription', subname, coalesce(extract(epoch FROM now() - latest_end_time), 0)::float8, "
                  "  coalesce(pg_wal_lsn_diff(received_lsn, latest_end_lsn), 0)::float8 "
                  "FROM pg_stat_subscription WHERE relid IS NULL ORDER BY 1, 2")
              : NULL;
    head(&b, "his_replication_lag_seconds", "gauge",
         "Replication lag: kind standby (a physical replica of this server, its replay lag), subscriber (the province's "
         "subscription reading this server), replica (this server is a standby: "
         "time since the last replayed commit), subscription (the province's copy of a district).");
    for (int i = 0; r && i < PQntuples(r); i++) {
        metrics_printf(&b, "his_replication_lag_seconds{kind=\"%s\",name=\"", PQgetvalue(r, i, 0));
        metrics_label(&b, PQgetvalue(r, i, 1));
        metrics_printf(&b, "\"} %.3f\n", atof(PQgetvalue(r, i, 2)));
    }
    head(&b, "his_replication_lag_bytes", "gauge", "Replication lag in WAL bytes, same series as his_replication_lag_seconds.");
    for (int i = 0; r && i < PQntuples(r); i++) {
        metrics_printf(&b, "his_replication_lag_bytes{kind=\"%s\",name=\"", PQgetvalue(r, i, 0));
        metrics_label(&b, PQgetvalue(r, i, 1));
        metrics_printf(&b, "\"} %.0f\n", atof(PQgetvalue(r, i, 3)));
    }
    http_reply_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.s ? b.s : "", b.len);
    free(b.s);
}

void metrics_register_routes(void)
{
    /* Public at the router; the handler itself admits loopback or an admin. */
    http_route("GET", "/metrics", handle_metrics, 0, ROUTE_PUBLIC);
}
