/* Every HTTP route of the server is registered here, module by module. */
#include "his/his.h"
#include "his/modules.h"
#include "core/app.h"
#include "core/auth.h"
#include "core/http.h"

#include <stdio.h>
#include <string.h>

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

/* his routes: every route of the router, one per line, tab-separated:
 * METHOD, PATTERN, allowed roles (comma-separated, or "public") and flags.
 * tests/api/authz_matrix.test.mjs compares it with the authorization matrix. */
int cmd_routes(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("Usage: his routes\n  prints METHOD<TAB>PATTERN<TAB>ROLES<TAB>FLAGS for every HTTP route\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "Usage: his routes\n");
        return 2;
    }
    static const char *names[] = {"doctor", "nurse", "pharmacist", "commune_worker", "claims_officer",
                                  "health_department", "admin"};
    his_register_routes();
    for (size_t i = 0; i < http_route_count(); i++) {
        const struct http_route_def *r = http_route_at(i);
        printf("%s\t%s\t", r->method, r->pattern);
        if (r->flags & ROUTE_PUBLIC) {
            printf("public");
        } else {
            bool first = true;
            for (unsigned b = 0; b < sizeof names / sizeof *names; b++)
                if (r->roles & (1u << b)) {
                    printf("%s%s", first ? "" : ",", names[b]);
                    first = false;
                }
        }
        printf("\t%s\n", r->flags & ROUTE_NO_CSRF ? "no_csrf" : "-");
    }
    return 0;
}
