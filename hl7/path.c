/* path.c -- terse accessors ("PID-5-1", "OBX[2]-5") and the builder. */
#include "hl7/hl7_int.h"

#include <stdlib.h>
#include <string.h>

#define PATH_MAX_INDEX 65535

static int parse_num(const char **s, int *out);
static const hl7_node *resolve(const hl7_msg *m, const hl7_path *p,
                               int *found_seg);
static hl7_node *ensure_child(hl7_msg *m, hl7_node *nd, size_t i);
static int compose(hl7_msg *m, hl7_node *nd, int level);
static int set_node(hl7_msg *m, const char *path, const char *raw,
                    size_t len, int split, hl7_error *err);

/* ---------------------------------------------------------------- paths */

static int parse_num(const char **s, int *out)
{
    const char *p = *s;
    long v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > PATH_MAX_INDEX)
            return -1;
        p++;
    }
    if (v < 1)
        return -1;
    *out = (int)v;
    *s = p;
    return 0;
}

/* Grammar: SEG ["[" occ "]"] [sep FIELD ["[" rep "]"] [sep COMP [sep SUB]]]
 * with sep '-' or '.'. */
int hl7__path_parse(const char *s, hl7_path *p)
{
    memset(p, 0, sizeof(*p));
    if (!s || strnlen(s, 4) < 3 || !hl7__is_segname(s, 3))
        return HL7_EPATH;
    memcpy(p->seg, s, 3);
    s += 3;
    p->occ = 1;
    if (*s == '[') {
        s++;
        if (parse_num(&s, &p->occ) < 0 || *s++ != ']')
            return HL7_EPATH;
    }
    if (*s == '\0')
        return 0;
    if ((*s != '-' && *s != '.') || (s++, parse_num(&s, &p->field) < 0))
        return HL7_EPATH;
    if (*s == '[') {
        s++;
        if (parse_num(&s, &p->rep) < 0 || *s++ != ']')
            return HL7_EPATH;
    }
    if (*s == '\0')
        return 0;
    if ((*s != '-' && *s != '.') || (s++, parse_num(&s, &p->comp) < 0))
        return HL7_EPATH;
    if (*s == '\0')
        return 0;
    if ((*s != '-' && *s != '.') || (s++, parse_num(&s, &p->sub) < 0))
        return HL7_EPATH;
    return *s == '\0' ? 0 : HL7_EPATH;
}

size_t hl7_segment_find(const hl7_msg *m, const char *name, size_t occ)
{
    size_t seen = 0;
    for (uint32_t i = 0; i < m->nseg; i++) {
        if (memcmp(m->seg[i]->c[0].p, name, 3) == 0 && ++seen == occ)
            return i + 1;
    }
    return 0;
}

size_t hl7_segment_occurrences(const hl7_msg *m, const char *name)
{
    size_t seen = 0;
    for (uint32_t i = 0; i < m->nseg; i++)
        if (memcmp(m->seg[i]->c[0].p, name, 3) == 0)
            seen++;
    return seen;
}

/* NULL with *found_seg = 1 means "empty": the segment exists but not the
 * element, which HL7 treats as a not-valued element. */
static const hl7_node *resolve(const hl7_msg *m, const hl7_path *p,
                               int *found_seg)
{
    size_t pos = hl7_segment_find(m, p->seg, (size_t)p->occ);
    *found_seg = pos != 0;
    if (!pos)
        return NULL;
    if (p->field == 0)
        return m->seg[pos - 1];
    const hl7_node *n = hl7_field(m, pos, (size_t)p->field);
    if (!n)
        return NULL;
    if (p->rep || p->comp)
        n = hl7__child(n, (size_t)(p->rep ? p->rep : 1));
    if (n && p->comp)
        n = hl7__child(n, (size_t)p->comp);
    if (n && p->sub)
        n = hl7__child(n, (size_t)p->sub);
    return n;
}

int hl7_get_raw(const hl7_msg *m, const char *path, hl7_str *out)
{
    hl7_path p;
    out->ptr = "";
    out->len = 0;
    if (hl7__path_parse(path, &p) < 0)
        return HL7_EPATH;
    int found;
    const hl7_node *n = resolve(m, &p, &found);
    if (!found)
        return HL7_ENOTFOUND;
    if (n) {
        out->ptr = n->p;
        out->len = n->len;
    }
    return 0;
}

ssize_t hl7_get(const hl7_msg *m, const char *path, char *buf, size_t size)
{
    hl7_str s;
    int rc = hl7_get_raw(m, path, &s);
    if (rc < 0) {
        if (size > 0)
            buf[0] = '\0';
        return rc;
    }
    return hl7_decode(m, s.ptr, s.len, buf, size);
}

char *hl7_get_dup(const hl7_msg *m, const char *path)
{
    hl7_str s;
    if (hl7_get_raw(m, path, &s) < 0)
        return NULL;
    ssize_t n = hl7_decode(m, s.ptr, s.len, NULL, 0);
    char *d = malloc((size_t)n + 1);
    if (!d)
        return NULL;
    hl7_decode(m, s.ptr, s.len, d, (size_t)n + 1);
    return d;
}

/* ---------------------------------------------------------------- builder */

int hl7_msg_create(const char *seps, hl7_msg **out)
{
    *out = NULL;
    if (!seps)
        seps = "|^~\\&";
    hl7_msg *m = hl7__msg_new(NULL);
    if (!m)
        return HL7_ENOMEM;
    int rc = hl7__set_seps(m, seps, strlen(seps), NULL);
    if (rc < 0) {
        hl7_msg_free(m);
        return rc;
    }
    hl7_node *seg = hl7__alloc(m, sizeof(*seg));
    hl7_node *c = hl7__alloc(m, 2 * sizeof(*c));
    char *enc = hl7__strdup(m, m->sep + 1, strlen(m->sep + 1));
    if (!seg || !c || !enc) {
        hl7_msg_free(m);
        return HL7_ENOMEM;
    }
    c[0] = (hl7_node){ "MSH", 3, 0, NULL };
    c[1] = (hl7_node){ enc, (uint32_t)strlen(enc), 0, NULL };
    *seg = (hl7_node){ NULL, 0, 2, c };
    if (compose(m, seg, LV_SEG) < 0 || hl7__push_segment(m, seg) < 0) {
        hl7_msg_free(m);
        return HL7_ENOMEM;
    }
    *out = m;
    return 0;
}

int hl7_append_segment(hl7_msg *m, const char *name, hl7_error *err)
{
    if (!name || strlen(name) != 3 || !hl7__is_segname(name, 3))
        return hl7__fail(err, HL7_ESEGNAME, "invalid segment id");
    if (strcmp(name, "MSH") == 0 && m->nseg > 0)
        return hl7__fail(err, HL7_ESEQUENCE, "a message has one MSH");
    if (m->nseg >= m->lim.max_segments)
        return hl7__fail(err, HL7_ELIMIT, "more than %u segments",
                         m->lim.max_segments);
    hl7_node *seg = hl7__alloc(m, sizeof(*seg));
    hl7_node *c = hl7__alloc(m, sizeof(*c));
    char *nm = hl7__strdup(m, name, 3);
    if (!seg || !c || !nm)
        return hl7__fail(err, HL7_ENOMEM, "out of memory");
    c[0] = (hl7_node){ nm, 3, 0, NULL };
    *seg = (hl7_node){ nm, 3, 1, c };
    if (hl7__push_segment(m, seg) < 0)
        return hl7__fail(err, HL7_ENOMEM, "out of memory");
    return (int)m->nseg;
}

/* Child i (1-based) of nd, created empty when missing. A leaf turns into a
 * node whose first child is the old value: a leaf stands for its first
 * child, so nothing changes meaning. Old child arrays stay in the arena. */
static hl7_node *ensure_child(hl7_msg *m, hl7_node *nd, size_t i)
{
    if (nd->n == 0 || i > nd->n) {
        size_t old = nd->n;
        size_t n = i > old ? i : (old ? old : 1);
        hl7_node *c = hl7__alloc(m, n * sizeof(*c));
        if (!c)
            return NULL;
        for (size_t k = 0; k < n; k++)
            c[k] = (hl7_node){ "", 0, 0, NULL };
        if (old)
            memcpy(c, nd->c, old * sizeof(*c));
        else
            c[0] = (hl7_node){ nd->p, nd->len, 0, NULL };
        nd->c = c;
        nd->n = (uint32_t)n;
    }
    return &nd->c[i - 1];
}

/* Rebuild a node's raw text from its children so that raw accessors and
 * parents agree with the tree after a change. */
static int compose(hl7_msg *m, hl7_node *nd, int level)
{
    if (nd->n == 0)
        return 0;
    hl7_buf b = { 0 };
    int rc = hl7__write_node(m, nd, level, &b);
    if (rc == 0) {
        char *d = hl7__strdup(m, b.data ? b.data : "", b.len);
        if (!d)
            rc = HL7_ENOMEM;
        else {
            nd->p = d;
            nd->len = (uint32_t)b.len;
        }
    }
    hl7_buf_free(&b);
    return rc;
}

/* Characters that may not appear in a raw value set at a given level:
 * its own separator and those above it, and segment ends. */
static int raw_allowed(const hl7_msg *m, const char *raw, size_t len,
                       int level)
{
    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (c == '\r' || c == '\n' || c == '\0' || c == m->fs)
            return 0;
        if (level >= LV_REP && c == m->rs)
            return 0;
        if (level >= LV_COMP && c == m->cs)
            return 0;
        if (level >= LV_SUB && c == m->ss)
            return 0;
    }
    return 1;
}

static int set_node(hl7_msg *m, const char *path, const char *raw,
                    size_t len, int split, hl7_error *err)
{
    hl7_path p;
    if (hl7__path_parse(path, &p) < 0 || p.field == 0)
        return hl7__fail(err, HL7_EPATH, "bad path \"%s\"", path);
    int is_msh = strcmp(p.seg, "MSH") == 0;
    if (is_msh && p.field <= 2)
        return hl7__fail(err, HL7_EINVAL,
                         "MSH-1 and MSH-2 are the separators of the message "
                         "and are set by hl7_msg_create");
    size_t limit = is_msh ? m->lim.max_fields + 1 : m->lim.max_fields;
    if ((size_t)p.field > limit || (uint32_t)p.rep > m->lim.max_reps ||
        (uint32_t)p.comp > m->lim.max_components ||
        (uint32_t)p.sub > m->lim.max_subcomponents)
        return hl7__fail(err, HL7_ELIMIT, "path \"%s\" is over a limit",
                         path);
    if (len > m->lim.max_message)
        return hl7__fail(err, HL7_ETOOBIG, "value too long");

    size_t pos = hl7_segment_find(m, p.seg, (size_t)p.occ);
    if (!pos) {
        if ((size_t)p.occ != hl7_segment_occurrences(m, p.seg) + 1)
            return hl7__fail(err, HL7_ENOTFOUND,
                             "segment %s[%d] is not in the message", p.seg,
                             p.occ);
        int rc = hl7_append_segment(m, p.seg, err);
        if (rc < 0)
            return rc;
        pos = (size_t)rc;
    }

    hl7_node *chain[5];
    int levels[5], depth = 0;
    chain[depth] = m->seg[pos - 1];
    levels[depth++] = LV_SEG;
    /* child k (0-based) of a segment is field k, or MSH-(k+1) */
    hl7_node *t = ensure_child(m, chain[0], is_msh ? (size_t)p.field
                                                   : (size_t)p.field + 1);
    int level = LV_FIELD;
    if (t && (p.rep || p.comp)) {
        chain[depth] = t;
        levels[depth++] = level;
        t = ensure_child(m, t, (size_t)(p.rep ? p.rep : 1));
        level = LV_REP;
    }
    if (t && p.comp) {
        chain[depth] = t;
        levels[depth++] = level;
        t = ensure_child(m, t, (size_t)p.comp);
        level = LV_COMP;
    }
    if (t && p.sub) {
        chain[depth] = t;
        levels[depth++] = level;
        t = ensure_child(m, t, (size_t)p.sub);
        level = LV_SUB;
    }
    if (!t)
        return hl7__fail(err, HL7_ENOMEM, "out of memory");
    if (split && !raw_allowed(m, raw, len, level))
        return hl7__fail(err, HL7_EINVAL,
                         "value for %s holds a separator of its own level "
                         "or above", path);
    char *copy = hl7__strdup(m, raw, len);
    if (!copy)
        return hl7__fail(err, HL7_ENOMEM, "out of memory");
    *t = (hl7_node){ copy, (uint32_t)len, 0, NULL };
    if (split && level < LV_SUB) {
        int rc = hl7__split(m, t, level, err, p.seg, (int)pos, p.field,
                            p.rep, p.comp);
        if (rc < 0)
            return rc;
    }
    while (depth-- > 0)
        if (compose(m, chain[depth], levels[depth]) < 0)
            return hl7__fail(err, HL7_ENOMEM, "out of memory");
    if (is_msh)
        hl7__update_charset(m);
    return 0;
}

int hl7_set(hl7_msg *m, const char *path, const char *text, hl7_error *err)
{
    hl7_buf b = { 0 };
    int rc = hl7_encode(m, text, strlen(text), &b);
    if (rc < 0) {
        hl7_buf_free(&b);
        return hl7__fail(err, rc, "value for %s cannot be encoded in the "
                         "message charset", path);
    }
    rc = set_node(m, path, b.data ? b.data : "", b.len, 0, err);
    hl7_buf_free(&b);
    return rc;
}

int hl7_set_raw(hl7_msg *m, const char *path, const char *er7,
                hl7_error *err)
{
    return set_node(m, path, er7, strlen(er7), 1, err);
}
