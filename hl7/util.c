/* util.c -- arena, buffers, error reporting and small helpers of libhl7. */
#include "hl7/hl7_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ARENA_CHUNK 16384

static arena_chunk *chunk_new(size_t need);

/* ---------------------------------------------------------------- arena */

static arena_chunk *chunk_new(size_t need)
{
    size_t size = need > ARENA_CHUNK ? need : ARENA_CHUNK;
    arena_chunk *c = malloc(sizeof(*c) + size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->used = 0;
    c->size = size;
    return c;
}

/* Bump allocation, 8-byte aligned: a parse makes many small nodes and frees
 * them all at once, so malloc per node would only cost time. The fast path
 * is hl7__alloc (hl7_int.h); this one starts a new chunk. */
void *hl7__alloc_slow(hl7_msg *m, size_t n)
{
    arena_chunk *c = m->arena;
    n = (n + 7) & ~(size_t)7;
    if (n == 0)
        n = 8;
    if (!c || c->size - c->used < n) {
        arena_chunk *nc = chunk_new(n);
        if (!nc)
            return NULL;
        nc->next = c;
        m->arena = nc;
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

char *hl7__strdup(hl7_msg *m, const char *p, size_t n)
{
    char *d = hl7__alloc(m, n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

void hl7__arena_free(hl7_msg *m)
{
    arena_chunk *c = m->arena;
    while (c) {
        arena_chunk *next = c->next;
        if (c != m->arena0)
            free(c);
        c = next;
    }
    m->arena = NULL;
}

/* ---------------------------------------------------------------- errors */

static const char *const errnames[] = {
    "OK", "NO_MEMORY", "EMPTY", "NO_MSH", "BAD_SEPARATORS", "BAD_SEGMENT_ID",
    "BINARY", "LIMIT", "TOO_BIG", "BAD_PATH", "NOT_FOUND", "REQUIRED",
    "DATA_TYPE", "SEQUENCE", "FRAMING", "XML", "CHARSET", "IO", "INVALID",
    "BAD_VALUE",
};

const char *hl7_strerror(int code)
{
    int i = -code;
    if (i < 0 || i >= (int)(sizeof(errnames) / sizeof(errnames[0])))
        return "UNKNOWN";
    return errnames[i];
}

/* Default table 0357 code for an error kind, so that an ACK can be built
 * from any hl7_error without the caller knowing the table. */
static int table0357(int code)
{
    switch (code) {
    case HL7_ESEQUENCE: case HL7_ENOMSH: return 100;
    case HL7_EREQUIRED: return 101;
    case HL7_EDATATYPE: return 102;
    case HL7_EVALUE: return 103;
    case HL7_ESEGNAME: return 100;
    case HL7_ELIMIT: case HL7_ETOOBIG: return 102;
    case HL7_ESEP: case HL7_EBINARY: case HL7_ECHARSET: return 102;
    default: return 207;
    }
}

int hl7__fail(hl7_error *e, int code, const char *fmt, ...)
{
    if (e) {
        memset(e, 0, sizeof(*e));
        e->code = code;
        e->hl7_code = table0357(code);
        e->severity = 'E';
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
    }
    return code;
}

void hl7__err_at(hl7_error *e, const char *seg, int seg_pos, int seg_seq,
                 int field, int rep, int comp, int sub)
{
    if (!e)
        return;
    if (seg) {
        size_t n = strnlen(seg, 3);
        memcpy(e->segment, seg, n);
        e->segment[n] = '\0';
    }
    e->seg_pos = seg_pos;
    e->seg_seq = seg_seq;
    e->field = field;
    e->rep = rep;
    e->component = comp;
    e->subcomponent = sub;
}

int hl7_error_format(const hl7_error *e, char *buf, size_t size)
{
    char where[96] = "";
    size_t w = 0;
    if (e->segment[0]) {
        w += snprintf(where + w, sizeof(where) - w, "%s", e->segment);
        if (e->seg_seq)
            w += snprintf(where + w, sizeof(where) - w, "[%d]", e->seg_seq);
        if (e->seg_pos)
            w += snprintf(where + w, sizeof(where) - w, " (segment %d)",
                          e->seg_pos);
    } else if (e->seg_pos) {
        w += snprintf(where + w, sizeof(where) - w, "segment %d", e->seg_pos);
    }
    if (e->field)
        w += snprintf(where + w, sizeof(where) - w, " field %d", e->field);
    if (e->rep > 1)
        w += snprintf(where + w, sizeof(where) - w, " repetition %d", e->rep);
    if (e->component)
        w += snprintf(where + w, sizeof(where) - w, " component %d",
                      e->component);
    if (e->subcomponent)
        w += snprintf(where + w, sizeof(where) - w, " subcomponent %d",
                      e->subcomponent);
    (void)w;
    if (where[0])
        return snprintf(buf, size, "%s %s: %s", hl7_strerror(e->code), where,
                        e->message);
    return snprintf(buf, size, "%s: %s", hl7_strerror(e->code), e->message);
}

/* ---------------------------------------------------------------- limits */

void hl7_limits_default(hl7_limits *l)
{
    l->max_message = 1u << 20;
    l->max_segments = 4096;
    l->max_fields = 512;
    l->max_reps = 1024;
    l->max_components = 128;
    l->max_subcomponents = 128;
}

/* ---------------------------------------------------------------- buffers */

int hl7_buf_append(hl7_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len <= n || !b->data) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len <= n) {
            if (cap > SIZE_MAX / 2)
                return HL7_ENOMEM;
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (!d)
            return HL7_ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int hl7__buf_putc(hl7_buf *b, char c)
{
    return hl7_buf_append(b, &c, 1);
}

int hl7__buf_puts(hl7_buf *b, const char *s)
{
    return hl7_buf_append(b, s, strlen(s));
}

int hl7__buf_printf(hl7_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return HL7_EINVAL;
    if ((size_t)n < sizeof(tmp))
        return hl7_buf_append(b, tmp, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return HL7_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = hl7_buf_append(b, big, (size_t)n);
    free(big);
    return rc;
}

void hl7_buf_free(hl7_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---------------------------------------------------------------- misc */

/* MSH-18 value -> charset. Only the first repetition names the charset of
 * the message; others are alternates for escape-switched text. */
int hl7__charset_of(const char *p, size_t len)
{
    while (len && (*p == ' '))
        p++, len--;
    while (len && p[len - 1] == ' ')
        len--;
    if (len == 13 && strncasecmp(p, "UNICODE UTF-8", 13) == 0)
        return HL7_CHARSET_UTF8;
    if (len == 5 && strncasecmp(p, "UTF-8", 5) == 0)
        return HL7_CHARSET_UTF8;
    if (len == 6 && strncasecmp(p, "8859/1", 6) == 0)
        return HL7_CHARSET_LATIN1;
    return HL7_CHARSET_DEFAULT;
}

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
int hl7__utf8_len(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    int n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else return 0;
    if (len < (size_t)n)
        return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    return n;
}

/* Segment ids: a capital letter then two capitals or digits. */
int hl7__is_segname(const char *p, size_t len)
{
    if (len != 3)
        return 0;
    if (p[0] < 'A' || p[0] > 'Z')
        return 0;
    for (int i = 1; i < 3; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9')))
            return 0;
    return 1;
}

int hl7__levelsep(const hl7_msg *m, int level)
{
    switch (level) {
    case LV_SEG: return (unsigned char)m->fs;
    case LV_FIELD: return (unsigned char)m->rs;
    case LV_REP: return (unsigned char)m->cs;
    case LV_COMP: return (unsigned char)m->ss;
    default: return -1;
    }
}
