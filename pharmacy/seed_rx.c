/* Demo prescriptions for `his seed demo`: a year of e-prescriptions for the
 * seeded outpatient visits, their dispensing from stock lots, and their
 * delivery state to the national portals, so the pharmacist's screens and
 * the dashboard's prescriptions chart have data on first start.
 *
 * The rules are the API's own (pharmacy/prescriptions.c): codes from
 * rx_code_generate, the type from the drugs' class, days checked against
 * rx_max_days with the chronic list of rx_icd10_chronic, the patient
 * snapshot and the portal payload built from the same columns, the
 * signature made by rx_sign_stored with the facility key. Only doctors
 * prescribe through the API, so only the hospitals' visits get
 * prescriptions (the commune stations' demo staff are commune workers).
 *
 * Deterministic like seed_visits.c: which visits, drugs, quantities, dates
 * and fates come from a fixed-seed generator per visit. The codes alone are
 * random (RAND_bytes, as in production: a code is what a pharmacy looks a
 * prescription up by, so it must not be guessable from the seed).
 *
 * Stock: the year's dispensings take their lots from quarterly supplier
 * receipts (`NK<yy>Q<q>-<drug>`), each sized to what that quarter's
 * dispensings took, so those lots end at 0 and today's stock is the opening
 * stock of seed_pharmacy.c alone (FEFO starts at the DM...A lots, as the
 * screens and tests expect). Rows go in set-based from two temp tables. */
#include "his/his.h"
#include "pharmacy/pharmacy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int seed_rx_demo(PGconn *c, bool quiet, char *err, size_t errlen);

#define TZ "Asia/Ho_Chi_Minh"

/* ---- a small deterministic generator (same LCG as seed_visits.c) -------- */

static unsigned long long rs;

static void rseed(unsigned long long s)
{
    rs = s * 6364136223846793005ULL + 1442695040888963407ULL;
}

static unsigned rn(unsigned n)
{
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return n ? (unsigned)((rs >> 33) % n) : 0;
}

/* ---- what is prescribed for what ----------------------------------------- */

struct reg_item {
    const char *drug;   /* catalogue code (schema/data/drugs_demo.csv) */
    int per_day;        /* units a day; 0: a fixed quantity (a bottle, a tube) */
    int fixed;          /* the fixed quantity */
    int dmin, dmax;     /* days */
    const char *dosage; /* cách dùng, as the doctor writes it */
};

struct regimen {
    const char *icd;    /* prefix of the primary diagnosis */
    int age_lo, age_hi; /* inclusive */
    struct reg_item items[4];
};

/* Common outpatient treatment in a district clinic; the first match wins.
 * Small children get powders and sachets, not tablets. */
static const struct regimen regimens[] = {
    {"J", 0, 5, {{"T0002", 3, 0, 3, 5, "Uống 1 gói/lần khi sốt trên 38,5 độ C, cách nhau 4-6 giờ"},
                 {"T0056", 2, 0, 5, 5, "Pha 1 gói với 50 ml nước ấm, uống ngày 2 lần sáng, chiều"}}},
    {"A09", 0, 5, {{"T0024", 3, 0, 3, 3, "Pha 1 gói với 200 ml nước đun sôi để nguội, uống dần sau mỗi lần đi ngoài"}}},
    {"A9", 0, 14, {{"T0002", 3, 0, 3, 3, "Uống 1 gói/lần khi sốt trên 38,5 độ C, cách nhau 4-6 giờ; không dùng aspirin, ibuprofen"},
                   {"T0024", 3, 0, 3, 3, "Pha 1 gói với 200 ml nước đun sôi để nguội, uống dần trong ngày"}}},
    {"H66", 0, 5, {{"T0002", 3, 0, 3, 5, "Uống 1 gói/lần khi sốt hoặc đau tai, cách nhau 4-6 giờ"}}},
    {"B08", 0, 99, {{"T0002", 3, 0, 3, 5, "Uống 1 gói/lần khi sốt trên 38,5 độ C, cách nhau 4-6 giờ"}}},
    {"B05", 0, 99, {{"T0002", 3, 0, 3, 5, "Uống 1 gói/lần khi sốt trên 38,5 độ C, cách nhau 4-6 giờ"},
                    {"T0072", 0, 1, 5, 7, "Nhỏ mắt 1 giọt/lần, ngày 3 lần"}}},
    {"L20", 0, 5, {{"T0071", 0, 1, 7, 7, "Bôi lớp mỏng lên vùng da tổn thương, ngày 2 lần"}}},
    {"E44", 0, 14, {{"T0062", 1, 0, 30, 30, "Uống 1 viên/ngày sau ăn sáng"}}},
    {"J00", 6, 130, {{"T0001", 3, 0, 3, 3, "Uống 1 viên/lần khi sốt hoặc đau, ngày 3 lần, cách nhau ít nhất 6 giờ"},
                     {"T0053", 1, 0, 5, 5, "Uống 1 viên buổi tối"}}},
    {"J06", 6, 130, {{"T0001", 3, 0, 3, 3, "Uống 1 viên/lần khi sốt hoặc đau, ngày 3 lần, cách nhau ít nhất 6 giờ"},
                     {"T0053", 1, 0, 5, 5, "Uống 1 viên buổi tối"}}},
    {"J11", 6, 130, {{"T0001", 3, 0, 3, 5, "Uống 1 viên/lần khi sốt hoặc đau, ngày 3 lần, cách nhau ít nhất 6 giờ"},
                     {"T0057", 3, 0, 5, 5, "Uống 1 viên/lần, ngày 3 lần sau ăn"}}},
    {"J02", 6, 130, {{"T0007", 3, 0, 7, 7, "Uống 1 viên/lần, ngày 3 lần sau ăn"},
                     {"T0001", 3, 0, 3, 3, "Uống 1 viên/lần khi sốt hoặc đau, ngày 3 lần"}}},
    {"J20", 6, 130, {{"T0011", 1, 0, 3, 5, "Uống 1 viên/ngày trước ăn 1 giờ"},
                     {"T0057", 3, 0, 5, 7, "Uống 1 viên/lần, ngày 3 lần sau ăn"}}},
    {"J18", 6, 130, {{"T0008", 2, 0, 7, 7, "Uống 1 viên/lần, ngày 2 lần sau ăn sáng, tối"},
                     {"T0001", 3, 0, 3, 3, "Uống 1 viên/lần khi sốt, ngày 3 lần"}}},
    {"J44", 6, 130, {{"T0059", 0, 1, 30, 30, "Xịt 2 nhát/lần khi khó thở, tối đa 4 lần/ngày"},
                     {"T0061", 2, 0, 30, 30, "Uống 1 viên/lần, ngày 2 lần sáng, tối"}}},
    {"A09", 6, 130, {{"T0024", 3, 0, 3, 3, "Pha 1 gói với 200 ml nước đun sôi để nguội, uống sau mỗi lần đi ngoài"},
                     {"T0023", 2, 0, 2, 2, "Uống 1 viên sau mỗi lần đi ngoài phân lỏng, tối đa 4 viên/ngày"}}},
    {"H66", 6, 130, {{"T0007", 3, 0, 7, 7, "Uống 1 viên/lần, ngày 3 lần sau ăn"},
                     {"T0001", 3, 0, 3, 3, "Uống 1 viên/lần khi đau, ngày 3 lần"}}},
    {"L", 6, 130, {{"T0054", 1, 0, 7, 10, "Uống 1 viên/ngày buổi tối"},
                   {"T0071", 0, 1, 7, 7, "Bôi lớp mỏng lên vùng da tổn thương, ngày 2 lần"}}},
    {"K29", 6, 130, {{"T0018", 2, 0, 14, 14, "Uống 1 viên/lần, ngày 2 lần trước ăn sáng và tối 30 phút"},
                     {"T0021", 3, 0, 7, 7, "Uống 1 gói/lần sau ăn 1-2 giờ, ngày 3 lần"}}},
    {"K21", 6, 130, {{"T0020", 1, 0, 14, 28, "Uống 1 viên trước ăn sáng 30 phút"},
                     {"T0022", 3, 0, 7, 7, "Uống 1 viên trước ăn 15-30 phút, ngày 3 lần"}}},
    {"M54", 6, 130, {{"T0006", 1, 0, 7, 7, "Uống 1 viên/ngày sau ăn no"},
                     {"T0018", 1, 0, 7, 7, "Uống 1 viên trước ăn sáng 30 phút"}}},
    {"M17", 6, 130, {{"T0006", 1, 0, 10, 14, "Uống 1 viên/ngày sau ăn no"},
                     {"T0064", 2, 0, 30, 30, "Uống 1 viên/lần, ngày 2 lần sau ăn"}}},
    {"N39", 6, 130, {{"T0013", 2, 0, 7, 7, "Uống 1 viên/lần, ngày 2 lần cách nhau 12 giờ, uống nhiều nước"}}},
    {"G44", 6, 130, {{"T0001", 3, 0, 5, 5, "Uống 1 viên/lần khi đau đầu, ngày 3 lần, cách nhau ít nhất 6 giờ"}}},
    {"S93", 6, 130, {{"T0004", 3, 0, 5, 5, "Uống 1 viên/lần, ngày 3 lần sau ăn no"},
                     {"T0018", 1, 0, 5, 5, "Uống 1 viên trước ăn sáng 30 phút"}}},
    {"T14", 6, 130, {{"T0008", 2, 0, 5, 5, "Uống 1 viên/lần, ngày 2 lần sau ăn sáng, tối"},
                     {"T0001", 3, 0, 3, 3, "Uống 1 viên/lần khi đau, ngày 3 lần"}}},
    {"A9", 15, 130, {{"T0001", 3, 0, 3, 3, "Uống 1 viên khi sốt trên 38,5 độ C, cách nhau 4-6 giờ; không dùng aspirin, ibuprofen"},
                     {"T0024", 3, 0, 3, 3, "Pha 1 gói với 200 ml nước đun sôi để nguội, uống dần trong ngày"}}},
    /* chronic diseases: a month's supply (the visits are monthly) */
    {"I10", 15, 130, {{"T0033", 1, 0, 30, 30, "Uống 1 viên/ngày buổi sáng"},
                      {"T0034", 1, 0, 30, 30, "Uống 1 viên/ngày buổi sáng"}}},
    {"E11", 15, 130, {{"T0027", 2, 0, 30, 30, "Uống 1 viên/lần, ngày 2 lần ngay sau bữa ăn sáng, tối"},
                      {"T0029", 1, 0, 30, 30, "Uống 1 viên trước ăn sáng"}}},
    {"I25", 15, 130, {{"T0045", 1, 0, 30, 30, "Uống 1 viên/ngày sau ăn trưa"},
                      {"T0042", 1, 0, 30, 30, "Uống 1 viên buổi tối"},
                      {"T0037", 1, 0, 30, 30, "Uống 1 viên buổi sáng"}}},
    {"E78", 15, 130, {{"T0042", 1, 0, 30, 30, "Uống 1 viên buổi tối"}}},
    {NULL, 0, 0, {{NULL, 0, 0, 0, 0, NULL}}},
};

/* A decoction (type T) for knee and back pain of older patients, per thang
 * (one a day): grams of each herb. */
static const struct reg_item decoction[] = {
    {"T0084", 16, 0, 10, 10, "Sắc uống ngày 1 thang, chia 2 lần sau ăn"},
    {"T0083", 12, 0, 10, 10, "Sắc uống ngày 1 thang, chia 2 lần sau ăn"},
    {"T0085", 12, 0, 10, 10, "Sắc uống ngày 1 thang, chia 2 lần sau ăn"},
    {"T0086", 8, 0, 10, 10, "Sắc uống ngày 1 thang, chia 2 lần sau ăn"},
    {"T0082", 6, 0, 10, 10, "Sắc uống ngày 1 thang, chia 2 lần sau ăn"},
};
/* A psychotropic (type H) for tension headache and back pain spasm: a
 * separate prescription form, as TT 26 wants. */
static const struct reg_item psycho = {"T0077", 1, 0, 5, 7, "Uống 1 viên buổi tối trước khi ngủ"};
static const struct reg_item amlodipine = {"T0033", 1, 0, 30, 30, "Uống 1 viên/ngày buổi sáng"};

static const struct regimen *regimen_for(const char *icd, int age)
{
    for (const struct regimen *r = regimens; r->icd; r++)
        if (!strncmp(icd, r->icd, strlen(r->icd)) && age >= r->age_lo && age <= r->age_hi)
            return r;
    return NULL;
}

/* ---- COPY buffers ----------------------------------------------------------- */

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sput(struct sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2 + 4096;
        char *q = realloc(b->p, b->cap);
        if (!q)
            abort();
        b->p = q;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

/* A text field for COPY: the values written here are codes, numbers and
 * the fixed Vietnamese texts above (no tab, newline or backslash). */
static void sfield(struct sbuf *b, const char *s, bool last)
{
    sput(b, s ? s : "\\N");
    sput(b, last ? "\n" : "\t");
}

static void sfieldll(struct sbuf *b, long long v, bool last)
{
    char t[32];
    snprintf(t, sizeof t, "%lld", v);
    sfield(b, t, last);
}

/* A time as epoch seconds (the SQL turns it into timestamptz with
 * to_timestamp); 0 is none. */
static void sfieldt(struct sbuf *b, long long epoch, bool last)
{
    if (epoch <= 0)
        sfield(b, NULL, last);
    else
        sfieldll(b, epoch, last);
}

static int run(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "prescription seed: %s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

static int copy_in(PGconn *c, const char *sql, const struct sbuf *b, char *err, size_t errlen)
{
    if (!b->len)
        return 0;
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        snprintf(err, errlen, "prescription seed: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    int rc = 0;
    if (PQputCopyData(c, b->p, (int)b->len) != 1 || PQputCopyEnd(c, NULL) != 1) {
        snprintf(err, errlen, "prescription seed: %s", PQerrorMessage(c));
        rc = -1;
    }
    while ((r = PQgetResult(c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "prescription seed: %s", PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

/* ---- the plan -------------------------------------------------------------- */

/* Closed outpatient visits at facilities whose visit doctor is a doctor,
 * with their primary diagnosis and the others, in id order. */
static const char *VISITS_SQL =
    "SELECT v.id, v.facility_id, f.code, v.doctor_id, extract(epoch FROM v.received_at)::bigint,"
    " extract(year FROM v.received_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::int - p.birth_year, p.sex,"
    " (SELECT d.icd10 FROM clinical.visit_diagnoses d WHERE d.visit_id = v.id AND d.is_primary),"
    " (SELECT string_agg(d.icd10, ' ') FROM clinical.visit_diagnoses d WHERE d.visit_id = v.id),"
    " extract(epoch FROM now())::bigint,"
    " (SELECT id FROM core.facilities WHERE code = '19201')"
    " FROM clinical.visits v JOIN core.facilities f ON f.id = v.facility_id"
    " JOIN clinical.patients p ON p.id = v.patient_id JOIN core.users u ON u.id = v.doctor_id AND u.role = 'doctor'"
    " WHERE v.kind = 'outpatient' AND v.state = 'closed'"
    "   AND f.level IN ('district_hospital', 'provincial_hospital')"
    "   AND EXISTS (SELECT 1 FROM clinical.visit_diagnoses d WHERE d.visit_id = v.id AND d.is_primary)"
    " ORDER BY v.id";

struct plan {
    struct sbuf rx, items;
    int nrx, nfilled, npartial, ncancelled, nqueued, nerror;
    /* codes drawn so far (a clash with one of them draws again) */
    char (*codes)[RX_CODE_LEN + 1];
    int ncodes, capcodes;
};

static bool code_taken(const struct plan *pl, const char *code)
{
    for (int i = pl->ncodes - 1; i >= 0; i--)
        if (!strcmp(pl->codes[i], code))
            return true;
    return false;
}

static int new_code(struct plan *pl, const char *facility, char type, char out[RX_CODE_LEN + 1])
{
    for (int tries = 0; tries < 5; tries++) {
        if (rx_code_generate(facility, type, out) < 0)
            return -1;
        if (!code_taken(pl, out))
            break;
    }
    if (pl->ncodes == pl->capcodes) {
        pl->capcodes = pl->capcodes ? pl->capcodes * 2 : 1024;
        void *q = realloc(pl->codes, (size_t)pl->capcodes * sizeof *pl->codes);
        if (!q)
            abort();
        pl->codes = q;
    }
    memcpy(pl->codes[pl->ncodes++], out, RX_CODE_LEN + 1);
    return 0;
}

struct visit {
    long long id, facility_id, doctor_id, received, now, pharmacy_id;
    const char *facility, *sex, *primary, *all;
    int age;
};

static const char *const cancel_reasons[] = {
    "Kê nhầm liều, kê lại đơn khác",
    "Người bệnh không lấy thuốc, xin hủy đơn",
    "Thay đổi chỉ định sau khi có kết quả xét nghiệm",
};

/* One prescription of `type` with `n` items for visit v: its fate (filled
 * at the hospital's pharmacy or at the retail pharmacy, in one or two
 * dispensings, partly, cancelled or never), its portal state and its rows. */
static int plan_rx(struct plan *pl, const struct visit *v, char type, const struct reg_item *const *its, int n,
                   const struct rx_context *ctx, const char *advice)
{
    char code[RX_CODE_LEN + 1];
    if (new_code(pl, v->facility, type, code) < 0)
        return -1;
    int max_days = rx_max_days(type, ctx, NULL);
    bool own_pharmacy = !strcmp(v->facility, "19010"); /* the district hospital's dispensary (ds.lan) */
    long long issued = v->received + 25 * 60 + (long long)rn(25) * 60;
    long long day_end = issued - (issued + 7 * 3600) % 86400 + 86400; /* end of the issue day, local time */
    long long valid_end = day_end + 5 * 86400LL;                       /* valid_until is issue day + 5 */
    /* The delivery to the national prescription portal: a short outage at
     * TTYT Đại Từ over the last day leaves its newest ones queued; a few
     * were refused (card number not matching the patient). */
    const char *portal = "acknowledged";
    if (!strcmp(v->facility, "19020") && v->now - issued < 36 * 3600)
        portal = "queued";
    else if (rn(100) < 3)
        portal = "error";
    /* The fate. */
    unsigned r = rn(100);
    enum { NONE, FULL, TWO, PARTIAL, CANCELLED } fate;
    if (own_pharmacy)
        fate = r < 5 ? CANCELLED : r < 15 ? NONE : r < 27 ? PARTIAL : r < 37 ? TWO : FULL;
    else
        fate = r < 4 ? CANCELLED : r < 50 ? NONE : r < 58 ? PARTIAL : FULL;
    /* The hospital's newest ones are still waiting at the dispensary: the
     * pharmacist's screen has something to fill on first start. */
    if (own_pharmacy && fate != CANCELLED && v->now - issued < 4 * 86400 && rn(2))
        fate = NONE;
    /* Another facility's prescription is filled at the retail pharmacy
     * only when the portal has it (the look-up goes through the portal). */
    if (fate != CANCELLED && (!strcmp(portal, "queued") || (!own_pharmacy && strcmp(portal, "acknowledged"))))
        fate = NONE;
    long long d1 = 0, d2 = 0, cancelled = 0;
    if (fate == CANCELLED)
        cancelled = issued + 5 * 60 + (long long)rn(25) * 60;
    if (fate == FULL || fate == TWO || fate == PARTIAL)
        /* at the dispensary after the visit; at the retail pharmacy later
         * that day or the next morning */
        d1 = own_pharmacy ? issued + 10 * 60 + (long long)rn(50) * 60
             : rn(3) ? issued + 3600 + (long long)rn(4) * 3600 + (long long)rn(60) * 60
                     : day_end + 8 * 3600 + (long long)rn(4) * 3600 + (long long)rn(60) * 60;
    if (fate == TWO)
        d2 = d1 + 86400 + (long long)rn(2) * 86400 + (long long)rn(120) * 60;
    /* Nothing in the future and nothing after the validity. */
    if (d2 && (d2 > v->now - 600 || d2 >= valid_end)) {
        d2 = 0;
        fate = PARTIAL;
    }
    if (d1 && (d1 > v->now - 600 || d1 >= valid_end)) {
        d1 = 0;
        fate = NONE;
    }
    if (cancelled && cancelled > v->now - 600)
        cancelled = v->now - 600;
    /* The quantities: all, or part now (some items not at all) and the
     * rest later or never. */
    int days[8], qty[8], q1[8], q2[8];
    long total = 0, first = 0, second = 0;
    for (int i = 0; i < n; i++) {
        const struct reg_item *it = its[i];
        days[i] = it->dmin + (int)rn((unsigned)(it->dmax - it->dmin + 1));
        if (days[i] > max_days) /* the API would refuse it: keep to the limit */
            days[i] = max_days;
        qty[i] = it->per_day ? it->per_day * days[i] : it->fixed;
        q1[i] = q2[i] = 0;
        if (fate == FULL) {
            q1[i] = qty[i];
        } else if (fate == TWO || fate == PARTIAL) {
            q1[i] = qty[i] >= 2 ? qty[i] / 2 : (i == 0 ? qty[i] : 0);
            if (i > 0 && rn(3) == 0)
                q1[i] = 0;
            if (fate == TWO)
                q2[i] = qty[i] - q1[i];
        }
        total += qty[i];
        first += q1[i];
        second += q2[i];
    }
    /* A single unit cannot be split: then it was all at once. */
    if ((fate == TWO && second == 0) || (fate == PARTIAL && first == total)) {
        fate = FULL;
        d2 = 0;
    }
    int k = pl->nrx++;
    for (int i = 0; i < n; i++) {
        sfieldll(&pl->items, k, false);
        sfieldll(&pl->items, i, false);
        sfield(&pl->items, its[i]->drug, false);
        sfieldll(&pl->items, qty[i], false);
        sfield(&pl->items, its[i]->dosage, false);
        sfieldll(&pl->items, days[i], false);
        sfieldll(&pl->items, q1[i], false);
        sfieldll(&pl->items, q2[i], true);
    }
    const char *state = "active";
    if (fate == FULL || fate == TWO)
        state = "dispensed", pl->nfilled++;
    else if (fate == PARTIAL)
        state = "partially_dispensed", pl->npartial++;
    else if (fate == CANCELLED)
        state = "cancelled", pl->ncancelled++;
    int ndisp = (d1 ? 1 : 0) + (d2 ? 1 : 0);
    if (!strcmp(portal, "queued"))
        pl->nqueued++;
    else if (!strcmp(portal, "error"))
        pl->nerror++;
    /* Filled here: the state is on the hospital's row; filled at the retail
     * pharmacy: on its local copy, and the hospital's row stays active. */
    char sexcode[8];
    snprintf(sexcode, sizeof sexcode, "%d", codes_sex_to_rx_portal(v->sex));
    char t[2] = {type, 0};
    struct sbuf *b = &pl->rx;
    sfieldll(b, k, false);
    sfieldll(b, v->id, false);
    sfieldll(b, v->facility_id, false);
    sfield(b, code, false);
    sfield(b, t, false);
    sfield(b, codes_type_to_portal(type), false);
    sfield(b, sexcode, false);
    sfield(b, ctx->chronic ? "t" : "f", false);
    sfieldll(b, max_days, false);
    sfieldt(b, issued, false);
    sfield(b, advice, false);
    sfieldt(b, cancelled, false);
    sfield(b, cancelled ? cancel_reasons[rn(3)] : NULL, false);
    sfield(b, portal, false);
    if (ndisp)
        sfieldll(b, own_pharmacy ? v->facility_id : v->pharmacy_id, false);
    else
        sfield(b, NULL, false);
    sfieldt(b, d1, false);
    sfieldt(b, d2, false);
    sfield(b, ndisp && !own_pharmacy ? "active" : state, false);
    sfield(b, state, false);
    /* the row version as the API leaves it: +1 per dispensing or cancel */
    sfieldll(b, 1 + (own_pharmacy ? ndisp : 0) + (cancelled ? 1 : 0), false);
    sfieldll(b, 1 + ndisp, true);
    return 0;
}

static int plan_visit(struct plan *pl, const struct visit *v)
{
    rseed(0x5eed7ULL ^ (unsigned long long)v->id * 2654435761ULL);
    if (rn(100) >= 62)
        return 0;
    const struct regimen *reg = regimen_for(v->primary, v->age);
    if (!reg)
        return 0;
    /* The limits follow every diagnosis of the visit, as the API's. */
    struct rx_context ctx = {false, false};
    char all[256];
    snprintf(all, sizeof all, "%s", v->all ? v->all : v->primary);
    char *save = NULL;
    for (char *d = strtok_r(all, " ", &save); d; d = strtok_r(NULL, " ", &save)) {
        ctx.chronic |= rx_icd10_chronic(d);
        ctx.cancer_or_aids |= rx_icd10_cancer_or_aids(d);
    }
    const struct reg_item *its[6];
    int n = 0;
    bool pain = !strncmp(v->primary, "M17", 3) || !strncmp(v->primary, "M54", 3);
    if (pain && v->age >= 45 && rn(100) < 25) {
        for (size_t i = 0; i < sizeof decoction / sizeof *decoction; i++)
            its[n++] = &decoction[i];
        return plan_rx(pl, v, 'T', its, n, &ctx, "Kiêng đồ ăn sống lạnh, cay nóng; tái khám sau 10 ngày");
    }
    for (int i = 0; i < 4 && reg->items[i].drug; i++)
        its[n++] = &reg->items[i];
    /* hypertension beside diabetes: amlodipine too */
    if (!strncmp(v->primary, "E11", 3) && v->all && strstr(v->all, "I10"))
        its[n++] = &amlodipine;
    const char *advice = ctx.chronic ? "Uống thuốc đều hằng ngày; tái khám sau 30 ngày, mang theo đơn cũ"
                                     : "Tái khám khi có dấu hiệu bất thường hoặc khi hết thuốc";
    if (plan_rx(pl, v, 'C', its, n, &ctx, advice) < 0)
        return -1;
    if ((!strncmp(v->primary, "G44", 3) || !strncmp(v->primary, "M54", 3)) && v->age >= 18 && rn(100) < 20) {
        const struct reg_item *h[1] = {&psycho};
        return plan_rx(pl, v, 'H', h, 1, &ctx, "Không lái xe, vận hành máy móc sau khi uống thuốc");
    }
    return 0;
}

/* ---- writing it ----------------------------------------------------------------- */

static const char *const LOAD_SQL[] = {
    "CREATE TEMP TABLE seed_rx (k int PRIMARY KEY, visit_id bigint, facility_id bigint, code text, type char(1),"
    " loai text, sex_code text, chronic boolean, max_days int, issued bigint, advice text, cancelled bigint,"
    " cancel_reason text, portal text, disp_fac bigint, d1 bigint, d2 bigint, local_state text, fill_state text,"
    " local_version int, copy_version int) ON COMMIT DROP",
    "CREATE TEMP TABLE seed_rx_items (k int, seq int, drug_code text, quantity int, dosage text, days int, q1 int,"
    " q2 int) ON COMMIT DROP",
};

/* Epoch columns to timestamptz once (COPY took them as numbers). */
#define TS(col) "to_timestamp(" col ")"

static const char *const WRITE_SQL[] = {
    /* The prescriptions, snapshotting the patient as the API does
     * (VISIT_SQL and insert_rx in prescriptions.c). */
    "INSERT INTO pharmacy.prescriptions (facility_id, code, type, issuer_facility_code, visit_id, patient_id,"
    " patient_name, patient_birth, patient_sex, patient_cccd, card_number, patient_address, weight_kg, diagnoses,"
    " chronic, advice, doctor_id, doctor_name, issued_at, valid_until, state, cancelled_at, cancelled_by,"
    " cancel_reason, version, created_at)"
    " SELECT s.facility_id, s.code, s.type, f.code, v.id, v.patient_id, p.full_name,"
    "  CASE WHEN p.birth_date IS NOT NULL THEN to_char(p.birth_date, 'DD/MM/YYYY') ELSE p.birth_year::text END,"
    "  p.sex, p.cccd, coalesce(v.card_number, p.card_number),"
    "  nullif(concat_ws(', ', p.address_line, p.village,"
    "   (SELECT a.name FROM catalog.admin_units a WHERE a.code = p.commune_code AND a.level = 'commune' LIMIT 1),"
    "   (SELECT a.name FROM catalog.admin_units a WHERE a.code = p.province_code AND a.level = 'province' LIMIT 1)), ''),"
    "  v.weight_kg,"
    "  (SELECT coalesce(json_agg(json_build_object('icd10', d.icd10, 'name', i.name_vi, 'primary', d.is_primary)"
    "     ORDER BY d.is_primary DESC, d.seq), '[]')"
    "   FROM clinical.visit_diagnoses d JOIN catalog.icd10 i ON i.code = d.icd10 WHERE d.visit_id = v.id)::jsonb,"
    "  s.chronic, s.advice, v.doctor_id, u.full_name, " TS("s.issued") ","
    "  (" TS("s.issued") " AT TIME ZONE '" TZ "')::date + 5, s.local_state, " TS("s.cancelled") ","
    "  CASE WHEN s.cancelled IS NOT NULL THEN v.doctor_id END, s.cancel_reason, s.local_version, " TS("s.issued")
    " FROM pg_temp.seed_rx s JOIN clinical.visits v ON v.id = s.visit_id JOIN clinical.patients p ON p.id = v.patient_id"
    " JOIN core.facilities f ON f.id = s.facility_id JOIN core.users u ON u.id = v.doctor_id ORDER BY s.k",
    "INSERT INTO pharmacy.prescription_items (prescription_id, facility_id, seq, drug_code, drug_name, quantity, unit,"
    " dosage, days, dispensed)"
    " SELECT rx.id, rx.facility_id, i.seq, i.drug_code, d.name, i.quantity, d.unit, i.dosage, i.days,"
    "  CASE WHEN s.disp_fac = s.facility_id THEN i.q1 + i.q2 ELSE 0 END"
    " FROM pg_temp.seed_rx_items i JOIN pg_temp.seed_rx s ON s.k = i.k"
    " JOIN pharmacy.prescriptions rx ON rx.facility_id = s.facility_id AND rx.code = s.code"
    " JOIN catalog.drugs d ON d.code = i.drug_code ORDER BY rx.id, i.seq",
};

/* After signing: the national portal message (portal_payload in
 * prescriptions.c, field for field) with the state its delivery reached. */
static const char *OUTBOX_RX_SQL =
    "INSERT INTO core.outbox (facility_id, target, kind, dedupe_key, payload, state, attempts, next_attempt_at,"
    " last_error, errors, remote_ref, created_by, created_at, sent_at, acknowledged_at)"
    " SELECT rx.facility_id, 'prescription-portal', 'gui-don-thuoc', rx.code,"
    "  json_build_object('loai_don_thuoc', s.loai, 'ma_don_thuoc', rx.code, 'ho_ten_benh_nhan', rx.patient_name,"
    "   'ma_dinh_danh_y_te', '', 'ma_dinh_danh_cong_dan', coalesce(rx.patient_cccd, ''),"
    "   'ngay_sinh_benh_nhan', rx.patient_birth, 'can_nang', coalesce(v.weight_kg::text, ''),"
    "   'gioi_tinh', s.sex_code, 'ma_so_the_bao_hiem_y_te', coalesce(rx.card_number, ''),"
    "   'thong_tin_nguoi_giam_ho', '', 'dia_chi', coalesce(rx.patient_address, ''),"
    "   'chan_doan', (SELECT coalesce(json_agg(json_build_object('ma_chan_doan', e->>'icd10', 'ten_chan_doan', e->>'name',"
    "      'ket_luan', '') ORDER BY n), '[]') FROM jsonb_array_elements(rx.diagnoses) WITH ORDINALITY x(e, n)),"
    "   'luu_y', '', 'hinh_thuc_dieu_tri', '1',"
    "   'dot_dung_thuoc', json_build_object('dot', '1',"
    "      'tu_ngay', to_char(rx.issued_at AT TIME ZONE '" TZ "', 'DD/MM/YYYY'),"
    "      'den_ngay', to_char((rx.issued_at AT TIME ZONE '" TZ "')::date"
    "                  + (SELECT max(days) FROM pharmacy.prescription_items WHERE prescription_id = rx.id) - 1, 'DD/MM/YYYY'),"
    "      'so_thang_thuoc', ''),"
    "   'thong_tin_don_thuoc', (SELECT json_agg(json_build_object('ma_thuoc', i.drug_code, 'biet_duoc', d.name,"
    "      'ten_thuoc', d.ingredient || ' ' || d.strength, 'don_vi_tinh', d.unit, 'so_luong', i.quantity,"
    "      'cach_dung', i.dosage, 'so_ngay', i.days) ORDER BY i.seq)"
    "     FROM pharmacy.prescription_items i JOIN catalog.drugs d ON d.code = i.drug_code WHERE i.prescription_id = rx.id),"
    "   'loi_dan', coalesce(rx.advice, ''), 'so_dien_thoai_nguoi_kham_benh', '', 'ngay_tai_kham', '',"
    "   'ngay_gio_ke_don', to_char(rx.issued_at AT TIME ZONE '" TZ "', 'YYYY-MM-DD HH24:MI:SS'),"
    "   'ten_bac_si', rx.doctor_name, 'signature', rx.signature)::text,"
    "  s.portal, CASE s.portal WHEN 'queued' THEN 3 ELSE 1 END,"
    "  CASE s.portal WHEN 'queued' THEN now() ELSE rx.issued_at + interval '61 seconds' END,"
    "  CASE s.portal WHEN 'queued' THEN 'gui-don-thuoc: HTTP 503'"
    "       WHEN 'error' THEN 'refused by the national prescription portal (1 error(s))' END,"
    "  CASE WHEN s.portal = 'error' THEN jsonb_build_array(jsonb_build_object('field', 'ma_so_the_bao_hiem_y_te',"
    "       'code', 'THE_BHYT_KHONG_HOP_LE', 'message', 'Mã thẻ BHYT không khớp với thông tin người bệnh')) END,"
    "  CASE WHEN s.portal = 'acknowledged' THEN 'DT_QG_' || lpad((row_number() OVER (ORDER BY rx.id))::text, 8, '0') END,"
    "  rx.doctor_id, rx.issued_at,"
    "  CASE s.portal WHEN 'queued' THEN now() - interval '10 minutes' ELSE rx.issued_at + interval '1 second' END,"
    "  CASE WHEN s.portal = 'acknowledged' THEN rx.issued_at + interval '2 seconds' END"
    " FROM pg_temp.seed_rx s JOIN pharmacy.prescriptions rx ON rx.facility_id = s.facility_id AND rx.code = s.code"
    " JOIN clinical.visits v ON v.id = rx.visit_id ORDER BY rx.id";

static const char *const FILL_SQL[] = {
    /* The retail pharmacy's copies of other facilities' prescriptions, as a
     * look-up through the portal leaves them (import_rows in
     * prescriptions.c: no visit, no patient id, the portal's fields). */
    "INSERT INTO pharmacy.prescriptions (facility_id, code, type, origin, issuer_facility_code, patient_name,"
    " patient_birth, patient_sex, patient_cccd, card_number, patient_address, diagnoses, advice, doctor_name,"
    " issued_at, valid_until, state, version, created_at)"
    " SELECT s.disp_fac, rx.code, rx.type, 'portal', rx.issuer_facility_code, rx.patient_name, rx.patient_birth,"
    "  rx.patient_sex, rx.patient_cccd, rx.card_number, rx.patient_address,"
    "  (SELECT coalesce(jsonb_agg(jsonb_build_object('icd10', e->>'icd10', 'name', e->>'name') ORDER BY n), '[]')"
    "     FROM jsonb_array_elements(rx.diagnoses) WITH ORDINALITY x(e, n)),"
    "  rx.advice, rx.doctor_name, date_trunc('second', rx.issued_at), rx.valid_until, s.fill_state, s.copy_version,"
    "  " TS("s.d1") " - interval '3 minutes'"
    " FROM pg_temp.seed_rx s JOIN pharmacy.prescriptions rx ON rx.facility_id = s.facility_id AND rx.code = s.code"
    " WHERE s.disp_fac <> s.facility_id ORDER BY rx.id",
    "INSERT INTO pharmacy.prescription_items (prescription_id, facility_id, seq, drug_code, drug_name, quantity, unit,"
    " dosage, days, dispensed)"
    " SELECT c.id, c.facility_id, i.seq, i.drug_code, i.drug_name, i.quantity, i.unit, i.dosage, i.days, t.q1 + t.q2"
    " FROM pg_temp.seed_rx s JOIN pharmacy.prescriptions rx ON rx.facility_id = s.facility_id AND rx.code = s.code"
    " JOIN pharmacy.prescriptions c ON c.facility_id = s.disp_fac AND c.code = s.code"
    " JOIN pharmacy.prescription_items i ON i.prescription_id = rx.id"
    " JOIN pg_temp.seed_rx_items t ON t.k = s.k AND t.seq = i.seq"
    " WHERE s.disp_fac <> s.facility_id ORDER BY c.id, i.seq",
    /* The dispensings: ids drawn first so the invoice number carries it, as
     * record() in dispense.c does. */
    "CREATE TEMP TABLE seed_disp ON COMMIT DROP AS"
    " SELECT nextval('pharmacy.dispensings_id_seq') AS id, x.* FROM ("
    "  SELECT s.k, 1 AS n, " TS("s.d1") " AS at, s.disp_fac FROM pg_temp.seed_rx s WHERE s.d1 IS NOT NULL"
    "  UNION ALL SELECT s.k, 2, " TS("s.d2") ", s.disp_fac FROM pg_temp.seed_rx s WHERE s.d2 IS NOT NULL"
    "  ORDER BY 3, 1) x",
    "INSERT INTO pharmacy.dispensings (id, facility_id, prescription_id, invoice_code, dispensed_by, dispensed_at)"
    " SELECT sd.id, sd.disp_fac, rx.id, f.code || '-HD' || sd.id,"
    "  (SELECT u.id FROM core.users u WHERE u.facility_id = sd.disp_fac AND u.role = 'pharmacist' ORDER BY u.id LIMIT 1),"
    "  sd.at"
    " FROM pg_temp.seed_disp sd JOIN pg_temp.seed_rx s ON s.k = sd.k"
    " JOIN pharmacy.prescriptions rx ON rx.facility_id = sd.disp_fac AND rx.code = s.code"
    " JOIN core.facilities f ON f.id = sd.disp_fac ORDER BY sd.id",
    /* One line per dispensed item; its lot is the quarter's supplier lot. */
    "CREATE TEMP TABLE seed_lines ON COMMIT DROP AS"
    " SELECT sd.id AS dispensing_id, sd.disp_fac AS facility_id, sd.at, i.seq, i.drug_code,"
    "  CASE sd.n WHEN 1 THEN i.q1 ELSE i.q2 END AS quantity,"
    "  date_trunc('quarter', sd.at AT TIME ZONE '" TZ "') AS quarter,"
    "  (SELECT u.id FROM core.users u WHERE u.facility_id = sd.disp_fac AND u.role = 'pharmacist' ORDER BY u.id LIMIT 1)"
    "   AS user_id"
    " FROM pg_temp.seed_disp sd JOIN pg_temp.seed_rx_items i ON i.k = sd.k"
    " WHERE CASE sd.n WHEN 1 THEN i.q1 ELSE i.q2 END > 0",
    /* The quarterly supplier receipts and their lots (delivered the
     * afternoon before the quarter starts, 24 months of shelf life). */
    "CREATE TEMP TABLE seed_receipts ON COMMIT DROP AS"
    " WITH q AS (SELECT DISTINCT facility_id, quarter, user_id FROM pg_temp.seed_lines),"
    " ins AS (INSERT INTO pharmacy.receipts (facility_id, kind, supplier, note, created_by, created_at)"
    "   SELECT facility_id, 1, 'Công ty CP Dược phẩm Thái Nguyên (dữ liệu mẫu)',"
    "     'Nhập thuốc quý ' || to_char(quarter, 'Q/YYYY'), user_id, (quarter - interval '10 hours') AT TIME ZONE '" TZ "'"
    "   FROM q ORDER BY quarter, facility_id RETURNING id, facility_id, created_at)"
    " SELECT ins.id, ins.facility_id, ins.created_at, q.quarter, q.user_id FROM ins"
    " JOIN q ON q.facility_id = ins.facility_id AND (q.quarter - interval '10 hours') AT TIME ZONE '" TZ "' = ins.created_at",
    "CREATE TEMP TABLE seed_lots ON COMMIT DROP AS"
    " WITH need AS (SELECT facility_id, quarter, drug_code, sum(quantity)::int AS quantity FROM pg_temp.seed_lines"
    "   GROUP BY 1, 2, 3),"
    " ins AS (INSERT INTO pharmacy.stock_lots (facility_id, drug_code, lot, expiry, quantity, unit_price, received_at)"
    "   SELECT n.facility_id, n.drug_code, 'NK' || to_char(n.quarter, 'YY') || 'Q' || to_char(n.quarter, 'Q') || '-'"
    "     || right(n.drug_code, 4), (n.quarter + interval '24 months')::date, n.quantity, d.insurance_price, r.created_at"
    "   FROM need n JOIN catalog.drugs d ON d.code = n.drug_code"
    "   JOIN pg_temp.seed_receipts r ON r.facility_id = n.facility_id AND r.quarter = n.quarter"
    "   ORDER BY n.quarter, n.facility_id, n.drug_code RETURNING id, facility_id, drug_code, quantity, received_at)"
    " SELECT ins.*, r.id AS receipt_id, r.quarter, r.user_id FROM ins JOIN pg_temp.seed_receipts r"
    "  ON r.facility_id = ins.facility_id AND r.created_at = ins.received_at",
    "INSERT INTO pharmacy.stock_moves (facility_id, lot_id, kind, quantity, receipt_id, user_id, at)"
    " SELECT facility_id, id, 'receipt', quantity, receipt_id, user_id, received_at FROM pg_temp.seed_lots ORDER BY id",
    "INSERT INTO pharmacy.stock_moves (facility_id, lot_id, kind, quantity, dispensing_id, item_seq, user_id, at)"
    " SELECT l.facility_id, lot.id, 'dispense', -l.quantity, l.dispensing_id, l.seq, l.user_id, l.at"
    " FROM pg_temp.seed_lines l JOIN pg_temp.seed_lots lot ON lot.facility_id = l.facility_id"
    "  AND lot.drug_code = l.drug_code AND lot.quarter = l.quarter ORDER BY l.at, l.dispensing_id, l.seq",
    /* The lot's running quantity, as dispense.c keeps it. */
    "UPDATE pharmacy.stock_lots s SET quantity = s.quantity - d.q"
    " FROM (SELECT lot_id, -sum(quantity)::int AS q FROM pharmacy.stock_moves m"
    "       WHERE m.kind = 'dispense' AND m.dispensing_id IN (SELECT id FROM pg_temp.seed_disp) GROUP BY lot_id) d"
    " WHERE s.id = d.lot_id",
    /* Each dispensing's sales invoice for the pharmacy portal
     * (invoice_payload in dispense.c), delivered. */
    "INSERT INTO core.outbox (facility_id, target, kind, dedupe_key, payload, state, attempts, next_attempt_at,"
    " remote_ref, created_by, created_at, sent_at, acknowledged_at)"
    " SELECT d.facility_id, 'pharmacy-portal', 'hoa_don', d.invoice_code,"
    "  json_build_object('ma_hoa_don', d.invoice_code, 'ma_co_so', f.code, 'ma_don_thuoc_quoc_gia', rx.code,"
    "   'ngay_ban', to_char(d.dispensed_at AT TIME ZONE '" TZ "', 'YYYYMMDD'), 'ho_ten_nguoi_ban', u.full_name,"
    "   'ho_ten_khach_hang', rx.patient_name,"
    "   'hoa_don_chi_tiet', (SELECT json_agg(json_build_object('ma_thuoc', l.drug_code, 'ten_thuoc', g.name,"
    "      'so_lo', l.lot, 'ngay_san_xuat', '', 'han_dung', to_char(l.expiry, 'YYYYMMDD'), 'don_vi_tinh', g.unit,"
    "      'ham_luong', g.strength, 'so_luong', -m.quantity, 'don_gia', l.unit_price::float8,"
    "      'thanh_tien', l.unit_price::float8 * -m.quantity, 'ty_le_quy_doi', 1, 'lieu_dung', '',"
    "      'duong_dung', g.route, 'so_dang_ky', coalesce(g.registration_no, '')) ORDER BY m.id)"
    "     FROM pharmacy.stock_moves m JOIN pharmacy.stock_lots l ON l.id = m.lot_id"
    "     JOIN catalog.drugs g ON g.code = l.drug_code WHERE m.dispensing_id = d.id))::text,"
    "  'acknowledged', 1, d.dispensed_at + interval '61 seconds',"
    "  'HD_QG_' || lpad((row_number() OVER (ORDER BY d.id))::text, 8, '0'), d.dispensed_by, d.dispensed_at,"
    "  d.dispensed_at + interval '1 second', d.dispensed_at + interval '2 seconds'"
    " FROM pharmacy.dispensings d JOIN pg_temp.seed_disp sd ON sd.id = d.id"
    " JOIN pharmacy.prescriptions rx ON rx.id = d.prescription_id JOIN core.facilities f ON f.id = d.facility_id"
    " JOIN core.users u ON u.id = d.dispensed_by ORDER BY d.id",
};

/* Signs every seeded prescription with its facility's key, through the
 * server's own function (the canonical form read back from the rows). */
static int sign_all(PGconn *c, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT rx.id, rx.facility_id FROM pg_temp.seed_rx s JOIN pharmacy.prescriptions rx"
                            " ON rx.facility_id = s.facility_id AND rx.code = s.code ORDER BY rx.id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "prescription seed: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        EVP_PKEY *key = rx_facility_key(c, atoll(PQgetvalue(r, i, 1)), err, errlen);
        char *sig = key ? rx_sign_stored(c, key, atoll(PQgetvalue(r, i, 0)), err, errlen) : NULL;
        EVP_PKEY_free(key);
        if (!sig)
            rc = -1;
        free(sig);
    }
    PQclear(r);
    return rc;
}

int seed_rx_demo(PGconn *c, bool quiet, char *err, size_t errlen)
{
    /* Idempotent with the rest of the seed: only on a database without
     * prescriptions of its own. */
    PGresult *r = PQexec(c, "SELECT 1 FROM pharmacy.prescriptions WHERE origin = 'local' LIMIT 1");
    bool present = PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) > 0;
    PQclear(r);
    if (present)
        return 0;
    r = PQexec(c, VISITS_SQL);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "prescription seed: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    struct plan pl;
    memset(&pl, 0, sizeof pl);
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        struct visit v = {
            .id = atoll(PQgetvalue(r, i, 0)), .facility_id = atoll(PQgetvalue(r, i, 1)),
            .facility = PQgetvalue(r, i, 2), .doctor_id = atoll(PQgetvalue(r, i, 3)),
            .received = atoll(PQgetvalue(r, i, 4)), .age = atoi(PQgetvalue(r, i, 5)), .sex = PQgetvalue(r, i, 6),
            .primary = PQgetvalue(r, i, 7), .all = PQgetisnull(r, i, 8) ? NULL : PQgetvalue(r, i, 8),
            .now = atoll(PQgetvalue(r, i, 9)), .pharmacy_id = atoll(PQgetvalue(r, i, 10)),
        };
        if (v.pharmacy_id <= 0) {
            snprintf(err, errlen, "prescription seed: the demo pharmacy 19201 is missing");
            rc = -1;
        } else {
            rc = plan_visit(&pl, &v);
            if (rc < 0)
                snprintf(err, errlen, "prescription seed: no random source for the codes");
        }
    }
    PQclear(r);
    for (size_t i = 0; rc == 0 && i < sizeof LOAD_SQL / sizeof *LOAD_SQL; i++)
        rc = run(c, LOAD_SQL[i], err, errlen);
    if (rc == 0)
        rc = copy_in(c, "COPY pg_temp.seed_rx FROM STDIN", &pl.rx, err, errlen);
    if (rc == 0)
        rc = copy_in(c, "COPY pg_temp.seed_rx_items FROM STDIN", &pl.items, err, errlen);
    for (size_t i = 0; rc == 0 && i < sizeof WRITE_SQL / sizeof *WRITE_SQL; i++)
        rc = run(c, WRITE_SQL[i], err, errlen);
    if (rc == 0)
        rc = sign_all(c, err, errlen);
    if (rc == 0)
        rc = run(c, OUTBOX_RX_SQL, err, errlen);
    for (size_t i = 0; rc == 0 && i < sizeof FILL_SQL / sizeof *FILL_SQL; i++)
        rc = run(c, FILL_SQL[i], err, errlen);
    if (rc == 0 && !quiet)
        printf("demo prescriptions: %d (%d filled, %d partly, %d cancelled; portal: %d queued, %d refused)\n", pl.nrx,
               pl.nfilled, pl.npartial, pl.ncancelled, pl.nqueued, pl.nerror);
    free(pl.rx.p);
    free(pl.items.p);
    free(pl.codes);
    return rc;
}
