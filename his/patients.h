/* Patients: the pieces households.c shares with patients.c (a new patient
 * can be registered while adding a household member). */
#ifndef HIS_PATIENTS_H
#define HIS_PATIENTS_H

#include <stdbool.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "core/db.h"
#include "core/http.h"

/* One patient as text fields (NULL: absent), before and after checks. */
struct patient_rec {
    const char *full_name, *birth, *sex, *cccd, *phone, *ethnicity, *nationality, *occupation;
    const char *province_code, *commune_code, *village, *line, *old_district_code;
    const char *card_number, *card_from, *card_to, *card_facility;
    /* derived by patient_rec_check */
    const char *name_fold, *birth_date, *birth_year;
};

/* Columns selected for patient_json, in its order. */
#define PATIENT_COLS                                                                                              \
    "p.id, p.code, p.full_name, to_char(p.birth_date, 'YYYY-MM-DD'), p.birth_year, p.sex, p.cccd, p.phone, "     \
    "p.ethnicity, p.nationality, p.occupation, p.province_code, p.commune_code, p.village, p.address_line, "      \
    "p.old_district_code, p.card_number, to_char(p.card_valid_from, 'YYYY-MM-DD'), "                              \
    "to_char(p.card_valid_to, 'YYYY-MM-DD'), p.card_primary_facility, p.merged_into, p.version, "                  \
    "to_char(p.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), to_char(p.updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF')"
#define PATIENT_NCOLS 24

void patient_rec_defaults(struct patient_rec *p);
/* Overlays the members present in obj (JSON null clears a field); field
 * paths in errors are prefixed with prefix ("" or "patient."). */
void patient_rec_from_json(json_t *obj, const char *prefix, struct patient_rec *p, verr_t *v, http_req_t *req);
/* Checks the whole record and fills the derived fields. */
void patient_rec_check(struct patient_rec *p, const char *prefix, verr_t *v, http_req_t *req);
/* INSERT ... RETURNING PATIENT_COLS in the caller's facility; NULL on a
 * failed statement (the transaction is then failed). */
PGresult *patient_insert(db_tx_t *tx, const struct patient_rec *p);
/* Duplicate candidates among live patients of the facility: same CCCD, same
 * card, same phone + name + birth year, or same name + full birth date.
 * Returns a JSON array of {id, code, full_name, birth_date, reason} (empty
 * when none) or NULL on a failed statement. */
json_t *patient_duplicates(db_tx_t *tx, const struct patient_rec *p);
/* Replies 409 naming the candidates (steals cands). */
void patient_reply_duplicates(http_req_t *req, json_t *cands);
json_t *patient_json(PGresult *r, int row);

#endif
