/* Unit tests of core/: arena, config, text folding, passwords and tokens,
 * the audit canonical form and the router's pattern matching. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/audit.h"
#include "core/auth.h"
#include "core/config.h"
#include "core/http.h"
#include "core/text.h"

START_TEST(arena_allocates_and_frees)
{
    arena_t *a = arena_new(64);
    char *s = arena_strdup(a, "Nguyễn Văn An");
    ck_assert_str_eq(s, "Nguyễn Văn An");
    for (int i = 0; i < 10000; i++) {
        char *p = arena_alloc(a, 100);
        ck_assert_int_eq(((uintptr_t)p) % 16, 0);
        memset(p, 'x', 100);
    }
    ck_assert_uint_ge(arena_used(a), 10000u * 100u);
    char *f = arena_printf(a, "%d-%s", 42, "ok");
    ck_assert_str_eq(f, "42-ok");
    arena_reset(a);
    ck_assert_uint_eq(arena_used(a), 0);
    arena_free(a);
}
END_TEST

static int deferred_calls;
static void count_defer(void *p)
{
    (void)p;
    deferred_calls++;
}

START_TEST(arena_runs_deferred_cleanups)
{
    arena_t *a = arena_new(0);
    deferred_calls = 0;
    arena_defer(a, count_defer, (void *)1);
    arena_defer(a, count_defer, (void *)2);
    arena_free(a);
    ck_assert_int_eq(deferred_calls, 2);
}
END_TEST

START_TEST(fold_strips_vietnamese_diacritics)
{
    char out[128];
    text_fold("Nguyễn Văn An", out, sizeof out);
    ck_assert_str_eq(out, "nguyen van an");
    text_fold("  ĐẶNG   Thị  Hồng\tNhung ", out, sizeof out);
    ck_assert_str_eq(out, "dang thi hong nhung");
    text_fold("Lưu Quỳnh Ưởng", out, sizeof out);
    ck_assert_str_eq(out, "luu quynh uong");
    /* decomposed input: e + combining circumflex + combining acute */
    text_fold("Nguye\xcc\x82\xcc\x81n", out, sizeof out);
    ck_assert_str_eq(out, "nguyen");
    /* truncation keeps the output terminated */
    ck_assert_uint_eq(text_fold("Nguyễn Văn An", out, 5), 4);
    ck_assert_str_eq(out, "nguy");
}
END_TEST

START_TEST(utf8_validation)
{
    ck_assert(text_valid_utf8("Trần Thị Bé", strlen("Trần Thị Bé")));
    ck_assert(!text_valid_utf8("\xc3\x28", 2));
    ck_assert(!text_valid_utf8("\xc0\xaf", 2)); /* overlong */
    ck_assert(!text_valid_utf8("a\x01" "b", 3));
}
END_TEST

START_TEST(config_file_parsing)
{
    struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    char err[256];
    const char *text = "# comment\nlisten = 127.0.0.1:9000\n\nthreads=4\ndatabase_url = \"host=/tmp dbname=x\"\n";
    ck_assert_int_eq(config_parse_text(&cfg, text, strlen(text), err, sizeof err), 0);
    ck_assert_str_eq(config_get(&cfg, CFG_LISTEN), "127.0.0.1:9000");
    ck_assert_str_eq(config_get(&cfg, CFG_DATABASE_URL), "host=/tmp dbname=x");
    ck_assert_int_eq(config_get_int(&cfg, CFG_THREADS, 1), 4);
    config_free(&cfg);

    memset(&cfg, 0, sizeof cfg);
    const char *bad = "listen 127.0.0.1\n";
    ck_assert_int_eq(config_parse_text(&cfg, bad, strlen(bad), err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "line 1"));
    const char *unknown = "colour = blue\n";
    ck_assert_int_eq(config_parse_text(&cfg, unknown, strlen(unknown), err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "unknown key"));
    config_free(&cfg);
}
END_TEST

START_TEST(config_precedence_flag_env_file)
{
    /* flag > env > file > default */
    struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    const char *flags[CFG__COUNT] = {0};
    flags[CFG_LISTEN] = "127.0.0.1:1111";
    config_apply_flags(&cfg, flags);
    setenv("HIS_LISTEN", "127.0.0.1:2222", 1);
    setenv("HIS_THREADS", "7", 1);
    char path[] = "/tmp/his-config-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "listen = 127.0.0.1:3333\nthreads = 9\ndb_pool = 5\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char err[256];
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), 0);
    ck_assert_str_eq(config_get(&cfg, CFG_LISTEN), "127.0.0.1:1111");
    ck_assert_str_eq(cfg.source[CFG_LISTEN], "flag");
    ck_assert_int_eq(config_get_int(&cfg, CFG_THREADS, 0), 7);
    ck_assert_str_eq(cfg.source[CFG_THREADS], "env");
    ck_assert_int_eq(config_get_int(&cfg, CFG_DB_POOL, 0), 5);
    ck_assert_str_eq(cfg.source[CFG_DB_POOL], "file");
    ck_assert_str_eq(config_get(&cfg, CFG_LOG_LEVEL), "info");
    ck_assert_str_eq(cfg.source[CFG_LOG_LEVEL], "default");
    unsetenv("HIS_LISTEN");
    unsetenv("HIS_THREADS");
    unlink(path);
    config_free(&cfg);
}
END_TEST

START_TEST(password_hash_and_verify)
{
    char h[256];
    ck_assert_int_eq(auth_hash_password("Mật khẩu 2026!", h, sizeof h), 0);
    ck_assert(strncmp(h, "scrypt$32768$8$1$", 17) == 0);
    ck_assert(auth_verify_password("Mật khẩu 2026!", h));
    ck_assert(!auth_verify_password("Mật khẩu 2025!", h));
    ck_assert(!auth_verify_password("x", "plain"));
    ck_assert(!auth_verify_password("x", "scrypt$99999999999$8$1$AAAA$BBBB"));
    char h2[256];
    auth_hash_password("Mật khẩu 2026!", h2, sizeof h2);
    ck_assert_str_ne(h, h2); /* salted */
}
END_TEST

START_TEST(tokens_are_random_and_hashed)
{
    char a[64], b[64], ha[65], hb[65];
    auth_new_token(a);
    auth_new_token(b);
    ck_assert_uint_eq(strlen(a), 43); /* 256 bits in base64url */
    ck_assert_str_ne(a, b);
    ck_assert(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43);
    auth_token_hash(a, ha);
    auth_token_hash(b, hb);
    ck_assert_uint_eq(strlen(ha), 64);
    ck_assert_str_ne(ha, hb);
    auth_token_hash("abc", ha);
    ck_assert_str_eq(ha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(audit_canonical_is_length_prefixed)
{
    const char *f[3] = {"a|b", NULL, "Trần"};
    size_t len;
    char *c = audit_canonical(f, 3, &len);
    ck_assert_str_eq(c, "3:a|b;0:;6:Trần;");
    ck_assert_uint_eq(len, strlen(c));
    /* shifting a separator between fields changes the canonical form */
    const char *g[3] = {"a", "|b", "Trần"};
    size_t len2;
    char *c2 = audit_canonical(g, 3, &len2);
    ck_assert_str_ne(c, c2);
    free(c);
    free(c2);
}
END_TEST

static void dummy_handler(http_req_t *req)
{
    (void)req;
}

START_TEST(router_matches_patterns)
{
    http_routes_clear();
    http_route("GET", "/api/v1/patients", dummy_handler, ROLE_ANY, 0);
    http_route("GET", "/api/v1/patients/{id}", dummy_handler, ROLE_ANY, 0);
    http_route("PATCH", "/api/v1/patients/{id}", dummy_handler, ROLE_ANY, 0);
    http_route("POST", "/api/v1/households/{id}/members", dummy_handler, ROLE_ANY, 0);
    http_req_t req;
    memset(&req, 0, sizeof req);
    req.arena = arena_new(0);
    bool mm;
    const struct http_route_def *r = http_match("GET", "/api/v1/patients/42", &req, &mm);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->pattern, "/api/v1/patients/{id}");
    ck_assert_str_eq(http_param(&req, "id"), "42");
    r = http_match("PATCH", "/api/v1/patients/42", &req, &mm);
    ck_assert_str_eq(r->method, "PATCH");
    r = http_match("DELETE", "/api/v1/patients/42", &req, &mm);
    ck_assert_ptr_null(r);
    ck_assert(mm); /* 405, not 404 */
    r = http_match("GET", "/api/v1/patients/42/x", &req, &mm);
    ck_assert_ptr_null(r);
    ck_assert(!mm);
    r = http_match("GET", "/api/v1/patients/", &req, &mm);
    ck_assert_ptr_null(r); /* an empty segment is not an id */
    r = http_match("POST", "/api/v1/households/7/members", &req, &mm);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(http_param(&req, "id"), "7");
    arena_free(req.arena);
    http_routes_clear();
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, arena_allocates_and_frees);
    tcase_add_test(tc, arena_runs_deferred_cleanups);
    tcase_add_test(tc, fold_strips_vietnamese_diacritics);
    tcase_add_test(tc, utf8_validation);
    tcase_add_test(tc, config_file_parsing);
    tcase_add_test(tc, config_precedence_flag_env_file);
    tcase_add_test(tc, password_hash_and_verify);
    tcase_add_test(tc, tokens_are_random_and_hashed);
    tcase_add_test(tc, audit_canonical_is_length_prefixed);
    tcase_add_test(tc, router_matches_patterns);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
