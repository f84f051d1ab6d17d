#include "his/modules.h"

void his_modules_register_routes(void)
{
}
