/* The assessment (claims) portal inside `his portal-sim`: see
 * portal_sim_claims.c. portal_sim.c routes the URLs this claims to it. */
#ifndef PHARMACY_PORTAL_SIM_CLAIMS_H
#define PHARMACY_PORTAL_SIM_CLAIMS_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

/* /api/token/take, /api/qd130/..., /_sim/claims/... */
bool portal_sim_claims_match(const char *url);
enum MHD_Result portal_sim_claims_dispatch(struct MHD_Connection *c, const char *method, const char *url,
                                           const char *body, bool *processed);
/* For GET /_sim/received?kind=claims: [{code, count, sends, rejected, national_code}]. */
json_t *portal_sim_claims_received(void);
void portal_sim_claims_reset(void);

#endif
