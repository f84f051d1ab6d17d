/* Exact money and the co-payment rules of claims/money.c and claims/copay.c:
 * table-driven over every benefit level (1-5), every route and facility
 * level, the exemptions, the annex's split cases, and totals that are exact
 * sums of their lines. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claims/copay.h"
#include "claims/money.h"
#include "core/arena.h"

START_TEST(dec_parse_format)
{
    static const struct {
        const char *in;
        int scale;
        bool ok;
        int64_t v;
        const char *out;
    } t[] = {
        {"0", 2, true, 0, "0.00"},
        {"12", 2, true, 1200, "12.00"},
        {"12.5", 2, true, 1250, "12.50"},
        {"12.34", 2, true, 1234, "12.34"},
        {"-3.125", 3, true, -3125, "-3.125"},
        {"35000.000", 3, true, 35000000, "35000.000"},
        {"1.234", 2, false, 0, NULL}, /* more decimals than the scale: refused, never rounded silently */
        {"1e3", 2, false, 0, NULL},
        {" 1", 2, false, 0, NULL},
        {"1.", 2, false, 0, NULL},
        {".5", 2, false, 0, NULL},
        {"", 2, false, 0, NULL},
        {"9999999999999.99", 2, true, 999999999999999, "9999999999999.99"},
        {"99999999999999", 2, false, 0, NULL}, /* 14 integer digits > NUMERIC(15,2) */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int64_t v = -1;
        bool ok = claim_dec_parse(t[i].in, t[i].scale, 13, &v);
        ck_assert_msg(ok == t[i].ok, "parse '%s'", t[i].in);
        if (ok) {
            char b[40];
            ck_assert_int_eq(v, t[i].v);
            ck_assert_str_eq(claim_dec_format(v, t[i].scale, b, sizeof b), t[i].out);
        }
    }
}
END_TEST

START_TEST(rounding_half_up_once)
{
    /* qty x price to 2 decimals, rounded once, half away from zero. */
    static const struct {
        const char *qty, *price;
        int pct_a, pct_b; /* whole percent */
        const char *want;
    } t[] = {
        {"1", "0.005", 100, 100, "0.01"},     /* exact half: up */
        {"1", "0.004", 100, 100, "0.00"},
        {"1.5", "33333.333", 100, 100, "50000.00"}, /* 49999.9995 */
        {"3", "0.335", 100, 100, "1.01"},     /* 1.005: up (half-even would give 1.00) */
        {"2.5", "1.001", 100, 100, "2.50"},   /* 2.5025 */
        {"7", "12345.678", 50, 100, "43209.87"}, /* 43209.873 */
        {"1", "100000", 30, 100, "30000.00"}, /* consultation at 30 % (TYLE_TT_DV) */
        {"0.333", "10000", 100, 100, "3330.00"},
        {"1", "0.015", 50, 100, "0.01"},      /* 0.0075 */
        {"10000", "999999999999.999", 100, 100, "9999999999999990.00"}, /* 128-bit intermediate */
        {"1", "1234.567", 80, 50, "493.83"},  /* 493.8268: two percentages, one rounding */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int64_t q, p;
        ck_assert(claim_dec_parse(t[i].qty, 3, 7, &q));
        ck_assert(claim_dec_parse(t[i].price, 3, 12, &p));
        char b[40];
        claim_amt_t a = claim_line_amount(q, p, t[i].pct_a * 10, t[i].pct_b * 10);
        ck_assert_msg(strcmp(claim_dec_format(a, 2, b, sizeof b), t[i].want) == 0, "%s x %s: got %s want %s",
                      t[i].qty, t[i].price, b, t[i].want);
    }
    ck_assert_int_eq(claim_div_round(-5, 10), -1);
    ck_assert_int_eq(claim_div_round(-4, 10), 0);
    ck_assert_int_eq(claim_amt_pct(350000000, 800), 280000000);
    ck_assert_int_eq(claim_amt_pct(1, 950), 1);  /* 0.0095 dong -> 0.01 */
    ck_assert_int_eq(claim_amt_pct(333, 800), 266); /* 2.664 -> 2.66 */
}
END_TEST

START_TEST(pct_format)
{
    char b[16];
    ck_assert_str_eq(claim_pct_format(800, b, sizeof b), "80");
    ck_assert_str_eq(claim_pct_format(475, b, sizeof b), "47.5");
    ck_assert_str_eq(claim_pct_format(0, b, sizeof b), "0");
}
END_TEST

/* The annex's split, case a, with and without other funding; case b's
 * worked example (aid received before pricing). */
START_TEST(split_cases)
{
    static const struct {
        claim_amt_t bv, bh;
        claim_pct_t muc;
        claim_amt_t nk, bntt, bncct, bhtt;
    } t[] = {
        /* case b: 10,000,000 drug, 3,000,000 donated before pricing, 50 % ratio, 80 % */
        {700000000, 350000000, 800, 0, 350000000, 70000000, 280000000},
        {10000000, 10000000, 800, 0, 0, 2000000, 8000000},    /* in scope, 80 % */
        {12000000, 10000000, 950, 0, 2000000, 500000, 9500000}, /* price above the insurer's */
        {12000000, 10000000, 800, 500000, 1500000, 2000000, 8000000},   /* nk < bntt0 */
        {12000000, 10000000, 800, 3000000, 0, 1000000, 8000000},        /* nk covers bntt0, part of bncct0 */
        {12000000, 10000000, 800, 5000000, 0, 0, 7000000},              /* reaches the insurer's share */
        {10000000, 0, 0, 0, 10000000, 0, 0},                             /* out of scope: all the patient's */
        {10000000, 10000000, 1000, 0, 0, 0, 10000000},                   /* 100 % */
        {333, 333, 950, 0, 0, 17, 316},                                  /* 3.33 at 95 %: 3.1635 -> 3.16 */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        claim_amt_t a, b, c;
        claim_split(t[i].bv, t[i].bh, t[i].muc, t[i].nk, &a, &b, &c);
        ck_assert_msg(a == t[i].bntt && b == t[i].bncct && c == t[i].bhtt, "case %zu: %lld %lld %lld", i,
                      (long long)a, (long long)b, (long long)c);
        ck_assert_int_eq(a + b + c + t[i].nk, t[i].bv);
    }
}
END_TEST

static claim_line_t line(claim_line_kind_t k, const char *qty, const char *price, int ratio)
{
    claim_line_t l = {0};
    l.kind = k;
    claim_dec_parse(qty, 3, 7, &l.qty);
    claim_dec_parse(price, 3, 12, &l.price_bv);
    l.price_bh = l.price_bv;
    l.ratio_bh = ratio;
    l.ratio_dv = 100;
    l.in_list = true;
    l.payment_method = 1;
    return l;
}

/* A visit costing 500,000 in scope: above 15 % of the 2025 base salary
 * (351,000), so no small-visit exemption unless said. */
static claim_visit_t visit(int level, claim_route_t route, claim_level_t fl, claim_kind_t kind, const char *date,
                           claim_line_t *lines, int n)
{
    claim_visit_t v = {0};
    v.ma_lk = "T1";
    v.benefit_level = level;
    v.route = route;
    v.level = fl;
    v.kind = kind;
    v.received_at = date;
    v.discharged_at = date;
    v.lines = lines;
    v.nlines = n;
    return v;
}

START_TEST(benefit_by_level_route_and_facility)
{
    static const struct {
        int level;
        claim_route_t route;
        claim_level_t fl;
        claim_kind_t kind;
        const char *date;
        claim_pct_t want;
        const char *rule;
    } t[] = {
        /* each benefit level, in route at a district hospital */
        {1, CLAIM_ROUTE_CORRECT, CLAIM_LEVEL_DISTRICT, CLAIM_OUTPATIENT, "202503041000", 1000, "correct_route"},
        {2, CLAIM_ROUTE_CORRECT, CLAIM_LEVEL_DISTRICT, CLAIM_OUTPATIENT, "202503041000", 1000, "correct_route"},
        {3, CLAIM_ROUTE_CORRECT, CLAIM_LEVEL_DISTRICT, CLAIM_OUTPATIENT, "202503041000", 950, "level3_95"},
        {4, CLAIM_ROUTE_CORRECT, CLAIM_LEVEL_DISTRICT, CLAIM_OUTPATIENT, "202503041000", 800, "level4_80"},
        {5, CLAIM_ROUTE_CORRECT, CLAIM_LEVEL_DISTRICT, CLAIM_OUTPATIENT, "202503041000", 1000, "correct_route"},
        /* each route, level 4 */
        {4, CLAIM_ROUTE_REFERRAL, CLAIM_LEVEL_PROVINCIAL, CLAIM_OUTPATIENT, "202503041000", 800, "level4_80"},
        {4, CLAIM_ROUTE_EMERGENCY, CLAIM_LEVEL_PROVINCIAL, CLAIM_EMERGENCY, "202503041000", 800, "level4_80"},
        {4, CLAIM_ROUTE_FREE, CLAIM_LEVEL_DISTRICT, CLAIM_OUTPATIENT, "202503041000", 800, "level4_80"},
        {4, CLAIM_ROUTE_WRONG, CLAIM_LEVEL_DISTRICT, CLAIM_OUTPATIENT, "202503041000", 800, "wrong_route_district_100"},
        {4, CLAIM_ROUTE_WRONG, CLAIM_LEVEL_COMMUNE, CLAIM_OUTPATIENT, "202503041000", 800, "wrong_route_commune_100"},
        /* wrong route at provincial level: inpatient 100 % since 2021, outpatient 0, 50 % from 07/2026 */
        {4, CLAIM_ROUTE_WRONG, CLAIM_LEVEL_PROVINCIAL, CLAIM_INPATIENT, "202503041000", 800,
         "wrong_route_provincial_inpatient_100"},
        {4, CLAIM_ROUTE_WRONG, CLAIM_LEVEL_PROVINCIAL, CLAIM_INPATIENT, "202006011000", 480,
         "wrong_route_provincial_inpatient_60"},
        {4, CLAIM_ROUTE_WRONG, CLAIM_LEVEL_PROVINCIAL, CLAIM_OUTPATIENT, "202503041000", 0,
         "wrong_route_provincial_outpatient_0"},
        {4, CLAIM_ROUTE_WRONG, CLAIM_LEVEL_PROVINCIAL, CLAIM_OUTPATIENT, "202608041000", 400,
         "wrong_route_provincial_outpatient_50"},
        {3, CLAIM_ROUTE_WRONG, CLAIM_LEVEL_PROVINCIAL, CLAIM_OUTPATIENT, "202608041000", 475,
         "wrong_route_provincial_outpatient_50"},
        {1, CLAIM_ROUTE_WRONG, CLAIM_LEVEL_PROVINCIAL, CLAIM_OUTPATIENT, "202608041000", 500,
         "wrong_route_provincial_outpatient_50"},
        /* central level: 40 % inpatient (40 % x 80 = 32), outpatient not paid */
        {4, CLAIM_ROUTE_WRONG, CLAIM_LEVEL_CENTRAL, CLAIM_INPATIENT, "202503041000", 320,
         "wrong_route_central_inpatient_40"},
        {3, CLAIM_ROUTE_WRONG, CLAIM_LEVEL_CENTRAL, CLAIM_INPATIENT, "202503041000", 380,
         "wrong_route_central_inpatient_40"},
        {2, CLAIM_ROUTE_WRONG, CLAIM_LEVEL_CENTRAL, CLAIM_OUTPATIENT, "202503041000", 0,
         "wrong_route_central_outpatient_0"},
        /* commune level: levels 3 and 4 paid in full */
        {3, CLAIM_ROUTE_CORRECT, CLAIM_LEVEL_COMMUNE, CLAIM_OUTPATIENT, "202503041000", 1000, "commune_level_100"},
        {4, CLAIM_ROUTE_FREE, CLAIM_LEVEL_COMMUNE, CLAIM_OUTPATIENT, "202503041000", 1000, "commune_level_100"},
        /* an emergency is in route anywhere */
        {3, CLAIM_ROUTE_EMERGENCY, CLAIM_LEVEL_CENTRAL, CLAIM_EMERGENCY, "202503041000", 950, "level3_95"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        claim_line_t l[1] = {line(CLAIM_LINE_SERVICE, "1", "500000", 100)};
        claim_visit_t v = visit(t[i].level, t[i].route, t[i].fl, t[i].kind, t[i].date, l, 1);
        claim_price_visit(&v, NULL);
        ck_assert_msg(v.muc_huong == t[i].want && strcmp(v.muc_huong_rule, t[i].rule) == 0,
                      "row %zu: got %d (%s), want %d (%s)", i, v.muc_huong, v.muc_huong_rule, t[i].want, t[i].rule);
        ck_assert_int_eq(v.lines[0].muc_huong, t[i].want);
        /* the insurer pays MUC_HUONG of the in-scope amount, the patient the rest */
        ck_assert_int_eq(v.t_bhtt, claim_amt_pct(50000000, t[i].want));
        ck_assert_int_eq(v.t_bhtt + v.t_bncct, v.t_bh);
    }
}
END_TEST

START_TEST(exemptions)
{
    /* Below 15 % of base salary (2,340,000 from 07/2024: 351,000) -> 100 %. */
    claim_line_t a[1] = {line(CLAIM_LINE_SERVICE, "1", "350999.990", 100)};
    claim_visit_t v = visit(4, CLAIM_ROUTE_CORRECT, CLAIM_LEVEL_DISTRICT, CLAIM_OUTPATIENT, "202503041000", a, 1);
    claim_price_visit(&v, NULL);
    ck_assert_int_eq(v.muc_huong, 1000);
    ck_assert_str_eq(v.muc_huong_rule, "below_15pct_base_salary_100");
    claim_line_t b[1] = {line(CLAIM_LINE_SERVICE, "1", "351000", 100)}; /* not below: 80 % */
    v = visit(4, CLAIM_ROUTE_CORRECT, CLAIM_LEVEL_DISTRICT, CLAIM_OUTPATIENT, "202503041000", b, 1);
    claim_price_visit(&v, NULL);
    ck_assert_int_eq(v.muc_huong, 800);
    /* The threshold follows the salary in force: 270,000 before 07/2024. */
    claim_line_t c[1] = {line(CLAIM_LINE_SERVICE, "1", "300000", 100)};
    v = visit(3, CLAIM_ROUTE_CORRECT, CLAIM_LEVEL_DISTRICT, CLAIM_OUTPATIENT, "202405101000", c, 1);
    claim_price_visit(&v, NULL);
    ck_assert_int_eq(v.muc_huong, 950);
    ck_assert_int_eq(claim_base_salary("20240630"), 1800000);
    ck_assert_int_eq(claim_base_salary("20240701"), 2340000);
    /* Not for a wrong-route visit. */
    claim_line_t d[1] = {line(CLAIM_LINE_SERVICE, "1", "1000", 100)};
    v = visit(4, CLAIM_ROUTE_WRONG, CLAIM_LEVEL_CENTRAL, CLAIM_INPATIENT, "202503041000", d, 1);
    claim_price_visit(&v, NULL);
    ck_assert_int_eq(v.muc_huong, 320);
    /* Five continuous years and the exemption certificate: 100 % from the
     * certificate's date to the end of that year. */
    claim_line_t e[1] = {line(CLAIM_LINE_SERVICE, "1", "900000", 100)};
    v = visit(4, CLAIM_ROUTE_CORRECT, CLAIM_LEVEL_DISTRICT, CLAIM_OUTPATIENT, "202509101000", e, 1);
    v.five_years_from = "20200101";
    v.copay_exempt_from = "20250801";
    claim_price_visit(&v, NULL);
    ck_assert_int_eq(v.muc_huong, 1000);
    ck_assert_str_eq(v.muc_huong_rule, "five_years_copay_exempt_100");
    v.received_at = v.discharged_at = "202607011000"; /* next year: the certificate is spent */
    claim_price_visit(&v, NULL);
    ck_assert_int_eq(v.muc_huong, 800);
    v.received_at = v.discharged_at = "202507011000"; /* before the certificate */
    claim_price_visit(&v, NULL);
    ck_assert_int_eq(v.muc_huong, 800);
}
END_TEST

START_TEST(scope_and_ratios)
{
    /* A 50 %-ratio drug, an out-of-list service, a priced-above service. */
    claim_line_t l[3] = {line(CLAIM_LINE_DRUG, "10", "1500", 50), line(CLAIM_LINE_SERVICE, "1", "200000", 100),
                         line(CLAIM_LINE_SERVICE, "1", "600000", 100)};
    l[1].in_list = false;
    claim_dec_parse("500000", 3, 12, &l[2].price_bh);
    claim_visit_t v = visit(4, CLAIM_ROUTE_CORRECT, CLAIM_LEVEL_DISTRICT, CLAIM_OUTPATIENT, "202503041000", l, 3);
    claim_price_visit(&v, NULL);
    ck_assert_int_eq(l[0].pham_vi, 1);
    ck_assert_int_eq(l[0].tt_bv, 1500000);
    ck_assert_int_eq(l[0].tt_bh, 750000); /* 50 % */
    ck_assert_int_eq(l[0].bntt, 750000);
    ck_assert_int_eq(l[1].pham_vi, 2);
    ck_assert_int_eq(l[1].tt_bh, 0);
    ck_assert_int_eq(l[1].muc_huong, 0);
    ck_assert_int_eq(l[1].bntt, 20000000);
    ck_assert_int_eq(l[2].tt_bh, 50000000);
    ck_assert_int_eq(l[2].bntt, 10000000); /* the difference to the insurer's price */
    ck_assert_int_eq(v.t_thuoc, 1500000);
    ck_assert_int_eq(v.t_bv, 1500000 + 20000000 + 60000000);
    /* Level 1: no ratio limits. */
    v.benefit_level = 1;
    claim_price_visit(&v, NULL);
    ck_assert_int_eq(l[0].ratio_bh_eff, 100);
    ck_assert_int_eq(l[0].tt_bh, 1500000);
    /* Level 5: out-of-list costs paid too (PHAM_VI 3). */
    v.benefit_level = 5;
    claim_price_visit(&v, NULL);
    ck_assert_int_eq(l[1].pham_vi, 3);
    ck_assert_int_eq(l[1].tt_bh, 20000000);
    ck_assert_int_eq(l[1].bhtt, 20000000);
    ck_assert_int_eq(l[0].tt_bh, 750000); /* level 5 keeps the ratio */
}
END_TEST

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Totals are exact sums of the lines, whatever the amounts: a deterministic
 * pseudo-random walk over levels, routes and awkward prices. */
START_TEST(totals_are_exact_sums)
{
    uint64_t s = 88172645463325252ULL;
#define RND() xorshift(&s)
    for (int it = 0; it < 2000; it++) {
        claim_line_t l[12];
        int n = 1 + (int)(RND() % 12);
        for (int i = 0; i < n; i++) {
            l[i] = (claim_line_t){0};
            l[i].kind = (claim_line_kind_t)(RND() % 3);
            l[i].qty = 1 + (int64_t)(RND() % 50000);
            l[i].price_bv = (int64_t)(RND() % 5000000000ULL);
            l[i].price_bh = (int64_t)(RND() % 5000000000ULL);
            l[i].ratio_bh = (int)(RND() % 2) ? 100 : 50 + (int)(RND() % 50);
            l[i].ratio_dv = (int)(RND() % 4) ? 100 : 30;
            l[i].in_list = RND() % 5 != 0;
            l[i].payment_method = 1 + (int)(RND() % 3);
            if (RND() % 4 == 0)
                l[i].nk_nsnn = (int64_t)(RND() % 100000000), l[i].nk_cl = (int64_t)(RND() % 1000000);
        }
        claim_visit_t v = visit(1 + (int)(RND() % 5), (claim_route_t)(RND() % 5), (claim_level_t)(RND() % 4),
                                (claim_kind_t)(RND() % 3), "202509101000", l, n);
        claim_price_visit(&v, NULL);
        claim_amt_t bv = 0, bh = 0, bntt = 0, bncct = 0, bhtt = 0, nk = 0, thuoc = 0, vtyt = 0;
        for (int i = 0; i < n; i++) {
            ck_assert(l[i].bntt + l[i].bncct + l[i].bhtt + l[i].nguonkhac == l[i].tt_bv);
            ck_assert(l[i].tt_bh <= l[i].tt_bv);
            bv += l[i].tt_bv, bh += l[i].tt_bh, bntt += l[i].bntt, bncct += l[i].bncct, bhtt += l[i].bhtt,
                nk += l[i].nguonkhac;
            thuoc += l[i].kind == CLAIM_LINE_DRUG ? l[i].tt_bv : 0;
            vtyt += l[i].kind == CLAIM_LINE_SUPPLY ? l[i].tt_bv : 0;
        }
        ck_assert(v.t_bv == bv && v.t_bh == bh && v.t_bntt == bntt && v.t_bncct == bncct && v.t_bhtt == bhtt &&
                  v.t_nguonkhac == nk && v.t_thuoc == thuoc && v.t_vtyt == vtyt);
        ck_assert(v.t_bntt + v.t_bncct + v.t_bhtt + v.t_nguonkhac == v.t_bv);
    }
#undef RND
}
END_TEST

int main(void)
{
    Suite *s = suite_create("claims_money");
    TCase *tc = tcase_create("money");
    tcase_add_test(tc, dec_parse_format);
    tcase_add_test(tc, rounding_half_up_once);
    tcase_add_test(tc, pct_format);
    tcase_add_test(tc, split_cases);
    tcase_add_test(tc, benefit_by_level_route_and_facility);
    tcase_add_test(tc, exemptions);
    tcase_add_test(tc, scope_and_ratios);
    tcase_add_test(tc, totals_are_exact_sums);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
