/* Co-payment rules (see copay.h and docs/claims.md for the sources). */
#include "claims/copay.h"

#include <string.h>

#include "core/arena.h"

/* [B] Decrees 38/2019, 24/2023, 73/2024: the base salary, by start date. */
static const struct {
    const char *from; /* yyyyMMdd */
    int64_t dong;
} base_salary[] = {
    {"20190701", 1490000},
    {"20230701", 1800000},
    {"20240701", 2340000},
};

int64_t claim_base_salary(const char *date)
{
    int64_t v = base_salary[0].dong;
    for (size_t i = 0; i < sizeof base_salary / sizeof base_salary[0]; i++)
        if (date && strncmp(date, base_salary[i].from, 8) >= 0)
            v = base_salary[i].dong;
    return v;
}

claim_pct_t claim_level_benefit(int level)
{
    /* [S] reference §2.2 and DOMAIN.md: card digit 3. */
    static const claim_pct_t t[] = {0, 1000, 1000, 950, 800, 1000};
    return level >= 1 && level <= 5 ? t[level] : 0;
}

/* Out-of-route ratios by facility level and kind, dated ([S] reference §2.3:
 * Law 46/2014 free routing at district level from 2016, provincial
 * inpatient 100 % from 2021, Decree 188 provincial outpatient 50 % from
 * 01/07/2026; central 40 % inpatient, outpatient not paid). */
static const struct {
    claim_level_t level;
    claim_kind_t kind;
    const char *from;
    claim_pct_t ratio;
    const char *rule;
} route_ratio[] = {
    {CLAIM_LEVEL_COMMUNE, CLAIM_OUTPATIENT, "20000101", 1000, "wrong_route_commune_100"},
    {CLAIM_LEVEL_COMMUNE, CLAIM_INPATIENT, "20000101", 1000, "wrong_route_commune_100"},
    {CLAIM_LEVEL_DISTRICT, CLAIM_OUTPATIENT, "20160101", 1000, "wrong_route_district_100"},
    {CLAIM_LEVEL_DISTRICT, CLAIM_INPATIENT, "20160101", 1000, "wrong_route_district_100"},
    {CLAIM_LEVEL_PROVINCIAL, CLAIM_OUTPATIENT, "20000101", 0, "wrong_route_provincial_outpatient_0"},
    {CLAIM_LEVEL_PROVINCIAL, CLAIM_OUTPATIENT, "20260701", 500, "wrong_route_provincial_outpatient_50"},
    {CLAIM_LEVEL_PROVINCIAL, CLAIM_INPATIENT, "20000101", 600, "wrong_route_provincial_inpatient_60"},
    {CLAIM_LEVEL_PROVINCIAL, CLAIM_INPATIENT, "20210101", 1000, "wrong_route_provincial_inpatient_100"},
    {CLAIM_LEVEL_CENTRAL, CLAIM_OUTPATIENT, "20000101", 0, "wrong_route_central_outpatient_0"},
    {CLAIM_LEVEL_CENTRAL, CLAIM_INPATIENT, "20000101", 400, "wrong_route_central_inpatient_40"},
};

claim_pct_t claim_route_ratio(claim_level_t level, claim_kind_t kind, claim_route_t route, const char *date,
                              const char **rule)
{
    switch (route) {
    case CLAIM_ROUTE_CORRECT:
        *rule = "correct_route";
        return 1000;
    case CLAIM_ROUTE_REFERRAL:
        *rule = "referral";
        return 1000;
    case CLAIM_ROUTE_EMERGENCY:
        *rule = "emergency"; /* Law Art. 22 k5: any facility */
        return 1000;
    case CLAIM_ROUTE_FREE:
        *rule = "free_route";
        return 1000;
    case CLAIM_ROUTE_WRONG:
        break;
    }
    /* An emergency visit that is claimed as wrong route is paid as an
     * inpatient stay when admitted, else as outpatient. */
    claim_kind_t k = kind == CLAIM_INPATIENT ? CLAIM_INPATIENT : CLAIM_OUTPATIENT;
    claim_pct_t r = 0;
    *rule = "wrong_route_not_paid";
    for (size_t i = 0; i < sizeof route_ratio / sizeof route_ratio[0]; i++)
        if (route_ratio[i].level == level && route_ratio[i].kind == k && date &&
            strncmp(date, route_ratio[i].from, 8) >= 0) {
            r = route_ratio[i].ratio;
            *rule = route_ratio[i].rule;
        }
    return r;
}

static bool in_route(claim_route_t r)
{
    return r != CLAIM_ROUTE_WRONG;
}

/* The visit's reference date for dated rules: the end of the visit. */
static const char *visit_date(const claim_visit_t *v)
{
    return v->discharged_at ? v->discharged_at : v->received_at;
}

claim_pct_t claim_visit_benefit(const claim_visit_t *v, claim_amt_t total_bh, const char **rule)
{
    const char *date = visit_date(v);
    claim_pct_t benefit = claim_level_benefit(v->benefit_level);
    const char *rr;
    claim_pct_t ratio = claim_route_ratio(v->level, v->kind, v->route, date, &rr);
    *rule = rr; /* kept unless an exemption below applies */
    if (benefit < 1000 && in_route(v->route)) {
        /* Levels 3 and 4 are paid in full in three cases ([S] §2.2). */
        if (v->level == CLAIM_LEVEL_COMMUNE) {
            *rule = "commune_level_100";
            return 1000;
        }
        if (v->copay_exempt_from && v->five_years_from && date &&
            strncmp(date, v->copay_exempt_from, 8) >= 0 && strncmp(date, v->copay_exempt_from, 4) == 0) {
            *rule = "five_years_copay_exempt_100";
            return 1000;
        }
        /* "chi phí một lần KCB thấp hơn 15 % mức lương cơ sở": in-scope cost
         * of the whole visit, compared in hundredths of a dong. */
        int64_t limit = claim_base_salary(date) * 15; /* 15 % of salary, in 1/100 dong */
        if (total_bh < limit) {
            *rule = "below_15pct_base_salary_100";
            return 1000;
        }
        *rule = v->benefit_level == 3 ? "level3_95" : "level4_80";
    }
    return (claim_pct_t)((int64_t)benefit * ratio / 1000);
}

void claim_split(claim_amt_t bv, claim_amt_t bh, claim_pct_t muc, claim_amt_t nk, claim_amt_t *bntt,
                 claim_amt_t *bncct, claim_amt_t *bhtt)
{
    /* Provisional values, annex XML2/XML3 T_BNTT/T_BNCCT/T_BHTT "Bước 1". */
    claim_amt_t bntt0 = bv - bh;
    claim_amt_t bhtt0 = claim_amt_pct(bh, muc);
    claim_amt_t bncct0 = bh - bhtt0;
    if (nk <= 0) {
        *bntt = bntt0, *bncct = bncct0, *bhtt = bhtt0;
    } else if (nk < bntt0) {
        *bntt = bntt0 - nk, *bncct = bncct0, *bhtt = bhtt0;
    } else {
        /* Other funding covers the out-of-scope part, then co-payment, then
         * the insurer's share. */
        *bntt = 0;
        claim_amt_t rest = nk - bntt0;
        *bncct = bncct0 > rest ? bncct0 - rest : 0;
        *bhtt = nk > bncct0 + bntt0 ? bhtt0 - (nk - bncct0 - bntt0) : bhtt0;
    }
}

claim_price_t claim_line_insurer_price(const claim_line_t *l)
{
    /* XML2 has one price: the fund pays drugs at DON_GIA (the purchase
     * price), so THANH_TIEN_BH = SO_LUONG x DON_GIA x TYLE_TT_BH / 100.
     * Services: the insurer's price in force, never above the facility's;
     * PHAM_VI 3 lines are paid at the facility's price. */
    if (l->kind == CLAIM_LINE_DRUG || l->pham_vi == 3)
        return l->price_bv;
    if (l->pham_vi == 2)
        return 0;
    return l->price_bh < l->price_bv ? l->price_bh : l->price_bv;
}

static void price_line(claim_line_t *l, const claim_visit_t *v, claim_pct_t muc)
{
    /* PHAM_VI: 1 in the list; outside the list 2, except level 5 (army,
     * police, cipher) whose out-of-list costs the fund pays too: 3. */
    l->pham_vi = l->in_list ? 1 : v->benefit_level == 5 ? 3 : 2;
    /* Level 1 is exempt from the payment ratios of listed items ([V]
     * Inventec HeinBenefitData; [S] §2.2). */
    l->ratio_bh_eff = v->benefit_level == 1 ? 100 : l->ratio_bh;
    claim_pct_t dv = (claim_pct_t)l->ratio_dv * 10;
    /* The insurer never pays above what the facility charged. */
    claim_price_t pbh = claim_line_insurer_price(l);
    l->tt_bv = claim_line_amount(l->qty, l->price_bv, dv, 1000);
    l->tt_bh = l->pham_vi == 2 ? 0 : claim_line_amount(l->qty, pbh, (claim_pct_t)l->ratio_bh_eff * 10, dv);
    l->muc_huong = l->pham_vi == 2 ? 0 : muc;
    l->nguonkhac = l->nk_nsnn + l->nk_vtnn + l->nk_vttn + l->nk_cl;
    claim_split(l->tt_bv, l->tt_bh, l->muc_huong, l->nguonkhac, &l->bntt, &l->bncct, &l->bhtt);
}

static const char *doituong(const claim_visit_t *v)
{
    /* QĐ 824 PL2 codes as one vendor uses them ([V] dh-hos
     * ma_doituong_kcb.md); QĐ 3276 rows were not available. */
    switch (v->route) {
    case CLAIM_ROUTE_CORRECT: return "1.1";
    case CLAIM_ROUTE_FREE: return "1.2";
    case CLAIM_ROUTE_REFERRAL: return "1.3";
    case CLAIM_ROUTE_EMERGENCY: return "2";
    case CLAIM_ROUTE_WRONG:
        if (v->level == CLAIM_LEVEL_PROVINCIAL)
            return v->kind == CLAIM_INPATIENT ? "3.2" : "3.5";
        return "3.1";
    }
    return "9";
}

long claim_days(const char *d)
{
    /* Days from the civil date (Howard Hinnant's days_from_civil). */
    int y = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + d[3] - '0';
    int m = (d[4] - '0') * 10 + d[5] - '0', dd = (d[6] - '0') * 10 + d[7] - '0';
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy;
}

long claim_minutes(const char *t)
{
    long hm = strlen(t) >= 12 ? ((t[8] - '0') * 10 + t[9] - '0') * 60 + (t[10] - '0') * 10 + t[11] - '0' : 0;
    return claim_days(t) * 1440 + hm;
}

static const char *loai_kcb(const claim_visit_t *v)
{
    /* QĐ 824 PL1: 01 consultation, 03 inpatient, 09 inpatient under 4 h. */
    if (v->kind == CLAIM_OUTPATIENT || (v->kind == CLAIM_EMERGENCY && !v->admitted_at))
        return "01";
    const char *in = v->admitted_at ? v->admitted_at : v->received_at;
    /* Under 4 hours from admission to discharge: 09. */
    if (in && v->discharged_at && claim_minutes(v->discharged_at) - claim_minutes(in) < 240)
        return "09";
    return "03";
}

void claim_price_visit(claim_visit_t *v, struct arena *a)
{
    (void)a;
    /* First the in-scope amounts, which the 15 % exemption looks at. */
    claim_amt_t total_bh = 0;
    for (int i = 0; i < v->nlines; i++) {
        price_line(&v->lines[i], v, 0);
        total_bh += v->lines[i].tt_bh;
    }
    v->muc_huong = claim_visit_benefit(v, total_bh, &v->muc_huong_rule);
    v->t_thuoc = v->t_vtyt = v->t_bv = v->t_bh = v->t_bntt = v->t_bncct = v->t_bhtt = v->t_nguonkhac =
        v->t_bhtt_gdv = 0;
    for (int i = 0; i < v->nlines; i++) {
        claim_line_t *l = &v->lines[i];
        price_line(l, v, v->muc_huong);
        if (l->kind == CLAIM_LINE_DRUG)
            v->t_thuoc += l->tt_bv;
        if (l->kind == CLAIM_LINE_SUPPLY)
            v->t_vtyt += l->tt_bv;
        v->t_bv += l->tt_bv;
        v->t_bh += l->tt_bh;
        v->t_bntt += l->bntt;
        v->t_bncct += l->bncct;
        v->t_bhtt += l->bhtt;
        v->t_nguonkhac += l->nguonkhac;
        if (l->payment_method == 1)
            v->t_bhtt_gdv += l->bhtt;
    }
    v->ma_doituong = doituong(v);
    v->ma_loai_kcb = loai_kcb(v);
}
