/* fuzz_mllp.c -- libFuzzer target for the MLLP framer alone (hl7/mllp.c):
 * the streaming deframer fed in chunks cut where the input says, the
 * one-shot scanner, and framing round trips. Promises checked with abort():
 * every frame fits the limit and lies inside what was fed, a framed message
 * deframes to itself, the pending count never exceeds the limit. */
#include "hl7/hl7.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { \
        fprintf(stderr, "fuzz_mllp: check failed: %s (line %d)\n", #c, __LINE__); \
        abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max_frame = 16 + (size_t)data[0] * 64;
    hl7_error e;
    hl7_str f;
    int rc;

    /* streaming deframer */
    hl7_mllp d;
    hl7_mllp_init(&d, max_frame);
    size_t i = 1, frames = 0;
    while (i < size) {
        size_t chunk = 1 + (data[i] % 32);
        if (chunk > size - i)
            chunk = size - i;
        CHECK(hl7_mllp_feed(&d, data + i, chunk) == 0);
        i += chunk;
        while ((rc = hl7_mllp_next(&d, &f, &e)) != 0) {
            if (rc == 1) {
                CHECK(f.len <= max_frame);
                frames++;
            }
            CHECK(frames < 1000000);
        }
    }
    hl7_mllp_free(&d);

    /* the one-shot scanner over the same bytes */
    const char *p = (const char *)data + 1;
    size_t off = 0, guard = 0;
    while (off < size - 1 && guard++ < 100000) {
        size_t start = 0, flen = 0, consumed = 0;
        rc = hl7_mllp_scan(p + off, size - 1 - off, max_frame, &start, &flen, &consumed, &e);
        CHECK(consumed <= size - 1 - off);
        if (rc == 1)
            CHECK(start + flen <= size - 1 - off && flen <= max_frame);
        if (consumed == 0)
            break;
        off += consumed;
    }

    /* frame the input as a message and deframe it again */
    hl7_buf out = {0};
    if (hl7_mllp_frame(p, size - 1, &out) == 0) {
        hl7_mllp_init(&d, size + 16);
        CHECK(hl7_mllp_feed(&d, out.data, out.len) == 0);
        rc = hl7_mllp_next(&d, &f, &e);
        if (!memchr(p, 0x1c, size - 1) && !memchr(p, 0x0b, size - 1)) {
            CHECK(rc == 1);
            CHECK(f.len == size - 1 && memcmp(f.ptr, p, f.len) == 0);
        }
        hl7_mllp_free(&d);
        hl7_buf_free(&out);
    }
    return 0;
}
