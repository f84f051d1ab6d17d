/* his seed demo: a small province (Thái Nguyên, code 19) with facilities of
 * every level and their staff. Clinical data (households, patients, a year
 * of visits) is added by seed_clinical_demo. All names are synthetic. */
#include "his/his.h"
#include "core/auth.h"

#include <stdio.h>
#include <string.h>

#define DEMO_PASSWORD "Demo@2026"

struct demo_facility {
    const char *code, *name, *level, *commune;
};

static const struct demo_facility demo_facilities[] = {
    {"19000", "Sở Y tế tỉnh Thái Nguyên", "health_department", NULL},
    {"19001", "Bệnh viện Đa khoa tỉnh Thái Nguyên", "provincial_hospital", NULL},
    {"19010", "Trung tâm Y tế khu vực Phú Bình", "district_hospital", NULL},
    {"19020", "Trung tâm Y tế khu vực Đại Từ", "district_hospital", NULL},
    {"19101", "Trạm Y tế xã Phúc Lộc", "commune_station", "01894"},
    {"19102", "Trạm Y tế xã Ba Bể", "commune_station", "01906"},
    {"19201", "Nhà thuốc Minh Tâm", "pharmacy", NULL},
    {NULL, NULL, NULL, NULL},
};

struct demo_user {
    const char *username, *full_name, *role, *facility;
};

static const struct demo_user demo_users[] = {
    {"admin", "Quản trị hệ thống", "admin", "19010"},
    {"bs.an", "BS. Nguyễn Văn An", "doctor", "19010"},
    {"bs.binh", "BS. Trần Thị Bình", "doctor", "19020"},
    {"bs.tinh", "BS. Lê Quang Tỉnh", "doctor", "19001"},
    {"dd.hoa", "ĐD. Phạm Thị Hoa", "nurse", "19010"},
    {"ds.lan", "DS. Hoàng Thị Lan", "pharmacist", "19010"},
    {"ds.tam", "DS. Vũ Minh Tâm", "pharmacist", "19201"},
    {"yt.phucloc", "Đinh Thị Thu (TYT Phúc Lộc)", "commune_worker", "19101"},
    {"yt.babe", "Ma Văn Sáng (TYT Ba Bể)", "commune_worker", "19102"},
    {"bh.minh", "Đỗ Văn Minh", "claims_officer", "19010"},
    {"syt.thu", "Bùi Thị Thu", "health_department", "19000"},
    {NULL, NULL, NULL, NULL},
};

/* Provided by the clinical module (his/seed_clinical.c). */
int seed_clinical_demo(PGconn *c, bool quiet, char *err, size_t errlen);

bool seed_demo_present(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT 1 FROM core.facilities WHERE code = '19010'");
    bool present = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
    PQclear(r);
    return present;
}

static int exec_params(PGconn *c, const char *sql, int n, const char *const *p, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

int seed_demo(PGconn *c, bool quiet, char *err, size_t errlen)
{
    PQclear(PQexec(c, "BEGIN"));
    for (const struct demo_facility *f = demo_facilities; f->code; f++) {
        const char *p[4] = {f->code, f->name, f->level, f->commune};
        if (exec_params(c,
                        "INSERT INTO core.facilities (code, name, level, province_code, commune_code) "
                        "VALUES ($1, $2, $3, '19', $4)",
                        4, p, err, errlen) < 0)
            goto fail;
    }
    /* One hash for all demo accounts: they share the documented password,
     * and scrypt is deliberately slow. */
    char hash[256];
    if (auth_hash_password(DEMO_PASSWORD, hash, sizeof hash) < 0) {
        snprintf(err, errlen, "cannot hash the demo password");
        goto fail;
    }
    for (const struct demo_user *u = demo_users; u->username; u++) {
        const char *p[5] = {u->username, u->full_name, u->role, u->facility, hash};
        if (exec_params(c,
                        "INSERT INTO core.users (username, full_name, role, facility_id, password_hash) "
                        "SELECT $1, $2, $3, id, $5 FROM core.facilities WHERE code = $4",
                        5, p, err, errlen) < 0)
            goto fail;
    }
    if (seed_clinical_demo(c, quiet, err, errlen) < 0)
        goto fail;
    PQclear(PQexec(c, "COMMIT"));
    if (!quiet)
        printf("demo province loaded: %zu facilities, %zu accounts (password %s)\n",
               sizeof demo_facilities / sizeof *demo_facilities - 1, sizeof demo_users / sizeof *demo_users - 1,
               DEMO_PASSWORD);
    return 0;
fail:
    PQclear(PQexec(c, "ROLLBACK"));
    return -1;
}
