/* pharmacy: route registration of the module and the outbox delivery
 * targets of the national portals (see docs/pharmacy.md). */
#include "his/modules.h"
#include "core/outbox.h"
#include "pharmacy/pharmacy.h"

void pharmacy_register_routes(void)
{
    drugs_register_routes();
    rx_register_routes();
    dispense_register_routes();
    stock_register_routes();
    /* The outbox is generic (HL7 and claims reuse it); its listing is
     * registered here because the pharmacy is its first user. */
    outbox_register_routes();
    portal_register_targets();
}
