/* Unit tests of the pure parts of visits, health records and the ICD-10
 * catalogue: the coverage decision at reception, time and code checks, the
 * CSV reader of the catalogue loader, and the QĐ 831 section checks. */
#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/http.h"

/* his/visits.c */
const char *visit_coverage_of(const char *card, const char *valid_from, const char *valid_to, const char *primary,
                              const char *facility_code, const char *facility_level, const char *kind,
                              const char *referral_from, const char *date, int out_pct[3], bool *card_valid);
bool visit_ts_ok(const char *s);
int visit_outcome_code(json_t *j);
int visit_discharge_code(json_t *j);
/* his/catalog.c, his/cmd_catalog.c */
bool catalog_icd10_normalize(const char *in, char *out, size_t outlen);
bool catalog_code_prefix(const char *q, char *out, size_t outlen);
char *catalog_like_words(arena_t *a, const char *folded);
int csv_next_record(char **pos, char *end, char **fields, int maxfields);
const char *catalog_icd10_chapter(const char *code3, const char **range);
/* his/phr.c */
bool phr_date_ok(const char *s);
int phr_validate(http_req_t *req, const char *section, json_t *obj, verr_t *v);

static const char *route(const char *card, const char *from, const char *to, const char *primary, const char *fac,
                         const char *level, const char *kind, const char *ref, const char *date, int pct[3],
                         bool *valid)
{
    return visit_coverage_of(card, from, to, primary, fac, level, kind, ref, date, pct, valid);
}

START_TEST(coverage_rules)
{
    int p[3];
    bool valid;
    /* registered facility: the card's full benefit (level 4: 80 %) */
    ck_assert_str_eq(route("DN4191234567890", "2026-01-01", "2026-12-31", "19010", "19010", "district_hospital",
                           "outpatient", NULL, "2026-05-01", p, &valid), "correct_route");
    ck_assert(valid);
    ck_assert_int_eq(p[0], 4);
    ck_assert_int_eq(p[1], 80);
    ck_assert_int_eq(p[2], 100);
    /* benefit by level: 100/100/95/80/100 */
    const int want[] = {0, 100, 100, 95, 80, 100};
    for (int l = 1; l <= 5; l++) {
        char card[32];
        snprintf(card, sizeof card, "GD%d191234567890", l);
        route(card, NULL, NULL, "19010", "19010", "district_hospital", "outpatient", NULL, "2026-05-01", p, &valid);
        ck_assert_int_eq(p[1], want[l]);
    }
    /* elsewhere: free routing at commune and district level */
    ck_assert_str_eq(route("DN4191234567890", NULL, NULL, "19101", "19020", "district_hospital", "outpatient", NULL,
                           "2026-05-01", p, &valid), "free_route");
    ck_assert_int_eq(p[2], 100);
    ck_assert_str_eq(route("DN4191234567890", NULL, NULL, "19010", "19102", "commune_station", "outpatient", NULL,
                           "2026-05-01", p, &valid), "free_route");
    /* provincial hospital without referral: inpatient 100 %, outpatient 0 % then 50 % from 01/07/2026 */
    ck_assert_str_eq(route("DN4191234567890", NULL, NULL, "19010", "19001", "provincial_hospital", "inpatient", NULL,
                           "2026-05-01", p, &valid), "wrong_route");
    ck_assert_int_eq(p[2], 100);
    route("DN4191234567890", NULL, NULL, "19010", "19001", "provincial_hospital", "outpatient", NULL, "2026-06-30", p,
          &valid);
    ck_assert_int_eq(p[2], 0);
    route("DN4191234567890", NULL, NULL, "19010", "19001", "provincial_hospital", "outpatient", NULL, "2026-07-01", p,
          &valid);
    ck_assert_int_eq(p[2], 50);
    /* a referral paper or an emergency: full benefit anywhere */
    ck_assert_str_eq(route("DN4191234567890", NULL, NULL, "19101", "19001", "provincial_hospital", "outpatient",
                           "19010", "2026-05-01", p, &valid), "referral");
    ck_assert_int_eq(p[2], 100);
    ck_assert_str_eq(route("DN4191234567890", NULL, NULL, "19101", "19001", "provincial_hospital", "emergency", NULL,
                           "2026-05-01", p, &valid), "emergency");
    ck_assert_int_eq(p[2], 100);
    /* a card outside its validity on the day, or none: nothing covered */
    ck_assert_str_eq(route("DN4191234567890", "2026-01-01", "2026-04-30", "19010", "19010", "district_hospital",
                           "outpatient", NULL, "2026-05-01", p, &valid), "uninsured");
    ck_assert(!valid);
    ck_assert_int_eq(p[2], 0);
    ck_assert_str_eq(route("DN4191234567890", "2026-05-02", NULL, "19010", "19010", "district_hospital", "outpatient",
                           NULL, "2026-05-01", p, &valid), "uninsured");
    ck_assert_str_eq(route(NULL, NULL, NULL, NULL, "19010", "district_hospital", "emergency", NULL, "2026-05-01", p,
                           &valid), "uninsured");
    ck_assert_int_eq(p[0], 0);
    /* the last valid day still counts */
    ck_assert_str_eq(route("DN4191234567890", "2026-01-01", "2026-05-01", "19010", "19010", "district_hospital",
                           "outpatient", NULL, "2026-05-01", p, &valid), "correct_route");
}
END_TEST

START_TEST(timestamps_and_codes)
{
    ck_assert(visit_ts_ok("2026-05-01T08:30"));
    ck_assert(visit_ts_ok("2026-05-01 08:30:15"));
    ck_assert(visit_ts_ok("2026-05-01T08:30:15.123+07:00"));
    ck_assert(visit_ts_ok("2026-05-01T08:30:15Z"));
    ck_assert(visit_ts_ok("2024-02-29T00:00"));
    ck_assert(!visit_ts_ok("2026-02-29T00:00"));
    ck_assert(!visit_ts_ok("2026-13-01T00:00"));
    ck_assert(!visit_ts_ok("2026-05-01T24:00"));
    ck_assert(!visit_ts_ok("2026-05-01"));
    ck_assert(!visit_ts_ok("2026-05-01T08:30; DROP"));
    ck_assert(!visit_ts_ok("yesterday"));
    ck_assert(!visit_ts_ok(""));

    json_t *j = json_integer(3);
    ck_assert_int_eq(visit_outcome_code(j), 3);
    json_decref(j);
    j = json_string("cured");
    ck_assert_int_eq(visit_outcome_code(j), 1);
    json_decref(j);
    j = json_integer(9);
    ck_assert_int_eq(visit_outcome_code(j), 0);
    json_decref(j);
    j = json_string("referred");
    ck_assert_int_eq(visit_discharge_code(j), 2);
    json_decref(j);
    j = json_integer(6);
    ck_assert_int_eq(visit_discharge_code(j), 0);
    json_decref(j);
}
END_TEST

START_TEST(icd10_codes)
{
    char c[8];
    ck_assert(catalog_icd10_normalize("j189", c, sizeof c));
    ck_assert_str_eq(c, "J18.9");
    ck_assert(catalog_icd10_normalize(" J18.9 ", c, sizeof c));
    ck_assert_str_eq(c, "J18.9");
    ck_assert(catalog_icd10_normalize("A17.0\xE2\x80\xA0", c, sizeof c));
    ck_assert_str_eq(c, "A17.0");
    ck_assert(catalog_icd10_normalize("G01*", c, sizeof c));
    ck_assert_str_eq(c, "G01");
    ck_assert(catalog_icd10_normalize("M99.99", c, sizeof c));
    ck_assert_str_eq(c, "M99.99");
    ck_assert(!catalog_icd10_normalize("J1", c, sizeof c));
    ck_assert(!catalog_icd10_normalize("18.9", c, sizeof c));
    ck_assert(!catalog_icd10_normalize("JJ8.9", c, sizeof c));
    ck_assert(!catalog_icd10_normalize("J18.999", c, sizeof c));
    ck_assert(!catalog_icd10_normalize("viem phoi", c, sizeof c));
    ck_assert(!catalog_icd10_normalize("J18-9", c, sizeof c));

    char p[8];
    ck_assert(catalog_code_prefix("j18.", p, sizeof p));
    ck_assert_str_eq(p, "J18");
    ck_assert(catalog_code_prefix("a", p, sizeof p));
    ck_assert(!catalog_code_prefix("viem", p, sizeof p));
    ck_assert(!catalog_code_prefix("1", p, sizeof p));
    ck_assert(!catalog_code_prefix("", p, sizeof p));

    arena_t *a = arena_new(256);
    ck_assert_str_eq(catalog_like_words(a, "50% a_b c\\d"), "50\\% a\\_b c\\\\d");
    arena_free(a);

    const char *range;
    ck_assert_str_eq(catalog_icd10_chapter("J18", &range), "X");
    ck_assert_str_eq(range, "J00-J99");
    ck_assert_str_eq(catalog_icd10_chapter("T14", &range), "XIX");
    ck_assert_str_eq(catalog_icd10_chapter("U07", &range), "XXII");
    ck_assert_str_eq(catalog_icd10_chapter("W54", &range), "XX");
}
END_TEST

START_TEST(csv_records)
{
    char text[] = "code,name_vi\r\nA00,\"Bệnh tả, \"\"cổ điển\"\"\"\nB01,\"dòng\nhai\"\n\nC02,";
    char *pos = text, *end = text + strlen(text), *f[8];
    ck_assert_int_eq(csv_next_record(&pos, end, f, 8), 2);
    ck_assert_str_eq(f[0], "code");
    ck_assert_str_eq(f[1], "name_vi");
    ck_assert_int_eq(csv_next_record(&pos, end, f, 8), 2);
    ck_assert_str_eq(f[0], "A00");
    ck_assert_str_eq(f[1], "Bệnh tả, \"cổ điển\"");
    ck_assert_int_eq(csv_next_record(&pos, end, f, 8), 2);
    ck_assert_str_eq(f[1], "dòng\nhai");
    ck_assert_int_eq(csv_next_record(&pos, end, f, 8), 1); /* blank line */
    ck_assert_str_eq(f[0], "");
    ck_assert_int_eq(csv_next_record(&pos, end, f, 8), 2);
    ck_assert_str_eq(f[0], "C02");
    ck_assert_str_eq(f[1], "");
    ck_assert_int_eq(csv_next_record(&pos, end, f, 8), 0);

    char bad[] = "A00,\"never closed\n";
    pos = bad;
    ck_assert_int_eq(csv_next_record(&pos, bad + strlen(bad), f, 8), -1);
    char wide[] = "a,b,c,d\n";
    pos = wide;
    ck_assert_int_eq(csv_next_record(&pos, wide + strlen(wide), f, 3), -1);
}
END_TEST

START_TEST(phr_dates)
{
    ck_assert(phr_date_ok("2024-02-29"));
    ck_assert(phr_date_ok("2024-02"));
    ck_assert(phr_date_ok("1990"));
    ck_assert(!phr_date_ok("2023-02-29"));
    ck_assert(!phr_date_ok("2024-13"));
    ck_assert(!phr_date_ok("1700"));
    ck_assert(!phr_date_ok("24-01-01"));
    ck_assert(!phr_date_ok("2024/01/01"));
}
END_TEST

static bool has_field(verr_t *v, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(v->list, i, e)
        if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0)
            return true;
    return false;
}

START_TEST(phr_sections)
{
    http_req_t req;
    memset(&req, 0, sizeof req);
    req.arena = arena_new(4096);
    req.lang = "en";
    verr_t v;

    verr_init(&v);
    json_t *ok = json_loads("{\"vaccinations\":[{\"vaccine\":\"BCG\",\"dose\":1,\"date\":\"2024-03-01\"}],"
                            "\"chronic_diseases\":[{\"icd10\":\"i10\",\"name\":\"THA\",\"follow_ups\":"
                            "[{\"date\":\"2025\",\"systolic\":150}]}]}", 0, NULL);
    ck_assert_int_eq(phr_validate(&req, "prevention", ok, &v), 1);
    ck_assert(!verr_any(&v));
    verr_free(&v);
    json_decref(ok);

    verr_init(&v);
    json_t *bad = json_loads("{\"allergies\":[{\"type\":\"pollen\",\"agent\":\"x\"},{\"type\":\"food\"}],"
                             "\"birth\":{\"weight_g\":\"3kg\",\"extra\":1},\"diseases\":[{\"icd10\":\"zz\",\"name\":\"x\"}],"
                             "\"surgeries\":{}}", 0, NULL);
    ck_assert_int_eq(phr_validate(&req, "history", bad, &v), 0);
    ck_assert(has_field(&v, "history.allergies[0].type"));
    ck_assert(has_field(&v, "history.allergies[1].agent"));
    ck_assert(has_field(&v, "history.birth.weight_g"));
    ck_assert(has_field(&v, "history.birth.extra"));
    ck_assert(has_field(&v, "history.diseases[0].icd10"));
    ck_assert(has_field(&v, "history.surgeries"));
    verr_free(&v);
    json_decref(bad);

    verr_init(&v);
    json_t *arr = json_array();
    ck_assert_int_eq(phr_validate(&req, "identity", arr, &v), 0);
    ck_assert(has_field(&v, "identity"));
    ck_assert_int_eq(phr_validate(&req, "nothing", arr, &v), -1);
    verr_free(&v);
    json_decref(arr);
    arena_free(req.arena);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("visits");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, coverage_rules);
    tcase_add_test(tc, timestamps_and_codes);
    tcase_add_test(tc, icd10_codes);
    tcase_add_test(tc, csv_records);
    tcase_add_test(tc, phr_dates);
    tcase_add_test(tc, phr_sections);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
