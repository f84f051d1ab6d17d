/* test_hl7.c -- unit tests of libhl7: fixtures walk, parser, escapes,
 * accessors, splitting, charsets. Builder/ACK/XML tests are in
 * test_hl7_build.c, MLLP and command-line tests in test_hl7_net.c.
 *
 * Fixtures live in tests/fixtures/hl7/{good,bad}: each FOO.hl7 has a
 * FOO.expect beside it with the expected result lines:
 *   limit max_message N          (optional: parse with this limit)
 *   messages N                   number of messages found in the file
 *   message I: <result>          parse error, or segment count + validity
 *   error: <text>                a framing error met while splitting
 *   get I PATH VALUE             decoded value of PATH in message I
 * Set HL7_FIXTURE_PRINT=1 to see what the library gives for each file. */
#include "hl7/hl7.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HL7_FIXTURES
#define HL7_FIXTURES "tests/fixtures/hl7"
#endif

Suite *hl7_build_suite(void);
Suite *hl7_net_suite(void);
char *hl7_test_read_file(const char *path, size_t *len);
const char *hl7_test_fixtures(void);

/* ---------------------------------------------------------------- helpers */

const char *hl7_test_fixtures(void)
{
    const char *d = getenv("HL7_FIXTURES");
    return d && *d ? d : HL7_FIXTURES;
}

char *hl7_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)n + 1);
    if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
        free(d);
        d = NULL;
    }
    fclose(f);
    if (d) {
        d[n] = '\0';
        *len = (size_t)n;
    }
    return d;
}

static hl7_msg *parse_str(const char *s)
{
    hl7_msg *m = NULL;
    hl7_error e;
    int rc = hl7_parse(s, strlen(s), NULL, &m, &e);
    ck_assert_msg(rc == 0, "parse failed: %s", e.message);
    return m;
}

static char *serialize(const hl7_msg *m)
{
    hl7_buf b = { 0 };
    ck_assert_int_eq(hl7_serialize(m, &b), 0);
    return b.data ? b.data : strdup("");
}

/* What a well-formed rendering of a message slice is: BOM dropped, every
 * segment end a CR, a CR after the last segment, blank lines dropped. */
static char *normalise(const char *p, size_t n)
{
    char *o = malloc(n + 2);
    size_t k = 0, i = 0;
    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    for (; i < n; i++) {
        if (p[i] == '\r' || p[i] == '\n') {
            if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
                i++;
            if (k > 0 && o[k - 1] != '\r')
                o[k++] = '\r';
            continue;
        }
        o[k++] = p[i];
    }
    if (k > 0 && o[k - 1] != '\r')
        o[k++] = '\r';
    o[k] = '\0';
    return o;
}

/* Round trips every parsed message must survive: serialise is the
 * normalised input; parse(serialise) serialises the same; from-xml of
 * to-xml is byte-identical. */
static void check_roundtrips(const char *name, size_t idx, hl7_str s,
                             hl7_msg *m)
{
    char *out = serialize(m);
    char *want = normalise(s.ptr, s.len);
    ck_assert_msg(strcmp(out, want) == 0,
                  "%s message %zu: serialise differs from input", name, idx);

    hl7_msg *m2 = NULL;
    ck_assert_int_eq(hl7_parse(out, strlen(out), NULL, &m2, NULL), 0);
    char *out2 = serialize(m2);
    ck_assert_str_eq(out, out2);

    hl7_buf x = { 0 }, back = { 0 };
    hl7_error e;
    int rc = hl7_to_xml(m, &x, &e);
    ck_assert_msg(rc == 0, "%s: to-xml: %s", name, e.message);
    rc = hl7_from_xml(x.data, x.len, NULL, &back, &e);
    ck_assert_msg(rc == 0, "%s message %zu: from-xml: %s\n%s", name, idx,
                  e.message, x.data);
    ck_assert_msg(back.len == strlen(out) && memcmp(back.data, out,
                                                    back.len) == 0,
                  "%s message %zu: XML round trip differs:\n%s\n---\n%.*s",
                  name, idx, x.data, (int)back.len, back.data);

    hl7_buf j = { 0 };
    ck_assert_int_eq(hl7_to_json(m, &j), 0);
    ck_assert_msg(j.len > 10 && j.data[0] == '{' && j.data[j.len - 1] == '}',
                  "json");
    hl7_buf_free(&j);
    hl7_buf_free(&x);
    hl7_buf_free(&back);
    hl7_msg_free(m2);
    free(out2);
    free(out);
    free(want);
}

/* Result lines of one fixture file, in the .expect format. */
static int run_fixture(const char *dir, const char *name)
{
    char path[2048], epath[2048];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(epath, sizeof(epath), "%s/%.*s.expect", dir,
             (int)(strlen(name) - 4), name);
    size_t len, elen;
    char *data = hl7_test_read_file(path, &len);
    char *expect = hl7_test_read_file(epath, &elen);
    ck_assert_msg(data != NULL, "cannot read %s", path);
    ck_assert_msg(expect != NULL, "no expected result %s", epath);

    hl7_limits lim;
    hl7_limits_default(&lim);
    char *want_lines = calloc(1, elen + 1);
    char *gets = calloc(1, elen + 1);
    for (char *line = strtok(expect, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long v;
        if (sscanf(line, "limit max_message %lu", &v) == 1)
            lim.max_message = v;
        else if (strncmp(line, "get ", 4) == 0)
            strcat(strcat(gets, line), "\n");
        else
            strcat(strcat(want_lines, line), "\n");
    }

    hl7_buf got = { 0 };
    size_t count = 0;
    hl7_msg **msgs = calloc(64, sizeof(*msgs));
    hl7_iter it;
    hl7_str s;
    hl7_error e;
    char line[600], fe[400];
    int rc;
    hl7_iter_init(&it, data, len);
    while ((rc = hl7_iter_next(&it, &s, &e)) != 0) {
        if (rc < 0) {
            hl7_error_format(&e, fe, sizeof(fe));
            snprintf(line, sizeof(line), "error: %s\n", fe);
            hl7_buf_append(&got, line, strlen(line));
            continue;
        }
        count++;
        hl7_msg *m = NULL;
        if (hl7_parse(s.ptr, s.len, &lim, &m, &e) < 0) {
            hl7_error_format(&e, fe, sizeof(fe));
            snprintf(line, sizeof(line), "message %zu: parse-error %s\n",
                     count, fe);
        } else {
            hl7_error errs[16];
            int n = hl7_validate(m, errs, 16);
            if (n == 0) {
                snprintf(line, sizeof(line), "message %zu: %zu segments, "
                         "valid\n", count, hl7_segment_count(m));
            } else {
                hl7_error_format(&errs[0], fe, sizeof(fe));
                snprintf(line, sizeof(line), "message %zu: %zu segments, "
                         "invalid (%d): %s\n", count, hl7_segment_count(m),
                         n, fe);
            }
            check_roundtrips(name, count, s, m);
            if (count <= 64)
                msgs[count - 1] = m;
            else
                hl7_msg_free(m);
        }
        hl7_buf_append(&got, line, strlen(line));
    }
    char head[64];
    snprintf(head, sizeof(head), "messages %zu\n", count);
    hl7_buf all = { 0 };
    hl7_buf_append(&all, head, strlen(head));
    if (got.len)
        hl7_buf_append(&all, got.data, got.len);
    if (getenv("HL7_FIXTURE_PRINT"))
        fprintf(stderr, "== %s\n%s", name, all.data);
    int differs = strcmp(all.data, want_lines) != 0;
    if (differs)
        fprintf(stderr, "%s: results differ\n-- expected:\n%s-- got:\n%s",
                name, want_lines, all.data);

    for (char *g = strtok(gets, "\n"); g; g = strtok(NULL, "\n")) {
        unsigned idx;
        char gpath[64];
        int off = 0;
        ck_assert_msg(sscanf(g, "get %u %63s %n", &idx, gpath, &off) >= 2,
                      "bad get line %s", g);
        const char *want = off ? g + off : "";
        ck_assert_msg(idx >= 1 && idx <= count && msgs[idx - 1],
                      "%s: no message %u", name, idx);
        char val[1024];
        ssize_t n = hl7_get(msgs[idx - 1], gpath, val, sizeof(val));
        ck_assert_msg(n >= 0, "%s: get %s failed: %zd", name, gpath, n);
        /* \n in the .expect stands for a line break in the value */
        char want_dec[1024];
        size_t k = 0;
        for (size_t i = 0; want[i] && k < sizeof(want_dec) - 1; i++) {
            if (want[i] == '\\' && want[i + 1] == 'n') {
                want_dec[k++] = '\n';
                i++;
            } else if (want[i] == '\\' && want[i + 1] == '\\') {
                want_dec[k++] = '\\';
                i++;
            } else {
                want_dec[k++] = want[i];
            }
        }
        want_dec[k] = '\0';
        ck_assert_msg(strcmp(val, want_dec) == 0,
                      "%s: message %u %s = \"%s\", expected \"%s\"", name,
                      idx, gpath, val, want_dec);
    }
    for (size_t i = 0; i < 64; i++)
        hl7_msg_free(msgs[i]);
    free(msgs);
    hl7_buf_free(&got);
    hl7_buf_free(&all);
    free(want_lines);
    free(gets);
    free(expect);
    free(data);
    return differs;
}

static int walk_dir(const char *sub, int required)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/%s", hl7_test_fixtures(), sub);
    DIR *d = opendir(dir);
    if (!d && !required)
        return 0;
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    struct dirent *de;
    int n = 0;
    char failed[2048] = "";
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".hl7") == 0) {
            if (run_fixture(dir, de->d_name) &&
                strlen(failed) + l + 2 < sizeof(failed))
                strcat(strcat(failed, " "), de->d_name);
            n++;
        }
    }
    closedir(d);
    ck_assert_msg(failed[0] == '\0', "fixtures with other results than "
                  "expected:%s", failed);
    return n;
}

/* ---------------------------------------------------------------- fixtures */

START_TEST(fixtures_good)
{
    ck_assert_int_ge(walk_dir("good", 1), 18);
}
END_TEST

START_TEST(fixtures_bad)
{
    ck_assert_int_ge(walk_dir("bad", 1), 20);
}
END_TEST

START_TEST(fixtures_fuzz_regressions)
{
    /* inputs the fuzzer once broke, each with its expected result */
    walk_dir("regress", 0);
}
END_TEST

/* ---------------------------------------------------------------- parser */

static const char *ADT =
    "MSH|^~\\&|HIS|BV1001|HIS|BV2001|20240315083000+0700||ADT^A01^ADT_A01|"
    "MSG00001|P|2.5\r"
    "EVN|A01|20240315083000+0700\r"
    "PID|1||123456789012^^^BV1001^CCCD~GD479^^^BHXH^HC||Trần^Văn Minh||"
    "19800512|M\r"
    "PV1|1|I\r"
    "OBX|1|NM|WBC^Bạch cầu||15.2\r"
    "OBX|2|NM|HGB^Huyết sắc tố||128|g/L\r"
    "ZXY|a&b^c~d\r";

START_TEST(accessors)
{
    hl7_msg *m = parse_str(ADT);
    char v[256];
    ck_assert_int_eq(hl7_segment_count(m), 7);
    ck_assert_int_eq(hl7_get(m, "PID-5-1", v, sizeof(v)), strlen("Trần"));
    ck_assert_str_eq(v, "Trần");
    hl7_get(m, "PID-5.2", v, sizeof(v));
    ck_assert_str_eq(v, "Văn Minh");
    hl7_get(m, "PID-3[2]-1", v, sizeof(v));
    ck_assert_str_eq(v, "GD479");
    hl7_get(m, "PID-3[2]-4", v, sizeof(v));
    ck_assert_str_eq(v, "BHXH");
    hl7_get(m, "PID-3", v, sizeof(v));
    ck_assert_str_eq(v, "123456789012^^^BV1001^CCCD~GD479^^^BHXH^HC");
    hl7_get(m, "PID-3-1", v, sizeof(v));
    ck_assert_str_eq(v, "123456789012");
    hl7_get(m, "OBX[2]-5", v, sizeof(v));
    ck_assert_str_eq(v, "128");
    hl7_get(m, "OBX-5", v, sizeof(v));
    ck_assert_str_eq(v, "15.2");
    hl7_get(m, "MSH-9-2", v, sizeof(v));
    ck_assert_str_eq(v, "A01");
    hl7_get(m, "MSH-1", v, sizeof(v));
    ck_assert_str_eq(v, "|");
    hl7_get(m, "MSH-2", v, sizeof(v));
    ck_assert_str_eq(v, "^~\\&");
    hl7_get(m, "MSH-3", v, sizeof(v));
    ck_assert_str_eq(v, "HIS");
    hl7_get(m, "ZXY-1-1-2", v, sizeof(v));
    ck_assert_str_eq(v, "b");
    hl7_get(m, "ZXY-1[2]", v, sizeof(v));
    ck_assert_str_eq(v, "d");
    /* a leaf is its own first component/subcomponent */
    hl7_get(m, "PV1-2-1-1", v, sizeof(v));
    ck_assert_str_eq(v, "I");
    /* absent element of a present segment: empty; absent segment: error */
    ck_assert_int_eq(hl7_get(m, "PID-30", v, sizeof(v)), 0);
    ck_assert_str_eq(v, "");
    ck_assert_int_eq(hl7_get(m, "PV1-2-2", v, sizeof(v)), 0);
    ck_assert_int_eq(hl7_get(m, "OBX[3]-5", v, sizeof(v)), HL7_ENOTFOUND);
    ck_assert_int_eq(hl7_get(m, "IN1-1", v, sizeof(v)), HL7_ENOTFOUND);
    /* bad paths */
    ck_assert_int_eq(hl7_get(m, "PID-0", v, sizeof(v)), HL7_EPATH);
    ck_assert_int_eq(hl7_get(m, "pid-1", v, sizeof(v)), HL7_EPATH);
    ck_assert_int_eq(hl7_get(m, "PID-1-", v, sizeof(v)), HL7_EPATH);
    ck_assert_int_eq(hl7_get(m, "PID[0]-1", v, sizeof(v)), HL7_EPATH);
    ck_assert_int_eq(hl7_get(m, "PID-3[2", v, sizeof(v)), HL7_EPATH);
    ck_assert_int_eq(hl7_get(m, "PID-1-1-1-1", v, sizeof(v)), HL7_EPATH);
    ck_assert_int_eq(hl7_get(m, "PID-99999999", v, sizeof(v)), HL7_EPATH);
    /* truncation into a small buffer reports the full length */
    char small[4];
    ck_assert_int_eq(hl7_get(m, "PID-5-2", small, sizeof(small)), 9);
    ck_assert_str_eq(small, "V\xc4\x83"); /* first 3 bytes: "Vă" */
    char *d = hl7_get_dup(m, "PID-5-2");
    ck_assert_str_eq(d, "Văn Minh");
    free(d);
    ck_assert_int_eq(hl7_segment_occurrences(m, "OBX"), 2);
    ck_assert_int_eq(hl7_segment_find(m, "OBX", 2), 6);
    /* tree walking */
    const hl7_node *pid = hl7_segment(m, 3);
    hl7_str nm = hl7_segment_name(pid);
    ck_assert_int_eq(nm.len, 3);
    ck_assert_int_eq(memcmp(nm.ptr, "PID", 3), 0);
    ck_assert_int_eq(hl7_field_count(m, 3), 8);
    ck_assert_int_eq(hl7_field_count(m, 1), 12);
    const hl7_node *f3 = hl7_field(m, 3, 3);
    ck_assert_int_eq(hl7_node_count(f3), 2);
    hl7_str r = hl7_node_raw(hl7_node_child(hl7_node_child(f3, 2), 1));
    ck_assert_int_eq(r.len, 5);
    ck_assert_int_eq(memcmp(r.ptr, "GD479", 5), 0);
    hl7_msg_free(m);
}
END_TEST

START_TEST(escapes_decode)
{
    const char *in =
        "MSH|^~\\&|A|B|C|D|20240101||ADT^A08|1|P|2.5\r"
        "ZES|a\\F\\b|a\\S\\b|a\\T\\b|a\\R\\b|a\\E\\b|x\\X41C3A1\\y|"
        "l1\\.br\\l2|\\H\\bold\\N\\|bad\\Xzz\\|lone\\|\\P\\|\\X4\\|\\\\\r";
    hl7_msg *m = parse_str(in);
    char v[128];
    const char *want[] = { "a|b", "a^b", "a&b", "a~b", "a\\b", "xAáy",
                           "l1\nl2", "\\H\\bold\\N\\", "bad\\Xzz\\",
                           "lone\\", "\\P\\", "\\X4\\", "\\\\" };
    for (int i = 0; i < 13; i++) {
        char path[16];
        snprintf(path, sizeof(path), "ZES-%d", i + 1);
        hl7_get(m, path, v, sizeof(v));
        ck_assert_msg(strcmp(v, want[i]) == 0, "%s: got \"%s\" want \"%s\"",
                      path, v, want[i]);
    }
    /* raw values are untouched: serialising gives the input back */
    char *out = serialize(m);
    ck_assert_str_eq(out, in);
    free(out);
    hl7_msg_free(m);
}
END_TEST

START_TEST(escapes_encode)
{
    hl7_msg *m = parse_str("MSH|^~\\&|A|B|C|D|20240101||ADT^A08|1|P|2.5\r");
    hl7_buf b = { 0 };
    const char *txt = "a|b^c&d~e\\f\r\ng\nh\x01i";
    ck_assert_int_eq(hl7_encode(m, txt, strlen(txt), &b), 0);
    ck_assert_str_eq(b.data,
                     "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\g\\.br\\h\\X01\\i");
    /* and back */
    char v[128];
    hl7_decode(m, b.data, b.len, v, sizeof(v));
    ck_assert_str_eq(v, "a|b^c&d~e\\f\ng\nh\x01i");
    hl7_buf_free(&b);
    hl7_msg_free(m);
}
END_TEST

START_TEST(roundtrip_identity)
{
    hl7_msg *m = parse_str(ADT);
    char *out = serialize(m);
    ck_assert_str_eq(out, ADT);
    free(out);
    hl7_msg_free(m);
}
END_TEST

START_TEST(line_ends_and_bom)
{
    const char *lf = "\xEF\xBB\xBFMSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\n"
                     "PID|1||X||Lê^Hà\n";
    const char *crlf = "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\r\n"
                       "PID|1||X||Lê^Hà\r\n\r\n";
    const char *noend = "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\r"
                        "PID|1||X||Lê^Hà";
    const char *want = "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\r"
                       "PID|1||X||Lê^Hà\r";
    const char *in[] = { lf, crlf, noend };
    for (int i = 0; i < 3; i++) {
        hl7_msg *m = parse_str(in[i]);
        ck_assert_int_eq(hl7_segment_count(m), 2);
        char v[32];
        hl7_get(m, "PID-5-2", v, sizeof(v));
        ck_assert_str_eq(v, "Hà");
        char *out = serialize(m);
        ck_assert_str_eq(out, want);
        free(out);
        hl7_msg_free(m);
    }
}
END_TEST

START_TEST(charset_latin1)
{
    /* "Lê^Hà Tâm" in 8859/1 */
    const char *in = "MSH|^~\\&|A|B|C|D|20240101||ADT^A28|1|P|2.5|||||VNM|"
                     "8859/1\rPID|1||X||L\xEA^H\xE0 T\xE2m|||\\XE0\\\r";
    hl7_msg *m = parse_str(in);
    ck_assert_int_eq(hl7_msg_charset(m), HL7_CHARSET_LATIN1);
    char v[64];
    hl7_get(m, "PID-5-1", v, sizeof(v));
    ck_assert_str_eq(v, "Lê");
    hl7_get(m, "PID-5-2", v, sizeof(v));
    ck_assert_str_eq(v, "Hà Tâm");
    hl7_get(m, "PID-8", v, sizeof(v)); /* \XE0\ is a Latin-1 byte too */
    ck_assert_str_eq(v, "à");
    /* serialising keeps the original 8859/1 bytes */
    char *out = serialize(m);
    ck_assert_str_eq(out, in);
    free(out);
    /* setting UTF-8 text converts it; what 8859/1 lacks is refused */
    hl7_error e;
    ck_assert_int_eq(hl7_set(m, "PID-5-1", "Tô", &e), 0);
    hl7_str raw;
    hl7_get_raw(m, "PID-5-1", &raw);
    ck_assert_int_eq(raw.len, 2);
    ck_assert_int_eq(memcmp(raw.ptr, "T\xF4", 2), 0);
    ck_assert_int_eq(hl7_set(m, "PID-5-1", "Nguyễn", &e), HL7_ECHARSET);
    hl7_msg_free(m);
}
END_TEST

START_TEST(charset_utf8_vietnamese)
{
    const char *in = "MSH|^~\\&|A|B|C|D|20240101||ADT^A28|1|P|2.5|||||VNM|"
                     "UNICODE UTF-8\rPID|1||X||Nguyễn^Thị Hồng Nhung||||||"
                     "Thôn Đông^^Xã Tân Lập\r";
    hl7_msg *m = parse_str(in);
    ck_assert_int_eq(hl7_msg_charset(m), HL7_CHARSET_UTF8);
    char v[64];
    hl7_get(m, "PID-5", v, sizeof(v));
    ck_assert_str_eq(v, "Nguyễn^Thị Hồng Nhung");
    hl7_get(m, "PID-11-3", v, sizeof(v));
    ck_assert_str_eq(v, "Xã Tân Lập");
    char *out = serialize(m);
    ck_assert_str_eq(out, in);
    free(out);
    hl7_buf x = { 0 }, back = { 0 };
    ck_assert_int_eq(hl7_to_xml(m, &x, NULL), 0);
    ck_assert_ptr_nonnull(strstr(x.data, "<XPN.2>Thị Hồng Nhung</XPN.2>"));
    ck_assert_int_eq(hl7_from_xml(x.data, x.len, NULL, &back, NULL), 0);
    ck_assert_str_eq(back.data, in);
    hl7_buf_free(&x);
    hl7_buf_free(&back);
    hl7_msg_free(m);
}
END_TEST

START_TEST(parse_errors)
{
    hl7_msg *m = NULL;
    hl7_error e;
    ck_assert_int_eq(hl7_parse("", 0, NULL, &m, &e), HL7_EEMPTY);
    ck_assert_int_eq(hl7_parse("\r\n", 2, NULL, &m, &e), HL7_EEMPTY);
    ck_assert_int_eq(hl7_parse("PID|1", 5, NULL, &m, &e), HL7_ENOMSH);
    ck_assert_str_eq(hl7_strerror(e.code), "NO_MSH");
    const char *two = "MSH|^~\\&|A\rMSH|^~\\&|B\r";
    ck_assert_int_eq(hl7_parse(two, strlen(two), NULL, &m, &e),
                     HL7_ESEQUENCE);
    ck_assert_int_eq(e.seg_pos, 2);
    const char *nul = "MSH|^~\\&|A\rPID|1|\0|x\r";
    ck_assert_int_eq(hl7_parse(nul, 20, NULL, &m, &e), HL7_EBINARY);
    ck_assert_int_eq(e.offset, 17);
    ck_assert_int_eq(e.seg_pos, 2);
    /* a custom limit */
    hl7_limits lim;
    hl7_limits_default(&lim);
    lim.max_fields = 3;
    const char *f4 = "MSH|^~\\&|A\rPID|1|2|3|4\r";
    ck_assert_int_eq(hl7_parse(f4, strlen(f4), &lim, &m, &e), HL7_ELIMIT);
    ck_assert_str_eq(e.segment, "PID");
    char line[256];
    hl7_error_format(&e, line, sizeof(line));
    ck_assert_str_eq(line, "LIMIT PID (segment 2): 4 fields, over the "
                           "limit of 3");
    lim.max_fields = 512;
    lim.max_subcomponents = 2;
    const char *s3 = "MSH|^~\\&|A\rPID|1|a^b&c&d\r";
    ck_assert_int_eq(hl7_parse(s3, strlen(s3), &lim, &m, &e), HL7_ELIMIT);
    ck_assert_int_eq(e.field, 2);
    ck_assert_int_eq(e.component, 2);
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(split_three_forms)
{
    const char *a = "MSH|^~\\&|A|B|C|D|20240101||ACK|1|P|2.5\rMSA|AA|X1\r";
    const char *b = "MSH|^~\\&|A|B|C|D|20240101||ACK|2|P|2.5\rMSA|AA|X2\r";
    char buf[1024];
    const char *ctl[] = { "1", "2" };
    for (int form = 0; form < 3; form++) {
        if (form == 0)
            snprintf(buf, sizeof(buf), "%s%s", a, b);
        else if (form == 1)
            snprintf(buf, sizeof(buf), "\x0b%s\x1c\r\r\n\x0b%s\x1c\r", a, b);
        else
            snprintf(buf, sizeof(buf), "FHS|^~\\&\rBHS|^~\\&\r%s%sBTS|2\r"
                     "FTS|1\r", a, b);
        hl7_iter it;
        hl7_str s;
        int n = 0, rc;
        hl7_iter_init(&it, buf, strlen(buf));
        while ((rc = hl7_iter_next(&it, &s, NULL)) == 1) {
            ck_assert_int_lt(n, 2);
            ck_assert_int_eq(s.len, strlen(a));
            hl7_msg *m = NULL;
            ck_assert_int_eq(hl7_parse(s.ptr, s.len, NULL, &m, NULL), 0);
            char v[16];
            hl7_get(m, "MSH-10", v, sizeof(v));
            ck_assert_str_eq(v, ctl[n]);
            hl7_msg_free(m);
            n++;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(n, 2);
        ck_assert_int_eq(it.index, 2);
    }
}
END_TEST

START_TEST(split_mllp_batch_inside_frame)
{
    /* a batch carried in one MLLP frame splits into its messages */
    const char *in = "\x0b" "BHS|^~\\&\rMSH|^~\\&|A||||||ACK|1|P|2.5\r"
                     "MSA|AA|1\rMSH|^~\\&|A||||||ACK|2|P|2.5\rMSA|AA|2\r"
                     "BTS|2\r\x1c\r";
    hl7_iter it;
    hl7_str s;
    int n = 0;
    hl7_iter_init(&it, in, strlen(in));
    while (hl7_iter_next(&it, &s, NULL) == 1)
        n++;
    ck_assert_int_eq(n, 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hl7");
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fixtures_good);
    tcase_add_test(tc, fixtures_bad);
    tcase_add_test(tc, fixtures_fuzz_regressions);
    suite_add_tcase(s, tc);
    tc = tcase_create("parser");
    tcase_add_test(tc, accessors);
    tcase_add_test(tc, escapes_decode);
    tcase_add_test(tc, escapes_encode);
    tcase_add_test(tc, roundtrip_identity);
    tcase_add_test(tc, line_ends_and_bom);
    tcase_add_test(tc, charset_latin1);
    tcase_add_test(tc, charset_utf8_vietnamese);
    tcase_add_test(tc, parse_errors);
    tcase_add_test(tc, split_three_forms);
    tcase_add_test(tc, split_mllp_batch_inside_frame);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_add_suite(sr, hl7_build_suite());
    srunner_add_suite(sr, hl7_net_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
