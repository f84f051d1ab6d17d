/* split.c -- one buffer, many messages: MLLP frames, FHS/BHS batches or
 * plain messages one after another, each starting at MSH. */
#include "hl7/hl7_int.h"

#include <string.h>

static int next_plain(const char *p, size_t n, size_t *pos, hl7_str *msg);
static size_t line_end(const char *p, size_t n, size_t i);
static size_t skip_eol(const char *p, size_t n, size_t i);
static int line_is(const char *p, size_t len, const char *id);
static int is_envelope(const char *p, size_t len);
static int is_alnum(char c);

static int is_alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9');
}

static size_t line_end(const char *p, size_t n, size_t i)
{
    while (i < n && p[i] != '\r' && p[i] != '\n')
        i++;
    return i;
}

static size_t skip_eol(const char *p, size_t n, size_t i)
{
    if (i < n && p[i] == '\r')
        i++;
    if (i < n && p[i] == '\n')
        i++;
    return i;
}

/* A line is segment id followed by a separator (or nothing). */
static int line_is(const char *p, size_t len, const char *id)
{
    return len >= 3 && memcmp(p, id, 3) == 0 && (len == 3 || !is_alnum(p[3]));
}

static int is_envelope(const char *p, size_t len)
{
    return line_is(p, len, "FHS") || line_is(p, len, "BHS") ||
           line_is(p, len, "BTS") || line_is(p, len, "FTS");
}

void hl7_iter_init(hl7_iter *it, const char *buf, size_t len)
{
    memset(it, 0, sizeof(*it));
    it->buf = buf;
    it->len = len;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        it->pos = 3;
    /* ER7 never holds 0x0B (the parser refuses control bytes), so one
     * start block anywhere means MLLP framing, and bytes before it are a
     * framing error rather than a message. */
    it->mllp = memchr(buf + it->pos, HL7_MLLP_SB, len - it->pos) != NULL;
    it->max_message = SIZE_MAX / 2;
}

/* The next message of an unframed text: from its first line up to the
 * line before the next MSH or batch envelope segment, line ends included
 * so that a well-formed message comes back byte for byte. */
static int next_plain(const char *p, size_t n, size_t *pos, hl7_str *msg)
{
    size_t i = *pos;
    for (;;) {
        if (n - i >= 3 && memcmp(p + i, "\xEF\xBB\xBF", 3) == 0)
            i += 3;
        while (i < n && (p[i] == '\r' || p[i] == '\n' || p[i] == ' ' ||
                         p[i] == '\t'))
            i++;
        if (i >= n) {
            *pos = n;
            return 0;
        }
        size_t e = line_end(p, n, i);
        if (!is_envelope(p + i, e - i))
            break;
        i = skip_eol(p, n, e);
    }
    size_t start = i;
    i = skip_eol(p, n, line_end(p, n, i));
    while (i < n) {
        size_t e = line_end(p, n, i);
        if (line_is(p + i, e - i, "MSH") || is_envelope(p + i, e - i))
            break;
        i = skip_eol(p, n, e);
    }
    msg->ptr = p + start;
    msg->len = i - start;
    *pos = i;
    return 1;
}

int hl7_iter_next(hl7_iter *it, hl7_str *msg, hl7_error *err)
{
    msg->ptr = NULL;
    msg->len = 0;
    if (!it->mllp) {
        int rc = next_plain(it->buf, it->len, &it->pos, msg);
        it->index += (size_t)rc;
        return rc;
    }
    for (;;) {
        if (it->frame) {
            if (next_plain(it->frame, it->flen, &it->fpos, msg)) {
                it->index++;
                return 1;
            }
            it->frame = NULL;
        }
        size_t start, flen, consumed;
        int rc = hl7_mllp_scan(it->buf + it->pos, it->len - it->pos,
                               it->max_message, &start, &flen, &consumed,
                               err);
        if (rc == 1) {
            it->frame = it->buf + it->pos + start;
            it->flen = flen;
            it->fpos = 0;
            it->pos += consumed;
            continue;
        }
        it->pos += consumed;
        if (rc < 0)
            return rc;
        if (it->pos < it->len) {
            it->pos = it->len;
            return hl7__fail(err, HL7_EFRAME,
                             "last MLLP frame is truncated: no end block "
                             "0x1C 0x0D");
        }
        return 0;
    }
}
