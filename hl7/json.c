/* json.c -- the tree as JSON, written by hand (the library links nothing
 * but libxml2 and OpenSSL). */
#include "hl7/hl7_int.h"

#include <stdlib.h>
#include <string.h>

static int put_string(hl7_buf *b, const char *s, size_t n);
static int put_node(const hl7_msg *m, const hl7_node *nd, hl7_buf *b);

/* JSON string of UTF-8 text; bytes that are not UTF-8 become U+FFFD so the
 * output is always valid JSON. */
static int put_string(hl7_buf *b, const char *s, size_t n)
{
    int rc = hl7__buf_putc(b, '"');
    size_t i = 0;
    while (i < n && rc == 0) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            rc = hl7_buf_append(b, e, 2);
            i++;
        } else if (c < 0x20) {
            if (c == '\n')
                rc = hl7__buf_puts(b, "\\n");
            else if (c == '\t')
                rc = hl7__buf_puts(b, "\\t");
            else if (c == '\r')
                rc = hl7__buf_puts(b, "\\r");
            else
                rc = hl7__buf_printf(b, "\\u%04x", c);
            i++;
        } else {
            int l = hl7__utf8_len((const unsigned char *)s + i, n - i);
            if (l == 0) {
                rc = hl7__buf_puts(b, "\xEF\xBF\xBD");
                i++;
            } else {
                rc = hl7_buf_append(b, s + i, (size_t)l);
                i += (size_t)l;
            }
        }
    }
    return rc < 0 ? rc : hl7__buf_putc(b, '"');
}

/* A leaf is its decoded text, any other node the array of its children. */
static int put_node(const hl7_msg *m, const hl7_node *nd, hl7_buf *b)
{
    if (nd->n == 0) {
        char small[256];
        ssize_t n = hl7_decode(m, nd->p, nd->len, small, sizeof(small));
        if ((size_t)n < sizeof(small))
            return put_string(b, small, (size_t)n);
        char *big = malloc((size_t)n + 1);
        if (!big)
            return HL7_ENOMEM;
        hl7_decode(m, nd->p, nd->len, big, (size_t)n + 1);
        int rc = put_string(b, big, (size_t)n);
        free(big);
        return rc;
    }
    int rc = hl7__buf_putc(b, '[');
    for (uint32_t i = 0; i < nd->n && rc == 0; i++) {
        if (i > 0)
            rc = hl7__buf_putc(b, ',');
        if (rc == 0)
            rc = put_node(m, &nd->c[i], b);
    }
    return rc < 0 ? rc : hl7__buf_putc(b, ']');
}

int hl7_to_json(const hl7_msg *m, hl7_buf *out)
{
    int rc = hl7__buf_puts(out, "{\"segments\":[");
    for (size_t s = 1; s <= m->nseg && rc == 0; s++) {
        const hl7_node *seg = m->seg[s - 1];
        if (s > 1)
            rc = hl7__buf_putc(out, ',');
        if (rc == 0)
            rc = hl7__buf_puts(out, "{\"id\":");
        if (rc == 0)
            rc = put_string(out, seg->c[0].p, 3);
        if (rc == 0)
            rc = hl7__buf_puts(out, ",\"fields\":[");
        size_t nf = hl7_field_count(m, s);
        for (size_t f = 1; f <= nf && rc == 0; f++) {
            const hl7_node *fn = hl7_field(m, s, f);
            if (f > 1)
                rc = hl7__buf_putc(out, ',');
            if (rc < 0)
                break;
            /* MSH-1/MSH-2 are the separators, not escaped text */
            if (s == 1 && f <= 2)
                rc = put_string(out, fn->p, fn->len);
            else
                rc = put_node(m, fn, out);
        }
        if (rc == 0)
            rc = hl7__buf_puts(out, "]}");
    }
    return rc < 0 ? rc : hl7__buf_puts(out, "]}");
}
