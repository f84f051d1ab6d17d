/* patients: placeholder until the module lands; registers no route yet. */
#include "his/modules.h"

void patients_register_routes(void)
{
}
