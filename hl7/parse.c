/* parse.c -- ER7 parser, serialiser and tree navigation.
 *
 * The tree never copies the input: every node is a slice of the buffer the
 * caller passed. Values are decoded only when asked for (hl7_get), so that a
 * parse-then-serialise of a well-formed message gives the same bytes. */
#include "hl7/hl7_int.h"

#include <stdlib.h>
#include <string.h>

static int parse_into(hl7_msg *m, const char *buf, size_t len,
                      hl7_error *err);
static int parse_segment(hl7_msg *m, const char *p, size_t len,
                         size_t offset, hl7_error *err);
static int push_segment(hl7_msg *m, hl7_node *seg);
static uint32_t level_limit(const hl7_msg *m, int level);
static int is_sep_char(int c);

/* ---------------------------------------------------------------- setup */

hl7_msg *hl7__msg_new(const hl7_limits *lim)
{
    hl7_msg *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
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

    while (i < len) {
        size_t start = i;
        while (i < len && buf[i] != '\r' && buf[i] != '\n') {
            unsigned char c = (unsigned char)buf[i];
            if (c < 0x20 && c != '\t') {
                rc = hl7__fail(err, HL7_EBINARY,
                               "control byte 0x%02X at offset %zu (binary "
                               "data must be escaped as \\Xhh\\)", c, i);
                hl7__err_at(err, NULL, (int)m->nseg + 1, 0, 0, 0, 0, 0);
                if (err)
                    err->offset = i;
                return rc;
            }
            i++;
        }
        if (i > start) {
            rc = parse_segment(m, buf + start, i - start, start, err);
            if (rc < 0)
                return rc;
        }
        /* CR, LF or CRLF end a segment; blank lines are skipped. */
        if (i < len && buf[i] == '\r')
            i++;
        if (i < len && buf[i] == '\n')
            i++;
    }
    hl7__update_charset(m);
    return 0;
}

static int parse_segment(hl7_msg *m, const char *p, size_t len,
                         size_t offset, hl7_error *err)
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
    int rc = hl7__split(m, seg, LV_SEG, err, name, pos, 0, 0, 0);
    if (rc < 0) {
        if (err)
            err->offset = offset;
        return rc;
    }
    return push_segment(m, seg);
}

static int push_segment(hl7_msg *m, hl7_node *seg)
{
    if (m->nseg == m->segcap) {
        uint32_t cap = m->segcap ? m->segcap * 2 : 16;
        hl7_node **s = realloc(m->seg, cap * sizeof(*s));
        if (!s)
            return HL7_ENOMEM;
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

/* Split nd at its level's separator, recursively. A node with no separator
 * of its level or below stays a leaf, which keeps the tree small: most
 * fields are plain values. segname/seg_pos/field/rep/comp only serve the
 * error report. */
int hl7__split(hl7_msg *m, hl7_node *nd, int level, hl7_error *err,
               const char *segname, int seg_pos, int field, int rep,
               int comp)
{
    const char *p = nd->p;
    size_t len = nd->len;
    char sep = (char)hl7__levelsep(m, level);
    uint32_t count = 1;
    int lower = 0;

    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == sep)
            count++;
        else if ((level <= LV_FIELD && c == m->rs) ||
                 (level <= LV_REP && c == m->cs) ||
                 (level <= LV_COMP && c == m->ss))
            lower = 1;
    }
    int is_msh = level == LV_SEG && memcmp(segname, "MSH", 3) == 0;
    if (level != LV_SEG && count == 1 && !lower) {
        nd->n = 0;
        nd->c = NULL;
        return 0;
    }
    if (count > level_limit(m, level)) {
        int rc = hl7__fail(err, HL7_ELIMIT, "%u %s, over the limit of %u",
                           level == LV_SEG ? count - 1 : count,
                           level_what[level],
                           level == LV_SEG ? level_limit(m, level) - 1
                                           : level_limit(m, level));
        hl7__err_at(err, segname, seg_pos, 0, field, rep, comp, 0);
        return rc;
    }
    hl7_node *c = hl7__alloc(m, count * sizeof(*c));
    if (!c)
        return hl7__fail(err, HL7_ENOMEM, "out of memory");
    size_t start = 0;
    uint32_t k = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || p[i] == sep) {
            c[k].p = p + start;
            c[k].len = (uint32_t)(i - start);
            c[k].n = 0;
            c[k].c = NULL;
            k++;
            start = i + 1;
        }
    }
    nd->n = count;
    nd->c = c;
    for (uint32_t j = 0; j < count; j++) {
        int f = field, r = rep, cp = comp;
        if (level == LV_SEG) {
            /* child 0 is the segment id, MSH-2 is never split */
            if (j == 0 || (is_msh && j == 1))
                continue;
            f = is_msh ? (int)j + 1 : (int)j;
        } else if (level == LV_FIELD) {
            r = (int)j + 1;
        } else if (level == LV_REP) {
            cp = (int)j + 1;
        } else {
            continue; /* subcomponents are leaves */
        }
        int rc = hl7__split(m, &c[j], level + 1, err, segname, seg_pos, f, r,
                            cp);
        if (rc < 0)
            return rc;
    }
    return 0;
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

int hl7__write_node(const hl7_msg *m, const hl7_node *nd, int level,
                    hl7_buf *out)
{
    if (nd->n == 0)
        return hl7_buf_append(out, nd->p, nd->len);
    char sep = (char)hl7__levelsep(m, level);
    for (uint32_t i = 0; i < nd->n; i++) {
        if (i > 0 && hl7_buf_append(out, &sep, 1) < 0)
            return HL7_ENOMEM;
        int rc = hl7__write_node(m, &nd->c[i], level + 1, out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int hl7_serialize(const hl7_msg *m, hl7_buf *out)
{
    for (uint32_t i = 0; i < m->nseg; i++) {
        int rc = hl7__write_node(m, m->seg[i], LV_SEG, out);
        if (rc < 0 || (rc = hl7_buf_append(out, "\r", 1)) < 0)
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
