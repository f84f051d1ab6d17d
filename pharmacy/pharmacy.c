/* pharmacy: placeholder until the module lands; registers no route yet. */
#include "his/modules.h"

void pharmacy_register_routes(void)
{
}
