/* Unit tests of his/idcard.c: CCCD structure against birth year and sex,
 * the 15-character insurance card, validity dates, birth dates, phones. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "his/idcard.h"

START_TEST(cccd_structure)
{
    /* 019 Thái Nguyên, 0 = male 1900s, 85 = 1985 */
    ck_assert_int_eq(idcard_cccd_check("019085001234", 0, IDCARD_SEX_UNKNOWN), IDCARD_OK);
    ck_assert_int_eq(idcard_cccd_check("019085001234", 1985, IDCARD_SEX_MALE), IDCARD_OK);
    ck_assert_int_eq(idcard_cccd_birth_year("019085001234"), 1985);
    ck_assert_int_eq(idcard_cccd_sex("019085001234"), IDCARD_SEX_MALE);
    /* 3 = female 2000s */
    ck_assert_int_eq(idcard_cccd_check("001310000001", 2010, IDCARD_SEX_FEMALE), IDCARD_OK);
    ck_assert_int_eq(idcard_cccd_birth_year("001310000001"), 2010);
    /* 2 = male 2000s; 1 = female 1900s */
    ck_assert_int_eq(idcard_cccd_check("079200000001", 2000, IDCARD_SEX_MALE), IDCARD_OK);
    ck_assert_int_eq(idcard_cccd_check("079199000001", 1999, IDCARD_SEX_FEMALE), IDCARD_OK);
}
END_TEST

START_TEST(cccd_rejects)
{
    ck_assert_int_eq(idcard_cccd_check("01908500123", 0, IDCARD_SEX_UNKNOWN), IDCARD_ERR_FORMAT);
    ck_assert_int_eq(idcard_cccd_check("0190850012345", 0, IDCARD_SEX_UNKNOWN), IDCARD_ERR_FORMAT);
    ck_assert_int_eq(idcard_cccd_check("01908500123a", 0, IDCARD_SEX_UNKNOWN), IDCARD_ERR_FORMAT);
    ck_assert_int_eq(idcard_cccd_check("", 0, IDCARD_SEX_UNKNOWN), IDCARD_ERR_FORMAT);
    ck_assert_int_eq(idcard_cccd_check(NULL, 0, IDCARD_SEX_UNKNOWN), IDCARD_ERR_FORMAT);
    /* 003, 099 and 119 are no province of birth */
    ck_assert_int_eq(idcard_cccd_check("003085001234", 0, IDCARD_SEX_UNKNOWN), IDCARD_ERR_PROVINCE);
    ck_assert_int_eq(idcard_cccd_check("099085001234", 0, IDCARD_SEX_UNKNOWN), IDCARD_ERR_PROVINCE);
    ck_assert_int_eq(idcard_cccd_check("119085001234", 0, IDCARD_SEX_UNKNOWN), IDCARD_ERR_PROVINCE);
    /* century digits 4-9 are births from 2100 */
    ck_assert_int_eq(idcard_cccd_check("019485001234", 0, IDCARD_SEX_UNKNOWN), IDCARD_ERR_CENTURY);
    /* cross-checks */
    ck_assert_int_eq(idcard_cccd_check("019085001234", 1986, IDCARD_SEX_UNKNOWN), IDCARD_ERR_BIRTH_YEAR);
    ck_assert_int_eq(idcard_cccd_check("019085001234", 2085, IDCARD_SEX_UNKNOWN), IDCARD_ERR_BIRTH_YEAR);
    ck_assert_int_eq(idcard_cccd_check("019085001234", 1985, IDCARD_SEX_FEMALE), IDCARD_ERR_SEX);
    ck_assert_int_eq(idcard_cccd_check("019185001234", 1985, IDCARD_SEX_MALE), IDCARD_ERR_SEX);
}
END_TEST

START_TEST(card_number)
{
    ck_assert_int_eq(idcard_card_check("DN4011234567890"), IDCARD_OK); /* the reference's example */
    ck_assert_int_eq(idcard_card_check("GD4191900001234"), IDCARD_OK);
    ck_assert_int_eq(idcard_card_check("TE1791234567890"), IDCARD_OK);
    ck_assert_int_eq(idcard_card_check("QN5971234567890"), IDCARD_OK); /* defence office 97 */
    ck_assert_int_eq(idcard_card_check("CA5981234567890"), IDCARD_OK); /* police office 98 */
    /* a level other than the usual one is allowed: the office decides */
    ck_assert_int_eq(idcard_card_check("HN4191234567890"), IDCARD_OK);
    ck_assert_int_eq(idcard_card_usual_level("HN"), 2);
    ck_assert_int_eq(idcard_card_usual_level("TE"), 1);
    ck_assert_int_eq(idcard_card_usual_level("QN"), 5);
    ck_assert_int_eq(idcard_card_usual_level("ZZ"), 0);
}
END_TEST

START_TEST(card_number_rejects)
{
    ck_assert_int_eq(idcard_card_check("DN401123456789"), IDCARD_ERR_FORMAT);   /* 14 */
    ck_assert_int_eq(idcard_card_check("DN40112345678901"), IDCARD_ERR_FORMAT); /* 16 */
    ck_assert_int_eq(idcard_card_check("dn4011234567890"), IDCARD_ERR_FORMAT);  /* lower case */
    ck_assert_int_eq(idcard_card_check("D14011234567890"), IDCARD_ERR_FORMAT);
    ck_assert_int_eq(idcard_card_check("DN40112345678A0"), IDCARD_ERR_FORMAT);
    ck_assert_int_eq(idcard_card_check("ZZ4011234567890"), IDCARD_ERR_CATEGORY);
    ck_assert_int_eq(idcard_card_check("DN0011234567890"), IDCARD_ERR_LEVEL);
    ck_assert_int_eq(idcard_card_check("DN6011234567890"), IDCARD_ERR_LEVEL);
    ck_assert_int_eq(idcard_card_check("DN4031234567890"), IDCARD_ERR_PROVINCE);
    ck_assert_int_eq(idcard_card_check("DN4991234567890"), IDCARD_ERR_PROVINCE);
    ck_assert_int_eq(idcard_card_check(NULL), IDCARD_ERR_FORMAT);
}
END_TEST

START_TEST(dates)
{
    int y, m, d;
    bool full;
    ck_assert(idcard_date_parse("2024-02-29", &y, &m, &d));
    ck_assert(!idcard_date_parse("2023-02-29", &y, &m, &d));
    ck_assert(!idcard_date_parse("1900-02-29", &y, &m, &d));
    ck_assert(idcard_date_parse("2000-02-29", &y, &m, &d));
    ck_assert(!idcard_date_parse("2024-13-01", &y, &m, &d));
    ck_assert(!idcard_date_parse("2024-4-01", &y, &m, &d));
    ck_assert(!idcard_date_parse("2024-04-31", &y, &m, &d));
    ck_assert_int_eq(idcard_card_dates_check("2026-01-01", "2026-12-31"), IDCARD_OK);
    ck_assert_int_eq(idcard_card_dates_check(NULL, NULL), IDCARD_OK);
    ck_assert_int_eq(idcard_card_dates_check("2026-12-31", "2026-01-01"), IDCARD_ERR_DATE_ORDER);
    ck_assert_int_eq(idcard_card_dates_check("2026-02-30", NULL), IDCARD_ERR_DATE);
    ck_assert(idcard_birth_parse("1941", &y, &full));
    ck_assert_int_eq(y, 1941);
    ck_assert(!full);
    ck_assert(idcard_birth_parse("1985-03-12", &y, &full));
    ck_assert(full);
    ck_assert(!idcard_birth_parse("85", &y, &full));
    ck_assert(!idcard_birth_parse("1985-3-12", &y, &full));
    ck_assert(!idcard_birth_parse("1700", &y, &full));
    ck_assert(idcard_facility_code_ok("19010"));
    ck_assert(idcard_facility_code_ok("01A2B"));
    ck_assert(!idcard_facility_code_ok("1901"));
    ck_assert(!idcard_facility_code_ok("A9010"));
}
END_TEST

START_TEST(phones)
{
    char out[16];
    ck_assert_int_eq(idcard_phone_normalize("0912345678", out, sizeof out), IDCARD_OK);
    ck_assert_str_eq(out, "0912345678");
    ck_assert_int_eq(idcard_phone_normalize("+84 912 345 678", out, sizeof out), IDCARD_OK);
    ck_assert_str_eq(out, "0912345678");
    ck_assert_int_eq(idcard_phone_normalize("84912345678", out, sizeof out), IDCARD_OK);
    ck_assert_str_eq(out, "0912345678");
    ck_assert_int_eq(idcard_phone_normalize("0912.345.678", out, sizeof out), IDCARD_OK);
    ck_assert_int_eq(idcard_phone_normalize("(0208) 385 1234", out, sizeof out), IDCARD_OK); /* landline */
    ck_assert_str_eq(out, "02083851234");
    ck_assert_int_eq(idcard_phone_normalize("0112345678", out, sizeof out), IDCARD_ERR_PHONE);
    ck_assert_int_eq(idcard_phone_normalize("091234567", out, sizeof out), IDCARD_ERR_PHONE);
    ck_assert_int_eq(idcard_phone_normalize("+1 212 555 0100", out, sizeof out), IDCARD_ERR_PHONE);
    ck_assert_int_eq(idcard_phone_normalize("09123x5678", out, sizeof out), IDCARD_ERR_PHONE);
    ck_assert_int_eq(idcard_phone_normalize("", out, sizeof out), IDCARD_ERR_PHONE);
    ck_assert_int_eq(idcard_phone_normalize("0912345678", out, 4), IDCARD_ERR_PHONE);
}
END_TEST

START_TEST(messages)
{
    for (int e = IDCARD_OK; e <= IDCARD_ERR_PHONE; e++) {
        ck_assert(strlen(idcard_msg_vi((enum idcard_err)e)) > 0);
        ck_assert(strlen(idcard_msg_en((enum idcard_err)e)) > 0);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("idcard");
    TCase *t = tcase_create("idcard");
    tcase_add_test(t, cccd_structure);
    tcase_add_test(t, cccd_rejects);
    tcase_add_test(t, card_number);
    tcase_add_test(t, card_number_rejects);
    tcase_add_test(t, dates);
    tcase_add_test(t, phones);
    tcase_add_test(t, messages);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
