/* escape.c -- HL7 escape sequences and charset conversion.
 *
 * Values stay escaped in the tree (that is what makes serialising exact);
 * decoding happens on access into a caller buffer, encoding when a value is
 * set through the builder. */
#include "hl7/hl7_int.h"

#include <string.h>

static void put_byte(dec_sink *s, unsigned char b, int latin1);
static void put_bytes(dec_sink *s, const char *p, size_t n, int latin1);
static int decode_seq(const hl7_msg *m, const char *q, size_t n, dec_sink *s,
                      int latin1);
static int hexval(int c);

void hl7__sink_put(dec_sink *s, const char *p, size_t n)
{
    if (s->size > 0 && s->len < s->size - 1) {
        size_t room = s->size - 1 - s->len;
        memcpy(s->buf + s->len, p, n < room ? n : room);
    }
    s->len += n;
}

/* 8859/1 maps byte b to code point b, so the conversion is arithmetic. */
static void put_byte(dec_sink *s, unsigned char b, int latin1)
{
    if (latin1 && b >= 0x80) {
        char u[2] = { (char)(0xC0 | (b >> 6)), (char)(0x80 | (b & 0x3F)) };
        hl7__sink_put(s, u, 2);
    } else {
        hl7__sink_put(s, (const char *)&b, 1);
    }
}

static void put_bytes(dec_sink *s, const char *p, size_t n, int latin1)
{
    if (!latin1) {
        hl7__sink_put(s, p, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        put_byte(s, (unsigned char)p[i], latin1);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* q/n is the text between two escape characters. Returns 1 when it was a
 * sequence we decode, 0 when it must be kept as it is. */
static int decode_seq(const hl7_msg *m, const char *q, size_t n, dec_sink *s,
                      int latin1)
{
    if (n == 1) {
        char c;
        switch (q[0]) {
        case 'F': c = m->fs; break;
        case 'S': c = m->cs; break;
        case 'T': c = m->ss; break;
        case 'R': c = m->rs; break;
        case 'E': c = m->es; break;
        case 'P':
            if (!m->ts)
                return 0;
            c = m->ts;
            break;
        default: return 0;
        }
        hl7__sink_put(s, &c, 1);
        return 1;
    }
    if (n == 3 && memcmp(q, ".br", 3) == 0) {
        hl7__sink_put(s, "\n", 1);
        return 1;
    }
    if (q[0] == 'X' && n >= 3 && (n - 1) % 2 == 0) {
        for (size_t i = 1; i < n; i++)
            if (hexval((unsigned char)q[i]) < 0)
                return 0;
        for (size_t i = 1; i < n; i += 2)
            put_byte(s, (unsigned char)(hexval((unsigned char)q[i]) * 16 +
                                        hexval((unsigned char)q[i + 1])),
                     latin1);
        return 1;
    }
    return 0;
}

ssize_t hl7_decode(const hl7_msg *m, const char *raw, size_t len, char *buf,
                   size_t size)
{
    dec_sink s = { buf, size, 0 };
    int latin1 = m->charset == HL7_CHARSET_LATIN1;
    size_t i = 0;
    while (i < len) {
        const char *esc = memchr(raw + i, m->es, len - i);
        size_t plain = esc ? (size_t)(esc - (raw + i)) : len - i;
        put_bytes(&s, raw + i, plain, latin1);
        i += plain;
        if (i >= len)
            break;
        const char *end = memchr(raw + i + 1, m->es, len - i - 1);
        if (!end) { /* unterminated: keep the rest as it is */
            put_bytes(&s, raw + i, len - i, latin1);
            break;
        }
        size_t n = (size_t)(end - (raw + i + 1));
        if (n == 0 || !decode_seq(m, raw + i + 1, n, &s, latin1))
            put_bytes(&s, raw + i, n + 2, latin1);
        i += n + 2;
    }
    if (size > 0)
        buf[s.len < size ? s.len : size - 1] = '\0';
    return (ssize_t)s.len;
}

/* UTF-8 -> 8859/1; code points above U+00FF cannot be carried. */
int hl7__latin1_from_utf8(const char *p, size_t n, hl7_buf *out)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        int l = hl7__utf8_len((const unsigned char *)p + i, n - i);
        if (l == 0)
            return HL7_ECHARSET;
        if (l == 1) {
            if (hl7__buf_putc(out, (char)c) < 0)
                return HL7_ENOMEM;
        } else if (l == 2 && c <= 0xC3) {
            char b = (char)(((c & 0x1F) << 6) |
                            ((unsigned char)p[i + 1] & 0x3F));
            if (hl7__buf_putc(out, b) < 0)
                return HL7_ENOMEM;
        } else {
            return HL7_ECHARSET;
        }
        i += (size_t)l;
    }
    return 0;
}

int hl7_encode(const hl7_msg *m, const char *text, size_t len, hl7_buf *out)
{
    hl7_buf tmp = { 0 };
    const char *p = text;
    int rc = 0;
    if (m->charset == HL7_CHARSET_LATIN1) {
        rc = hl7__latin1_from_utf8(text, len, &tmp);
        if (rc < 0) {
            hl7_buf_free(&tmp);
            return rc;
        }
        p = tmp.data ? tmp.data : "";
        len = tmp.len;
    }
    for (size_t i = 0; i < len && rc == 0; i++) {
        char c = p[i];
        const char *rep = NULL;
        char x[8];
        if (c == m->fs) rep = "F";
        else if (c == m->cs) rep = "S";
        else if (c == m->rs) rep = "R";
        else if (c == m->ss) rep = "T";
        else if (c == m->es) rep = "E";
        else if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < len && p[i + 1] == '\n')
                i++;
            rep = ".br";
        } else if ((unsigned char)c < 0x20 && c != '\t') {
            static const char hex[] = "0123456789ABCDEF";
            x[0] = 'X';
            x[1] = hex[(unsigned char)c >> 4];
            x[2] = hex[(unsigned char)c & 15];
            x[3] = '\0';
            rep = x;
        }
        if (!rep) {
            rc = hl7__buf_putc(out, c);
            continue;
        }
        if (hl7__buf_putc(out, m->es) < 0 || hl7__buf_puts(out, rep) < 0 ||
            hl7__buf_putc(out, m->es) < 0)
            rc = HL7_ENOMEM;
    }
    hl7_buf_free(&tmp);
    return rc;
}
