/* Administrative subcommands: db, user, facility, audit, seed. Each opens
 * the database the same way as serve (embedded cluster or HIS_DATABASE_URL). */
#include "his/his.h"
#include "core/audit.h"
#include "core/auth.h"
#include "core/db.h"
#include "core/migrate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const enum config_key db_keys[] = {CFG_DATA_DIR, CFG_DATABASE_URL, CFG_SCHEMA_DIR, CFG_LOG_LEVEL,
                                          CFG_CONFIG_FILE, CFG__COUNT};

/* ---- his db ------------------------------------------------------------ */

static int db_migrate(int argc, char **argv)
{
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(argc, argv, db_keys, "Usage: his db migrate [--data-dir DIR] [--database-url URL]\n"
                            "Applies pending schema/NNN_name.sql migrations, each in one transaction.",
                            &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    struct his_db db;
    PGconn *c = his_command_connect(&cfg, &db, false);
    if (!c)
        return 1;
    char err[4096];
    int n = migrate_apply(c, his_schema_dir(&cfg), stdout, err, sizeof err);
    his_command_close(c, &db);
    if (n < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    printf("%d migration(s) applied\n", n);
    return 0;
}

static int db_status(int argc, char **argv)
{
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(argc, argv, db_keys, "Usage: his db status [--data-dir DIR] [--database-url URL]\n"
                            "Lists pending and changed migrations; exit 1 if any is pending or changed.",
                            &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    struct his_db db;
    PGconn *c = his_command_connect(&cfg, &db, false);
    if (!c)
        return 1;
    char err[1024];
    struct migration_status st;
    rc = migrate_status(c, his_schema_dir(&cfg), &st, stdout, err, sizeof err);
    his_command_close(c, &db);
    if (rc < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    printf("applied %d, pending %d, changed %d\n", st.applied, st.pending, st.changed);
    return st.pending || st.changed ? 1 : 0;
}

/* Provided by his/province.c: the replication role's conninfo, the demo province. */
int prov_replication_conninfo(const char *conninfo, char *out, size_t outlen);
int prov_seed_site(PGconn *c, const char *code, bool quiet, char *err, size_t errlen);
int prov_seed_demo_province(const struct config *cfg);

static int db_conninfo(int argc, char **argv)
{
    struct config cfg;
    const char *pos[32];
    int np;
    static const char *const bools[] = {"--replication", NULL};
    bool bv[1] = {false};
    int rc = his_parse_args(argc, argv, db_keys, "Usage: his db conninfo [--replication] [--data-dir DIR] [--database-url URL]\n"
                            "Prints a libpq connection string to the database. --replication: as the role\n"
                            "his_replication, the one for `his province add-district --conninfo` at the province:\n"
                            "after `his db replication-listen`, over TCP to its listener with the role's password,\n"
                            "sslmode=verify-full and sslrootcert=DATA_DIR/replication-root.crt (copy that file to the\n"
                            "province and put its path there in the string); otherwise through the socket.",
                            &cfg, pos, &np, bools, bv);
    if (rc)
        return rc == 3 ? 0 : rc;
    const char *url = config_get(&cfg, CFG_DATABASE_URL);
    if (url && bv[0]) {
        char out[4800];
        if (prov_replication_conninfo(url, out, sizeof out) < 0) {
            fprintf(stderr, "his: --database-url is not a valid connection string\n");
            return 1;
        }
        puts(out);
        return 0;
    }
    if (url) {
        puts(url);
        return 0;
    }
    char err[1024];
    if (bv[0]) {
        /* With a replication listener (his db replication-listen): its TCP
         * string, password and root certificate included. */
        char tcp[8192];
        int have = repl_conninfo(config_get(&cfg, CFG_DATA_DIR), tcp, sizeof tcp, err, sizeof err);
        if (have < 0) {
            fprintf(stderr, "his: %s\n", err);
            return 1;
        }
        if (have > 0) {
            puts(tcp);
            if (isatty(2))
                fprintf(stderr, "his: copy the sslrootcert file to the province and give its path there in this string "
                                "(add-district keeps its own copy of it)\n");
            return 0;
        }
    }
    struct his_db db;
    if (his_db_open(&cfg, &db, err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    char repl[4800];
    if (bv[0] && prov_replication_conninfo(db.conninfo, repl, sizeof repl) == 0)
        puts(repl);
    else
        puts(db.conninfo);
    /* Leave a cluster we started running? No: the string is for later use,
     * and a stopped data dir is started by whoever connects through his. */
    his_db_close(&db);
    return 0;
}

int ops_backup(int argc, char **argv);
int ops_restore(int argc, char **argv);
int ops_standby(int argc, char **argv);
int ops_promote(int argc, char **argv);

int cmd_db(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "Usage: his db migrate | status | conninfo | replication-listen | backup | restore | standby | promote "
                     "[--help]\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "migrate"))
        return db_migrate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "status"))
        return db_status(argc - 1, argv + 1);
    if (!strcmp(argv[1], "conninfo"))
        return db_conninfo(argc - 1, argv + 1);
    if (!strcmp(argv[1], "replication-listen")) /* his/replication.c */
        return repl_cmd_listen(argc - 1, argv + 1);
    if (!strcmp(argv[1], "backup")) /* his/cmd_ops.c */
        return ops_backup(argc - 1, argv + 1);
    if (!strcmp(argv[1], "restore"))
        return ops_restore(argc - 1, argv + 1);
    if (!strcmp(argv[1], "standby"))
        return ops_standby(argc - 1, argv + 1);
    if (!strcmp(argv[1], "promote"))
        return ops_promote(argc - 1, argv + 1);
    fprintf(stderr, "his db: unknown subcommand '%s'\n", argv[1]);
    return 2;
}

/* ---- his user add ------------------------------------------------------ */

static int read_password_stdin(char *out, size_t outlen)
{
    if (!fgets(out, (int)outlen, stdin))
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static int user_add(int argc, char **argv)
{
    static const enum config_key keys[] = {CFG_DATA_DIR, CFG_DATABASE_URL, CFG_SCHEMA_DIR, CFG_CONFIG_FILE, CFG__COUNT};
    const char *facility = NULL, *role = NULL, *full_name = NULL;
    bool pw_stdin = false;
    /* Pull our own flags out first, leave the rest to the common parser. */
    char *rest[64];
    int nrest = 0;
    for (int i = 0; i < argc && nrest < 63; i++) {
        if (i > 0 && (!strcmp(argv[i], "--facility") || !strcmp(argv[i], "--role") || !strcmp(argv[i], "--full-name"))) {
            if (i + 1 >= argc) {
                fprintf(stderr, "his: %s needs a value\n", argv[i]);
                return 2;
            }
            const char **dst = !strcmp(argv[i], "--facility") ? &facility : !strcmp(argv[i], "--role") ? &role : &full_name;
            *dst = argv[++i];
        } else if (i > 0 && !strcmp(argv[i], "--password-stdin")) {
            pw_stdin = true;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(nrest, rest, keys,
                            "Usage: his user add --facility CODE --role ROLE [--full-name NAME] [--password-stdin] USERNAME\n"
                            "  roles: doctor, nurse, pharmacist, commune_worker, claims_officer, health_department, admin\n"
                            "  without --password-stdin a random password is generated and printed once\n"
                            "  passwords: at least 8 characters with upper- and lower-case letters, a digit and a symbol",
                            &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (np != 1 || !facility || !role) {
        fprintf(stderr, "his user add: needs --facility CODE --role ROLE USERNAME\n");
        return 2;
    }
    if (!auth_role_valid(role)) {
        fprintf(stderr, "his: unknown role '%s'\n", role);
        return 2;
    }
    const char *username = pos[0];
    char password[300];
    bool generated = false;
    if (pw_stdin) {
        if (read_password_stdin(password, sizeof password) < 0) {
            fprintf(stderr, "his: no password on standard input\n");
            return 1;
        }
        const char *why = auth_password_problem(password, true);
        if (why) {
            fprintf(stderr, "his: weak password: %s (%s)\n", why, auth_password_problem(password, false));
            return 1;
        }
    } else {
        /* 16 random base64url characters, drawn again until they meet the rules. */
        for (int tries = 0;; tries++) {
            char tok[64];
            auth_new_token(tok);
            snprintf(password, sizeof password, "%.16s", tok);
            if (!auth_password_problem(password, true))
                break;
            if (tries > 1000) {
                fprintf(stderr, "his: cannot generate a password\n");
                return 1;
            }
        }
        generated = true;
    }
    char hash[256];
    if (auth_hash_password(password, hash, sizeof hash) < 0) {
        fprintf(stderr, "his: cannot hash the password\n");
        return 1;
    }
    struct his_db db;
    PGconn *c = his_command_connect(&cfg, &db, true);
    if (!c)
        return 1;
    const char *params[5] = {username, full_name ? full_name : "", role, facility, hash};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO core.users (username, full_name, role, facility_id, password_hash) "
                               "SELECT $1, $2, $3, id, $5 FROM core.facilities WHERE code = $4 RETURNING id",
                               5, NULL, params, NULL, NULL, 0);
    rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (st && !strcmp(st, "23505"))
            fprintf(stderr, "his: user '%s' exists already\n", username);
        else if (st && !strcmp(st, "23514"))
            fprintf(stderr, "his: username must be 3-64 characters of a-z 0-9 . _ -\n");
        else
            fprintf(stderr, "his: %s", PQresultErrorMessage(r));
        rc = 1;
    } else if (PQntuples(r) == 0) {
        fprintf(stderr, "his: no facility with code '%s'\n", facility);
        rc = 1;
    } else {
        printf("user %s created (id %s)\n", username, PQgetvalue(r, 0, 0));
        if (generated)
            printf("password: %s\n", password);
    }
    PQclear(r);
    his_command_close(c, &db);
    return rc;
}

int cmd_user(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "add"))
        return user_add(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("Usage: his user add --facility CODE --role ROLE [--password-stdin] USERNAME\n");
        return 0;
    }
    fprintf(stderr, "Usage: his user add --facility CODE --role ROLE [--password-stdin] USERNAME\n");
    return 2;
}

/* ---- his facility add -------------------------------------------------- */

static int facility_add(int argc, char **argv)
{
    static const enum config_key keys[] = {CFG_DATA_DIR, CFG_DATABASE_URL, CFG_SCHEMA_DIR, CFG_CONFIG_FILE, CFG__COUNT};
    const char *code = NULL, *level = NULL, *name = NULL, *province = NULL, *commune = NULL;
    char *rest[64];
    int nrest = 0;
    for (int i = 0; i < argc && nrest < 63; i++) {
        const char **dst = NULL;
        if (i > 0) {
            if (!strcmp(argv[i], "--code")) dst = &code;
            else if (!strcmp(argv[i], "--level")) dst = &level;
            else if (!strcmp(argv[i], "--name")) dst = &name;
            else if (!strcmp(argv[i], "--province")) dst = &province;
            else if (!strcmp(argv[i], "--commune")) dst = &commune;
        }
        if (dst) {
            if (i + 1 >= argc) {
                fprintf(stderr, "his: %s needs a value\n", argv[i]);
                return 2;
            }
            *dst = argv[++i];
        } else {
            rest[nrest++] = argv[i];
        }
    }
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(nrest, rest, keys,
                            "Usage: his facility add --code CODE --level LEVEL --name NAME [--province CODE] [--commune CODE]\n"
                            "  CODE: 5 characters, the first two the province code\n"
                            "  levels: commune_station, district_hospital, provincial_hospital, pharmacy, health_department",
                            &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (np || !code || !level || !name) {
        fprintf(stderr, "his facility add: needs --code CODE --level LEVEL --name NAME\n");
        return 2;
    }
    if (!auth_level_valid(level)) {
        fprintf(stderr, "his: unknown level '%s'\n", level);
        return 2;
    }
    bool code_ok = strlen(code) == 5 && isdigit((unsigned char)code[0]) && isdigit((unsigned char)code[1]);
    for (int i = 2; code_ok && i < 5; i++)
        code_ok = isdigit((unsigned char)code[i]) || isupper((unsigned char)code[i]);
    if (!code_ok) {
        fprintf(stderr, "his: facility code must be 5 characters, two digits (province) then digits or capitals\n");
        return 1;
    }
    char prov[3] = {code[0], code[1], 0};
    if (province && strcmp(province, prov) != 0) {
        fprintf(stderr, "his: facility code %s does not start with province code %s\n", code, province);
        return 1;
    }
    struct his_db db;
    PGconn *c = his_command_connect(&cfg, &db, true);
    if (!c)
        return 1;
    const char *params[5] = {code, name, level, prov, commune};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO core.facilities (code, name, level, province_code, commune_code) "
                               "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                               5, NULL, params, NULL, NULL, 0);
    rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (st && !strcmp(st, "23505"))
            fprintf(stderr, "his: facility %s exists already\n", code);
        else
            fprintf(stderr, "his: %s", PQresultErrorMessage(r));
        rc = 1;
    } else {
        printf("facility %s created (id %s)\n", code, PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    his_command_close(c, &db);
    return rc;
}

int cmd_facility(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "add"))
        return facility_add(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("Usage: his facility add --code CODE --level LEVEL --name NAME [--province CODE] [--commune CODE]\n");
        return 0;
    }
    fprintf(stderr, "Usage: his facility add --code CODE --level LEVEL --name NAME\n");
    return 2;
}

/* ---- his audit verify -------------------------------------------------- */

int cmd_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            printf("Usage: his audit verify [--data-dir DIR] [--database-url URL]\n");
            return 0;
        }
        fprintf(stderr, "Usage: his audit verify [--data-dir DIR] [--database-url URL]\n");
        return 2;
    }
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(argc - 1, argv + 1, db_keys,
                            "Usage: his audit verify [--data-dir DIR] [--database-url URL]\n"
                            "Recomputes every facility's audit hash chain; exit 1 if a row was altered or deleted.",
                            &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    struct his_db db;
    PGconn *c = his_command_connect(&cfg, &db, false);
    if (!c)
        return 1;
    long rows = 0;
    long problems = audit_verify(c, stderr, &rows);
    his_command_close(c, &db);
    if (problems < 0)
        return 1;
    if (problems > 0) {
        fprintf(stderr, "audit chain broken: %ld problem(s) in %ld rows\n", problems, rows);
        return 1;
    }
    printf("audit chain intact: %ld rows\n", rows);
    return 0;
}

/* ---- his seed ---------------------------------------------------------- */

/* Provided by his/seed_clinical.c: the benchmark generator. */
int seed_province(PGconn *c, long people, long households, unsigned seed, bool quiet, char *err, size_t errlen);

#define SEED_PROVINCE_USAGE                                                                                       \
    "Usage: his seed province --people N --households M [--seed S] [--data-dir DIR] [--database-url URL]\n"       \
    "Generates a province for benchmarks: N people in M households at commune stations (deterministic per seed)."

/* his seed province: takes its own numeric flags out, the rest as usual. */
static int cmd_seed_province(int argc, char **argv)
{
    long people = 0, households = 0;
    unsigned long seed = 1;
    char *rest[64];
    int nrest = 0;
    for (int i = 0; i < argc && nrest < 63; i++) {
        long *dst = !strcmp(argv[i], "--people") ? &people : !strcmp(argv[i], "--households") ? &households : NULL;
        bool is_seed = !strcmp(argv[i], "--seed");
        if (!dst && !is_seed) {
            rest[nrest++] = argv[i];
            continue;
        }
        char *end;
        if (i + 1 >= argc || (is_seed ? (seed = strtoul(argv[i + 1], &end, 10), 0) : (*dst = strtol(argv[i + 1], &end, 10), 0)) ||
            *end || argv[i + 1][0] == '\0' || argv[i + 1][0] == '-') {
            fprintf(stderr, "his: %s needs a number\n", argv[i]);
            return 2;
        }
        i++;
    }
    rest[nrest] = NULL;
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(nrest, rest, db_keys, SEED_PROVINCE_USAGE, &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (people <= 0 || households <= 0 || people < households || np > 0) {
        fprintf(stderr, "%s\n", SEED_PROVINCE_USAGE);
        return 2;
    }
    struct his_db db;
    PGconn *c = his_command_connect(&cfg, &db, true);
    if (!c)
        return 1;
    char err[1024];
    rc = seed_province(c, people, households, (unsigned)seed, false, err, sizeof err);
    his_command_close(c, &db);
    if (rc < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    return 0;
}

int cmd_seed(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "province") == 0)
        return cmd_seed_province(argc - 1, argv + 1);
    if (argc < 2 || (strcmp(argv[1], "demo") != 0)) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            printf("Usage: his seed demo [--data-dir DIR] [--database-url URL]\n"
                   "       his seed province --people N --households M [--seed S]\n");
            return 0;
        }
        fprintf(stderr, "Usage: his seed demo [--data-dir DIR] [--database-url URL]\n");
        return 2;
    }
    struct config cfg;
    const char *pos[32];
    int np;
    const char *site = NULL;
    char *rest[64];
    int nrest = 0;
    for (int i = 1; i < argc && nrest < 63; i++) {
        if (i > 1 && !strcmp(argv[i], "--site") && i + 1 < argc)
            site = argv[++i];
        else
            rest[nrest++] = argv[i];
    }
    static const char *const bools[] = {"--province", NULL};
    bool bv[1] = {false};
    int rc = his_parse_args(nrest, rest, db_keys,
                            "Usage: his seed demo [--province | --site CODE] [--data-dir DIR] [--database-url URL]\n"
                            "Fills a small demo province: facilities of every level, staff, households, a year of visits.\n"
                            "  --province   the whole province on this machine: one cluster per server under\n"
                            "               DATA_DIR/province/<code> (19010, 19020 districts, 19001 province), subscribed\n"
                            "  --site CODE  one server of it: node identity CODE and only its facilities' data",
                            &cfg, pos, &np, bools, bv);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (bv[0])
        return prov_seed_demo_province(&cfg);
    struct his_db db;
    PGconn *c = his_command_connect(&cfg, &db, true);
    if (!c)
        return 1;
    if (seed_demo_present(c)) {
        fprintf(stderr, "his: demo data is present already\n");
        his_command_close(c, &db);
        return 1;
    }
    char err[1024];
    rc = site ? prov_seed_site(c, site, false, err, sizeof err) : seed_demo(c, false, err, sizeof err);
    his_command_close(c, &db);
    if (rc < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    return 0;
}
