/* Helpers shared by the prescription, dispensing and stock handlers. */
#ifndef PHARMACY_RX_COMMON_H
#define PHARMACY_RX_COMMON_H

#include "core/handler.h"
#include "pharmacy/pharmacy.h"

#define RX_TZ "Asia/Ho_Chi_Minh"
#define RX_MAX_ITEMS 30

/* The prescription as the API shows it (local or imported), with its portal
 * state; NULL if absent (RLS: another facility's is absent). patient_id and
 * version are set when found. */
json_t *rx_json(http_req_t *req, db_tx_t *tx, const char *code, long long *patient_id, long long *version);

/* Finds the prescription `code` of this facility, locking it FOR UPDATE when
 * lock; when absent and the code is another facility's, fetches it from the
 * national portal and keeps a local copy (origin 'portal'). On success
 * returns the id with the transaction open; otherwise it has replied
 * (404/502/503) and the transaction is closed, and returns 0. */
long long rx_find_or_import(http_req_t *req, db_tx_t *tx, const char *code, bool lock);

/* Parses a JSON array member "items" (1..RX_MAX_ITEMS objects), adding
 * errors to v. */
json_t *rx_items_array(json_t *body, verr_t *v, http_req_t *req);

#endif
