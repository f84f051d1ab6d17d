/* Route registration of the clinical and other server modules. Each module
 * file defines its own NAME_register_routes(); modules.c calls them all. */
#ifndef HIS_MODULES_H
#define HIS_MODULES_H

void his_modules_register_routes(void);

void patients_register_routes(void);
void households_register_routes(void);
void visits_register_routes(void);
void phr_register_routes(void);
void catalog_register_routes(void);
void pharmacy_register_routes(void);
void province_register_routes(void);
void referrals_register_routes(void);
void claims_register_routes(void);
void dashboard_register_routes(void);
void metrics_register_routes(void);

/* his/phr.c: the health record as it now stands becomes a version row (also
 * after a patient merge). False on a database error. */
#include <stdbool.h>
#include "core/db.h"
bool phr_save_version(db_tx_t *tx, const char *patient_id, const char *user_id);

#endif
