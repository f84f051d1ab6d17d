/* phr: placeholder until the module lands; registers no route yet. */
#include "his/modules.h"

void phr_register_routes(void)
{
}
