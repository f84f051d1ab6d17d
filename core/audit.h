/* Audit: every read and write of patient data is recorded in the same
 * transaction as the access, in an append-only table whose rows are
 * hash-chained per facility by a trigger (see schema/001_core.sql).
 * audit_verify recomputes the chain here, independently of the database. */
#ifndef CORE_AUDIT_H
#define CORE_AUDIT_H

#include <stdio.h>
#include "core/db.h"
#include "core/http.h"

/* action: read, search, create, update, delete, merge, login, logout, ...
 * outcome: ok, denied, not_found, invalid, conflict, error */
int audit_record(db_tx_t *tx, http_req_t *req, const char *action, const char *entity, const char *entity_id,
                 long long patient_id, const char *outcome, const char *detail);
/* For outcomes whose transaction was rolled back (denied, not found, error):
 * writes the audit row in a transaction of its own. */
void audit_record_alone(http_req_t *req, const char *action, const char *entity, const char *entity_id,
                        long long patient_id, const char *outcome, const char *detail);
/* Walks every chain; returns the number of problems found (0: intact),
 * printing each to out. -1 if the database could not be read. */
long audit_verify(PGconn *c, FILE *out, long *rows_checked);
/* The canonical byte string hashed for one row: each field as
 * "<octet length>:<bytes>;" so no separator can be forged. */
char *audit_canonical(const char *const *fields, int n, size_t *len);

#endif
