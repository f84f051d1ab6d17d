/* Unit tests of the pharmacy rules: the national prescription code (format,
 * alphabet, no modulo bias), the limits table, the per-interface codings
 * (sex, type letter) and the facility signature (sign, verify, tamper), and
 * the outbox backoff. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/outbox.h"
#include "pharmacy/pharmacy.h"

/* ---- code ------------------------------------------------------------------ */

START_TEST(code_format)
{
    char code[RX_CODE_LEN + 1];
    const char types[] = "NHCT";
    for (int t = 0; t < 4; t++) {
        ck_assert_int_eq(rx_code_generate("19010", types[t], code), 0);
        ck_assert_uint_eq(strlen(code), 14);
        ck_assert(strncmp(code, "19010", 5) == 0);
        ck_assert_int_eq(code[12], '-');
        ck_assert_int_eq(code[13], types[t]);
        ck_assert(rx_code_valid(code));
    }
    ck_assert_int_eq(rx_code_generate("1901", 'C', code), -1);   /* facility code: 5 characters */
    ck_assert_int_eq(rx_code_generate("19-10", 'C', code), -1);
    ck_assert_int_eq(rx_code_generate("19010", 'X', code), -1);  /* type: N, H, C, T */
}
END_TEST

START_TEST(code_validation)
{
    ck_assert(rx_code_valid("19010a7k2m9q-C"));
    ck_assert(!rx_code_valid("190103a7k2m9q-C"));     /* 15 characters */
    ck_assert(rx_code_valid("19010a7k2m9q-c"));       /* the portal's lower-case letter is accepted */
    ck_assert(!rx_code_valid("19010A7K2M9Q-C"));      /* random part is lower case */
    ck_assert(!rx_code_valid("19010a7k2m9q-X"));
    ck_assert(!rx_code_valid("19010a7k2m9qC"));
    ck_assert(!rx_code_valid("19010a7k2m9q_C"));
    ck_assert(!rx_code_valid("19010a7k2m9-C"));
    ck_assert(!rx_code_valid(NULL));
}
END_TEST

/* Every symbol of [0-9a-z] appears, nothing else does, and the counts are
 * flat (rejection sampling: b % 36 over all 256 byte values would make
 * '0'..'3' about 14% more frequent than the rest). */
START_TEST(code_alphabet_uniform)
{
    long counts[256] = {0};
    char code[RX_CODE_LEN + 1];
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(rx_code_generate("19010", 'C', code), 0);
        for (int k = 5; k < 12; k++)
            counts[(unsigned char)code[k]]++;
    }
    double expect = n * 7.0 / 36.0; /* 3889 */
    long low = 0, high = 0;
    for (int c = 0; c < 256; c++) {
        bool in = strchr(RX_ALPHABET, c) && c != 0;
        if (!in) {
            ck_assert_msg(counts[c] == 0, "character %d outside [0-9a-z]", c);
            continue;
        }
        ck_assert_msg(counts[c] > expect * 0.9 && counts[c] < expect * 1.1, "symbol %c: %ld (expected ~%.0f)", c,
                      counts[c], expect);
        if (c >= '0' && c <= '3')
            low += counts[c];
        else
            high += counts[c];
    }
    /* The first four symbols are not favoured (they would be by ~14%). */
    double ratio = (low / 4.0) / (high / 32.0);
    ck_assert_msg(ratio < 1.06 && ratio > 0.94, "bias ratio %.3f", ratio);
}
END_TEST

/* ---- classes and limits ------------------------------------------------------ */

START_TEST(class_to_type)
{
    ck_assert_int_eq(rx_class_type(rx_class_parse("narcotic")), 'N');
    ck_assert_int_eq(rx_class_type(rx_class_parse("psychotropic")), 'H');
    ck_assert_int_eq(rx_class_type(rx_class_parse("other")), 'C');
    ck_assert_int_eq(rx_class_type(rx_class_parse("herbal")), 'T');
    ck_assert_int_eq(rx_class_parse("opioid"), RX_CLASS_INVALID);
    ck_assert_int_eq(rx_type_parse("n"), 'N');
    ck_assert_int_eq(rx_type_parse("C"), 'C');
    ck_assert_int_eq(rx_type_parse("Y"), 0);
    ck_assert_int_eq(rx_type_parse("CC"), 0);
}
END_TEST

START_TEST(limits_table)
{
    struct rx_context acute = {false, false}, chronic = {true, false}, cancer = {true, true};
    const char *why;
    ck_assert_int_eq(rx_max_days('C', &acute, &why), 30);
    ck_assert_str_eq(why, "general");
    ck_assert_int_eq(rx_max_days('C', &chronic, &why), 90);
    ck_assert_str_eq(why, "chronic");
    ck_assert_int_eq(rx_max_days('N', &acute, &why), 7);
    ck_assert_int_eq(rx_max_days('N', &chronic, NULL), 7);     /* chronic alone does not lift narcotics */
    ck_assert_int_eq(rx_max_days('N', &cancer, &why), 10);     /* one batch of the cancer/AIDS 30 days */
    ck_assert_str_eq(why, "cancer_or_aids_batch");
    ck_assert_int_eq(rx_max_days('H', &acute, NULL), 10);
    ck_assert_int_eq(rx_max_days('H', &chronic, NULL), 30);
    ck_assert_int_eq(rx_max_days('T', &acute, NULL), 30);
    ck_assert_int_eq(rx_max_days('X', &acute, NULL), 0);
    ck_assert_int_eq(RX_VALID_DAYS, 5);
}
END_TEST

START_TEST(chronic_list)
{
    ck_assert(rx_icd10_chronic("I10"));
    ck_assert(rx_icd10_chronic("E11.9"));
    ck_assert(rx_icd10_chronic("e11.9"));
    ck_assert(rx_icd10_chronic("J45.0"));
    ck_assert(rx_icd10_chronic("C50.9"));
    ck_assert(rx_icd10_chronic("N18.3"));
    ck_assert(!rx_icd10_chronic("J06.9"));   /* acute upper respiratory infection */
    ck_assert(!rx_icd10_chronic("A09"));
    ck_assert(!rx_icd10_chronic("I0"));
    ck_assert(!rx_icd10_chronic(NULL));
    ck_assert(rx_icd10_cancer_or_aids("C34.1"));
    ck_assert(rx_icd10_cancer_or_aids("B20"));
    ck_assert(!rx_icd10_cancer_or_aids("B18.1"));
}
END_TEST

/* ---- codings: one test per mapping --------------------------------------------- */

START_TEST(sex_to_claims)
{
    ck_assert_int_eq(codes_sex_to_claims("male"), 1);
    ck_assert_int_eq(codes_sex_to_claims("female"), 2);
    ck_assert_int_eq(codes_sex_to_claims("unknown"), 3);
    ck_assert_int_eq(codes_sex_to_claims(NULL), 3);
}
END_TEST

START_TEST(sex_to_rx_portal)
{
    ck_assert_int_eq(codes_sex_to_rx_portal("unknown"), 1);
    ck_assert_int_eq(codes_sex_to_rx_portal("male"), 2);
    ck_assert_int_eq(codes_sex_to_rx_portal("female"), 3);
    ck_assert_int_eq(codes_sex_to_rx_portal(NULL), 1);
}
END_TEST

START_TEST(sex_from_either)
{
    const char *sexes[] = {"male", "female", "unknown"};
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(codes_sex_from_claims(codes_sex_to_claims(sexes[i])), sexes[i]);
        ck_assert_str_eq(codes_sex_from_rx_portal(codes_sex_to_rx_portal(sexes[i])), sexes[i]);
    }
    /* The same number means different things on the two interfaces. */
    ck_assert_str_eq(codes_sex_from_claims(1), "male");
    ck_assert_str_eq(codes_sex_from_rx_portal(1), "unknown");
    ck_assert_ptr_null(codes_sex_from_claims(0));
    ck_assert_ptr_null(codes_sex_from_rx_portal(4));
}
END_TEST

START_TEST(type_to_portal)
{
    ck_assert_str_eq(codes_type_to_portal('C'), "c");
    ck_assert_str_eq(codes_type_to_portal('N'), "n");
    ck_assert_str_eq(codes_type_to_portal('H'), "h");
    ck_assert_str_eq(codes_type_to_portal('T'), "y");
    ck_assert_ptr_null(codes_type_to_portal('X'));
    ck_assert_int_eq(codes_type_from_portal("c"), 'C');
    ck_assert_int_eq(codes_type_from_portal("N"), 'N');   /* either case */
    ck_assert_int_eq(codes_type_from_portal("y"), 'T');
    ck_assert_int_eq(codes_type_from_portal("x"), 0);
}
END_TEST

/* ---- signature ------------------------------------------------------------------- */

static struct rx_doc_item items[] = {
    {"T0001", "Paracetamol 500mg", "viên", "Uống 1 viên x 3 lần/ngày", 15, 5},
    {"T0007", "Amoxicilin 500mg", "viên", "Uống 1 viên x 2 lần/ngày", 14, 7},
};
static struct rx_doc doc = {
    .code = "19010a7k2m9q-C", .type = "C", .issuer_facility_code = "19010", .visit_ma_lk = "1901026010100000001",
    .patient_name = "Nguyễn Văn Thử", .patient_birth = "15/03/1990", .patient_sex = "male",
    .card_number = "DN4011234567890", .diagnoses = "[{\"icd10\":\"J06.9\"}]", .doctor = "bs.an|BS. Nguyễn Văn An",
    .issued_at = "2026-03-15T02:20:00.000000Z", .valid_until = "2026-03-20", .replaces_code = NULL,
    .advice = "Tái khám sau 7 ngày", .items = items, .nitems = 2,
};

START_TEST(sign_verify_tamper)
{
    char *priv, *pub, *priv2, *pub2;
    ck_assert_int_eq(rx_key_generate(&priv, &pub), 0);
    ck_assert_int_eq(rx_key_generate(&priv2, &pub2), 0);
    size_t len;
    char *canon = rx_canonical(&doc, &len);
    char *sig = rx_sign(priv, (unsigned char *)canon, len);
    ck_assert_ptr_nonnull(sig);
    ck_assert_uint_eq(strlen(sig), 88);
    ck_assert(rx_verify(pub, (unsigned char *)canon, len, sig));
    /* another facility's key */
    ck_assert(!rx_verify(pub2, (unsigned char *)canon, len, sig));
    /* a quantity changed after signing */
    struct rx_doc_item it2[2];
    memcpy(it2, items, sizeof it2);
    it2[1].quantity = 140;
    struct rx_doc d2 = doc;
    d2.items = it2;
    size_t len2;
    char *canon2 = rx_canonical(&d2, &len2);
    ck_assert(!rx_verify(pub, (unsigned char *)canon2, len2, sig));
    /* a flipped signature byte */
    char *bad = strdup(sig);
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    ck_assert(!rx_verify(pub, (unsigned char *)canon, len, bad));
    ck_assert(!rx_verify(pub, (unsigned char *)canon, len, "short"));
    free(bad);
    free(canon2);
    free(canon);
    free(sig);
    free(priv);
    free(pub);
    free(priv2);
    free(pub2);
}
END_TEST

/* Fields cannot be shifted into each other: "ab"+"c" and "a"+"bc" differ. */
START_TEST(canonical_unambiguous)
{
    struct rx_doc a = doc, b = doc;
    a.patient_name = "Nguyễn Văn";
    a.patient_birth = " Thử15/03/1990";
    b.patient_name = "Nguyễn Văn Thử";
    b.patient_birth = "15/03/1990";
    size_t la, lb;
    char *ca = rx_canonical(&a, &la), *cb = rx_canonical(&b, &lb);
    ck_assert(la != lb || memcmp(ca, cb, la) != 0);
    /* NULL and "" are the same field (absent); a missing item changes it. */
    struct rx_doc c = doc;
    c.nitems = 1;
    size_t lc;
    char *cc = rx_canonical(&c, &lc);
    ck_assert(lc != lb || memcmp(cc, cb, lc) != 0);
    free(ca);
    free(cb);
    free(cc);
}
END_TEST

/* ---- outbox backoff ----------------------------------------------------------------- */

START_TEST(backoff_grows_caps_and_jitters)
{
    ck_assert_int_eq(outbox_backoff_ms(1, 1000, 60000, 0.5), 1000);
    ck_assert_int_eq(outbox_backoff_ms(2, 1000, 60000, 0.5), 2000);
    ck_assert_int_eq(outbox_backoff_ms(4, 1000, 60000, 0.5), 8000);
    ck_assert_int_eq(outbox_backoff_ms(30, 1000, 60000, 0.5), 60000);
    ck_assert_int_eq(outbox_backoff_ms(3, 1000, 60000, 0.0), 2000);   /* x0.5 */
    ck_assert_int_lt(outbox_backoff_ms(3, 1000, 60000, 0.9999), 6000); /* < x1.5 */
    ck_assert_int_eq(outbox_backoff_ms(0, 1000, 60000, 0.5), 1000);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pharmacy");
    TCase *t = tcase_create("code");
    tcase_add_test(t, code_format);
    tcase_add_test(t, code_validation);
    tcase_add_test(t, code_alphabet_uniform);
    suite_add_tcase(s, t);
    t = tcase_create("limits");
    tcase_add_test(t, class_to_type);
    tcase_add_test(t, limits_table);
    tcase_add_test(t, chronic_list);
    suite_add_tcase(s, t);
    t = tcase_create("codes");
    tcase_add_test(t, sex_to_claims);
    tcase_add_test(t, sex_to_rx_portal);
    tcase_add_test(t, sex_from_either);
    tcase_add_test(t, type_to_portal);
    suite_add_tcase(s, t);
    t = tcase_create("signature");
    tcase_add_test(t, sign_verify_tamper);
    tcase_add_test(t, canonical_unambiguous);
    suite_add_tcase(s, t);
    t = tcase_create("outbox");
    tcase_add_test(t, backoff_grows_caps_and_jitters);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
