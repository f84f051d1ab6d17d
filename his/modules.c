#include "his/modules.h"

void his_modules_register_routes(void)
{
    catalog_register_routes();
    patients_register_routes();
    households_register_routes();
    visits_register_routes();
    phr_register_routes();
    pharmacy_register_routes();
    province_register_routes();
    referrals_register_routes();
    claims_register_routes();
    dashboard_register_routes();
    metrics_register_routes();
}
