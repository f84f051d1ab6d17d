/* Exact decimal money for the claims (QĐ 130 as amended by QĐ 4750): no
 * binary floating point anywhere. Three fixed-point scales, each an int64:
 *   claim_qty_t    SO_LUONG     NUMERIC(10,3)  thousandths of a unit
 *   claim_price_t  DON_GIA(_BH) NUMERIC(15,3)  thousandths of a dong
 *   claim_amt_t    THANH_TIEN_* NUMERIC(15,2)  hundredths of a dong
 * Products are formed exactly in 128 bits and rounded once, half away from
 * zero ("làm tròn số đến 2 chữ số thập phân", the usual arithmetic rounding:
 * see docs/claims.md for why not half-even). */
#ifndef CLAIMS_MONEY_H
#define CLAIMS_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t claim_qty_t;   /* 1/1000 */
typedef int64_t claim_price_t; /* 1/1000 dong */
typedef int64_t claim_amt_t;   /* 1/100 dong */

/* Percentages (MUC_HUONG may carry one decimal from QĐ 1931: 47.5) are kept
 * in tenths of a percent: 800 = 80 %, 475 = 47.5 %. */
typedef int32_t claim_pct_t;
#define CLAIM_PCT(x) ((claim_pct_t)((x) * 10))

/* Parses a plain decimal ("12", "12.5", "-3.125") with at most `scale`
 * fraction digits into an integer of that scale. Rejects exponents, spaces,
 * more fraction digits than the scale (no silent rounding of input) and
 * values beyond max_int_digits integer digits. */
bool claim_dec_parse(const char *s, int scale, int max_int_digits, int64_t *out);
/* Writes v (of `scale`) with exactly `scale` fraction digits; returns buf. */
char *claim_dec_format(int64_t v, int scale, char *buf, size_t len);

/* Divides n by d (d > 0) rounding half away from zero. */
int64_t claim_div_round(__int128 n, int64_t d);

/* qty x price (x pct_a/1000 x pct_b/1000 when given; pass 1000 for "none"),
 * exact, rounded once to hundredths of a dong. */
claim_amt_t claim_line_amount(claim_qty_t qty, claim_price_t price, claim_pct_t pct_a, claim_pct_t pct_b);
/* amount x pct (tenths of a percent), rounded to hundredths of a dong. */
claim_amt_t claim_amt_pct(claim_amt_t amount, claim_pct_t pct);

/* Formats a percentage the way MUC_HUONG is written: "80", "47.5". */
char *claim_pct_format(claim_pct_t p, char *buf, size_t len);

#endif
