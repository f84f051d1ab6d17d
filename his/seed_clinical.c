/* Demo clinical data: households and patients (this file), then visits
 * (seed_visits.c). Placeholder until the patients module lands. */
#include "his/his.h"

int seed_clinical_demo(PGconn *c, bool quiet, char *err, size_t errlen);
int seed_visits_demo(PGconn *c, bool quiet, char *err, size_t errlen);

int seed_clinical_demo(PGconn *c, bool quiet, char *err, size_t errlen)
{
    return seed_visits_demo(c, quiet, err, errlen);
}
