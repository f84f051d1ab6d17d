/* fuzz_parse.c -- libFuzzer target for libhl7.
 *
 * Splits the input into messages (MLLP/batch/plain), parses each and
 * checks the library's promises with abort() so that libFuzzer reports a
 * broken one as a crash:
 *   - serialise(parse(serialise(m))) == serialise(m)
 *   - from_xml(to_xml(m)) == serialise(m)
 *   - an ACK built for m parses
 * It also runs the accessors, the decoder on every leaf, the validator, the
 * JSON writer, the builder, the MLLP deframer and the XML reader on raw
 * input. Build: make hl7-fuzz; run: make hl7-fuzz-smoke. */
#include "hl7/hl7.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { \
        fprintf(stderr, "fuzz: check failed: %s (line %d)\n", #c, __LINE__); \
        abort(); } } while (0)

static const char *const paths[] = {
    "MSH-1", "MSH-2", "MSH-3", "MSH-9-1", "MSH-9-2", "MSH-10", "MSH-18",
    "PID-3[2]-1", "PID-5-1", "PID-5-1-1", "PID-11", "OBX[2]-5", "OBX-5",
    "ZZZ[3]-2[3]-4-5", "EVN", "PID-3", "PID-65535", "MSA-2", "ERR-2-3",
};

static void walk(const hl7_msg *m, const hl7_node *n, int depth)
{
    char small[16];
    size_t c = hl7_node_count(n);
    if (c == 0 || depth > 4) {
        hl7_str r = hl7_node_raw(n);
        ssize_t full = hl7_decode(m, r.ptr, r.len, small, sizeof(small));
        CHECK(full >= 0);
        char *big = malloc((size_t)full + 1);
        CHECK(hl7_decode(m, r.ptr, r.len, big, (size_t)full + 1) == full);
        CHECK(big[full] == '\0');
        free(big);
        return;
    }
    for (size_t i = 1; i <= c; i++)
        walk(m, hl7_node_child(n, i), depth + 1);
}

static void path_from_input(const uint8_t *d, size_t n, char *out, size_t sz)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sz && i < 24; i++) {
        char c = (char)d[i];
        if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '[' || c == ']')
            out[k++] = c;
    }
    out[k] = '\0';
}

static void one_message(const char *p, size_t n, const uint8_t *data,
                        size_t size)
{
    hl7_limits lim;
    hl7_limits_default(&lim);
    lim.max_message = 1u << 17;
    hl7_msg *m = NULL;
    hl7_error e;
    if (hl7_parse(p, n, &lim, &m, &e) < 0) {
        char line[512];
        hl7_error_format(&e, line, sizeof(line));
        CHECK(m == NULL);
        return;
    }

    hl7_buf s1 = { 0 }, s2 = { 0 }, x = { 0 }, back = { 0 }, j = { 0 };
    CHECK(hl7_serialize(m, &s1) == 0);
    hl7_limits big;
    hl7_limits_default(&big);
    big.max_message = 1u << 20;
    hl7_msg *m2 = NULL;
    CHECK(hl7_parse(s1.data, s1.len, &big, &m2, &e) == 0);
    CHECK(hl7_serialize(m2, &s2) == 0);
    CHECK(s1.len == s2.len && memcmp(s1.data, s2.data, s1.len) == 0);

    CHECK(hl7_to_xml(m, &x, &e) == 0);
    if (hl7_from_xml(x.data, x.len, &big, &back, &e) != 0) {
        fprintf(stderr, "from-xml: %s\n%s\n", e.message, x.data);
        abort();
    }
    CHECK(back.len == s1.len && memcmp(back.data, s1.data, s1.len) == 0);
    CHECK(hl7_to_json(m, &j) == 0);

    char v[64];
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        hl7_get(m, paths[i], v, sizeof(v));
    char fp[32];
    path_from_input(data, size, fp, sizeof(fp));
    hl7_get(m, fp, v, sizeof(v));
    free(hl7_get_dup(m, fp));
    for (size_t s = 1; s <= hl7_segment_count(m); s++) {
        size_t nf = hl7_field_count(m, s);
        for (size_t f = 1; f <= nf; f++)
            walk(m, hl7_field(m, s, f), 0);
    }

    hl7_error errs[16];
    int ne = hl7_validate(m, errs, 16);
    CHECK(ne >= 0);
    hl7_msg *a = NULL;
    hl7_ack_opts o = { NULL, NULL, "20240101000000", NULL };
    if (hl7_ack(m, &o, errs, ne > 16 ? 16 : (size_t)ne, &a, &e) == 0) {
        hl7_buf ab = { 0 };
        CHECK(hl7_serialize(a, &ab) == 0);
        hl7_msg *ap = NULL;
        if (hl7_parse(ab.data, ab.len, &big, &ap, &e) != 0) {
            fprintf(stderr, "ACK does not parse: %s\n%s\n", e.message,
                    ab.data);
            abort();
        }
        hl7_msg_free(ap);
        hl7_buf_free(&ab);
        hl7_msg_free(a);
    }

    /* builder on the parsed tree, with text taken from the input */
    char text[48];
    size_t tl = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, tl);
    text[tl] = '\0';
    hl7_set(m, "PID-5-2", text, NULL);
    hl7_set_raw(m, "ZZZ-2-1", text, NULL);
    if (fp[0])
        hl7_set(m, fp, "x", NULL);
    hl7_buf s3 = { 0 };
    CHECK(hl7_serialize(m, &s3) == 0);
    hl7_msg *m3 = NULL;
    if (hl7_parse(s3.data, s3.len, &big, &m3, &e) == 0)
        hl7_msg_free(m3);
    hl7_buf_free(&s3);

    hl7_buf_free(&s1);
    hl7_buf_free(&s2);
    hl7_buf_free(&x);
    hl7_buf_free(&back);
    hl7_buf_free(&j);
    hl7_msg_free(m2);
    hl7_msg_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    hl7_iter it;
    hl7_str s;
    hl7_error e;
    int rc, guard = 0;
    hl7_iter_init(&it, p, size);
    while ((rc = hl7_iter_next(&it, &s, &e)) != 0 && guard++ < 10000) {
        if (rc < 0)
            continue;
        CHECK(s.ptr >= p && s.ptr + s.len <= p + size);
        one_message(s.ptr, s.len, data, size);
    }
    CHECK(rc == 0);

    /* the deframer, fed in chunks cut where the input says */
    hl7_mllp d;
    hl7_mllp_init(&d, 4096);
    size_t i = 0;
    while (i < size) {
        size_t chunk = 1 + (data[i] % 64);
        if (chunk > size - i)
            chunk = size - i;
        CHECK(hl7_mllp_feed(&d, data + i, chunk) == 0);
        i += chunk;
        hl7_str f;
        while ((rc = hl7_mllp_next(&d, &f, &e)) != 0)
            if (rc == 1)
                CHECK(f.len <= 4096);
    }
    hl7_mllp_free(&d);

    /* the XML reader on raw input */
    if (size > 0 && data[0] == '<') {
        hl7_buf out = { 0 };
        if (hl7_from_xml(p, size, NULL, &out, &e) == 0) {
            hl7_msg *m = NULL;
            if (hl7_parse(out.data, out.len, NULL, &m, &e) == 0)
                hl7_msg_free(m);
        }
        hl7_buf_free(&out);
    }
    return 0;
}
