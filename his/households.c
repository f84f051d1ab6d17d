/* households: placeholder until the module lands; registers no route yet. */
#include "his/modules.h"

void households_register_routes(void)
{
}
