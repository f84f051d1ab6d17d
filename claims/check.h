/* Validation before anything leaves: each table against its XML Schema
 * (schema/xsd/, libxml2 xmlSchemaValidateDoc: unknown, missing or
 * out-of-order elements and bad formats are rejected), then the business
 * checks the assessment portal applies, run on the written tables (not on
 * the C structures), so what is checked is what is sent. Each failure names
 * the visit (MA_LK), the table, the field and the rule. */
#ifndef CLAIMS_CHECK_H
#define CLAIMS_CHECK_H

#include "claims/claim.h"

typedef struct claim_schemas claim_schemas_t;
/* Loads XML1..5, XML13 and GIAMDINHHS .xsd from dir. Shared read-only by
 * every thread once loaded. */
claim_schemas_t *claim_schemas_load(const char *dir, char *err, size_t errlen);
void claim_schemas_free(claim_schemas_t *s);

/* Per-thread validation contexts over shared schemas. */
typedef struct claim_validator claim_validator_t;
claim_validator_t *claim_validator_new(claim_schemas_t *s);
void claim_validator_free(claim_validator_t *v);

/* ICD-10 look-up for the business checks: true if the code exists;
 * *main_allowed whether it may be the main diagnosis. */
typedef bool (*claim_icd_fn)(void *ctx, const char *code, bool *main_allowed);

/* The tables of one visit, in claim_tables order (NULL: not applicable). */
typedef struct claim_docs {
    char *xml[6];
    size_t len[6];
} claim_docs_t;
void claim_docs_free(claim_docs_t *d);

/* Prices the visit, writes its tables, validates them (XSD, then business
 * rules). Returns the number of issues added (0: ready to send). d is filled
 * even when invalid, for the drill-down. */
int claim_build_visit(claim_validator_t *val, claim_visit_t *v, struct arena *a, claim_icd_fn icd, void *icd_ctx,
                      claim_docs_t *d, claim_issues_t *is);

/* Validates one table document (table 1..5 or 13) against its schema. */
int claim_validate_table(claim_validator_t *val, int table, const char *xml, size_t len, const char *ma_lk,
                         claim_issues_t *is);
/* Validates a whole GIAMDINHHS document against its schema. */
int claim_validate_envelope(claim_validator_t *val, const char *xml, size_t len, claim_issues_t *is);

#endif
