/* Demo pharmacy data for `his seed demo`: the drug catalogue from
 * schema/data/drugs_demo.csv, portal accounts matching `his portal-sim`'s
 * default password, and opening stock at the district hospital (19010) and
 * the retail pharmacy (19201): two lots per drug, one near expiry, plus one
 * expired lot to show the refusal; then a year of prescriptions, their
 * dispensings and portal states (seed_rx.c). All synthetic. */
#include "his/his.h"
#include "pharmacy/pharmacy.h"

#include <stdio.h>
#include <string.h>

#ifndef HIS_SRCDIR
#define HIS_SRCDIR "."
#endif

static int run(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "pharmacy seed: %s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

static const char *ACCOUNTS_SQL =
    /* Doctors' link codes for the national prescription system (they differ
     * from practising-certificate numbers in reality; synthetic here). */
    "INSERT INTO pharmacy.portal_accounts (facility_id, user_id, portal, login, facility_link, secret)"
    " SELECT u.facility_id, u.id, 'prescription', 'BS-' || upper(replace(u.username, '.', '')), f.code, 'Demo@2026'"
    " FROM core.users u JOIN core.facilities f ON f.id = u.facility_id WHERE u.role = 'doctor'"
    " ON CONFLICT DO NOTHING;"
    "INSERT INTO pharmacy.portal_accounts (facility_id, portal, login, secret)"
    " SELECT f.id, 'pharmacy', 'QLD-' || f.code, 'Demo@2026' FROM core.facilities f"
    "  WHERE f.level IN ('pharmacy', 'district_hospital', 'provincial_hospital', 'commune_station')"
    " ON CONFLICT DO NOTHING;"
    "INSERT INTO pharmacy.portal_accounts (facility_id, portal, login, secret)"
    " SELECT f.id, 'rx-lookup', 'his-demo-' || f.code, 'Demo@2026' FROM core.facilities f"
    "  WHERE f.level IN ('pharmacy', 'district_hospital', 'provincial_hospital', 'commune_station')"
    " ON CONFLICT DO NOTHING";

static const char *STOCK_SQL =
    "WITH fac AS (SELECT id, code FROM core.facilities WHERE code IN ('19010', '19201')),"
    " rc AS (INSERT INTO pharmacy.receipts (facility_id, kind, supplier, note)"
    "        SELECT id, 3, 'Tồn đầu kỳ', 'Dữ liệu mẫu' FROM fac RETURNING id, facility_id),"
    " lots AS (INSERT INTO pharmacy.stock_lots (facility_id, drug_code, lot, expiry, quantity, unit_price)"
    "   SELECT fac.id, d.code, 'DM' || right(d.code, 4) || v.suffix,"
    "          (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date + v.days,"
    "          CASE WHEN d.rx_class IN ('narcotic', 'psychotropic') THEN v.qty / 10 ELSE v.qty END,"
    "          d.insurance_price"
    "   FROM fac CROSS JOIN catalog.drugs d"
    "   CROSS JOIN (VALUES ('A', 45, 200), ('B', 540, 1000)) AS v(suffix, days, qty)"
    "   WHERE d.source = 'demo'"
    "   UNION ALL"
    "   SELECT fac.id, 'T0001', 'DM0001X', (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date - 20, 50, 450 FROM fac"
    "   RETURNING id, facility_id, quantity)"
    " INSERT INTO pharmacy.stock_moves (facility_id, lot_id, kind, quantity, receipt_id)"
    " SELECT lots.facility_id, lots.id, 'receipt', lots.quantity, rc.id FROM lots JOIN rc USING (facility_id)"
    " WHERE lots.quantity > 0";

int seed_pharmacy_demo(PGconn *c, bool quiet, char *err, size_t errlen)
{
    long n = drugs_load_csv(c, HIS_SRCDIR "/schema/data/drugs_demo.csv", "demo", false, err, errlen);
    if (n < 0)
        return -1;
    if (run(c, ACCOUNTS_SQL, err, errlen) < 0 || run(c, STOCK_SQL, err, errlen) < 0)
        return -1;
    if (!quiet)
        printf("pharmacy: %ld drugs, opening stock at 19010 and 19201, portal accounts (password Demo@2026)\n", n);
    return seed_rx_demo(c, quiet, err, errlen);
}
