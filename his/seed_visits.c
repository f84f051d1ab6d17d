/* Demo visits: placeholder until the visits module lands. */
#include "his/his.h"

int seed_visits_demo(PGconn *c, bool quiet, char *err, size_t errlen);

int seed_visits_demo(PGconn *c, bool quiet, char *err, size_t errlen)
{
    (void)c;
    (void)quiet;
    (void)err;
    (void)errlen;
    return 0;
}
