/* Synthetic clinical data: households and patients for `his seed demo` and
 * the benchmark generator `his seed province --people N --households M`.
 *
 * Both use one deterministic generator (splitmix64 from a fixed seed): a
 * household of a realistic size and shape (head, spouse, children, a parent
 * or grandchildren), Vietnamese names from small hand-picked lists (no data
 * file is copied in), villages, CCCD numbers and insurance cards that pass
 * his/idcard.c. Rows go in with COPY; patients, households and memberships
 * are three passes of the same generator (one COPY at a time per
 * connection), with ids assigned here so the passes agree. Then visits
 * (seed_visits.c) are added by their own module. All data is synthetic. */
#include "his/his.h"
#include "his/idcard.h"
#include "core/auth.h"
#include "core/text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int seed_clinical_demo(PGconn *c, bool quiet, char *err, size_t errlen);
int seed_visits_demo(PGconn *c, bool quiet, char *err, size_t errlen);
int seed_pharmacy_demo(PGconn *c, bool quiet, char *err, size_t errlen); /* pharmacy/seed_pharmacy.c */
int seed_province(PGconn *c, long people, long households, unsigned seed, bool quiet, char *err, size_t errlen);

/* Birth years are relative to a fixed year so a seed gives the same data
 * whenever it runs. */
#define REF_YEAR 2026

/* ---- names (hand-picked, common in the northern midlands) --------------- */

static const char *const family_common[] = {"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đỗ", "Bùi", "Đặng",
                                            "Ngô", "Dương", "Đinh", "Đào", "Lương", "Mai", "Phan", "Trịnh", "Hà",
                                            "Lý", "Tạ"};
/* Weights (per mille) of family_common: Nguyễn about a third. */
static const int family_common_w[] = {300, 90, 85, 60, 55, 45, 40, 35, 30, 28, 26, 25, 22, 20, 20, 28, 18, 20, 23, 20};
/* Tày, Nùng and Dao family names of the mountain communes. */
static const char *const family_minority[] = {"Hoàng", "Nông", "Ma", "Triệu", "Lường", "Hà", "Lục", "Bế", "Lý",
                                              "Đinh", "Lăng", "Dương"};
static const char *const middle_male[] = {"Văn", "Văn", "Văn", "Đức", "Minh", "Quang", "Hữu", "Xuân", "Đình",
                                          "Công", "Thế", "Tiến", "Mạnh", "Ngọc", "Thanh"};
static const char *const middle_female[] = {"Thị", "Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Minh", "Hồng",
                                            "Phương", "Kim", "Diệu", "Thùy"};
static const char *const given_male[] = {"An", "Bình", "Cường", "Dũng", "Đức", "Hải", "Hùng", "Huy", "Khánh",
                                         "Long", "Minh", "Nam", "Phúc", "Quân", "Sơn", "Thắng", "Thành", "Trung",
                                         "Tuấn", "Việt", "Hiếu", "Đạt", "Tùng", "Lộc", "Hưng", "Vinh", "Toàn",
                                         "Quang", "Phong", "Tài", "Nghĩa", "Kiên", "Hoàng Anh", "Minh Khang",
                                         "Gia Bảo", "Đăng Khoa"};
static const char *const given_female[] = {"Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương",
                                           "Huyền", "Lan", "Linh", "Loan", "Mai", "Ngọc", "Nhung", "Oanh",
                                           "Phương", "Quỳnh", "Thảo", "Thu", "Thủy", "Trang", "Vân", "Yến", "Nga",
                                           "Hồng", "Liên", "Tâm", "My", "Bảo Ngọc", "Minh Anh", "Khánh Linh",
                                           "Thu Hà"};
static const char *const occupations[] = {"Nông dân", "Công nhân", "Giáo viên", "Buôn bán", "Lao động tự do",
                                          "Cán bộ", "Nội trợ", "Thợ xây", "Lái xe", "Y tá"};

#define N(a) ((int)(sizeof(a) / sizeof *(a)))

/* ---- the generator ------------------------------------------------------ */

struct rng {
    uint64_t s;
};

static uint64_t rnext(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int rnd_int(struct rng *r, int lo, int hi) /* inclusive */
{
    return lo + (int)(rnext(r) % (uint64_t)(hi - lo + 1));
}

static bool rpct(struct rng *r, int pct)
{
    return rnd_int(r, 0, 99) < pct;
}

static const char *pick(struct rng *r, const char *const *a, int n)
{
    return a[rnd_int(r, 0, n - 1)];
}

static const char *pick_family(struct rng *r, bool minority)
{
    if (minority && rpct(r, 70))
        return pick(r, family_minority, N(family_minority));
    int x = rnd_int(r, 0, 999), acc = 0;
    for (int i = 0; i < N(family_common); i++)
        if (x < (acc += family_common_w[i]))
            return family_common[i];
    return family_common[0];
}

/* Where generated people live: a commune station's facility and commune. */
struct station {
    long long facility_id;
    char code[8];        /* facility code (the card's primary facility) */
    char commune[8];
    const char *province;  /* "19" */
    const char *old_district; /* pre-2025 district, kept on the record */
    const char *const *villages;
    int nvillages;
    int minority_pct;    /* share of Tày/Nùng/Dao households */
};

struct person {
    char name[128];
    const char *family;
    bool male;
    int year, month, day;
    bool full_date;
    const char *ethnicity;
};

/* COPY text-format buffer with escaping. */
struct copybuf {
    PGconn *c;
    char *buf;
    size_t len, cap;
    bool first;
    bool failed;
};

static void cb_reserve(struct copybuf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    while (b->len + more > b->cap)
        b->cap = b->cap ? b->cap * 2 : 1 << 20;
    b->buf = realloc(b->buf, b->cap);
    if (!b->buf)
        abort();
}

static void cb_flush(struct copybuf *b)
{
    if (b->len && !b->failed && PQputCopyData(b->c, b->buf, (int)b->len) != 1)
        b->failed = true;
    b->len = 0;
}

static void cb_field(struct copybuf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    cb_reserve(b, 2 * n + 4);
    if (!b->first)
        b->buf[b->len++] = '\t';
    b->first = false;
    if (!s) {
        memcpy(b->buf + b->len, "\\N", 2);
        b->len += 2;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '\\' || ch == '\t' || ch == '\n' || ch == '\r') {
            b->buf[b->len++] = '\\';
            ch = ch == '\t' ? 't' : ch == '\n' ? 'n' : ch == '\r' ? 'r' : '\\';
        }
        b->buf[b->len++] = ch;
    }
}

static void cb_fieldf(struct copybuf *b, const char *fmt, long long v)
{
    char t[32];
    snprintf(t, sizeof t, fmt, v);
    cb_field(b, t);
}

static void cb_row_end(struct copybuf *b)
{
    cb_reserve(b, 1);
    b->buf[b->len++] = '\n';
    b->first = true;
    if (b->len > (1 << 20))
        cb_flush(b);
}

static int copy_begin(struct copybuf *b, PGconn *c, const char *sql, char *err, size_t errlen)
{
    b->c = c;
    b->len = 0;
    b->first = true;
    b->failed = false;
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    if (!ok)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

static int copy_end(struct copybuf *b, char *err, size_t errlen)
{
    cb_flush(b);
    int rc = 0;
    if (PQputCopyEnd(b->c, b->failed ? "client error" : NULL) != 1)
        rc = -1;
    PGresult *r;
    while ((r = PQgetResult(b->c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "%s", PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

/* What one generation run emits: pass 0 patients, 1 households, 2 members. */
struct gen {
    struct rng rng;
    int pass;
    struct copybuf out;
    long long next_pid, next_hid;
    long people;        /* generated so far */
    uint64_t seed;      /* of the per-person streams */
};

static void make_person(struct gen *g, const struct station *st, struct person *p, bool male, int year,
                        const char *family, bool minority)
{
    struct rng *r = &g->rng;
    p->male = male;
    p->year = year;
    p->family = family ? family : pick_family(r, minority);
    const char *mid = male ? pick(r, middle_male, N(middle_male)) : pick(r, middle_female, N(middle_female));
    const char *given = male ? pick(r, given_male, N(given_male)) : pick(r, given_female, N(given_female));
    snprintf(p->name, sizeof p->name, "%s %s %s", p->family, mid, given);
    p->month = rnd_int(r, 1, 12);
    p->day = rnd_int(r, 1, 28);
    /* Older people registered from old papers often have the year only. */
    p->full_date = year >= 1950 ? !rpct(r, 3) : rpct(r, 40);
    p->ethnicity = minority ? (rpct(r, 60) ? "02" : rpct(r, 60) ? "07" : "09") : (rpct(r, 97) ? "01" : "02");
    (void)st;
}

static void emit_patient(struct gen *g, const struct station *st, const struct person *p, const char *village,
                         long long id)
{
    /* Per-person stream keyed by the id: pass 0 alone draws these, and the
     * household stream (g->rng) must stay the same in every pass. */
    struct rng lr = {g->seed ^ ((uint64_t)id * 0x9e3779b97f4a7c15ULL)};
    struct rng *r = &lr;
    struct copybuf *b = &g->out;
    long long n = id % 1000000000LL; /* the serial inside a node's id range (docs/province.md) */
    char fold[256], date[16], year[8], cccd[16], phone[16], card[16], addr[160];
    text_fold(p->name, fold, sizeof fold);
    snprintf(date, sizeof date, "%04d-%02d-%02d", p->year, p->month, p->day);
    snprintf(year, sizeof year, "%d", p->year);
    /* CCCD: province of birth, century and sex, year, then 6 digits that
     * differ for every person of one prefix (a bijection of the serial). */
    int cent = (p->year >= 2000 ? 2 : 0) + (p->male ? 0 : 1);
    const char *born = rpct(r, 85) ? st->province : (rpct(r, 50) ? "06" : "01");
    snprintf(cccd, sizeof cccd, "0%s%d%02d%06lld", born, cent, p->year % 100, (n * 7919LL + 13) % 1000000LL);
    int age = REF_YEAR - p->year;
    bool has_cccd = rpct(r, age >= 14 ? 92 : 70);
    bool has_phone = age >= 16 && rpct(r, 75);
    static const char *const pre[] = {"091", "098", "097", "086", "035", "033", "038", "039", "081", "088"};
    snprintf(phone, sizeof phone, "%s%07lld", pre[n % 10], (n * 104729LL + 7) % 10000000LL);
    /* Insurance card: category by age and situation, level as usual for it. */
    const char *cat = age < 6 ? "TE" : age < 18 ? "HS" : age >= 60 && rpct(r, 40) ? "HT"
                    : st->minority_pct > 50 && rpct(r, 30) ? "DT" : rpct(r, 10) ? "HN" : rpct(r, 35) ? "DN" : "GD";
    snprintf(card, sizeof card, "%s%d%s%s%08lld", cat, idcard_card_usual_level(cat), st->province, st->province, n % 100000000LL);
    bool has_card = rpct(r, 93);
    const char *occ = age >= 18 && age < 65 ? pick(r, occupations, N(occupations)) : NULL;
    snprintf(addr, sizeof addr, "%s, xã %s", village, st->commune);
    cb_fieldf(b, "%lld", id);
    cb_fieldf(b, "%lld", st->facility_id);
    cb_field(b, p->name);
    cb_field(b, fold);
    cb_field(b, p->full_date ? date : NULL);
    cb_field(b, year);
    cb_field(b, p->male ? "male" : "female");
    cb_field(b, has_cccd ? cccd : NULL);
    cb_field(b, has_phone ? phone : NULL);
    cb_field(b, p->ethnicity);
    cb_field(b, occ);
    cb_field(b, st->province);
    cb_field(b, st->commune);
    cb_field(b, village);
    cb_field(b, NULL);
    cb_field(b, st->old_district);
    cb_field(b, has_card ? card : NULL);
    cb_field(b, has_card ? "2026-01-01" : NULL);
    cb_field(b, has_card ? "2026-12-31" : NULL);
    cb_field(b, has_card ? st->code : NULL);
    cb_row_end(b);
}

#define PATIENT_COPY                                                                                                \
    "COPY clinical.patients (id, facility_id, full_name, name_fold, birth_date, birth_year, sex, cccd, phone, "     \
    "ethnicity, occupation, province_code, commune_code, village, address_line, old_district_code, card_number, "   \
    "card_valid_from, card_valid_to, card_primary_facility) FROM STDIN"
#define HOUSEHOLD_COPY                                                                                              \
    "COPY clinical.households (id, facility_id, code, province_code, commune_code, village, address, "              \
    "head_patient_id) FROM STDIN"
#define MEMBER_COPY                                                                                                 \
    "COPY clinical.household_members (facility_id, household_id, patient_id, relationship, joined_at) FROM STDIN"

/* One person of a household: emits the row of the current pass. */
static void gen_member(struct gen *g, const struct station *st, long long hid, const char *village,
                       const struct person *p, const char *rel)
{
    long long pid = g->next_pid++;
    g->people++;
    if (g->pass == 0) {
        emit_patient(g, st, p, village, pid);
    } else if (g->pass == 2) {
        struct copybuf *b = &g->out;
        cb_fieldf(b, "%lld", st->facility_id);
        cb_fieldf(b, "%lld", hid);
        cb_fieldf(b, "%lld", pid);
        cb_field(b, rel);
        cb_field(b, "2025-07-01");
        cb_row_end(b);
    }
}

/* A household of `size` people: head, spouse, children, then a parent of the
 * head or grandchildren when the head is old. */
static void gen_household(struct gen *g, const struct station *st, long seq, int size)
{
    struct rng *r = &g->rng;
    long long hid = g->next_hid++;
    const char *village = st->villages[rnd_int(r, 0, st->nvillages - 1)];
    bool minority = rpct(r, st->minority_pct);
    int head_age = size == 1 ? rnd_int(r, 22, 85) : rnd_int(r, 26, 72);
    bool head_male = rpct(r, 78);
    struct person head, p;
    make_person(g, st, &head, head_male, REF_YEAR - head_age, NULL, minority);
    if (g->pass == 1) {
        char code[32], addr[160];
        snprintf(code, sizeof code, "%s-%05ld", st->commune, seq);
        snprintf(addr, sizeof addr, "%s, xã %s", village, st->commune);
        struct copybuf *b = &g->out;
        cb_fieldf(b, "%lld", hid);
        cb_fieldf(b, "%lld", st->facility_id);
        cb_field(b, code);
        cb_field(b, st->province);
        cb_field(b, st->commune);
        cb_field(b, village);
        cb_field(b, addr);
        cb_fieldf(b, "%lld", g->next_pid);
        cb_row_end(b);
    }
    gen_member(g, st, hid, village, &head, "head");
    int left = size - 1;
    /* Children carry the father's family name. */
    const char *father = head_male ? head.family : NULL;
    if (left > 0 && rpct(r, 85)) {
        make_person(g, st, &p, !head_male, REF_YEAR - (head_age + rnd_int(r, -5, 5)), NULL, minority);
        gen_member(g, st, hid, village, &p, "spouse");
        if (!head_male)
            father = p.family;
        left--;
    }
    if (left > 0 && head_age < 60 && rpct(r, 15)) {
        int page = head_age + rnd_int(r, 20, 32);
        if (page > 100)
            page = 100;
        make_person(g, st, &p, rpct(r, 40), REF_YEAR - page, head_male ? head.family : NULL, minority);
        gen_member(g, st, hid, village, &p, "parent");
        left--;
    }
    for (int i = 0; left > 0; i++, left--) {
        bool grand = head_age >= 55 && i >= 2;
        int hi = head_age - (grand ? 45 : 20), lo = head_age - (grand ? 65 : 42);
        hi = hi < 0 ? 0 : hi;
        lo = lo < 0 ? 0 : lo;
        int cage = rnd_int(r, lo, hi);
        make_person(g, st, &p, rpct(r, 51), REF_YEAR - cage, father, minority);
        gen_member(g, st, hid, village, &p, grand ? "grandchild" : "child");
    }
}

/* Household sizes that average to people/households exactly: each draw is
 * centred on what remains per household, the last takes the rest. */
static int next_size(struct rng *r, long people_left, long households_left)
{
    if (households_left <= 1)
        return (int)people_left;
    double mean = (double)people_left / (double)households_left;
    int size = (int)(mean + 0.5) + rnd_int(r, -2, 2);
    if (size < 1)
        size = 1;
    if (size > 12)
        size = 12;
    if (people_left - size < households_left - 1)
        size = (int)(people_left - (households_left - 1));
    return size < 1 ? 1 : size;
}

/* Runs the three passes for the given stations. */
static int gen_run(PGconn *c, const struct station *st, int nst, long people, long households, unsigned seed,
                   long long base_pid, long long base_hid, char *err, size_t errlen)
{
    static const char *const copies[3] = {PATIENT_COPY, HOUSEHOLD_COPY, MEMBER_COPY};
    struct gen g;
    memset(&g, 0, sizeof g);
    int rc = 0;
    for (int pass = 0; pass < 3 && rc == 0; pass++) {
        g.rng.s = 0x5eed0000ULL ^ seed;
        g.pass = pass;
        g.next_pid = base_pid;
        g.next_hid = base_hid;
        g.people = 0;
        g.seed = 0xc0ffeeULL ^ seed;
        if (copy_begin(&g.out, c, copies[pass], err, errlen) < 0) {
            rc = -1;
            break;
        }
        long hh_left = households, p_left = people;
        for (long h = 0; h < households; h++) {
            const struct station *s = &st[h % nst];
            int size = next_size(&g.rng, p_left, hh_left);
            gen_household(&g, s, h / nst + 1, size);
            p_left -= size;
            hh_left--;
        }
        rc = copy_end(&g.out, err, errlen);
    }
    free(g.out.buf);
    return rc;
}

/* Individual patients (no household) registered at a hospital. */
static int gen_hospital(PGconn *c, const struct station *st, int count, unsigned seed, long long base_pid, char *err,
                        size_t errlen)
{
    struct gen g;
    memset(&g, 0, sizeof g);
    g.rng.s = 0x4057ULL ^ seed;
    g.seed = 0xbeefULL ^ seed;
    if (copy_begin(&g.out, c, PATIENT_COPY, err, errlen) < 0)
        return -1;
    for (int i = 0; i < count; i++) {
        struct person p;
        bool minority = rpct(&g.rng, st->minority_pct);
        make_person(&g, st, &p, rpct(&g.rng, 50), REF_YEAR - rnd_int(&g.rng, 0, 90), NULL, minority);
        emit_patient(&g, st, &p, st->villages[rnd_int(&g.rng, 0, st->nvillages - 1)], base_pid + i);
    }
    int rc = copy_end(&g.out, err, errlen);
    free(g.out.buf);
    return rc;
}

/* ---- small helpers over libpq ------------------------------------------- */

static int exec(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    int rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

static long long query_ll(PGconn *c, const char *sql, const char *param, char *err, size_t errlen)
{
    const char *p[1] = {param};
    PGresult *r = PQexecParams(c, sql, param ? 1 : 0, NULL, p, NULL, NULL, 0);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = atoll(PQgetvalue(r, 0, 0));
    else if (PQresultStatus(r) != PGRES_TUPLES_OK)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

/* Reserves n ids from a table's sequence: returns the first. The caller
 * holds a lock on the table, so the block is not shared. */
static long long reserve_ids(PGconn *c, const char *seq, long long n, char *err, size_t errlen)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT nextval('%s')", seq);
    long long first = query_ll(c, sql, NULL, err, errlen);
    if (first < 0)
        return -1;
    snprintf(sql, sizeof sql, "SELECT setval('%s', %lld)", seq, first + (n > 0 ? n : 1) - 1);
    return query_ll(c, sql, NULL, err, errlen) < 0 ? -1 : first;
}

/* ---- his seed demo ------------------------------------------------------ */

static const char *const villages_phucloc[] = {"Thôn Nà Hỏi", "Thôn Khuổi Luông", "Bản Đán", "Thôn Nà Phai",
                                               "Thôn Pù Mắt", "Bản Cám"};
static const char *const villages_babe[] = {"Thôn Pác Ngòi", "Bản Bó Lù", "Thôn Cốc Tộc", "Bản Nà Mằm",
                                            "Thôn Khau Qua", "Thôn Nà Hàn"};
static const char *const villages_phubinh[] = {"Xóm Đồng Quan", "Xóm Bờ La", "Xóm Tân Sơn", "Xóm Úc Sơn"};
static const char *const villages_daitu[] = {"Xóm Đồng Tâm", "Xóm Gò Miếu", "Xóm Cây Thị", "Xóm Lục Liêng"};
static const char *const villages_city[] = {"Tổ 3", "Tổ 5", "Tổ 9", "Tổ 12"};

struct demo_site {
    const char *facility, *commune, *old_district;
    const char *const *villages;
    int nvillages, minority_pct, households, people, walkins;
};

static const struct demo_site demo_sites[] = {
    {"19101", "01894", "063", villages_phucloc, N(villages_phucloc), 75, 60, 236, 0},
    {"19102", "01906", "061", villages_babe, N(villages_babe), 85, 55, 221, 0},
    {"19010", "05935", "169", villages_phubinh, N(villages_phubinh), 10, 0, 0, 160},
    {"19020", "05665", "168", villages_daitu, N(villages_daitu), 20, 0, 0, 140},
    {"19001", "05443", NULL, villages_city, N(villages_city), 5, 0, 0, 120},
};

static int station_for(PGconn *c, const struct demo_site *d, struct station *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    st->facility_id = query_ll(c, "SELECT id FROM core.facilities WHERE code = $1", d->facility, err, errlen);
    if (st->facility_id < 0) {
        snprintf(err, errlen, "facility %s is missing", d->facility);
        return -1;
    }
    snprintf(st->code, sizeof st->code, "%s", d->facility);
    snprintf(st->commune, sizeof st->commune, "%s", d->commune);
    st->province = "19";
    st->old_district = d->old_district;
    st->villages = d->villages;
    st->nvillages = d->nvillages;
    st->minority_pct = d->minority_pct;
    return 0;
}

/* A few fixed patients a demo (and a manual test) can look for by name. */
static int demo_named(PGconn *c, char *err, size_t errlen)
{
    return exec(c,
                "INSERT INTO clinical.patients (facility_id, full_name, name_fold, birth_date, birth_year, sex, cccd, "
                "phone, ethnicity, occupation, province_code, commune_code, village, old_district_code, card_number, "
                "card_valid_from, card_valid_to, card_primary_facility) "
                "SELECT f.id, v.full_name, v.name_fold, v.birth_date, v.birth_year, v.sex, v.cccd, v.phone, v.ethnicity, "
                "v.occupation, v.province_code, v.commune_code, v.village, v.old_district_code, v.card_number, "
                "v.card_valid_from, v.card_valid_to, v.card_primary_facility FROM (VALUES "
                "('19010', 'Nguyễn Văn An', 'nguyen van an', DATE '1985-03-12', 1985, 'male', '019085001234', "
                "  '0912345678', '01', 'Giáo viên', '19', '05935', 'Xóm Đồng Quan', '169', 'GD4191999001234', "
                "  DATE '2026-01-01', DATE '2026-12-31', '19010'), "
                "('19010', 'Nguyễn Thị Ánh', 'nguyen thi anh', NULL, 1948, 'female', NULL, NULL, '01', NULL, '19', "
                "  '05935', 'Xóm Bờ La', '169', 'HT3191999001235', DATE '2026-01-01', DATE '2026-12-31', '19010'), "
                "('19101', 'Hoàng Văn Páo', 'hoang van pao', DATE '1972-08-20', 1972, 'male', '006072004321', "
                "  '0387654321', '02', 'Nông dân', '19', '01894', 'Thôn Nà Hỏi', '063', 'DT2191999004321', "
                "  DATE '2026-01-01', DATE '2026-12-31', '19101')) "
                "AS v(fcode, full_name, name_fold, birth_date, birth_year, sex, cccd, phone, ethnicity, occupation, "
                "     province_code, commune_code, village, old_district_code, card_number, card_valid_from, "
                "     card_valid_to, card_primary_facility) "
                "JOIN core.facilities f ON f.code = v.fcode",
                err, errlen);
}

int seed_clinical_demo(PGconn *c, bool quiet, char *err, size_t errlen)
{
    long total = 0, hh = 0;
    if (exec(c, "LOCK TABLE clinical.patients, clinical.households IN EXCLUSIVE MODE", err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < sizeof demo_sites / sizeof *demo_sites; i++) {
        const struct demo_site *d = &demo_sites[i];
        struct station st;
        if (station_for(c, d, &st, err, errlen) < 0)
            return -1;
        long n = d->households ? d->people : d->walkins;
        long long pid = reserve_ids(c, "clinical.patients_id_seq", n, err, errlen);
        if (pid < 0)
            return -1;
        if (d->households) {
            long long hid = reserve_ids(c, "clinical.households_id_seq", d->households, err, errlen);
            if (hid < 0 || gen_run(c, &st, 1, d->people, d->households, 1000 + (unsigned)i, pid, hid, err, errlen) < 0)
                return -1;
            hh += d->households;
        } else if (gen_hospital(c, &st, d->walkins, 2000 + (unsigned)i, pid, err, errlen) < 0) {
            return -1;
        }
        total += n;
    }
    if (demo_named(c, err, errlen) < 0)
        return -1;
    if (!quiet)
        printf("demo clinical data: %ld patients, %ld households\n", total + 3, hh);
    return seed_visits_demo(c, quiet, err, errlen) < 0 ? -1 : seed_pharmacy_demo(c, quiet, err, errlen);
}

/* ---- his seed province: the benchmark generator ------------------------- */

static const char *const villages_gen[] = {"Thôn 1", "Thôn 2", "Thôn 3", "Thôn 4", "Thôn 5", "Thôn 6", "Xóm Mới",
                                           "Xóm Trại", "Bản Nà", "Bản Khuổi"};

/* Indexes dropped during the load and built again after: building a GIN
 * index once is far faster than updating it two million times. */
static int save_indexes(PGconn *c, char ***defs, int *n, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                            "WHERE i.indrelid IN ('clinical.patients'::regclass, 'clinical.households'::regclass, "
                            "  'clinical.household_members'::regclass) "
                            "AND NOT i.indisunique AND NOT i.indisprimary");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    *n = PQntuples(r);
    *defs = calloc((size_t)*n + 1, sizeof **defs);
    int rc = 0;
    for (int i = 0; i < *n && rc == 0; i++) {
        (*defs)[i] = strdup(PQgetvalue(r, i, 1));
        char sql[300];
        snprintf(sql, sizeof sql, "DROP INDEX %s", PQgetvalue(r, i, 0));
        rc = exec(c, sql, err, errlen);
    }
    PQclear(r);
    return rc;
}

static int restore_indexes(PGconn *c, char **defs, int n, char *err, size_t errlen)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0)
            rc = exec(c, defs[i], err, errlen);
        free(defs[i]);
    }
    free(defs);
    return rc;
}

/* One commune station per about 5,000 households, the size of a commune
 * after the 2025 mergers (Thái Nguyên has some 90). Codes 19G00..: a
 * range the demo never uses. */
static int make_stations(PGconn *c, long households, struct station **out, int *nout, char *err, size_t errlen)
{
    int n = (int)((households + 4999) / 5000);
    if (n < 1)
        n = 1;
    if (n > 36 * 36) {
        snprintf(err, errlen, "too many households (at most %d)", 36 * 36 * 5000);
        return -1;
    }
    if (query_ll(c, "SELECT count(*) FROM core.facilities WHERE code LIKE '19G%'", NULL, err, errlen) != 0) {
        snprintf(err, errlen, "a generated province is present already (facilities 19G..)");
        return -1;
    }
    char hash[256];
    if (auth_hash_password("Demo@2026", hash, sizeof hash) < 0) {
        snprintf(err, errlen, "cannot hash the password");
        return -1;
    }
    static const char b36[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    struct station *st = calloc((size_t)n, sizeof *st);
    for (int i = 0; i < n; i++) {
        snprintf(st[i].code, sizeof st[i].code, "19G%c%c", b36[i / 36], b36[i % 36]);
        snprintf(st[i].commune, sizeof st[i].commune, "%05d", 8000 + i * 3);
        char name[64], user[32];
        snprintf(name, sizeof name, "Trạm Y tế xã số %d", i + 1);
        snprintf(user, sizeof user, "yt.g%03d", i + 1);
        const char *p[5] = {st[i].code, name, st[i].commune, user, hash};
        PGresult *r = PQexecParams(c,
                                   "WITH f AS (INSERT INTO core.facilities (code, name, level, province_code, commune_code) "
                                   "VALUES ($1, $2, 'commune_station', '19', $3) RETURNING id), "
                                   "u AS (INSERT INTO core.users (username, full_name, role, facility_id, password_hash) "
                                   "SELECT $4, $2, 'commune_worker', id, $5 FROM f) SELECT id FROM f",
                                   5, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            snprintf(err, errlen, "%s", PQresultErrorMessage(r));
            PQclear(r);
            free(st);
            return -1;
        }
        st[i].facility_id = atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
        st[i].province = "19";
        st[i].old_district = NULL;
        st[i].villages = villages_gen;
        st[i].nvillages = N(villages_gen);
        st[i].minority_pct = 30;
    }
    *out = st;
    *nout = n;
    return 0;
}

int seed_province(PGconn *c, long people, long households, unsigned seed, bool quiet, char *err, size_t errlen)
{
    if (households < 1 || people < households) {
        snprintf(err, errlen, "need at least one household and one person per household");
        return -1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct station *st = NULL;
    int nst = 0, nidx = 0;
    char **defs = NULL;
    long long pid, hid;
    if (exec(c, "BEGIN", err, errlen) < 0)
        return -1;
    if (exec(c, "SET LOCAL maintenance_work_mem = '512MB'", err, errlen) < 0 ||
        exec(c, "SET LOCAL synchronous_commit = off", err, errlen) < 0 ||
        exec(c, "LOCK TABLE clinical.patients, clinical.households, clinical.household_members IN EXCLUSIVE MODE",
             err, errlen) < 0 ||
        make_stations(c, households, &st, &nst, err, errlen) < 0)
        goto fail;
    if ((pid = reserve_ids(c, "clinical.patients_id_seq", people, err, errlen)) < 0 ||
        (hid = reserve_ids(c, "clinical.households_id_seq", households, err, errlen)) < 0 ||
        save_indexes(c, &defs, &nidx, err, errlen) < 0)
        goto fail;
    if (!quiet)
        printf("generating %ld people in %ld households at %d commune stations (seed %u)\n", people, households, nst,
               seed);
    if (gen_run(c, st, nst, people, households, seed, pid, hid, err, errlen) < 0)
        goto fail;
    if (!quiet)
        printf("rows loaded; building indexes\n");
    int rc = restore_indexes(c, defs, nidx, err, errlen);
    defs = NULL;
    if (rc < 0 || exec(c, "COMMIT", err, errlen) < 0)
        goto fail;
    exec(c, "ANALYZE clinical.patients", err, errlen);
    exec(c, "ANALYZE clinical.households", err, errlen);
    exec(c, "ANALYZE clinical.household_members", err, errlen);
    free(st);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!quiet)
        printf("province loaded: %ld people, %ld households, %d stations (users yt.g001.. password Demo@2026) in %.1f s\n",
               people, households, nst, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
fail:
    if (defs) {
        for (int i = 0; i < nidx; i++)
            free(defs[i]);
        free(defs);
    }
    free(st);
    char keep[512];
    snprintf(keep, sizeof keep, "%s", err);
    exec(c, "ROLLBACK", err, errlen);
    snprintf(err, errlen, "%s", keep);
    return -1;
}
