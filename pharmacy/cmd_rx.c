/* his rx verify CODE: checks a prescription's signature against the rows as
 * they are stored now (exit 0 valid, 1 invalid, tampered or unknown).
 * his rx load-drugs FILE: loads a drug catalogue CSV (same layout as
 * schema/data/drugs_demo.csv). Both open the database like every command
 * (--data-dir / --database-url). */
#include "his/his.h"
#include "core/db.h"
#include "pharmacy/pharmacy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const enum config_key rx_keys[] = {CFG_DATA_DIR, CFG_DATABASE_URL, CFG_LOG_LEVEL, CFG_CONFIG_FILE, CFG__COUNT};

static int verify(PGconn *c, const char *code_in)
{
    char code[RX_CODE_LEN + 1];
    snprintf(code, sizeof code, "%s", code_in);
    if (!rx_code_valid(code_in)) {
        fprintf(stderr, "his rx verify: %s is not a prescription code (xxxxxyyyyyyy-z)\n", code_in);
        return 1;
    }
    if (code[13] >= 'a' && code[13] <= 'z')
        code[13] = (char)(code[13] - 32);
    const char *p[1] = {code};
    PGresult *r = PQexecParams(c,
                               "SELECT p.id, p.signature, k.public_key, f.code FROM pharmacy.prescriptions p"
                               " JOIN core.facilities f ON f.id = p.facility_id"
                               " LEFT JOIN pharmacy.facility_keys k ON k.facility_id = p.facility_id"
                               " WHERE p.code = $1 AND p.origin = 'local'",
                               1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "his rx verify: %s", PQresultErrorMessage(r));
        PQclear(r);
        return 1;
    }
    if (PQntuples(r) != 1) {
        fprintf(stderr, "his rx verify: %s: no prescription issued here with this code\n", code);
        PQclear(r);
        return 1;
    }
    long long id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    const char *sig = PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1);
    const char *pub = PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2);
    int rc = 1;
    char err[512];
    size_t len;
    char *canon = rx_canonical_from_db(c, id, &len, err, sizeof err);
    if (!canon)
        fprintf(stderr, "his rx verify: %s: %s\n", code, err);
    else if (!sig || !pub)
        fprintf(stderr, "his rx verify: %s: not signed\n", code);
    else if (!rx_verify(pub, (const unsigned char *)canon, len, sig))
        fprintf(stderr, "his rx verify: %s: INVALID: the signature does not match the stored prescription "
                        "(changed after signing, or signed with another key)\n", code);
    else {
        printf("%s: valid signature (Ed25519, facility %s)\n", code, PQgetvalue(r, 0, 3));
        rc = 0;
    }
    free(canon);
    PQclear(r);
    return rc;
}

int cmd_rx(int argc, char **argv)
{
    static const char *usage = "Usage: his rx verify CODE [--data-dir DIR] [--database-url URL]\n"
                               "       his rx load-drugs FILE [--data-dir DIR] [--database-url URL]\n"
                               "  verify      check a prescription's facility signature (exit 0 valid, 1 not)\n"
                               "  load-drugs  load a drug catalogue CSV (columns as schema/data/drugs_demo.csv)";
    if (argc < 2 || (strcmp(argv[1], "verify") && strcmp(argv[1], "load-drugs"))) {
        bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
        fprintf(help ? stdout : stderr, "%s\n", usage);
        return help ? 0 : 2;
    }
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(argc - 1, argv + 1, rx_keys, usage, &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (np != 1) {
        fprintf(stderr, "his rx %s: one %s expected\n", argv[1], !strcmp(argv[1], "verify") ? "CODE" : "FILE");
        config_free(&cfg);
        return 2;
    }
    struct his_db db;
    PGconn *c = his_command_connect(&cfg, &db, false);
    if (!c) {
        config_free(&cfg);
        return 1;
    }
    if (!strcmp(argv[1], "verify")) {
        rc = verify(c, pos[0]);
    } else {
        char err[1024];
        long n = drugs_load_csv(c, pos[0], "file", true, err, sizeof err);
        if (n < 0) {
            fprintf(stderr, "his rx load-drugs: %s\n", err);
            rc = 1;
        } else {
            printf("%ld drug(s) loaded\n", n);
        }
    }
    PQfinish(c);
    his_db_close(&db);
    config_free(&cfg);
    return rc;
}
