/* catalog: placeholder until the module lands; registers no route yet. */
#include "his/modules.h"

void catalog_register_routes(void)
{
}
