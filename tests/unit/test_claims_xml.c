/* The claim tables, their schemas, the business checks and the signed
 * envelope. Fixture cases are folders under tests/fixtures/claims/: each has
 * input.json (a visit in the claim-input format) and beside it the expected
 * tables XML1.xml ... XML13.xml (absent: the table does not apply) and
 * issues.txt (one "TABLE FIELD RULE" line per expected failure; empty: the
 * visit is valid). CLAIMS_FIXTURES_UPDATE=1 rewrites the expected files
 * (review the diff before committing). */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <libxml/parser.h>

#include "claims/check.h"
#include "claims/sign.h"
#include "claims/xml.h"
#include "core/arena.h"

static claim_schemas_t *schemas;
static claim_validator_t *val;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    b[got] = '\0';
    if (len)
        *len = got;
    return b;
}

static void spit(const char *path, const char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(p, 1, n, f);
    fclose(f);
}

/* The fixtures' ICD-10 catalogue: "CODE" or "CODE !" (not a main diagnosis). */
static char *icd_list;
static bool icd_lookup(void *ctx, const char *code, bool *main_allowed)
{
    (void)ctx;
    char pat[32];
    snprintf(pat, sizeof pat, "\n%s", code);
    const char *p = strstr(icd_list, pat);
    while (p && p[strlen(pat)] != '\n' && p[strlen(pat)] != ' ')
        p = strstr(p + 1, pat);
    if (!p)
        return false;
    *main_allowed = p[strlen(pat)] != ' ';
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Builds a fixture's visit; returns its issues as sorted "TABLE FIELD RULE" lines. */
static char *build_case(const char *dir, claim_visit_t *v, arena_t *a, claim_docs_t *d, claim_issues_t *is)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/input.json", dir);
    json_error_t je;
    json_t *in = json_load_file(path, 0, &je);
    ck_assert_msg(in != NULL, "%s: %s", path, je.text);
    arena_defer(a, (void (*)(void *))json_decref, in);
    bool ok = claim_visit_from_json(in, v, a, is);
    if (ok)
        claim_build_visit(val, v, a, icd_lookup, NULL, d, is);
    char **lines = calloc((size_t)is->n + 1, sizeof *lines);
    for (int i = 0; i < is->n; i++)
        lines[i] = arena_printf(a, "%s %s %s\n", is->v[i].table, is->v[i].field, is->v[i].rule);
    qsort(lines, (size_t)is->n, sizeof *lines, cmp_str);
    char *all = arena_strdup(a, "");
    for (int i = 0; i < is->n; i++)
        all = arena_printf(a, "%s%s", all, lines[i]);
    free(lines);
    return all;
}

START_TEST(fixtures)
{
    bool update = getenv("CLAIMS_FIXTURES_UPDATE") != NULL;
    DIR *dp = opendir(CLAIMS_FIXTURES);
    ck_assert_ptr_nonnull(dp);
    int cases = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        char dir[1024], path[1100];
        snprintf(dir, sizeof dir, "%s/%s", CLAIMS_FIXTURES, de->d_name);
        snprintf(path, sizeof path, "%s/input.json", dir);
        struct stat st;
        if (de->d_name[0] == '.' || stat(path, &st) != 0)
            continue;
        cases++;
        arena_t *a = arena_new(8192);
        claim_visit_t v;
        claim_docs_t d = {0};
        claim_issues_t is = {0};
        char *got = build_case(dir, &v, a, &d, &is);
        snprintf(path, sizeof path, "%s/issues.txt", dir);
        if (update) {
            spit(path, got, strlen(got));
        } else {
            char *want = slurp(path, NULL);
            ck_assert_msg(want != NULL, "%s missing", path);
            ck_assert_msg(strcmp(want, got) == 0, "%s: issues differ:\n--- want\n%s--- got\n%s", de->d_name, want,
                          got);
            free(want);
        }
        for (int i = 0; i < 6; i++) {
            snprintf(path, sizeof path, "%s/XML%d.xml", dir, claim_tables[i]);
            if (update) {
                if (d.xml[i])
                    spit(path, d.xml[i], d.len[i]);
                else
                    remove(path);
                continue;
            }
            size_t wl = 0;
            char *want = slurp(path, &wl);
            ck_assert_msg((want != NULL) == (d.xml[i] != NULL), "%s: XML%d present %d, expected %d", de->d_name,
                          claim_tables[i], d.xml[i] != NULL, want != NULL);
            if (want)
                ck_assert_msg(wl == d.len[i] && memcmp(want, d.xml[i], wl) == 0, "%s: XML%d differs from %s",
                              de->d_name, claim_tables[i], path);
            free(want);
        }
        claim_docs_free(&d);
        claim_issues_free(&is);
        arena_free(a);
    }
    closedir(dp);
    ck_assert_int_ge(cases, 6);
}
END_TEST

/* A valid XML1 of the first fixture, for the schema tests. */
static char *good_xml1(arena_t *a, size_t *len)
{
    claim_visit_t v;
    claim_docs_t d = {0};
    claim_issues_t is = {0};
    build_case(CLAIMS_FIXTURES "/outpatient_level4_district", &v, a, &d, &is);
    ck_assert_int_eq(is.n, 0);
    char *x = arena_strndup(a, d.xml[0], d.len[0]);
    *len = d.len[0];
    claim_docs_free(&d);
    claim_issues_free(&is);
    return x;
}

static char *replace(arena_t *a, const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    ck_assert_ptr_nonnull(p);
    return arena_printf(a, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
}

START_TEST(schema_rejects)
{
    arena_t *a = arena_new(8192);
    size_t n;
    char *x = good_xml1(a, &n);
    claim_issues_t is = {0};
    ck_assert_int_eq(claim_validate_table(val, 1, x, n, "T", &is), 0);
    static const struct {
        const char *from, *to, *field;
    } t[] = {
        {"<NHOM_MAU></NHOM_MAU>", "<NHOM_MAU></NHOM_MAU><GHI_CHU_KHAC>x</GHI_CHU_KHAC>", "GHI_CHU_KHAC"}, /* unknown */
        {"<MA_DANTOC>01</MA_DANTOC>", "", "MA_NGHE_NGHIEP"},                                   /* missing */
        {"<MA_CSKCB>19010</MA_CSKCB>", "", "MA_KHUVUC"},                                        /* missing */
        {"<SO_CCCD>", "<SO_CCCD>123456789012345678", "SO_CCCD"},                                /* too long */
        {"<NGAY_VAO>202503040815</NGAY_VAO>", "<NGAY_VAO>04/03/2025</NGAY_VAO>", "NGAY_VAO"},  /* date format */
        {"<T_TONGCHI_BV>", "<T_TONGCHI_BV>1.234", "T_TONGCHI_BV"},                            /* 3 decimals */
        {"<MA_LOAI_KCB>01</MA_LOAI_KCB>", "<MA_LOAI_KCB></MA_LOAI_KCB>", "MA_LOAI_KCB"},        /* required empty */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char *bad = replace(a, x, t[i].from, t[i].to);
        claim_issues_t e = {0};
        ck_assert_msg(claim_validate_table(val, 1, bad, strlen(bad), "T", &e) > 0, "case %zu accepted", i);
        ck_assert_str_eq(e.v[0].table, "XML1");
        ck_assert_str_eq(e.v[0].rule, "xsd");
        ck_assert_msg(strcmp(e.v[0].field, t[i].field) == 0, "case %zu: field %s, want %s (%s)", i, e.v[0].field,
                      t[i].field, e.v[0].message);
        claim_issues_free(&e);
    }
    /* Out of order: swap HO_TEN and MA_BN. */
    const char *p = strstr(x, "<MA_BN>"), *q = strstr(x, "<SO_CCCD>");
    const char *h = strstr(x, "<HO_TEN>");
    char *swapped = arena_printf(a, "%.*s%.*s%.*s%s", (int)(p - x), x, (int)(q - h), h, (int)(h - p), p, q);
    claim_issues_t e = {0};
    ck_assert_int_gt(claim_validate_table(val, 1, swapped, strlen(swapped), "T", &e), 0);
    ck_assert_str_eq(e.v[0].field, "HO_TEN");
    claim_issues_free(&e);
    claim_issues_free(&is);
    arena_free(a);
}
END_TEST

static void envelope_of(const char *dir, const claim_signer_t *s, claim_buf_t *out, arena_t *a)
{
    claim_visit_t v;
    claim_docs_t d = {0};
    claim_issues_t is = {0};
    build_case(dir, &v, a, &d, &is);
    claim_env_t e;
    ck_assert_int_eq(claim_env_begin(&e, claim_sink_buf, out, "19010", "20250405", 2), 0);
    claim_buf_t h = {0};
    claim_hoso(&h, d.xml, d.len);
    claim_env_write(&e, h.data, h.len);
    claim_env_write(&e, h.data, h.len); /* twice: two records in one file */
    ck_assert_int_eq(claim_env_end(&e, s), 0);
    claim_buf_free(&h);
    claim_docs_free(&d);
    claim_issues_free(&is);
}

static void sign_and_verify(const char *key_pem, const char *cert_pem)
{
    char err[256];
    claim_signer_t s;
    ck_assert_msg(claim_signer_load(&s, key_pem, cert_pem, err, sizeof err) == 0, "%s", err);
    arena_t *a = arena_new(8192);
    claim_buf_t env = {0};
    envelope_of(CLAIMS_FIXTURES "/outpatient_level4_district", &s, &env, a);
    /* The envelope follows its schema and the signature verifies by libxml2's
     * own canonicalisation. */
    claim_issues_t is = {0};
    ck_assert_int_eq(claim_validate_envelope(val, env.data, env.len, &is), 0);
    ck_assert_msg(claim_verify(env.data, env.len, s.cert, err, sizeof err) == 0, "%s", err);
    /* The first table is the XML1 document, base64-encoded. */
    ck_assert_ptr_nonnull(strstr(env.data, "<LOAIHOSO>XML1</LOAIHOSO><NOIDUNGFILE>PD94bWwg"));
    /* Any change after signing is caught: a record's content... */
    char *t = strdup(env.data);
    char *c = strstr(t, "<NOIDUNGFILE>") + 20;
    *c = *c == 'A' ? 'B' : 'A';
    ck_assert_int_ne(claim_verify(t, env.len, NULL, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "digest"));
    free(t);
    /* ...the facility code... */
    t = strdup(env.data);
    memcpy(strstr(t, "<MACSKCB>") + 9, "19020", 5);
    ck_assert_int_ne(claim_verify(t, env.len, NULL, err, sizeof err), 0);
    free(t);
    /* ...the signature value... */
    t = strdup(env.data);
    c = strstr(t, "<SignatureValue>") + 17;
    *c = *c == 'A' ? 'B' : 'A';
    ck_assert_int_ne(claim_verify(t, env.len, NULL, err, sizeof err), 0);
    free(t);
    /* ...and another facility's certificate is not this one. */
    char *k2, *c2;
    ck_assert_int_eq(claim_signer_generate("19020", &k2, &c2, err, sizeof err), 0);
    claim_signer_t s2;
    ck_assert_int_eq(claim_signer_load(&s2, k2, c2, err, sizeof err), 0);
    ck_assert_int_ne(claim_verify(env.data, env.len, s2.cert, err, sizeof err), 0);
    claim_signer_free(&s2);
    free(k2);
    free(c2);
    claim_buf_free(&env);
    claim_issues_free(&is);
    claim_signer_free(&s);
    arena_free(a);
}

START_TEST(signature_rsa)
{
    char *k, *c, err[256];
    ck_assert_int_eq(claim_signer_generate("19010", &k, &c, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(k, "PRIVATE KEY"));
    sign_and_verify(k, c);
    free(k);
    free(c);
}
END_TEST

START_TEST(signature_ecdsa)
{
    char *k = slurp(CLAIMS_FIXTURES "/keys/ec_p256.key", NULL), *c = slurp(CLAIMS_FIXTURES "/keys/ec_p256.crt", NULL);
    ck_assert_ptr_nonnull(k);
    ck_assert_ptr_nonnull(c);
    sign_and_verify(k, c);
    free(k);
    free(c);
}
END_TEST

START_TEST(input_rejects_floats)
{
    arena_t *a = arena_new(4096);
    json_t *in = json_pack("{s:s, s:{s:s}, s:{s:s}, s:{}, s:{s:s}, s:[{s:s, s:f, s:s}]}", "ma_lk", "X1", "facility",
                           "code", "19010", "patient", "full_name", "A", "card", "visit", "kind", "outpatient",
                           "services", "code", "K01", "quantity", 1.5, "price", "1000");
    claim_visit_t v;
    claim_issues_t is = {0};
    ck_assert(!claim_visit_from_json(in, &v, a, &is));
    ck_assert_str_eq(is.v[0].field, "services[0].quantity");
    claim_issues_free(&is);
    json_decref(in);
    arena_free(a);
}
END_TEST

int main(void)
{
    char err[256];
    schemas = claim_schemas_load(CLAIMS_XSD, err, sizeof err);
    if (!schemas) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    val = claim_validator_new(schemas);
    icd_list = slurp(CLAIMS_FIXTURES "/icd10.txt", NULL);
    if (!icd_list)
        return 1;
    Suite *s = suite_create("claims_xml");
    TCase *tc = tcase_create("xml");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fixtures);
    tcase_add_test(tc, schema_rejects);
    tcase_add_test(tc, signature_rsa);
    tcase_add_test(tc, signature_ecdsa);
    tcase_add_test(tc, input_rejects_floats);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    claim_validator_free(val);
    claim_schemas_free(schemas);
    free(icd_list);
    xmlCleanupParser();
    return failed ? 1 : 0;
}
