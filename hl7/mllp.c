/* mllp.c -- MLLP framing (0x0B message 0x1C 0x0D) over plain buffers.
 *
 * No sockets here: the server engine and the command-line sender read and
 * write, this file only finds frames in what they read. */
#include "hl7/hl7_int.h"

#include <stdlib.h>
#include <string.h>

#define MLLP_DEFAULT_MAX (1u << 20)

static int is_space(char c);

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int hl7_mllp_frame(const char *msg, size_t len, hl7_buf *out)
{
    static const char sb = HL7_MLLP_SB, eb[2] = { HL7_MLLP_EB, HL7_MLLP_CR };
    if (hl7_buf_append(out, &sb, 1) < 0 || hl7_buf_append(out, msg, len) < 0 ||
        hl7_buf_append(out, eb, 2) < 0)
        return HL7_ENOMEM;
    return 0;
}

int hl7_mllp_scan(const char *buf, size_t len, size_t max_frame,
                  size_t *start, size_t *flen, size_t *consumed,
                  hl7_error *err)
{
    size_t i = 0;
    *start = *flen = 0;
    /* Some senders put a line end after each frame: tolerate whitespace. */
    while (i < len && is_space(buf[i]))
        i++;
    *consumed = i;
    if (i == len)
        return 0;
    if (buf[i] != HL7_MLLP_SB) {
        const char *sb = memchr(buf + i, HL7_MLLP_SB, len - i);
        size_t skip = sb ? (size_t)(sb - buf) : len;
        *consumed = skip;
        return hl7__fail(err, HL7_EFRAME,
                         "%zu bytes of garbage before the start block 0x0B",
                         skip - i);
    }
    size_t s = i + 1;
    for (size_t j = s; j < len; j++) {
        char c = buf[j];
        if (c == HL7_MLLP_EB) {
            if (j + 1 == len)
                break;
            if (buf[j + 1] != HL7_MLLP_CR) {
                *consumed = j + 1;
                return hl7__fail(err, HL7_EFRAME,
                                 "end block 0x1C not followed by 0x0D");
            }
            *consumed = j + 2;
            if (j - s > max_frame)
                return hl7__fail(err, HL7_EFRAME,
                                 "frame of %zu bytes is over the limit of "
                                 "%zu", j - s, max_frame);
            *start = s;
            *flen = j - s;
            return 1;
        }
        if (c == HL7_MLLP_SB) {
            *consumed = j;
            return hl7__fail(err, HL7_EFRAME,
                             "start block inside a frame: the end block "
                             "0x1C 0x0D is missing");
        }
    }
    if (len - s > max_frame + 1) {
        *consumed = len;
        return hl7__fail(err, HL7_EFRAME,
                         "frame over the limit of %zu bytes without an end "
                         "block", max_frame);
    }
    return 0;
}

void hl7_mllp_init(hl7_mllp *d, size_t max_frame)
{
    memset(d, 0, sizeof(*d));
    d->max_frame = max_frame ? max_frame : MLLP_DEFAULT_MAX;
}

void hl7_mllp_free(hl7_mllp *d)
{
    free(d->buf);
    memset(d, 0, sizeof(*d));
}

size_t hl7_mllp_pending(const hl7_mllp *d)
{
    return d->len - d->off;
}

int hl7_mllp_feed(hl7_mllp *d, const void *data, size_t len)
{
    /* Drop what was handed out before growing, so a long connection keeps
     * a buffer the size of one frame. */
    if (d->off > 0) {
        memmove(d->buf, d->buf + d->off, d->len - d->off);
        d->len -= d->off;
        d->off = 0;
    }
    if (d->cap - d->len < len) {
        size_t cap = d->cap ? d->cap : 4096;
        while (cap - d->len < len) {
            if (cap > SIZE_MAX / 2)
                return HL7_ENOMEM;
            cap *= 2;
        }
        char *b = realloc(d->buf, cap);
        if (!b)
            return HL7_ENOMEM;
        d->buf = b;
        d->cap = cap;
    }
    if (len)
        memcpy(d->buf + d->len, data, len);
    d->len += len;
    return 0;
}

int hl7_mllp_next(hl7_mllp *d, hl7_str *frame, hl7_error *err)
{
    size_t start, flen, consumed;
    frame->ptr = NULL;
    frame->len = 0;
    if (d->len == d->off)
        return 0;
    int rc = hl7_mllp_scan(d->buf + d->off, d->len - d->off, d->max_frame,
                           &start, &flen, &consumed, err);
    if (rc == 1) {
        frame->ptr = d->buf + d->off + start;
        frame->len = flen;
    }
    d->off += consumed;
    return rc;
}
