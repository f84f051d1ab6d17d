/* test_hl7_build.c -- builder, validator, ACK and XML tests of libhl7. */
#include "hl7/hl7.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *hl7_build_suite(void);

static hl7_msg *parse_str(const char *s)
{
    hl7_msg *m = NULL;
    hl7_error e;
    int rc = hl7_parse(s, strlen(s), NULL, &m, &e);
    ck_assert_msg(rc == 0, "parse failed: %s", e.message);
    return m;
}

static char *ser(const hl7_msg *m)
{
    hl7_buf b = { 0 };
    ck_assert_int_eq(hl7_serialize(m, &b), 0);
    return b.data;
}

static const char *REF =
    "MSH|^~\\&|HIS|BV1001|HIS|BV2001|20240315100000+0700||REF^I12^REF_I12|"
    "REF001|P|2.5\r"
    "RF1|A|R|MED|IR||CV001|20240315\r"
    "PRD|RP|Lê^Hoàng Nam\r"
    "PID|1||123456789012^^^BV1001^CCCD||Trần^Văn Minh||19800512|M\r"
    "DG1|1||J18.9^Viêm phổi^I10||20240315|W\r";

/* ---------------------------------------------------------------- builder */

START_TEST(builder_basic)
{
    hl7_msg *m;
    hl7_error e;
    ck_assert_int_eq(hl7_msg_create(NULL, &m), 0);
    ck_assert_int_eq(hl7_set(m, "MSH-3", "HIS", &e), 0);
    ck_assert_int_eq(hl7_set(m, "MSH-4-1", "BV1001", &e), 0);
    ck_assert_int_eq(hl7_set(m, "MSH-4-2", "Trung tâm Y tế huyện Tân Sơn", &e),
                     0);
    ck_assert_int_eq(hl7_set(m, "MSH-7", "20240315083000", &e), 0);
    ck_assert_int_eq(hl7_set_raw(m, "MSH-9", "ADT^A04^ADT_A01", &e), 0);
    ck_assert_int_eq(hl7_set(m, "MSH-10", "B0001", &e), 0);
    ck_assert_int_eq(hl7_set(m, "MSH-11", "P", &e), 0);
    ck_assert_int_eq(hl7_set(m, "MSH-12", "2.5", &e), 0);
    ck_assert_int_eq(hl7_append_segment(m, "EVN", &e), 2);
    ck_assert_int_eq(hl7_set(m, "EVN-2", "20240315083000", &e), 0);
    /* set on a missing segment appends it */
    ck_assert_int_eq(hl7_set(m, "PID-5-1", "Nguyễn", &e), 0);
    ck_assert_int_eq(hl7_set(m, "PID-5-2", "Thị Hồng Nhung", &e), 0);
    ck_assert_int_eq(hl7_set(m, "PID-3[2]-1", "GD479", &e), 0);
    ck_assert_int_eq(hl7_set(m, "PID-3-1", "079190001234", &e), 0);
    ck_assert_int_eq(hl7_set(m, "PID-3-4-1", "BV1001", &e), 0);
    ck_assert_int_eq(hl7_set(m, "PID-11-1", "Số 12 & 14 | Hùng Vương", &e), 0);
    ck_assert_int_eq(hl7_set(m, "PV1-2", "O", &e), 0);
    ck_assert_int_eq(hl7_set(m, "OBX-5", "1", &e), 0);
    ck_assert_int_eq(hl7_set(m, "OBX[2]-5", "2", &e), 0);
    ck_assert_int_eq(hl7_set(m, "OBX[4]-5", "x", &e), HL7_ENOTFOUND);
    ck_assert_int_eq(hl7_set(m, "MSH-1", "#", &e), HL7_EINVAL);
    ck_assert_int_eq(hl7_set(m, "MSH-2", "#", &e), HL7_EINVAL);
    ck_assert_int_eq(hl7_set(m, "PID", "x", &e), HL7_EPATH);
    ck_assert_int_eq(hl7_set_raw(m, "PID-5-1", "a^b", &e), HL7_EINVAL);
    ck_assert_int_eq(hl7_append_segment(m, "MSH", &e), HL7_ESEQUENCE);
    ck_assert_int_eq(hl7_append_segment(m, "pid", &e), HL7_ESEGNAME);
    char *out = ser(m);
    ck_assert_str_eq(out,
        "MSH|^~\\&|HIS|BV1001^Trung tâm Y tế huyện Tân Sơn|||20240315083000"
        "||ADT^A04^ADT_A01|B0001|P|2.5\r"
        "EVN||20240315083000\r"
        "PID|||079190001234^^^BV1001~GD479||Nguyễn^Thị Hồng Nhung||||||"
        "Số 12 \\T\\ 14 \\F\\ Hùng Vương\r"
        "PV1||O\r"
        "OBX|||||1\r"
        "OBX|||||2\r");
    /* values read back decoded; raw parents stay in step with the tree */
    char v[128];
    hl7_get(m, "PID-11-1", v, sizeof(v));
    ck_assert_str_eq(v, "Số 12 & 14 | Hùng Vương");
    hl7_get(m, "PID-3", v, sizeof(v));
    ck_assert_str_eq(v, "079190001234^^^BV1001~GD479");
    /* and what it built parses to the same */
    hl7_msg *p = parse_str(out);
    char *out2 = ser(p);
    ck_assert_str_eq(out, out2);
    free(out2);
    hl7_msg_free(p);
    /* replacing a composite with a plain value */
    ck_assert_int_eq(hl7_set(m, "PID-3", "X", &e), 0);
    hl7_get(m, "PID-3", v, sizeof(v));
    ck_assert_str_eq(v, "X");
    free(out);
    hl7_msg_free(m);
}
END_TEST

START_TEST(builder_on_parsed)
{
    hl7_msg *m = parse_str(REF);
    hl7_error e;
    ck_assert_int_eq(hl7_set(m, "PID-5-2", "Văn Hùng", &e), 0);
    ck_assert_int_eq(hl7_set_raw(m, "PID-13", "^PRN^PH^^84^912345678", &e), 0);
    char *out = ser(m);
    ck_assert_ptr_nonnull(strstr(out, "PID|1||123456789012^^^BV1001^CCCD||"
                                      "Trần^Văn Hùng||19800512|M|||||"
                                      "^PRN^PH^^84^912345678\r"));
    free(out);
    hl7_msg_free(m);
}
END_TEST

/* ---------------------------------------------------------------- validate */

START_TEST(validate_ok_and_errors)
{
    hl7_msg *m = parse_str(REF);
    hl7_error errs[8];
    ck_assert_int_eq(hl7_validate(m, errs, 8), 0);
    hl7_msg_free(m);

    m = parse_str("MSH|^~\\&|A|B|C|D|20241301||ADT^A01|1|X|2.5\r"
                  "PID|1||||||19800230|M\r"
                  "OBX|1|NM|WBC||1,5||||||F\r");
    int n = hl7_validate(m, errs, 8);
    ck_assert_int_ge(n, 6);
    /* MSH-7 month 13, MSH-11 "X", EVN and PV1 missing, PID-3/5 missing,
     * PID-7 30 February, OBX-5 not numeric */
    int seen_date = 0, seen_req = 0, seen_nm = 0, seen_seg = 0;
    for (int i = 0; i < n && i < 8; i++) {
        if (errs[i].code == HL7_EDATATYPE && strcmp(errs[i].segment, "PID")
            == 0 && errs[i].field == 7)
            seen_date = 1;
        if (errs[i].code == HL7_EREQUIRED && strcmp(errs[i].segment, "PID")
            == 0 && errs[i].field == 3 && errs[i].hl7_code == 101)
            seen_req = 1;
        if (errs[i].code == HL7_EREQUIRED && strcmp(errs[i].segment, "EVN")
            == 0 && errs[i].hl7_code == 100)
            seen_seg = 1;
    }
    hl7_error all[32];
    n = hl7_validate(m, all, 32);
    for (int i = 0; i < n; i++)
        if (all[i].code == HL7_EDATATYPE && strcmp(all[i].segment, "OBX") == 0
            && all[i].field == 5 && all[i].hl7_code == 102)
            seen_nm = 1;
    ck_assert(seen_date && seen_req && seen_nm && seen_seg);
    hl7_msg_free(m);
}
END_TEST

START_TEST(validate_dates)
{
    const char *good[] = { "2024", "202402", "20240229", "2024022913",
                           "202402291359", "20240229135959",
                           "20240229135959.1234", "20240229135959+0700",
                           "202402-0500" };
    const char *bad[] = { "202", "20230229", "20241301", "2024022924",
                          "20240229135960", "2024022913595", "20240229.1",
                          "20240229135959.12345", "20240229+07", "abc",
                          "20240229+0760" };
    char msgbuf[256];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(msgbuf, sizeof(msgbuf), "MSH|^~\\&|A|B|C|D|%s||ACK|1|P|2.5\r"
                 "MSA|AA|1\r", good[i]);
        hl7_msg *m = parse_str(msgbuf);
        hl7_error e[4];
        ck_assert_msg(hl7_validate(m, e, 4) == 0, "%s should be valid: %s",
                      good[i], e[0].message);
        hl7_msg_free(m);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(msgbuf, sizeof(msgbuf), "MSH|^~\\&|A|B|C|D|%s||ACK|1|P|2.5\r"
                 "MSA|AA|1\r", bad[i]);
        hl7_msg *m = parse_str(msgbuf);
        hl7_error e[4];
        ck_assert_msg(hl7_validate(m, e, 4) == 1, "%s should be invalid",
                      bad[i]);
        ck_assert_int_eq(e[0].code, HL7_EDATATYPE);
        ck_assert_int_eq(e[0].field, 7);
        ck_assert_int_eq(e[0].component, 1);
        hl7_msg_free(m);
    }
}
END_TEST

/* ---------------------------------------------------------------- ACK */

START_TEST(ack_accept)
{
    hl7_msg *m = parse_str(REF), *a;
    hl7_ack_opts o = { NULL, "ACK0001", "20240315100001+0700", NULL };
    ck_assert_int_eq(hl7_ack(m, &o, NULL, 0, &a, NULL), 0);
    char *out = ser(a);
    ck_assert_str_eq(out, "MSH|^~\\&|HIS|BV2001|HIS|BV1001|"
                          "20240315100001+0700||ACK^I12^ACK|ACK0001|P|2.5\r"
                          "MSA|AA|REF001\r");
    free(out);
    hl7_msg_free(a);
    /* without options: a timestamp of now and a derived control id */
    ck_assert_int_eq(hl7_ack(m, NULL, NULL, 0, &a, NULL), 0);
    char v[64];
    hl7_get(a, "MSH-10", v, sizeof(v));
    ck_assert_str_eq(v, "AREF001");
    hl7_get(a, "MSH-7", v, sizeof(v));
    ck_assert_int_eq(strlen(v), 19);
    hl7_error errs[4];
    ck_assert_int_eq(hl7_validate(a, errs, 4), 0);
    hl7_msg_free(a);
    hl7_ack_opts bad = { "XX", NULL, NULL, NULL };
    ck_assert_int_eq(hl7_ack(m, &bad, NULL, 0, &a, NULL), HL7_EINVAL);
    hl7_msg_free(m);
}
END_TEST

START_TEST(ack_error_names_field)
{
    /* REF^I12 whose PID-5 is missing and PID-7 is not a date */
    hl7_msg *m = parse_str(
        "MSH|^~\\&|HIS|BV1001|HIS|BV2001|20240315100000||REF^I12^REF_I12|"
        "REF002|P|2.5\rPRD|RP\rPID|1||123456789012^^^BV1001^CCCD||||"
        "19801345\r");
    hl7_error errs[8];
    int n = hl7_validate(m, errs, 8);
    ck_assert_int_eq(n, 2);
    hl7_msg *a;
    hl7_ack_opts o = { NULL, "ACK0002", "20240315100001", NULL };
    ck_assert_int_eq(hl7_ack(m, &o, errs, (size_t)n, &a, NULL), 0);
    char *out = ser(a);
    ck_assert_str_eq(out,
        "MSH|^~\\&|HIS|BV2001|HIS|BV1001|20240315100001||ACK^I12^ACK|"
        "ACK0002|P|2.5\r"
        "MSA|AE|REF002\r"
        "ERR||PID^1^5^1|101^Required field missing^HL70357|E||||"
        "PID-5 is required\r"
        "ERR||PID^1^7^1^1|102^Data type error^HL70357|E||||"
        "PID-7 is not a valid TS: \"19801345\"\r");
    free(out);
    hl7_msg_free(a);
    /* AR given explicitly */
    hl7_ack_opts r = { "AR", "ACK0003", "20240315100001", "từ chối" };
    ck_assert_int_eq(hl7_ack(m, &r, errs, 1, &a, NULL), 0);
    char v[64];
    hl7_get(a, "MSA-1", v, sizeof(v));
    ck_assert_str_eq(v, "AR");
    hl7_get(a, "MSA-3", v, sizeof(v));
    ck_assert_str_eq(v, "từ chối");
    hl7_get(a, "ERR-2-1", v, sizeof(v));
    ck_assert_str_eq(v, "PID");
    hl7_get(a, "ERR-3-1", v, sizeof(v));
    ck_assert_str_eq(v, "101");
    hl7_msg_free(a);
    hl7_msg_free(m);
}
END_TEST

START_TEST(ack_enhanced_mode)
{
    hl7_msg *m = parse_str(
        "MSH|^~\\&|HIS|BV1001|HIS|BV2001|20240315||ADT^A04^ADT_A01|E1|P|2.5"
        "|||AL|NE\rEVN|A04|20240315\rPID|1||1||Trần^Minh\rPV1|1|O\r");
    hl7_msg *a;
    char v[16];
    ck_assert_int_eq(hl7_ack(m, NULL, NULL, 0, &a, NULL), 0);
    hl7_get(a, "MSA-1", v, sizeof(v));
    ck_assert_str_eq(v, "CA");
    hl7_msg_free(a);
    hl7_error e = { 0 };
    e.code = HL7_EINVAL;
    e.hl7_code = 207;
    e.severity = 'E';
    strcpy(e.message, "lỗi lưu trữ");
    ck_assert_int_eq(hl7_ack(m, NULL, &e, 1, &a, NULL), 0);
    hl7_get(a, "MSA-1", v, sizeof(v));
    ck_assert_str_eq(v, "CE");
    hl7_get(a, "ERR-3-1", v, sizeof(v));
    ck_assert_str_eq(v, "207");
    hl7_msg_free(a);
    hl7_ack_opts o = { "AR", NULL, NULL, NULL };
    ck_assert_int_eq(hl7_ack(m, &o, NULL, 0, &a, NULL), 0);
    hl7_get(a, "MSA-1", v, sizeof(v));
    ck_assert_str_eq(v, "CR");
    hl7_msg_free(a);
    /* a warning alone still accepts */
    e.severity = 'W';
    ck_assert_int_eq(hl7_ack(m, NULL, &e, 1, &a, NULL), 0);
    hl7_get(a, "MSA-1", v, sizeof(v));
    ck_assert_str_eq(v, "CA");
    hl7_get(a, "ERR-4", v, sizeof(v));
    ck_assert_str_eq(v, "W");
    hl7_msg_free(a);
    hl7_msg_free(m);
}
END_TEST

/* ---------------------------------------------------------------- XML */

static void xml_roundtrip(const char *er7, char **xml_out)
{
    hl7_msg *m = parse_str(er7);
    hl7_buf x = { 0 }, back = { 0 };
    hl7_error e;
    ck_assert_int_eq(hl7_to_xml(m, &x, &e), 0);
    int rc = hl7_from_xml(x.data, x.len, NULL, &back, &e);
    ck_assert_msg(rc == 0, "from-xml: %s\n%s", e.message, x.data);
    ck_assert_msg(strcmp(back.data, er7) == 0, "differs:\n%s\n%s\n%s", er7,
                  x.data, back.data);
    *xml_out = x.data;
    hl7_buf_free(&back);
    hl7_msg_free(m);
}

START_TEST(xml_shape)
{
    char *x;
    xml_roundtrip(REF, &x);
    ck_assert_ptr_nonnull(strstr(x, "<REF_I12 xmlns=\"urn:hl7-org:v2xml\">"));
    ck_assert_ptr_nonnull(strstr(x, "<MSH><MSH.1>|</MSH.1><MSH.2>^~\\&amp;"
                                    "</MSH.2><MSH.3><HD.1>HIS</HD.1></MSH.3>"));
    ck_assert_ptr_nonnull(strstr(x, "<PID.5><XPN.1><FN.1>Trần</FN.1></XPN.1><XPN.2>Văn "
                                    "Minh</XPN.2></PID.5>"));
    ck_assert_ptr_nonnull(strstr(x, "<PID.3><CX.1>123456789012</CX.1>"
                                    "<CX.4><HD.1>BV1001</HD.1></CX.4>"
                                    "<CX.5>CCCD</CX.5></PID.3>"));
    ck_assert_ptr_nonnull(strstr(x, "<PID.7><TS.1>19800512</TS.1></PID.7>"));
    ck_assert_ptr_nonnull(strstr(x, "<MSH.9><MSG.1>REF</MSG.1><MSG.2>I12"
                                    "</MSG.2><MSG.3>REF_I12</MSG.3></MSH.9>"));
    free(x);
}
END_TEST

START_TEST(xml_faithful)
{
    char *x;
    /* escapes, empty trailing fields/components/repetitions, Z segments
     * with generic names, subcomponents, control bytes, invalid UTF-8 */
    const char *in =
        "MSH|^~\\&|A|B|C|D|20240101||ZZZ^Z01|1|P|2.5||||\r"
        "PID|1||~A^^^B&C&~||\\F\\x\\S\\\\T\\\\R\\\\E\\y^\\.br\\^\\H\\b\\N\\"
        "||||||||\r"
        "ZAB|1|a&b^c&&~d^e^^|\\X0D0A\\|tab\there|bad\xff\xfe utf8|"
        "lone\\esc|\\Zab\xC3\xA9\\|   |\r"
        "ZAC\r"
        "ZAD|\r";
    xml_roundtrip(in, &x);
    ck_assert_ptr_nonnull(strstr(x, "<escape V=\".br\"/>"));
    ck_assert_ptr_nonnull(strstr(x, "<escape V=\"X0D0A\"/>"));
    ck_assert_ptr_nonnull(strstr(x, "<hl7bytes hex=\"FFFE\"/>"));
    ck_assert_ptr_nonnull(strstr(x, "<ZAB.2><ZAB.2.1><ZAB.2.1.1>a"));
    ck_assert_ptr_nonnull(strstr(x, "<ZAD><ZAD.1/></ZAD>"));
    ck_assert_ptr_nonnull(strstr(x, "<XPN.1><FN.1>|x^&amp;~\\y</FN.1></XPN.1>"));
    free(x);
    /* 8859/1 becomes UTF-8 in XML and 8859/1 again on the way back */
    const char *lat = "MSH|^~\\&|A|B|C|D|20240101||ADT^A28|1|P|2.5|||||VNM|"
                      "8859/1\rPID|1||X||L\xEA^H\xE0\r";
    xml_roundtrip(lat, &x);
    ck_assert_ptr_nonnull(strstr(x, "<XPN.1><FN.1>Lê</FN.1></XPN.1>"));
    free(x);
    /* other separators */
    const char *seps = "MSH#*$@%#A#B#C#D#20240101##ACK*A01#1#P#2.5\r"
                       "MSA#AA#1@T@|x%y$z*w\r";
    xml_roundtrip(seps, &x);
    free(x);
}
END_TEST

START_TEST(xml_hostile)
{
    hl7_buf out = { 0 };
    hl7_error e;
    /* external entity: no file is read, the DTD is refused */
    const char *xxe =
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM "
        "\"file:///etc/passwd\">]><ACK xmlns=\"urn:hl7-org:v2xml\"><MSH>"
        "<MSH.1>|</MSH.1><MSH.2>^~\\&amp;</MSH.2><MSH.3>&x;</MSH.3></MSH>"
        "</ACK>";
    ck_assert_int_eq(hl7_from_xml(xxe, strlen(xxe), NULL, &out, &e),
                     HL7_EXML);
    ck_assert_int_eq(out.len, 0);
    const char *lol =
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">"
        "<!ENTITY b \"&a;&a;&a;&a;\">]><r>&b;</r>";
    ck_assert_int_eq(hl7_from_xml(lol, strlen(lol), NULL, &out, &e), HL7_EXML);
    const char *broken = "<ACK><MSH><MSH.1>|</MSH.1>";
    ck_assert_int_eq(hl7_from_xml(broken, strlen(broken), NULL, &out, &e),
                     HL7_EXML);
    const char *nomsh = "<ACK><MSA><MSA.1>AA</MSA.1></MSA></ACK>";
    ck_assert_int_eq(hl7_from_xml(nomsh, strlen(nomsh), NULL, &out, &e),
                     HL7_ENOMSH);
    const char *badsep = "<ACK><MSH><MSH.1>|</MSH.1><MSH.2>^^</MSH.2></MSH>"
                         "</ACK>";
    ck_assert_int_eq(hl7_from_xml(badsep, strlen(badsep), NULL, &out, &e),
                     HL7_ESEP);
    const char *inject = "<ACK><MSH><MSH.1>|</MSH.1><MSH.2>^~\\&amp;</MSH.2>"
                         "</MSH><MSA><MSA.1>A<escape V=\"|\"/></MSA.1></MSA>"
                         "</ACK>";
    ck_assert_int_eq(hl7_from_xml(inject, strlen(inject), NULL, &out, &e),
                     HL7_EXML);
    const char *unnumbered = "<ACK><MSH><MSH.1>|</MSH.1><MSH.2>^~\\&amp;"
                             "</MSH.2><foo/></MSH></ACK>";
    ck_assert_int_eq(hl7_from_xml(unnumbered, strlen(unnumbered), NULL, &out,
                                  &e), HL7_EXML);
    /* separators in text are escaped, groups are walked through */
    const char *ok = "<ACK xmlns=\"urn:hl7-org:v2xml\"><MSH><MSH.1>|</MSH.1>"
                     "<MSH.2>^~\\&amp;</MSH.2><MSH.9><MSG.1>ACK</MSG.1>"
                     "</MSH.9></MSH><ACK.GROUP><MSA><MSA.1>AA</MSA.1>"
                     "<MSA.3>a|b</MSA.3></MSA></ACK.GROUP></ACK>";
    ck_assert_int_eq(hl7_from_xml(ok, strlen(ok), NULL, &out, &e), 0);
    ck_assert_str_eq(out.data, "MSH|^~\\&|||||||ACK\rMSA|AA||a\\F\\b\r");
    hl7_buf_free(&out);
}
END_TEST

Suite *hl7_build_suite(void)
{
    Suite *s = suite_create("hl7-build");
    TCase *tc = tcase_create("builder");
    tcase_add_test(tc, builder_basic);
    tcase_add_test(tc, builder_on_parsed);
    suite_add_tcase(s, tc);
    tc = tcase_create("validate");
    tcase_add_test(tc, validate_ok_and_errors);
    tcase_add_test(tc, validate_dates);
    suite_add_tcase(s, tc);
    tc = tcase_create("ack");
    tcase_add_test(tc, ack_accept);
    tcase_add_test(tc, ack_error_names_field);
    tcase_add_test(tc, ack_enhanced_mode);
    suite_add_tcase(s, tc);
    tc = tcase_create("xml");
    tcase_add_test(tc, xml_shape);
    tcase_add_test(tc, xml_faithful);
    tcase_add_test(tc, xml_hostile);
    suite_add_tcase(s, tc);
    return s;
}
