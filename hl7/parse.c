/* parse.c -- ER7 parser, serialiser and tree navigation.
 *
 * The tree never copies the input: every node is a slice of the buffer the
 * caller passed. Values are decoded only when asked for (hl7_get), so that a
 * parse-then-serialise of a well-formed message gives the same bytes. */
#include "hl7/hl7_int.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Separator tokens. The parser reads each segment once: one scan finds the
 * segment end, refuses control bytes and records every separator as a
 * token, (offset in the segment << 2) | class, class 0 field, 1 repetition,
 * 2 component, 3 subcomponent (the tree level it splits, minus one). The
 * tree is then built from the tokens alone: a node of level L owns the
 * tokens between its delimiters, all of class L-1 or more; it splits at
 * those of class L-1 and is a leaf when it owns none. Offsets fit in 30
 * bits because messages are kept under 1 GiB (hl7__msg_new). */
typedef struct toks {
    uint32_t *t;
    size_t n, cap;
    uint32_t local[1024];
} toks;

static void toks_init(toks *tk);
static void toks_free(toks *tk);
static int toks_reserve(toks *tk, size_t more);
/* What every level of one build shares. */
typedef struct bctx {
    hl7_msg *m;
    const uint32_t *t; /* tokens */
    const char *base;  /* their offsets are from here */
    hl7_error *err;
    const char *segname;
    int seg_pos;
} bctx;
static int build(const bctx *x, hl7_node *nd, int level, size_t a, size_t b,
                 uint32_t count, int field, int rep, int comp);
static int build_top(hl7_msg *m, hl7_node *nd, int level, const uint32_t *t,
                     size_t n, const char *base, hl7_error *err,
                     const char *segname, int seg_pos, int field, int rep,
                     int comp);
static int parse_into(hl7_msg *m, const char *buf, size_t len,
                      hl7_error *err);
static int parse_segment(hl7_msg *m, const char *p, size_t len,
                         size_t offset, const toks *tk, hl7_error *err);
static uint32_t level_limit(const hl7_msg *m, int level);
static int is_sep_char(int c);

/* ---------------------------------------------------------------- setup */

/* The message, its first arena chunk and room for 32 segments come in one
 * allocation: a typical message needs no other. */
#define FIRST_CHUNK 8192

hl7_msg *hl7__msg_new(const hl7_limits *lim)
{
    hl7_msg *m = malloc(sizeof(*m) + sizeof(arena_chunk) + FIRST_CHUNK);
    if (!m)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->arena0 = (arena_chunk *)(void *)(m + 1);
    m->arena0->next = NULL;
    m->arena0->used = 0;
    m->arena0->size = FIRST_CHUNK;
    m->arena = m->arena0;
    m->seg = m->seg_local;
    m->segcap = sizeof(m->seg_local) / sizeof(m->seg_local[0]);
    if (lim)
        m->lim = *lim;
    else
        hl7_limits_default(&m->lim);
    /* The node lengths are 32-bit: keep every message well below that. */
    if (m->lim.max_message > (1u << 30))
        m->lim.max_message = 1u << 30;
    return m;
}

void hl7_msg_free(hl7_msg *m)
{
    if (!m)
        return;
    hl7__arena_free(m);
    if (m->seg != m->seg_local)
        free(m->seg);
    free(m->owned);
    free(m);
}

/* Separator characters must be printable, non-alphanumeric ASCII and all
 * different: anything else would make the split ambiguous. */
static int is_sep_char(int c)
{
    if (c < 0x21 || c > 0x7E)
        return 0;
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
        (c >= 'a' && c <= 'z'))
        return 0;
    return 1;
}

/* p = MSH-1 followed by MSH-2 (len 5, or 6 with the v2.7 truncation
 * character). */
int hl7__set_seps(hl7_msg *m, const char *p, size_t len, hl7_error *err)
{
    if (len < 1 || !is_sep_char((unsigned char)p[0])) {
        int rc = hl7__fail(err, HL7_ESEP,
                           "MSH-1 field separator is missing or not a "
                           "printable punctuation character");
        hl7__err_at(err, "MSH", 1, 1, 1, 0, 0, 0);
        return rc;
    }
    if (len != 5 && len != 6) {
        int rc = hl7__fail(err, HL7_ESEP,
                           "MSH-2 encoding characters must be 4 (or 5 with "
                           "truncation) characters, found %zu", len - 1);
        hl7__err_at(err, "MSH", 1, 1, 2, 0, 0, 0);
        return rc;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_sep_char((unsigned char)p[i]) ||
            memchr(p, p[i], i) != NULL) {
            int rc = hl7__fail(err, HL7_ESEP,
                               "MSH-2 encoding character %zu (0x%02X) is "
                               "invalid or repeats another separator",
                               i, (unsigned char)p[i]);
            hl7__err_at(err, "MSH", 1, 1, i == 0 ? 1 : 2, 0, 0, 0);
            return rc;
        }
    }
    memcpy(m->sep, p, len);
    m->sep[len] = '\0';
    m->fs = p[0];
    m->cs = p[1];
    m->rs = p[2];
    m->es = p[3];
    m->ss = p[4];
    m->ts = len == 6 ? p[5] : 0;
    m->msh1.p = m->sep;
    m->msh1.len = 1;
    m->msh1.n = 0;
    m->msh1.c = NULL;
    return 0;
}

/* ---------------------------------------------------------------- parse */

int hl7_parse(const char *buf, size_t len, const hl7_limits *lim,
              hl7_msg **out, hl7_error *err)
{
    *out = NULL;
    hl7_msg *m = hl7__msg_new(lim);
    if (!m)
        return hl7__fail(err, HL7_ENOMEM, "out of memory");
    int rc = parse_into(m, buf, len, err);
    if (rc < 0) {
        hl7_msg_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int hl7_parse_copy(const char *buf, size_t len, const hl7_limits *lim,
                   hl7_msg **out, hl7_error *err)
{
    *out = NULL;
    hl7_msg *m = hl7__msg_new(lim);
    if (!m)
        return hl7__fail(err, HL7_ENOMEM, "out of memory");
    if (len > m->lim.max_message) {
        size_t max = m->lim.max_message;
        hl7_msg_free(m);
        return hl7__fail(err, HL7_ETOOBIG,
                         "message of %zu bytes is over the limit of %zu",
                         len, max);
    }
    m->owned = malloc(len ? len : 1);
    if (!m->owned) {
        hl7_msg_free(m);
        return hl7__fail(err, HL7_ENOMEM, "out of memory");
    }
    if (len)
        memcpy(m->owned, buf, len);
    int rc = parse_into(m, m->owned, len, err);
    if (rc < 0) {
        hl7_msg_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static int parse_into(hl7_msg *m, const char *buf, size_t len,
                      hl7_error *err)
{
    if (len > m->lim.max_message)
        return hl7__fail(err, HL7_ETOOBIG,
                         "message of %zu bytes is over the limit of %zu",
                         len, m->lim.max_message);
    size_t i = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
        i++;
    if (i == len)
        return hl7__fail(err, HL7_EEMPTY, "empty message");
    if (len - i < 3 || memcmp(buf + i, "MSH", 3) != 0) {
        char seen[4] = "";
        size_t k;
        for (k = 0; k < 3 && i + k < len; k++) {
            unsigned char c = (unsigned char)buf[i + k];
            seen[k] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
        }
        seen[k] = '\0';
        int rc = hl7__fail(err, HL7_ENOMSH,
                           "message does not start with MSH (found \"%s\")",
                           seen);
        hl7__err_at(err, NULL, 1, 0, 0, 0, 0, 0);
        if (err)
            err->offset = i;
        return rc;
    }
    /* MSH-1 is the byte after "MSH"; MSH-2 runs to the next field
     * separator or the end of the segment. */
    size_t s = i + 3, e = s + 1;
    if (s >= len)
        return hl7__set_seps(m, "", 0, err);
    while (e < len && buf[e] != buf[s] && buf[e] != '\r' && buf[e] != '\n')
        e++;
    int rc = hl7__set_seps(m, buf + s, e - s, err);
    if (rc < 0)
        return rc;

    /* byte classes: 0 plain, 1..4 separator class + 1, 5 segment end,
     * 6 control byte (refused) */
    enum { C_EOL = 5, C_CTL = 6 };
    unsigned char cls[256];
    memset(cls, 0, sizeof(cls));
    memset(cls, C_CTL, 0x20);
    cls['\t'] = 0;
    cls['\r'] = cls['\n'] = C_EOL;
    cls[(unsigned char)m->fs] = 1;
    cls[(unsigned char)m->rs] = 2;
    cls[(unsigned char)m->cs] = 3;
    cls[(unsigned char)m->ss] = 4;
    toks tk;
    toks_init(&tk);
    while (i < len) {
        size_t start = i;
        tk.n = 0;
#ifdef __SSE2__
        const __m128i vfs = _mm_set1_epi8(m->fs), vrs = _mm_set1_epi8(m->rs),
                      vcs = _mm_set1_epi8(m->cs), vss = _mm_set1_epi8(m->ss),
                      v1f = _mm_set1_epi8(0x1F);
        while (len - i >= 16) {
            if (tk.cap - tk.n < 16 && toks_reserve(&tk, 16) < 0) {
                toks_free(&tk);
                return hl7__fail(err, HL7_ENOMEM, "out of memory");
            }
            __m128i x = _mm_loadu_si128((const __m128i *)(buf + i));
            unsigned sep = (unsigned)_mm_movemask_epi8(_mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(x, vfs), _mm_cmpeq_epi8(x, vrs)),
                _mm_or_si128(_mm_cmpeq_epi8(x, vcs), _mm_cmpeq_epi8(x, vss))));
            /* bytes <= 0x1F: segment ends, tabs, refused control bytes */
            unsigned ctl = (unsigned)_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_max_epu8(x, v1f), v1f));
            while (ctl && buf[i + (unsigned)__builtin_ctz(ctl)] == '\t')
                ctl &= ctl - 1;
            if (ctl)
                sep &= (1u << __builtin_ctz(ctl)) - 1;
            while (sep) {
                unsigned b = (unsigned)__builtin_ctz(sep);
                tk.t[tk.n++] = (uint32_t)((i + b - start) << 2) |
                               (uint32_t)(cls[(unsigned char)buf[i + b]] - 1);
                sep &= sep - 1;
            }
            if (ctl) {
                i += (unsigned)__builtin_ctz(ctl);
                break;
            }
            i += 16;
        }
#endif
        for (; i < len; i++) {
            unsigned k = cls[(unsigned char)buf[i]];
            if (k == 0)
                continue;
            if (k == C_EOL)
                break;
            if (k == C_CTL) {
                toks_free(&tk);
                rc = hl7__fail(err, HL7_EBINARY,
                               "control byte 0x%02X at offset %zu (binary "
                               "data must be escaped as \\Xhh\\)",
                               (unsigned char)buf[i], i);
                hl7__err_at(err, NULL, (int)m->nseg + 1, 0, 0, 0, 0, 0);
                if (err)
                    err->offset = i;
                return rc;
            }
            if (tk.n == tk.cap && toks_reserve(&tk, 1) < 0) {
                toks_free(&tk);
                return hl7__fail(err, HL7_ENOMEM, "out of memory");
            }
            tk.t[tk.n++] = (uint32_t)((i - start) << 2) | (uint32_t)(k - 1);
        }
        if (i > start) {
            rc = parse_segment(m, buf + start, i - start, start, &tk, err);
            if (rc < 0) {
                toks_free(&tk);
                return rc;
            }
        }
        /* CR, LF or CRLF end a segment; blank lines are skipped. */
        if (i < len && buf[i] == '\r')
            i++;
        if (i < len && buf[i] == '\n')
            i++;
    }
    toks_free(&tk);
    hl7__update_charset(m);
    return 0;
}

static int parse_segment(hl7_msg *m, const char *p, size_t len,
                         size_t offset, const toks *tk, hl7_error *err)
{
    int pos = (int)m->nseg + 1;
    if (len < 3 || !hl7__is_segname(p, 3) || (len > 3 && p[3] != m->fs)) {
        char name[8];
        size_t k, n = len < 6 ? len : 6;
        for (k = 0; k < n && p[k] != m->fs; k++)
            name[k] = ((unsigned char)p[k] >= 0x20 &&
                       (unsigned char)p[k] < 0x7F) ? p[k] : '?';
        name[k] = '\0';
        int rc = hl7__fail(err, HL7_ESEGNAME,
                           "invalid segment id \"%s\" at offset %zu", name,
                           offset);
        hl7__err_at(err, NULL, pos, 0, 0, 0, 0, 0);
        if (err)
            err->offset = offset;
        return rc;
    }
    if (m->nseg > 0 && memcmp(p, "MSH", 3) == 0) {
        int rc = hl7__fail(err, HL7_ESEQUENCE,
                           "second MSH segment inside one message (split "
                           "many messages with hl7_iter)");
        hl7__err_at(err, "MSH", pos, 2, 0, 0, 0, 0);
        if (err)
            err->offset = offset;
        return rc;
    }
    if (m->nseg >= m->lim.max_segments) {
        int rc = hl7__fail(err, HL7_ELIMIT,
                           "more than %u segments in the message",
                           m->lim.max_segments);
        hl7__err_at(err, NULL, pos, 0, 0, 0, 0, 0);
        if (err)
            err->offset = offset;
        return rc;
    }
    hl7_node *seg = hl7__alloc(m, sizeof(*seg));
    if (!seg)
        return hl7__fail(err, HL7_ENOMEM, "out of memory");
    seg->p = p;
    seg->len = (uint32_t)len;
    seg->n = 0;
    seg->c = NULL;
    char name[4];
    memcpy(name, p, 3);
    name[3] = '\0';
    int rc = build_top(m, seg, LV_SEG, tk->t, tk->n, p, err, name, pos, 0,
                       0, 0);
    if (rc < 0) {
        if (err)
            err->offset = offset;
        return rc;
    }
    return hl7__push_segment(m, seg);
}

int hl7__push_segment(hl7_msg *m, hl7_node *seg)
{
    if (m->nseg == m->segcap) {
        uint32_t cap = m->segcap ? m->segcap * 2 : 16;
        hl7_node **s = m->seg == m->seg_local
                           ? malloc(cap * sizeof(*s))
                           : realloc(m->seg, cap * sizeof(*s));
        if (!s)
            return HL7_ENOMEM;
        if (m->seg == m->seg_local)
            memcpy(s, m->seg_local, m->nseg * sizeof(*s));
        m->seg = s;
        m->segcap = cap;
    }
    m->seg[m->nseg++] = seg;
    return 0;
}

static uint32_t level_limit(const hl7_msg *m, int level)
{
    switch (level) {
    case LV_SEG: return m->lim.max_fields + 1;
    case LV_FIELD: return m->lim.max_reps;
    case LV_REP: return m->lim.max_components;
    default: return m->lim.max_subcomponents;
    }
}

static const char *const level_what[] = {
    "", "fields", "repetitions", "components", "subcomponents"
};

static void toks_init(toks *tk)
{
    tk->t = tk->local;
    tk->n = 0;
    tk->cap = sizeof(tk->local) / sizeof(tk->local[0]);
}

static void toks_free(toks *tk)
{
    if (tk->t != tk->local)
        free(tk->t);
    toks_init(tk);
}

static int toks_reserve(toks *tk, size_t more)
{
    if (tk->cap - tk->n >= more)
        return 0;
    size_t cap = tk->cap * 2;
    while (cap - tk->n < more)
        cap *= 2;
    uint32_t *t = malloc(cap * sizeof(*t));
    if (!t)
        return HL7_ENOMEM;
    memcpy(t, tk->t, tk->n * sizeof(*t));
    if (tk->t != tk->local)
        free(tk->t);
    tk->t = t;
    tk->cap = cap;
    return 0;
}

/* Split nd (level `level`, owning tokens t[a..b) of which `count` - 1 are
 * its own separators) at its level's separator, recursively. A node with
 * no separator of its level or below stays a leaf, which keeps the tree
 * small: most fields are plain values. The children's counts are taken in
 * the same walk over the tokens. field/rep/comp only serve the error
 * report. */
static int build(const bctx *x, hl7_node *nd, int level, size_t a, size_t b,
                 uint32_t count, int field, int rep, int comp)
{
    hl7_msg *m = x->m;
    const uint32_t *t = x->t;
    const uint32_t own = (uint32_t)(level - 1), below = own + 1;
    if (count > level_limit(m, level)) {
        int rc = hl7__fail(x->err, HL7_ELIMIT, "%u %s, over the limit of %u",
                           level == LV_SEG ? count - 1 : count,
                           level_what[level],
                           level == LV_SEG ? level_limit(m, level) - 1
                                           : level_limit(m, level));
        hl7__err_at(x->err, x->segname, x->seg_pos, 0, field, rep, comp, 0);
        return rc;
    }
    hl7_node *c = hl7__alloc(m, count * sizeof(*c));
    if (!c)
        return hl7__fail(x->err, HL7_ENOMEM, "out of memory");
    nd->n = count;
    nd->c = c;
    int is_msh = level == LV_SEG && memcmp(x->segname, "MSH", 3) == 0;
    const char *base = x->base;
    size_t s = (size_t)(nd->p - base), end = s + nd->len, k = a;
    for (uint32_t j = 0; j < count; j++) {
        size_t ka = k;
        uint32_t sub = 1, cl;
        while (k < b && (cl = t[k] & 3) != own) {
            sub += cl == below;
            k++;
        }
        size_t e = k < b ? t[k] >> 2 : end;
        c[j].p = base + s;
        c[j].len = (uint32_t)(e - s);
        c[j].n = 0;
        c[j].c = NULL;
        size_t kb = k;
        k++;
        s = e + 1;
        if (ka == kb || level == LV_COMP)
            continue; /* a leaf: nothing below; subcomponents are leaves */
        int f = field, r = rep, cp = comp;
        if (level == LV_SEG) {
            /* child 0 is the segment id, MSH-2 is never split */
            if (j == 0 || (is_msh && j == 1))
                continue;
            f = is_msh ? (int)j + 1 : (int)j;
        } else if (level == LV_FIELD) {
            r = (int)j + 1;
        } else {
            cp = (int)j + 1;
        }
        int rc = build(x, &c[j], level + 1, ka, kb, sub, f, r, cp);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Build the tree of nd from all n tokens. */
static int build_top(hl7_msg *m, hl7_node *nd, int level, const uint32_t *t,
                     size_t n, const char *base, hl7_error *err,
                     const char *segname, int seg_pos, int field, int rep,
                     int comp)
{
    if (level != LV_SEG && n == 0) {
        nd->n = 0;
        nd->c = NULL;
        return 0;
    }
    uint32_t count = 1;
    const uint32_t own = (uint32_t)(level - 1);
    for (size_t k = 0; k < n; k++)
        count += (t[k] & 3) == own;
    bctx x = { m, t, base, err, segname, seg_pos };
    return build(&x, nd, level, 0, n, count, field, rep, comp);
}

/* Split a node of the builder (hl7_set_raw) the same way: separators of
 * the levels above are not looked at. */
int hl7__split(hl7_msg *m, hl7_node *nd, int level, hl7_error *err,
               const char *segname, int seg_pos, int field, int rep,
               int comp)
{
    if (level < LV_SEG || level >= LV_SUB) {
        nd->n = 0;
        nd->c = NULL;
        return 0;
    }
    const char seps[4] = { m->fs, m->rs, m->cs, m->ss };
    toks tk;
    toks_init(&tk);
    for (size_t i = 0; i < nd->len; i++) {
        for (int k = level - 1; k < 4; k++) {
            if (nd->p[i] != seps[k])
                continue;
            if (toks_reserve(&tk, 1) < 0) {
                toks_free(&tk);
                return hl7__fail(err, HL7_ENOMEM, "out of memory");
            }
            tk.t[tk.n++] = (uint32_t)(i << 2) | (uint32_t)k;
            break;
        }
    }
    int rc = build_top(m, nd, level, tk.t, tk.n, nd->p, err, segname,
                       seg_pos, field, rep, comp);
    toks_free(&tk);
    return rc;
}

/* MSH-18 decides how text is decoded; re-read it after any change. */
void hl7__update_charset(hl7_msg *m)
{
    m->charset = HL7_CHARSET_DEFAULT;
    const hl7_node *f = m->nseg ? hl7_field(m, 1, 18) : NULL;
    const hl7_node *r = f ? hl7__child(f, 1) : NULL;
    const hl7_node *c = r ? hl7__child(r, 1) : NULL;
    if (c)
        m->charset = hl7__charset_of(c->p, c->len);
}

/* ---------------------------------------------------------------- output */

/* Short copies without a call: most values are a few bytes. All reads
 * and writes stay inside [s, s+n) and [d, d+n). */
static inline void copy_short(char *d, const char *s, size_t n)
{
    if (n >= 8) {
        size_t k = 0;
        for (; k + 8 <= n; k += 8)
            memcpy(d + k, s + k, 8);
        if (k < n)
            memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n > 0) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

/* hl7_buf_append without the call when the bytes fit. */
static inline int put(hl7_buf *b, const char *p, size_t n)
{
    if (b->data && b->cap - b->len > n) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
    }
    return hl7_buf_append(b, p, n);
}

int hl7__write_node(const hl7_msg *m, const hl7_node *nd, int level,
                    hl7_buf *out)
{
    if (nd->n == 0)
        return put(out, nd->p, nd->len);
    char sep = (char)hl7__levelsep(m, level);
    for (uint32_t i = 0; i < nd->n; i++) {
        if (i > 0 && put(out, &sep, 1) < 0)
            return HL7_ENOMEM;
        const hl7_node *c = &nd->c[i];
        int rc = c->n == 0 ? put(out, c->p, c->len)
                           : hl7__write_node(m, c, level + 1, out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The serialiser's fast path: writes between d and lim (room reserved
 * beforehand), returns the new end, or NULL when the room is too small
 * (then hl7_serialize takes the checked path). */
static char *write_fast(const hl7_msg *m, const hl7_node *nd, int level,
                        char *d, const char *lim)
{
    char sep = level == LV_SEG ? m->fs : level == LV_FIELD ? m->rs
             : level == LV_REP ? m->cs : m->ss;
    for (uint32_t i = 0; i < nd->n; i++) {
        const hl7_node *c = &nd->c[i];
        if (i > 0) {
            if (d == lim)
                return NULL;
            *d++ = sep;
        }
        if (c->n == 0) {
            if ((size_t)(lim - d) < c->len)
                return NULL;
            copy_short(d, c->p, c->len);
            d += c->len;
        } else if (level >= LV_COMP ||
                   !(d = write_fast(m, c, level + 1, d, lim))) {
            return NULL;
        }
    }
    return d;
}

int hl7_serialize(const hl7_msg *m, hl7_buf *out)
{
    /* the raw text of each segment is as long as its serialisation (the
     * builder keeps it so): grow the buffer once, write without further
     * checks of the buffer, and fall back on the checked path if the tree
     * does not fit after all */
    size_t need = 0;
    for (uint32_t i = 0; i < m->nseg; i++)
        need += m->seg[i]->len + 1;
    if (!out->data || out->cap - out->len <= need) {
        size_t cap = out->cap ? out->cap : 256;
        while (cap - out->len <= need) {
            if (cap > SIZE_MAX / 2)
                return HL7_ENOMEM;
            cap *= 2;
        }
        char *d = realloc(out->data, cap);
        if (!d)
            return HL7_ENOMEM;
        out->data = d;
        out->cap = cap;
        out->data[out->len] = '\0';
    }
    size_t start = out->len;
    char *d = out->data + start;
    const char *lim = out->data + out->cap - 1; /* room for the NUL */
    for (uint32_t i = 0; i < m->nseg && d; i++) {
        const hl7_node *s = m->seg[i];
        if (s->n == 0) { /* builder segments always have children */
            d = NULL;
            break;
        }
        d = write_fast(m, s, LV_SEG, d, lim);
        if (d && d < lim)
            *d++ = '\r';
        else
            d = NULL;
    }
    if (d) {
        out->len = (size_t)(d - out->data);
        out->data[out->len] = '\0';
        return 0;
    }
    out->len = start;
    out->data[start] = '\0';
    for (uint32_t i = 0; i < m->nseg; i++) {
        int rc = hl7__write_node(m, m->seg[i], LV_SEG, out);
        if (rc < 0 || (rc = put(out, "\r", 1)) < 0)
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- access */

const char *hl7_msg_separators(const hl7_msg *m)
{
    return m->sep;
}

int hl7_msg_charset(const hl7_msg *m)
{
    return m->charset;
}

size_t hl7_segment_count(const hl7_msg *m)
{
    return m->nseg;
}

const hl7_node *hl7_segment(const hl7_msg *m, size_t pos)
{
    if (pos < 1 || pos > m->nseg)
        return NULL;
    return m->seg[pos - 1];
}

hl7_str hl7_segment_name(const hl7_node *seg)
{
    hl7_str s = { seg->c ? seg->c[0].p : seg->p, 3 };
    return s;
}

size_t hl7_field_count(const hl7_msg *m, size_t pos)
{
    const hl7_node *s = hl7_segment(m, pos);
    if (!s || s->n == 0)
        return 0;
    if (memcmp(s->c[0].p, "MSH", 3) == 0)
        return s->n;
    return s->n - 1;
}

const hl7_node *hl7_field(const hl7_msg *m, size_t pos, size_t n)
{
    const hl7_node *s = hl7_segment(m, pos);
    if (!s || s->n == 0)
        return NULL;
    size_t idx = n;
    if (memcmp(s->c[0].p, "MSH", 3) == 0 && n >= 1) {
        if (n == 1)
            return &m->msh1;
        idx = n - 1;
    }
    if (idx >= s->n)
        return NULL;
    return &s->c[idx];
}

/* A leaf stands for its own first child: that is what makes "PID-5-1" of
 * "PID|||||Nguyễn" give "Nguyễn". */
const hl7_node *hl7__child(const hl7_node *n, size_t i)
{
    if (i < 1)
        return NULL;
    if (n->n == 0)
        return i == 1 ? n : NULL;
    if (i > n->n)
        return NULL;
    return &n->c[i - 1];
}

size_t hl7_node_count(const hl7_node *n)
{
    return n->n;
}

const hl7_node *hl7_node_child(const hl7_node *n, size_t i)
{
    return hl7__child(n, i);
}

hl7_str hl7_node_raw(const hl7_node *n)
{
    hl7_str s = { n->p, n->len };
    return s;
}
