/* Every HTTP route of the server is registered here, module by module. */
#include "his/his.h"
#include "his/modules.h"
#include "core/app.h"
#include "core/auth.h"
#include "core/http.h"

static void handle_healthz(http_req_t *req)
{
    json_t *j = json_object();
    json_object_set_new(j, "status", json_string("ok"));
    http_reply_json(req, 200, j);
}

/* Ready only while the database answers: a load balancer then stops sending
 * work here during an outage, and the pool reconnects by itself. */
static void handle_readyz(http_req_t *req)
{
    bool ok = db_pool_ping(req->app->db);
    json_t *j = json_object();
    json_object_set_new(j, "status", json_string(ok ? "ready" : "unavailable"));
    json_object_set_new(j, "database", json_string(ok ? "ok" : "unreachable"));
    if (!ok)
        http_add_header(req, "Retry-After", "5");
    http_reply_json(req, ok ? 200 : 503, j);
}

void his_register_routes(void)
{
    http_routes_clear();
    http_route("GET", "/healthz", handle_healthz, 0, ROUTE_PUBLIC);
    http_route("GET", "/readyz", handle_readyz, 0, ROUTE_PUBLIC);
    auth_register_routes();
    his_modules_register_routes();
}
