/* visits: placeholder until the module lands; registers no route yet. */
#include "his/modules.h"

void visits_register_routes(void)
{
}
