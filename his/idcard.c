/* Offline identifier checks (see idcard.h for the layouts and sources). */
#include "his/idcard.h"

#include <string.h>

static const char *const msgs_vi[] = {
    [IDCARD_OK] = "Hợp lệ",
    [IDCARD_ERR_FORMAT] = "Sai định dạng",
    [IDCARD_ERR_PROVINCE] = "Mã tỉnh không có trong danh mục",
    [IDCARD_ERR_CENTURY] = "Chữ số thứ 4 (thế kỷ và giới tính) không hợp lệ",
    [IDCARD_ERR_BIRTH_YEAR] = "Năm sinh trong số CCCD không khớp với năm sinh",
    [IDCARD_ERR_SEX] = "Giới tính trong số CCCD không khớp với giới tính",
    [IDCARD_ERR_CATEGORY] = "Mã đối tượng (2 chữ cái đầu) không có trong danh mục",
    [IDCARD_ERR_LEVEL] = "Mã quyền lợi (ký tự thứ 3) phải từ 1 đến 5",
    [IDCARD_ERR_DATE] = "Ngày không hợp lệ (YYYY-MM-DD)",
    [IDCARD_ERR_DATE_ORDER] = "Ngày hết hạn trước ngày bắt đầu",
    [IDCARD_ERR_PHONE] = "Số điện thoại không hợp lệ",
};

static const char *const msgs_en[] = {
    [IDCARD_OK] = "valid",
    [IDCARD_ERR_FORMAT] = "wrong format",
    [IDCARD_ERR_PROVINCE] = "unknown province code",
    [IDCARD_ERR_CENTURY] = "the 4th digit (century and sex) is not valid",
    [IDCARD_ERR_BIRTH_YEAR] = "the birth year in the CCCD does not match the birth year",
    [IDCARD_ERR_SEX] = "the sex in the CCCD does not match the sex",
    [IDCARD_ERR_CATEGORY] = "unknown category code (first 2 letters)",
    [IDCARD_ERR_LEVEL] = "the benefit level (3rd character) must be 1 to 5",
    [IDCARD_ERR_DATE] = "not a date (YYYY-MM-DD)",
    [IDCARD_ERR_DATE_ORDER] = "valid_to is before valid_from",
    [IDCARD_ERR_PHONE] = "not a valid phone number",
};

const char *idcard_msg_vi(enum idcard_err e)
{
    return (unsigned)e < sizeof msgs_vi / sizeof *msgs_vi ? msgs_vi[e] : "?";
}

const char *idcard_msg_en(enum idcard_err e)
{
    return (unsigned)e < sizeof msgs_en / sizeof *msgs_en ? msgs_en[e] : "?";
}

/* Appendix B: the 63 pre-2025 province codes. */
static const unsigned char provinces[] = {
    1,  2,  4,  6,  8,  10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33,
    34, 35, 36, 37, 38, 40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66,
    67, 68, 70, 72, 74, 75, 77, 79, 80, 82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
};

bool idcard_province_known(int code)
{
    for (size_t i = 0; i < sizeof provinces; i++)
        if (provinces[i] == code)
            return true;
    return false;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

enum idcard_err idcard_cccd_check(const char *s, int birth_year, enum idcard_sex sex)
{
    if (!s || strlen(s) != 12 || !all_digits(s, 12))
        return IDCARD_ERR_FORMAT;
    if (s[0] != '0' || !idcard_province_known(num2(s + 1)))
        return IDCARD_ERR_PROVINCE;
    if (s[3] > '3') /* 4-9 are reserved for births from 2100 */
        return IDCARD_ERR_CENTURY;
    if (birth_year > 0 && idcard_cccd_birth_year(s) != birth_year)
        return IDCARD_ERR_BIRTH_YEAR;
    if (sex != IDCARD_SEX_UNKNOWN && idcard_cccd_sex(s) != sex)
        return IDCARD_ERR_SEX;
    return IDCARD_OK;
}

int idcard_cccd_birth_year(const char *s)
{
    int d = s[3] - '0';
    return 1900 + 100 * (d / 2) + num2(s + 4);
}

enum idcard_sex idcard_cccd_sex(const char *s)
{
    return ((s[3] - '0') % 2) ? IDCARD_SEX_FEMALE : IDCARD_SEX_MALE;
}

/* Category codes with the benefit level they usually carry (§2.2 and the
 * 46 codes of the Inventec list; XV, YE, TV have no documented level). */
static const struct {
    char code[3];
    unsigned char level;
} categories[] = {
    {"CC", 1}, {"TE", 1}, {"CK", 2}, {"CB", 2}, {"KC", 2}, {"HN", 2}, {"DT", 2}, {"DK", 2}, {"XD", 2},
    {"BT", 2}, {"TS", 2}, {"HT", 3}, {"TC", 3}, {"CN", 3}, {"DN", 4}, {"HX", 4}, {"CH", 4}, {"NN", 4},
    {"TK", 4}, {"HC", 4}, {"XK", 4}, {"TB", 4}, {"NO", 4}, {"CT", 4}, {"XB", 4}, {"TN", 4}, {"CS", 4},
    {"XN", 4}, {"MS", 4}, {"HD", 4}, {"TQ", 4}, {"TA", 4}, {"TY", 4}, {"HG", 4}, {"LS", 4}, {"PV", 4},
    {"HS", 4}, {"SV", 4}, {"GB", 4}, {"GD", 4}, {"QN", 5}, {"CA", 5}, {"CY", 5}, {"XV", 0}, {"YE", 0},
    {"TV", 0},
};

static int category_index(const char *s)
{
    for (size_t i = 0; i < sizeof categories / sizeof *categories; i++)
        if (s[0] == categories[i].code[0] && s[1] == categories[i].code[1])
            return (int)i;
    return -1;
}

int idcard_card_usual_level(const char *category)
{
    int i = category ? category_index(category) : -1;
    return i < 0 ? 0 : categories[i].level;
}

enum idcard_err idcard_card_check(const char *s)
{
    if (!s || strlen(s) != 15)
        return IDCARD_ERR_FORMAT;
    if (s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' || !all_digits(s + 2, 13))
        return IDCARD_ERR_FORMAT;
    if (category_index(s) < 0)
        return IDCARD_ERR_CATEGORY;
    if (s[2] < '1' || s[2] > '5')
        return IDCARD_ERR_LEVEL;
    int p = num2(s + 3);
    if (!idcard_province_known(p) && p != 97 && p != 98)
        return IDCARD_ERR_PROVINCE;
    return IDCARD_OK;
}

bool idcard_facility_code_ok(const char *s)
{
    if (!s || strlen(s) != 5 || !all_digits(s, 2))
        return false;
    for (int i = 2; i < 5; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

static bool year_parse(const char *s, int *y)
{
    if (!all_digits(s, 4))
        return false;
    *y = num2(s) * 100 + num2(s + 2);
    return *y >= 1880 && *y <= 2200;
}

bool idcard_date_parse(const char *s, int *y, int *m, int *d)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    if (!year_parse(s, y) || !all_digits(s + 5, 2) || !all_digits(s + 8, 2))
        return false;
    *m = num2(s + 5);
    *d = num2(s + 8);
    return *m >= 1 && *m <= 12 && *d >= 1 && *d <= days_in_month(*y, *m);
}

enum idcard_err idcard_card_dates_check(const char *from, const char *to)
{
    int y1, m1, d1, y2, m2, d2;
    if (from && !idcard_date_parse(from, &y1, &m1, &d1))
        return IDCARD_ERR_DATE;
    if (to && !idcard_date_parse(to, &y2, &m2, &d2))
        return IDCARD_ERR_DATE;
    if (from && to && strcmp(to, from) < 0) /* ISO dates order as strings */
        return IDCARD_ERR_DATE_ORDER;
    return IDCARD_OK;
}

bool idcard_birth_parse(const char *s, int *year, bool *has_day)
{
    if (!s)
        return false;
    if (strlen(s) == 4) {
        *has_day = false;
        return year_parse(s, year);
    }
    int m, d;
    *has_day = true;
    return idcard_date_parse(s, year, &m, &d);
}

enum idcard_err idcard_phone_normalize(const char *in, char *out, size_t outlen)
{
    char digits[32];
    size_t n = 0;
    if (!in || outlen < 12)
        return IDCARD_ERR_PHONE;
    const char *p = in;
    bool plus = false;
    while (*p == ' ')
        p++;
    if (*p == '+') {
        plus = true;
        p++;
    }
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (n >= sizeof digits - 1)
                return IDCARD_ERR_PHONE;
            digits[n++] = *p;
        } else if (!strchr(" .-()", *p)) {
            return IDCARD_ERR_PHONE;
        }
    }
    digits[n] = '\0';
    const char *nat = digits;
    char buf[32];
    /* +84 912 345 678 or 84912345678 -> 0912345678 */
    if ((plus || n == 11 || n == 12) && digits[0] == '8' && digits[1] == '4' && digits[2] != '0') {
        buf[0] = '0';
        memcpy(buf + 1, digits + 2, n - 1); /* includes the NUL */
        nat = buf;
    } else if (plus) {
        return IDCARD_ERR_PHONE; /* a foreign number */
    }
    size_t len = strlen(nat);
    bool mobile = len == 10 && nat[0] == '0' && strchr("35789", nat[1]);
    bool landline = len == 11 && nat[0] == '0' && nat[1] == '2';
    if (!mobile && !landline)
        return IDCARD_ERR_PHONE;
    memcpy(out, nat, len + 1);
    return IDCARD_OK;
}
