/* The claims module inside the his binary: batches and their HTTP routes
 * (batches.c), the claim-input query (source.c), the facility's signer and
 * the assessment-portal delivery through the outbox (portal.c), and
 * `his claims export` (cmd_claims.c). */
#ifndef CLAIMS_CLAIMS_H
#define CLAIMS_CLAIMS_H

#include <libpq-fe.h>
#include <stdio.h>

#include "claims/check.h"
#include "claims/sign.h"
#include "claims/xml.h"
#include "core/arena.h"

struct app;
struct config;

/* Claim-input JSON of closed insured visits: $1 facility id, $2 month's
 * first day or NULL, $3 visit id or NULL. Columns: id, patient_id,
 * revision, ma_lk, input. */
extern const char claim_source_sql[];

/* Schemas under <schema dir>/xsd, loaded once for the process. */
claim_schemas_t *claim_schemas_for(const struct config *cfg);

/* ICD-10 set from catalog.icd10 for the business checks. */
typedef struct claim_icd_set claim_icd_set_t;
claim_icd_set_t *claim_icd_load(PGresult *r, arena_t *a); /* r: code, main_allowed ("t"/"f") */
bool claim_icd_lookup(void *set, const char *code, bool *main_allowed);
extern const char claim_icd_sql[];

/* The facility's signer: HIS_CLAIMS_KEY_FILE/HIS_CLAIMS_CERT_FILE when set,
 * else claims.signing_keys (made on first use). c: owner connection. */
int claim_signer_for(PGconn *c, long long facility_id, const char *facility_code, claim_signer_t *s, char *err,
                     size_t errlen);

/* One signed GIAMDINHHS for the given records (HOSO bytes concatenated). */
int claim_envelope(const claim_signer_t *s, const char *facility_code, const char *ngaylap, int count,
                   const char *hoso, size_t len, claim_buf_t *out);

/* The outbox target "claims-portal". */
void claims_portal_register(void);

int cmd_claims(int argc, char **argv);
void claims_register_routes(void);

#endif
