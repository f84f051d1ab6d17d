/* Route registration of the clinical and other server modules. Each module
 * file defines its own NAME_register_routes(); modules.c calls them all. */
#ifndef HIS_MODULES_H
#define HIS_MODULES_H

void his_modules_register_routes(void);

#endif
