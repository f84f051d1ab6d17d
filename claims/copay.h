/* Who pays what for one insured visit: line amounts, the benefit level
 * (MUC_HUONG) from the card, the route and the level rules, and the split of
 * each line into insurer (T_BHTT), patient co-payment (T_BNCCT), patient
 * out-of-scope payment (T_BNTT) and other funding (T_NGUONKHAC). Every rule
 * and its source is listed in docs/claims.md; the dated figures (base
 * salary, route ratios) are tables here so a change of law is one new row. */
#ifndef CLAIMS_COPAY_H
#define CLAIMS_COPAY_H

#include "claims/claim.h"

/* Base salary (lương cơ sở) in dong in force on a date (yyyyMMdd...). */
int64_t claim_base_salary(const char *date);
/* Benefit of a card's level digit 1..5: 100/100/95/80/100 %; 0 otherwise. */
claim_pct_t claim_level_benefit(int level);
/* The share of the card's benefit paid for a route at a facility level on a
 * date (1000 = all of it). *rule names the rule applied. */
claim_pct_t claim_route_ratio(claim_level_t level, claim_kind_t kind, claim_route_t route, const char *date,
                              const char **rule);
/* The visit's MUC_HUONG before looking at lines, given the sum of the
 * in-scope amounts (for the 15 % of base salary exemption). */
claim_pct_t claim_visit_benefit(const claim_visit_t *v, claim_amt_t total_bh, const char **rule);

/* The annex's split of one line (case a): from THANH_TIEN_BV, THANH_TIEN_BH,
 * MUC_HUONG and other funding to T_BNTT, T_BNCCT, T_BHTT. Always
 * bntt + bncct + bhtt + nk == bv. */
void claim_split(claim_amt_t bv, claim_amt_t bh, claim_pct_t muc, claim_amt_t nk, claim_amt_t *bntt,
                 claim_amt_t *bncct, claim_amt_t *bhtt);

/* Day number of a yyyyMMdd... date, and minutes of a yyyyMMddHHmm time. */
long claim_days(const char *d);
long claim_minutes(const char *t);

/* DON_GIA_BH of a priced line (after PHAM_VI is set). */
claim_price_t claim_line_insurer_price(const claim_line_t *l);

/* Prices and splits every line, sets MUC_HUONG, MA_DOITUONG_KCB,
 * MA_LOAI_KCB and the XML1 totals (exact sums of the lines). */
void claim_price_visit(claim_visit_t *v, struct arena *a);

#endif
