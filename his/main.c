/* his: the hospital information system's one binary. */
#include "his/his.h"
#include "claims/claims.h"
#include "hl7/hl7_cli.h"
#include "his/hl7_engine.h"
#include "pharmacy/pharmacy.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static int cmd_hl7(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct command commands[] = {
    {"serve", cmd_serve, "run the HTTP API, web UI and background workers"},
    {"db", cmd_db, "db migrate | status | conninfo | replication-listen | backup ...: the database"},
    {"user", cmd_user, "user add: create an account"},
    {"facility", cmd_facility, "facility add: register a facility"},
    {"seed", cmd_seed, "seed demo: fill a small demo province"},
    {"audit", cmd_audit, "audit verify: check the audit log's hash chains"},
    {"catalog", cmd_catalog, "catalog load icd10 FILE: load a reference catalogue"},
    {"hl7", cmd_hl7, "hl7 parse | validate | to-xml | from-xml | send: HL7 v2 tools"},
    {"rx", cmd_rx, "rx verify CODE | load-drugs FILE: e-prescription signatures, drug catalogue"},
    {"portal-sim", cmd_portal_sim, "stand-in national prescription and pharmacy portals (tests, demo)"},
    {"province", cmd_province, "province node | add-district | status | remove-district | refresh: the data link"},
    {"claims", cmd_claims, "claims export: the signed GIAMDINHHS file of a month (QĐ 130/4750)"},
    {"routes", cmd_routes, "routes: every HTTP route with its allowed roles (tests, review)"},
    {"version", cmd_version, "print the version"},
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: his COMMAND [ARGS...]\n\nHệ thống thông tin bệnh viện (hospital information system)\n\nCommands:\n");
    for (const struct command *c = commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\nEvery command takes --help. Configuration: flags, then environment (HIS_*), then a config file.\n");
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    puts("his " PACKAGE_VERSION);
    return 0;
}

static int cmd_hl7(int argc, char **argv)
{
    static const struct command sub[] = {
        {"parse", hl7_cli_parse, "parse messages (--roundtrip, --json, --count)"},
        {"validate", hl7_cli_validate, "validate messages"},
        {"to-xml", hl7_cli_to_xml, "ER7 to HL7 v2 XML"},
        {"from-xml", hl7_cli_from_xml, "HL7 v2 XML to ER7"},
        {"send", hl7_cli_send, "send over MLLP and print each ACK"},
        {"listen", cmd_hl7_listen, "run only the MLLP listener (store, ACK, process)"},
        {"peer", cmd_hl7_peer, "peer add | list | remove: where peer facilities listen"},
        {NULL, NULL, NULL},
    };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "Usage: his hl7 SUBCOMMAND [ARGS...]\n");
        for (const struct command *c = sub; c->name; c++)
            fprintf(out, "  %-10s %s\n", c->name, c->summary);
        return argc < 2 ? 2 : 0;
    }
    for (const struct command *c = sub; c->name; c++)
        if (strcmp(argv[1], c->name) == 0)
            return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "his hl7: unknown subcommand '%s'\n", argv[1]);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(argc, argv);
    for (const struct command *c = commands; c->name; c++)
        if (strcmp(argv[1], c->name) == 0)
            return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "his: unknown command '%s' (see his --help)\n", argv[1]);
    return 2;
}
