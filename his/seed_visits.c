/* Demo visits (issue 4 point 6): the ICD-10 demo list and a short service
 * catalogue, then a year of visits for the demo patients (diagnoses that
 * follow the seasons and ages, vitals, services with results, most closed,
 * some referred, today's still open) and health records for the commune
 * stations' patients.
 *
 * Deterministic: the same patients seeded on the same day give the same
 * rows (a fixed-seed generator per patient). Dates are counted back from the
 * seeding day so every screen has recent data on first start. Rows go in by
 * COPY, a few thousand per second at worst.
 *
 * The ICD-10 demo list is schema/data/icd10_demo.csv (found beside the
 * migrations: HIS_SCHEMA_DIR or the source tree), loaded only when the
 * catalogue is empty, so a catalogue loaded from the ministry's file first is
 * kept. */
#include "his/his.h"
#include "core/text.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef HIS_SRCDIR
#define HIS_SRCDIR "."
#endif

int seed_visits_demo(PGconn *c, bool quiet, char *err, size_t errlen);
int catalog_load_icd10(PGconn *c, const char *path, const char *source, bool replace, bool own_tx, long *inserted,
                       long *updated, long *invalidated, char *err, size_t errlen);
const char *visit_coverage_of(const char *card, const char *valid_from, const char *valid_to, const char *primary,
                              const char *facility_code, const char *facility_level, const char *kind,
                              const char *referral_from, const char *date, int out_pct[3], bool *card_valid);

/* ---- a growing text buffer for COPY --------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* One COPY text field: NULL as \N, backslash, tab and newlines escaped. */
static void buf_field(struct buf *b, const char *s, bool last)
{
    if (!s) {
        buf_put(b, "\\N", 2);
    } else {
        for (const char *q = s; *q; q++) {
            if (*q == '\\' || *q == '\t' || *q == '\n' || *q == '\r') {
                char e[2] = {'\\', *q == '\t' ? 't' : *q == '\n' ? 'n' : *q == '\r' ? 'r' : '\\'};
                buf_put(b, e, 2);
            } else {
                buf_put(b, q, 1);
            }
        }
    }
    buf_put(b, last ? "\n" : "\t", 1);
}

static void buf_fieldf(struct buf *b, bool last, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void buf_fieldf(struct buf *b, bool last, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_field(b, tmp, last);
}

static int exec_ok(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

static int copy_rows(PGconn *c, const char *copy_sql, const struct buf *b, char *err, size_t errlen)
{
    if (b->len == 0)
        return 0;
    PGresult *r = PQexec(c, copy_sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    int rc = 0;
    if (PQputCopyData(c, b->p, (int)b->len) != 1 || PQputCopyEnd(c, NULL) != 1) {
        snprintf(err, errlen, "%s", PQerrorMessage(c));
        rc = -1;
    }
    while ((r = PQgetResult(c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "%s", PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

/* ---- deterministic randomness --------------------------------------------- */

static unsigned long long rng_state;

static void rng_seed(unsigned long long s)
{
    rng_state = s * 6364136223846793005ULL + 1442695040888963407ULL;
}

static unsigned rng(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return n ? (unsigned)((rng_state >> 33) % n) : 0;
}

static double rng_range(double lo, double hi)
{
    return lo + (hi - lo) * (double)rng(10001) / 10000.0;
}

/* ---- catalogues -------------------------------------------------------------- */

static const struct demo_service {
    const char *code, *kind, *name, *unit;
    double price;
    int group;
    const char *result_unit, *reference_range;
} demo_services[] = {
    {"KB.0001", "service", "Khám bệnh đa khoa", "lần", 30500, 13, NULL, NULL},
    {"XN.0001", "service", "Tổng phân tích tế bào máu ngoại vi (bằng máy đếm laser)", "lần", 46200, 1, "G/L", "4.0-10.0"},
    {"XN.0002", "service", "Định lượng glucose máu", "lần", 21500, 1, "mmol/L", "3.9-6.4"},
    {"XN.0003", "service", "Định lượng HbA1c", "lần", 101000, 1, "%", "4.0-6.0"},
    {"XN.0004", "service", "Test nhanh kháng nguyên Dengue NS1", "lần", 130000, 1, NULL, "Âm tính"},
    {"XN.0005", "service", "Tổng phân tích nước tiểu (bằng máy tự động)", "lần", 27400, 1, NULL, NULL},
    {"XN.0006", "service", "Định lượng creatinin máu", "lần", 21500, 1, "µmol/L", "62-120"},
    {"XN.0007", "service", "Định lượng cholesterol toàn phần", "lần", 26900, 1, "mmol/L", "3.9-5.2"},
    {"HA.0001", "service", "Chụp X-quang ngực thẳng", "lần", 65400, 2, NULL, NULL},
    {"HA.0002", "service", "Siêu âm ổ bụng (gan mật, tụy, lách, thận, bàng quang)", "lần", 43900, 2, NULL, NULL},
    {"TDCN.0001", "service", "Điện tim thường", "lần", 32800, 3, NULL, NULL},
    {"TT.0001", "service", "Khí dung thuốc cấp cứu", "lần", 20000, 8, NULL, NULL},
    {"TT.0002", "service", "Thay băng vết thương chiều dài dưới 15 cm", "lần", 57600, 8, NULL, NULL},
    {"TT.0003", "service", "Khâu vết thương phần mềm tổn thương nông chiều dài dưới 10 cm", "lần", 180000, 8, NULL, NULL},
    {"GB.0001", "service", "Ngày giường bệnh Nội khoa (loại 3)", "ngày", 171100, 14, NULL, NULL},
    {"VT.0001", "supply", "Bơm tiêm nhựa dùng một lần 5 ml", "cái", 900, 10, NULL, NULL},
    {"VT.0002", "supply", "Dây truyền dịch", "bộ", 5500, 10, NULL, NULL},
    {"VT.0003", "supply", "Bông y tế thấm nước", "gói", 6000, 10, NULL, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};

static int seed_services(PGconn *c, char *err, size_t errlen)
{
    struct buf b = {0};
    char fold[600];
    for (const struct demo_service *s = demo_services; s->code; s++) {
        buf_field(&b, s->code, false);
        buf_field(&b, s->kind, false);
        buf_field(&b, s->name, false);
        text_fold(s->name, fold, sizeof fold);
        buf_field(&b, fold, false);
        buf_field(&b, s->unit, false);
        buf_fieldf(&b, false, "%.3f", s->price);
        buf_fieldf(&b, false, "%d", s->group);
        buf_field(&b, s->result_unit, false);
        buf_field(&b, s->reference_range, true);
    }
    int rc = exec_ok(c, "CREATE TEMP TABLE services_load (LIKE catalog.services INCLUDING DEFAULTS) ON COMMIT DROP", err, errlen);
    if (rc == 0)
        rc = copy_rows(c, "COPY pg_temp.services_load (code, kind, name, name_fold, unit, price, group_code, "
                          "result_unit, reference_range) FROM STDIN", &b, err, errlen);
    if (rc == 0)
        rc = exec_ok(c, "INSERT INTO catalog.services (code, kind, name, name_fold, unit, price, group_code, "
                        "result_unit, reference_range) SELECT code, kind, name, name_fold, unit, price, group_code, "
                        "result_unit, reference_range FROM pg_temp.services_load ON CONFLICT (code) DO NOTHING",
                     err, errlen);
    free(b.p);
    return rc;
}

static int seed_icd10(PGconn *c, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT count(*) FROM catalog.icd10");
    long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    if (n != 0)
        return n < 0 ? (snprintf(err, errlen, "cannot read catalog.icd10"), -1) : 0;
    const char *dir = getenv("HIS_SCHEMA_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/data/icd10_demo.csv", dir && *dir ? dir : HIS_SRCDIR "/schema");
    long ins, upd, inv;
    return catalog_load_icd10(c, path, "icd10_demo.csv", false, false, &ins, &upd, &inv, err, errlen);
}

/* ---- what a visit looks like --------------------------------------------- */

struct dx_choice {
    const char *icd10;
    const char *secondary;   /* may be NULL */
    bool fever, respiratory;
    const char *services;    /* codes separated by spaces; results are generated */
    const char *reason;
};

static const struct dx_choice child_dx[] = {
    {"J00", NULL, true, true, "KB.0001", "Sốt, sổ mũi"},
    {"J06.9", NULL, true, true, "KB.0001", "Sốt, ho, đau họng"},
    {"J20.9", NULL, true, true, "KB.0001 TT.0001", "Ho nhiều, khò khè"},
    {"J18.9", "R50.9", true, true, "KB.0001 XN.0001 HA.0001", "Sốt cao, ho, thở nhanh"},
    {"A09", "E86", true, false, "KB.0001 XN.0001", "Tiêu chảy, nôn"},
    {"H66.9", NULL, true, false, "KB.0001", "Đau tai, sốt"},
    {"L20.9", NULL, false, false, "KB.0001", "Ngứa, nổi ban"},
    {"E44.0", NULL, false, false, "KB.0001 XN.0001", "Chậm tăng cân"},
};
static const struct dx_choice adult_dx[] = {
    {"J06.9", NULL, true, true, "KB.0001", "Ho, đau họng"},
    {"J02.9", NULL, true, true, "KB.0001", "Đau họng, nuốt đau"},
    {"K29.7", NULL, false, false, "KB.0001", "Đau thượng vị"},
    {"K21.9", NULL, false, false, "KB.0001", "Ợ chua, nóng rát sau xương ức"},
    {"M54.5", NULL, false, false, "KB.0001", "Đau thắt lưng"},
    {"N39.0", NULL, true, false, "KB.0001 XN.0005", "Tiểu buốt, tiểu rắt"},
    {"G44.2", NULL, false, false, "KB.0001", "Đau đầu"},
    {"L50.9", NULL, false, false, "KB.0001", "Nổi mẩn ngứa"},
    {"S93.4", NULL, false, false, "KB.0001 TT.0002", "Trẹo chân"},
    {"T14.1", NULL, false, false, "KB.0001 TT.0003 VT.0003", "Vết thương do tai nạn lao động"},
    {"J20.9", NULL, true, true, "KB.0001 HA.0001", "Ho kéo dài"},
};
static const struct dx_choice elder_dx[] = {
    {"I10", NULL, false, false, "KB.0001 TDCN.0001", "Đau đầu, chóng mặt, huyết áp cao"},
    {"E11.9", "I10", false, false, "KB.0001 XN.0002 XN.0003", "Khám đái tháo đường"},
    {"J44.9", NULL, false, true, "KB.0001 HA.0001", "Khó thở, ho khạc đờm"},
    {"M17.9", NULL, false, false, "KB.0001", "Đau khớp gối"},
    {"I25.1", "I10", false, false, "KB.0001 TDCN.0001 XN.0007", "Đau ngực khi gắng sức"},
    {"E78.5", NULL, false, false, "KB.0001 XN.0007", "Kiểm tra mỡ máu"},
    {"H25.9", NULL, false, false, "KB.0001", "Mờ mắt"},
    {"K29.7", NULL, false, false, "KB.0001 HA.0002", "Đau thượng vị"},
};
/* Seasonal: dengue July-November; hand-foot-mouth March-May and
 * September-November in small children; measles in winter and spring;
 * influenza in winter. */
static const struct dx_choice dengue = {"A90", "D69.6", true, false, "KB.0001 XN.0001 XN.0004", "Sốt cao 3 ngày, đau mỏi người"};
static const struct dx_choice dengue_severe = {"A91", "D69.6", true, false, "KB.0001 XN.0001 XN.0004 VT.0002 GB.0001", "Sốt, xuất huyết dưới da"};
static const struct dx_choice hfmd = {"B08.4", NULL, true, false, "KB.0001", "Sốt, loét miệng, phỏng nước bàn tay bàn chân"};
static const struct dx_choice measles = {"B05.9", NULL, true, true, "KB.0001 XN.0001", "Sốt, phát ban, ho, chảy nước mắt"};
static const struct dx_choice influenza = {"J11.1", NULL, true, true, "KB.0001", "Sốt, đau mỏi người, ho"};
static const struct dx_choice stroke = {"I63.9", "I10", false, false, "KB.0001 XN.0001 XN.0002 VT.0002 GB.0001", "Yếu nửa người đột ngột"};
static const struct dx_choice pneumonia_adult = {"J18.9", NULL, true, true, "KB.0001 XN.0001 HA.0001 VT.0002 GB.0001", "Sốt, ho, khó thở"};

#define N_OF(a) (sizeof a / sizeof *a)

static const struct dx_choice *pick_dx(int age, int month, bool chronic, const char **kind)
{
    *kind = "outpatient";
    unsigned r = rng(100);
    if (chronic && r < 70)
        return rng(3) == 0 ? &elder_dx[1] : &elder_dx[0];
    if (month >= 7 && month <= 11 && r < 18) {
        if (rng(6) == 0) {
            *kind = "inpatient";
            return &dengue_severe;
        }
        return &dengue;
    }
    if (age < 6 && ((month >= 3 && month <= 5) || (month >= 9 && month <= 11)) && r < 35)
        return &hfmd;
    if (age < 15 && (month <= 4 || month == 12) && r < 6)
        return &measles;
    if ((month <= 2 || month == 12) && r < 25)
        return &influenza;
    if (age >= 60 && r > 96) {
        *kind = rng(2) ? "emergency" : "inpatient";
        return &stroke;
    }
    if (age >= 15 && r > 95) {
        *kind = "inpatient";
        return &pneumonia_adult;
    }
    if (age < 15)
        return &child_dx[rng(N_OF(child_dx))];
    if (age < 60)
        return &adult_dx[rng(N_OF(adult_dx))];
    return rng(3) ? &elder_dx[rng(N_OF(elder_dx))] : &adult_dx[rng(N_OF(adult_dx))];
}

/* ---- the patients ----------------------------------------------------------- */

struct seed_patient {
    const char *id, *facility_id, *facility_code, *level, *card, *from, *to, *primary, *sex;
    int age;
};

struct staff {
    const char *facility_id, *user_id;
};

static const char *pick_staff(const struct staff *st, int nst, const char *facility_id)
{
    int n = 0;
    for (int i = 0; i < nst; i++)
        n += strcmp(st[i].facility_id, facility_id) == 0;
    if (!n)
        return NULL;
    int k = (int)rng((unsigned)n);
    for (int i = 0; i < nst; i++)
        if (strcmp(st[i].facility_id, facility_id) == 0 && k-- == 0)
            return st[i].user_id;
    return NULL;
}

/* The facility a station or district hospital refers to (demo codes). */
static const char *referral_target(const char *level)
{
    if (strcmp(level, "commune_station") == 0)
        return "19010";
    if (strcmp(level, "district_hospital") == 0)
        return "19001";
    return "01001"; /* a central hospital outside the demo province */
}

static void day_string(time_t today, int days_back, char out[11], int *month)
{
    time_t t = today - (time_t)days_back * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
    *month = tm.tm_mon + 1;
}

struct out_bufs {
    struct buf visits, dx, svc;
    long nvisits;
    long long next_id;
};

/* One visit's result value for a service, plausible for the diagnosis. */
static void service_result(const char *code, const struct dx_choice *dx, char *val, size_t vlen, const char **text)
{
    *text = NULL;
    val[0] = '\0';
    if (!strcmp(code, "XN.0001"))
        snprintf(val, vlen, "%.1f", dx->fever && strcmp(dx->icd10, "A90") && strcmp(dx->icd10, "A91")
                                        ? rng_range(10.5, 16.0) : rng_range(3.0, 9.0));
    else if (!strcmp(code, "XN.0002"))
        snprintf(val, vlen, "%.1f", !strncmp(dx->icd10, "E11", 3) ? rng_range(7.0, 12.5) : rng_range(4.2, 6.3));
    else if (!strcmp(code, "XN.0003"))
        snprintf(val, vlen, "%.1f", rng_range(6.2, 9.5));
    else if (!strcmp(code, "XN.0004"))
        snprintf(val, vlen, "%s", dx->icd10[0] == 'A' ? "Dương tính" : "Âm tính");
    else if (!strcmp(code, "XN.0006"))
        snprintf(val, vlen, "%.0f", rng_range(60, 140));
    else if (!strcmp(code, "XN.0007"))
        snprintf(val, vlen, "%.1f", rng_range(4.0, 7.2));
    else if (!strcmp(code, "HA.0001"))
        *text = !strcmp(dx->icd10, "J18.9") ? "Đám mờ thùy dưới phổi phải" : "Không thấy tổn thương nhu mô phổi";
    else if (!strcmp(code, "HA.0002"))
        *text = "Gan, mật, tụy, lách, thận không thấy bất thường";
    else if (!strcmp(code, "TDCN.0001"))
        *text = "Nhịp xoang đều";
    else if (!strcmp(code, "XN.0005"))
        *text = !strcmp(dx->icd10, "N39.0") ? "Bạch cầu niệu (+), nitrit (+)" : "Bình thường";
}

static const struct demo_service *service_def(const char *code)
{
    for (const struct demo_service *s = demo_services; s->code; s++)
        if (!strcmp(s->code, code))
            return s;
    return NULL;
}

static void emit_visit(struct out_bufs *o, const struct seed_patient *p, const char *doctor, const char *day,
                       int month, bool open, bool chronic)
{
    const char *kind;
    const struct dx_choice *dx = pick_dx(p->age, month, chronic, &kind);
    long long id = o->next_id++;
    o->nvisits++;
    int hh = 7 + (int)rng(10), mi = (int)rng(60);
    char received[40], discharged[40], ma_lk[40], yymmdd[7];
    snprintf(received, sizeof received, "%s %02d:%02d:00+07", day, hh, mi);
    snprintf(yymmdd, sizeof yymmdd, "%.2s%.2s%.2s", day + 2, day + 5, day + 8);
    snprintf(ma_lk, sizeof ma_lk, "%s%s%08lld", p->facility_code, yymmdd, id);
    int stay_days = !strcmp(kind, "inpatient") ? 3 + (int)rng(5) : !strcmp(kind, "emergency") ? 1 : 0;
    snprintf(discharged, sizeof discharged, "%s %02d:%02d:00+07", day, hh + (stay_days ? 0 : 1), mi);
    bool referred = !open && (dx == &stroke || (!strcmp(kind, "inpatient") && rng(4) == 0) || rng(40) == 0) &&
                    strcmp(p->level, "provincial_hospital") != 0;
    int pct[3];
    bool valid;
    const char *route = visit_coverage_of(p->card, p->from, p->to, p->primary, p->facility_code, p->level, kind,
                                          NULL, day, pct, &valid);
    /* vitals by age and diagnosis */
    bool child = p->age < 15;
    int pulse = child ? 90 + (int)rng(40) : 62 + (int)rng(36);
    double temp = dx->fever ? rng_range(37.8, 39.6) : rng_range(36.4, 37.2);
    if (dx->fever)
        pulse += 10;
    int sys = 0, dia = 0;
    if (!child) {
        bool htn = !strcmp(dx->icd10, "I10") || (dx->secondary && !strcmp(dx->secondary, "I10")) || dx == &stroke;
        sys = htn ? 140 + (int)rng(35) : 102 + (int)rng(36);
        dia = htn ? 85 + (int)rng(15) : 62 + (int)rng(24);
    }
    int resp = child ? 24 + (int)rng(14) + (dx->respiratory ? 8 : 0) : 16 + (int)rng(6) + (dx->respiratory ? 4 : 0);
    double weight = p->age < 1 ? rng_range(4, 9) : child ? 8 + 2.6 * p->age + rng_range(-2, 3) : rng_range(43, 72);
    double height = p->age < 1 ? rng_range(55, 75) : child ? 75 + 6.2 * p->age + rng_range(-5, 5) : rng_range(148, 174);

    struct buf *b = &o->visits;
    buf_fieldf(b, false, "%lld", id);
    buf_field(b, p->facility_id, false);
    buf_field(b, p->id, false);
    buf_field(b, ma_lk, false);
    buf_field(b, kind, false);
    buf_field(b, open ? "open" : "closed", false);
    buf_field(b, received, false);
    buf_field(b, strcmp(kind, "inpatient") == 0 ? received : NULL, false);
    if (open) {
        buf_field(b, NULL, false);
    } else {
        char end[40];
        if (stay_days) {
            time_t t0;
            struct tm tm = {0};
            sscanf(day, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            t0 = timegm(&tm) + (time_t)stay_days * 86400;
            gmtime_r(&t0, &tm);
            snprintf(end, sizeof end, "%04d-%02d-%02d 09:30:00+07", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        } else {
            snprintf(end, sizeof end, "%s", discharged);
        }
        buf_field(b, end, false);
    }
    buf_field(b, dx->reason, false);
    buf_field(b, !strcmp(kind, "outpatient") ? "K01" : !strcmp(kind, "emergency") ? "K02" : "K03", false);
    buf_field(b, doctor, false);
    buf_fieldf(b, false, "%d", pulse);
    buf_fieldf(b, false, "%.1f", temp);
    if (sys) {
        buf_fieldf(b, false, "%d", sys);
        buf_fieldf(b, false, "%d", dia);
    } else {
        buf_field(b, NULL, false);
        buf_field(b, NULL, false);
    }
    buf_fieldf(b, false, "%d", resp);
    buf_fieldf(b, false, "%.1f", weight);
    buf_fieldf(b, false, "%.0f", height);
    buf_field(b, open ? NULL : "Khám lâm sàng; chỉ định và kết quả cận lâm sàng như dưới.", false);
    buf_field(b, open ? NULL : referred ? "3" : rng(3) ? "2" : "1", false);
    buf_field(b, open ? NULL : referred ? "2" : "1", false);
    buf_field(b, referred ? referral_target(p->level) : NULL, false);
    buf_field(b, referred ? "Vượt quá khả năng chuyên môn" : NULL, false);
    buf_field(b, p->card, false);
    if (pct[0])
        buf_fieldf(b, false, "%d", pct[0]);
    else
        buf_field(b, NULL, false);
    buf_field(b, p->from, false);
    buf_field(b, p->to, false);
    buf_field(b, p->primary, false);
    buf_field(b, valid ? "t" : "f", false);
    buf_field(b, route, false);
    buf_fieldf(b, false, "%d", pct[1]);
    buf_fieldf(b, false, "%d", pct[2]);
    buf_fieldf(b, false, "%.2f", pct[1] * pct[2] / 100.0);
    buf_field(b, doctor, false);
    buf_field(b, received, true);

    /* diagnoses: the primary and at most one secondary; an open visit of
     * today may not have one yet */
    if (!open || rng(2)) {
        buf_fieldf(&o->dx, false, "%lld", id);
        buf_field(&o->dx, p->facility_id, false);
        buf_field(&o->dx, "0", false);
        buf_field(&o->dx, dx->icd10, false);
        buf_field(&o->dx, "t", true);
        if (dx->secondary) {
            buf_fieldf(&o->dx, false, "%lld", id);
            buf_field(&o->dx, p->facility_id, false);
            buf_field(&o->dx, "1", false);
            buf_field(&o->dx, dx->secondary, false);
            buf_field(&o->dx, "f", true);
        }
    }
    /* the dx is fixed before this point, so the emit stays in step */
    char codes[200];
    snprintf(codes, sizeof codes, "%s", dx->services);
    int seq = 0;
    char *save = NULL;
    for (char *code = strtok_r(codes, " ", &save); code; code = strtok_r(NULL, " ", &save)) {
        const struct demo_service *s = service_def(code);
        if (!s)
            continue;
        char val[32];
        const char *text;
        service_result(code, dx, val, sizeof val, &text);
        bool has_result = !open && (val[0] || text);
        struct buf *sb = &o->svc;
        buf_fieldf(sb, false, "%lld", id);
        buf_field(sb, p->facility_id, false);
        buf_fieldf(sb, false, "%d", seq++);
        buf_field(sb, code, false);
        buf_fieldf(sb, false, "%d", !strcmp(code, "GB.0001") ? (stay_days ? stay_days : 1) : 1);
        buf_fieldf(sb, false, "%.3f", s->price);
        buf_field(sb, received, false);
        buf_field(sb, doctor, false);
        buf_field(sb, open ? NULL : received, false);
        buf_field(sb, has_result && val[0] ? val : NULL, false);
        buf_field(sb, has_result && val[0] ? s->result_unit : NULL, false);
        buf_field(sb, has_result ? text : NULL, false);
        buf_field(sb, has_result ? s->reference_range : NULL, false);
        buf_field(sb, has_result ? discharged : NULL, true);
    }
}

/* ---- health records for the commune stations' patients ------------------- */

static void emit_record(struct buf *rec, struct buf *ver, const struct seed_patient *p, int year_now, bool chronic,
                        const char *user)
{
    json_t *identity = json_object(), *history = json_object(), *prevention = json_object();
    static const char *const abo[] = {"A", "B", "AB", "O"};
    json_object_set_new(identity, "blood_group_abo", json_string(abo[rng(4)]));
    json_object_set_new(identity, "blood_group_rh", json_string("+"));
    json_object_set_new(identity, "marital_status", json_string(p->age < 20 ? "single" : "married"));
    json_t *vacc = json_array();
    int birth = year_now - p->age;
    /* the expanded-programme schedule, for those born recently enough */
    static const struct {
        const char *vaccine;
        int dose, month;
    } epi[] = {{"BCG", 1, 0},        {"Viêm gan B sơ sinh", 1, 0}, {"DPT-VGB-Hib", 1, 2}, {"OPV", 1, 2},
               {"DPT-VGB-Hib", 2, 3}, {"OPV", 2, 3},               {"DPT-VGB-Hib", 3, 4}, {"OPV", 3, 4},
               {"Sởi", 1, 9},        {"Sởi - Rubella", 1, 18},    {"DPT", 4, 18}};
    if (p->age <= 12)
        for (size_t i = 0; i < N_OF(epi); i++) {
            int y = birth + (epi[i].month + 3) / 12, m = 1 + (epi[i].month + 3) % 12;
            if (y > year_now || (p->age == 0 && epi[i].month > 3))
                break;
            json_t *v = json_object();
            json_object_set_new(v, "vaccine", json_string(epi[i].vaccine));
            json_object_set_new(v, "dose", json_integer(epi[i].dose));
            char d[32];
            snprintf(d, sizeof d, "%04d-%02d-%02d", y, m, 1 + (int)rng(27));
            json_object_set_new(v, "date", json_string(d));
            json_object_set_new(v, "place", json_string("Trạm Y tế xã"));
            json_array_append_new(vacc, v);
        }
    json_object_set_new(prevention, "vaccinations", vacc);
    if (chronic) {
        json_t *cd = json_array(), *c1 = json_object(), *fu = json_array();
        json_object_set_new(c1, "icd10", json_string("I10"));
        json_object_set_new(c1, "name", json_string("Tăng huyết áp"));
        char d[32];
        snprintf(d, sizeof d, "%04d", year_now - 1 - (int)rng(8));
        json_object_set_new(c1, "diagnosed_on", json_string(d));
        json_object_set_new(c1, "program", json_string("Quản lý bệnh không lây nhiễm tại trạm"));
        for (int m = 1; m <= 3; m++) {
            json_t *f = json_object();
            snprintf(d, sizeof d, "%04d-%02d", year_now, m * 3);
            json_object_set_new(f, "date", json_string(d));
            json_object_set_new(f, "systolic", json_integer(130 + (int)rng(30)));
            json_object_set_new(f, "diastolic", json_integer(80 + (int)rng(15)));
            json_array_append_new(fu, f);
        }
        json_object_set_new(c1, "follow_ups", fu);
        json_array_append_new(cd, c1);
        json_object_set_new(prevention, "chronic_diseases", cd);
        json_t *risk = json_array(), *r1 = json_object();
        json_object_set_new(r1, "type", json_string(strcmp(p->sex, "male") == 0 ? "smoking" : "physical_inactivity"));
        json_object_set_new(r1, "status", json_string("current"));
        json_array_append_new(risk, r1);
        json_object_set_new(history, "risk_factors", risk);
    }
    if (rng(8) == 0) {
        json_t *al = json_array(), *a1 = json_object();
        json_object_set_new(a1, "type", json_string("drug"));
        json_object_set_new(a1, "agent", json_string("Penicillin"));
        json_object_set_new(a1, "reaction", json_string("Nổi mẩn ngứa"));
        json_array_append_new(al, a1);
        json_object_set_new(history, "allergies", al);
    }
    char *si = json_dumps(identity, JSON_COMPACT), *sh = json_dumps(history, JSON_COMPACT),
         *sp = json_dumps(prevention, JSON_COMPACT);
    buf_field(rec, p->id, false);
    buf_field(rec, p->facility_id, false);
    buf_field(rec, si, false);
    buf_field(rec, sh, false);
    buf_field(rec, sp, false);
    buf_field(rec, user, true);
    buf_field(ver, p->id, false);
    buf_field(ver, "1", false);
    buf_field(ver, p->facility_id, false);
    buf_field(ver, si, false);
    buf_field(ver, sh, false);
    buf_field(ver, sp, false);
    buf_field(ver, "{identity,history,prevention}", false);
    buf_field(ver, user, true);
    free(si);
    free(sh);
    free(sp);
    json_decref(identity);
    json_decref(history);
    json_decref(prevention);
}

/* ---- the whole seed ---------------------------------------------------- */

static int load_people(PGconn *c, PGresult **pr, PGresult **sr, char *err, size_t errlen)
{
    *pr = PQexec(c,
                 "SELECT p.id, p.facility_id, f.code, f.level, p.card_number, to_char(p.card_valid_from, 'YYYY-MM-DD'), "
                 "       to_char(p.card_valid_to, 'YYYY-MM-DD'), p.card_primary_facility, p.sex, "
                 "       extract(year FROM now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::int - p.birth_year "
                 "FROM clinical.patients p JOIN core.facilities f ON f.id = p.facility_id "
                 "WHERE p.merged_into IS NULL "
                 "  AND f.level IN ('commune_station', 'district_hospital', 'provincial_hospital') "
                 "  AND NOT EXISTS (SELECT 1 FROM clinical.visits v WHERE v.patient_id = p.id) "
                 "ORDER BY p.id");
    *sr = PQexec(c, "SELECT facility_id, id FROM core.users WHERE role IN ('doctor', 'commune_worker') AND active "
                    "ORDER BY id");
    if (PQresultStatus(*pr) != PGRES_TUPLES_OK || PQresultStatus(*sr) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s%s", PQresultErrorMessage(*pr), PQresultErrorMessage(*sr));
        return -1;
    }
    return 0;
}

static const char *val(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int seed_visits_demo(PGconn *c, bool quiet, char *err, size_t errlen)
{
    if (seed_icd10(c, err, errlen) < 0 || seed_services(c, err, errlen) < 0)
        return -1;
    PGresult *pr = NULL, *sr = NULL;
    if (load_people(c, &pr, &sr, err, errlen) < 0) {
        PQclear(pr);
        PQclear(sr);
        return -1;
    }
    int np = PQntuples(pr), nst = PQntuples(sr);
    struct staff *st = calloc((size_t)nst + 1, sizeof *st);
    for (int i = 0; i < nst; i++)
        st[i] = (struct staff){PQgetvalue(sr, i, 0), PQgetvalue(sr, i, 1)};
    PGresult *tr = PQexec(c, "SELECT to_char(now() AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD'), "
                             "last_value + 1 FROM clinical.visits_id_seq");
    struct tm tm = {0};
    sscanf(PQgetvalue(tr, 0, 0), "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
    int year_now = tm.tm_year;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t today = timegm(&tm);
    struct out_bufs o = {0};
    o.next_id = atoll(PQgetvalue(tr, 0, 1));
    long long first_id = o.next_id;
    PQclear(tr);
    struct buf rec = {0}, ver = {0};
    long nrec = 0;
    for (int i = 0; i < np; i++) {
        struct seed_patient p = {val(pr, i, 0), val(pr, i, 1), val(pr, i, 2), val(pr, i, 3), val(pr, i, 4),
                                 val(pr, i, 5), val(pr, i, 6), val(pr, i, 7), val(pr, i, 8), atoi(val(pr, i, 9))};
        if (p.age < 0)
            p.age = 0;
        rng_seed(20260101ULL ^ (unsigned long long)atoll(p.id) * 2654435761ULL);
        bool chronic = p.age >= 45 && rng(100) < 35;
        int n = chronic ? 8 + (int)rng(6) : (int)rng(5);
        for (int k = 0; k < n; k++) {
            /* chronic patients come about monthly; others at random days */
            int back = chronic ? k * 30 + (int)rng(10) : (int)rng(365);
            if (back > 364)
                continue;
            char day[11];
            int month;
            day_string(today, back, day, &month);
            const char *doctor = pick_staff(st, nst, p.facility_id);
            emit_visit(&o, &p, doctor, day, month, back == 0, chronic);
        }
        if (strcmp(p.level, "commune_station") == 0 && rng(10) < 7) {
            emit_record(&rec, &ver, &p, year_now, chronic, pick_staff(st, nst, p.facility_id));
            nrec++;
        }
    }
    int rc = 0;
    char setval[128];
    snprintf(setval, sizeof setval, "SELECT setval('clinical.visits_id_seq', %lld)", o.next_id - 1);
    if (o.nvisits && exec_ok(c, setval, err, errlen) < 0)
        rc = -1;
    if (rc == 0)
        rc = copy_rows(c,
                       "COPY clinical.visits (id, facility_id, patient_id, ma_lk, kind, state, received_at, "
                       "admitted_at, discharged_at, reason, department, doctor_id, pulse, temperature, systolic, "
                       "diastolic, respiration, weight_kg, height_cm, notes, outcome, discharge_type, referral_to, "
                       "referral_reason, card_number, card_benefit_level, card_valid_from, card_valid_to, "
                       "card_primary_facility, card_valid_at_reception, route, benefit_percent, route_percent, "
                       "coverage_percent, created_by, created_at) FROM STDIN",
                       &o.visits, err, errlen);
    if (rc == 0)
        rc = copy_rows(c, "COPY clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary) FROM STDIN",
                       &o.dx, err, errlen);
    if (rc == 0)
        rc = copy_rows(c,
                       "COPY clinical.visit_services (visit_id, facility_id, seq, code, quantity, unit_price, "
                       "ordered_at, ordered_by, performed_at, result_value, result_unit, result_text, "
                       "reference_range, result_at) FROM STDIN",
                       &o.svc, err, errlen);
    if (rc == 0)
        rc = copy_rows(c,
                       "COPY clinical.health_records (patient_id, facility_id, identity, history, prevention, "
                       "updated_by) FROM STDIN",
                       &rec, err, errlen);
    if (rc == 0)
        rc = copy_rows(c,
                       "COPY clinical.health_record_versions (patient_id, version, facility_id, identity, history, "
                       "prevention, changed_sections, saved_by) FROM STDIN",
                       &ver, err, errlen);
    /* The dashboard's districts (docs/dashboard.md): each commune station
     * belongs to a district hospital, which also covers its own commune. */
    if (rc == 0)
        rc = exec_ok(c,
                     "UPDATE core.facilities f SET parent_id = d.id FROM core.facilities d "
                     "WHERE (f.code, d.code) IN (('19101', '19010'), ('19102', '19020')); "
                     "INSERT INTO dash.district_communes (district_code, commune_code) "
                     "VALUES ('19010', '05935'), ('19020', '05665') ON CONFLICT DO NOTHING",
                     err, errlen);
    if (rc == 0 && !quiet && o.nvisits)
        printf("demo visits: %ld visits (ids %lld-%lld) for %d patients, %ld health records\n", o.nvisits, first_id,
               o.next_id - 1, np, nrec);
    free(o.visits.p);
    free(o.dx.p);
    free(o.svc.p);
    free(rec.p);
    free(ver.p);
    free(st);
    PQclear(pr);
    PQclear(sr);
    return rc;
}
