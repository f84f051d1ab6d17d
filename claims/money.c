/* Exact decimal arithmetic for claim amounts (see money.h). */
#include "claims/money.h"

#include <stdio.h>
#include <string.h>

static const int64_t pow10_tab[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

bool claim_dec_parse(const char *s, int scale, int max_int_digits, int64_t *out)
{
    if (!s || scale < 0 || scale > 8 || max_int_digits < 1 || max_int_digits > 15)
        return false;
    bool neg = false;
    if (*s == '-') {
        neg = true;
        s++;
    }
    int64_t ip = 0, fp = 0;
    int nint = 0, nfrac = 0;
    while (*s >= '0' && *s <= '9') {
        if (++nint > max_int_digits)
            return false;
        ip = ip * 10 + (*s++ - '0');
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            if (++nfrac > scale)
                return false;
            fp = fp * 10 + (*s++ - '0');
        }
        if (nfrac == 0)
            return false;
    }
    if (*s != '\0' || nint == 0)
        return false;
    int64_t v = ip * pow10_tab[scale] + fp * pow10_tab[scale - nfrac];
    *out = neg ? -v : v;
    return true;
}

char *claim_dec_format(int64_t v, int scale, char *buf, size_t len)
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t p = (uint64_t)pow10_tab[scale];
    if (scale == 0)
        snprintf(buf, len, "%s%llu", v < 0 ? "-" : "", (unsigned long long)a);
    else
        snprintf(buf, len, "%s%llu.%0*llu", v < 0 ? "-" : "", (unsigned long long)(a / p), scale,
                 (unsigned long long)(a % p));
    return buf;
}

int64_t claim_div_round(__int128 n, int64_t d)
{
    /* Half away from zero: add half the divisor to the magnitude. */
    __int128 a = n < 0 ? -n : n;
    __int128 q = (a + d / 2) / d;
    return (int64_t)(n < 0 ? -q : q);
}

claim_amt_t claim_line_amount(claim_qty_t qty, claim_price_t price, claim_pct_t pct_a, claim_pct_t pct_b)
{
    /* qty (1e-3) x price (1e-3) = 1e-6 dong; each percentage adds 1e-3
     * (tenths of a percent over 100 %). Hundredths need 1e-2: divide once. */
    __int128 n = (__int128)qty * price * pct_a * pct_b;
    return claim_div_round(n, (int64_t)10000 * 1000 * 1000);
}

claim_amt_t claim_amt_pct(claim_amt_t amount, claim_pct_t pct)
{
    return claim_div_round((__int128)amount * pct, 1000);
}

char *claim_pct_format(claim_pct_t p, char *buf, size_t len)
{
    if (p % 10 == 0)
        snprintf(buf, len, "%d", p / 10);
    else
        snprintf(buf, len, "%d.%d", p / 10, p % 10);
    return buf;
}
