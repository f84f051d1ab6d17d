/* Codings that differ between the interfaces we speak, mapped here and only
 * here (each has a unit test in tests/unit/test_pharmacy.c).
 *
 * Sex: the claims XML (QĐ 130/4750, XML1 GIOI_TINH) codes 1 male, 2 female,
 * 3 undetermined; the national prescription API (gui-don-thuoc gioi_tinh) is
 * reported by two independent clients as 1 undetermined, 2 male, 3 female
 * (vn-standards.md §4.4, to confirm against QĐ 808). Should the portal turn
 * out to use the claims order, only codes_sex_to_rx_portal changes. */
#include "pharmacy/pharmacy.h"

#include <ctype.h>
#include <string.h>

int codes_sex_to_claims(const char *sex)
{
    if (sex && !strcmp(sex, "male"))
        return 1;
    if (sex && !strcmp(sex, "female"))
        return 2;
    return 3;
}

const char *codes_sex_from_claims(int v)
{
    switch (v) {
    case 1: return "male";
    case 2: return "female";
    case 3: return "unknown";
    default: return NULL;
    }
}

int codes_sex_to_rx_portal(const char *sex)
{
    if (sex && !strcmp(sex, "male"))
        return 2;
    if (sex && !strcmp(sex, "female"))
        return 3;
    return 1;
}

const char *codes_sex_from_rx_portal(int v)
{
    switch (v) {
    case 1: return "unknown";
    case 2: return "male";
    case 3: return "female";
    default: return NULL;
    }
}

/* The code's letter is upper case (TT 26: N, H, C, T); the API's
 * loai_don_thuoc is lower case in every client seen, and "y" for YHCT. */
const char *codes_type_to_portal(char type)
{
    switch (type) {
    case 'C': return "c";
    case 'N': return "n";
    case 'H': return "h";
    case 'T': return "y";
    default: return NULL;
    }
}

char codes_type_from_portal(const char *loai)
{
    if (!loai || !loai[0] || loai[1])
        return 0;
    switch (tolower((unsigned char)loai[0])) {
    case 'c': return 'C';
    case 'n': return 'N';
    case 'h': return 'H';
    case 'y':
    case 't': return 'T';
    default: return 0;
    }
}
