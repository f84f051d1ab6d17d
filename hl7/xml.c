/* xml.c -- HL7 v2.xml encoding, both ways, through libxml2.
 *
 * The guarantee is that hl7_from_xml(hl7_to_xml(m)) gives back the ER7 of
 * m byte for byte. What v2.xml alone would lose is kept:
 *  - empty fields/components are omitted except the last one of a level,
 *    which is written empty so the count is known (trailing separators);
 *  - repetitions are all written, empty ones as empty elements;
 *  - only \F\ \S\ \T\ \R\ \E\ are decoded into text (their encoding back is
 *    unique); every other escape is <escape V="..."/>;
 *  - bytes that XML cannot carry (control bytes, invalid UTF-8, a lone
 *    escape character) are <hl7bytes hex="..."/>.
 * Reading uses XML_PARSE_NONET, no entity substitution, and refuses any
 * DTD, so no file or network is ever touched. */
#include "hl7/hl7_int.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NS_V2XML "urn:hl7-org:v2xml"

/* libxml2 wants xmlInitParser() once before use from several threads,
 * and the server engine will convert messages from worker threads. */
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

/* ---------------------------------------------------------------- writer */

typedef struct xw {
    const hl7_msg *m;
    xmlNsPtr ns;
    hl7_buf text;   /* pending UTF-8 text */
    hl7_buf bytes;  /* pending bytes for <hl7bytes> */
    int oom;
} xw;

static void flush_text(xw *w, xmlNodePtr el);
static void flush_bytes(xw *w, xmlNodePtr el);
static void write_leaf(xw *w, xmlNodePtr el, const hl7_node *nd);
static void write_comp(xw *w, xmlNodePtr el, const hl7_node *nd,
                       const char *ctype, const char *cname);
static void write_rep(xw *w, xmlNodePtr el, const hl7_node *nd,
                      const char *type, const char *fname);
static xmlNodePtr child(xw *w, xmlNodePtr parent, const char *name);
static int xml_char_ok(const unsigned char *p, int l);
static void root_name(const hl7_msg *m, char *out, size_t size);

static xmlNodePtr child(xw *w, xmlNodePtr parent, const char *name)
{
    xmlNodePtr n = xmlNewChild(parent, w->ns, (const xmlChar *)name, NULL);
    if (!n)
        w->oom = 1;
    return n;
}

static void flush_text(xw *w, xmlNodePtr el)
{
    if (!w->text.len)
        return;
    xmlNodePtr t = xmlNewTextLen((const xmlChar *)w->text.data,
                                 (int)w->text.len);
    if (!t || !xmlAddChild(el, t))
        w->oom = 1;
    w->text.len = 0;
}

static void flush_bytes(xw *w, xmlNodePtr el)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!w->bytes.len)
        return;
    hl7_buf h = { 0 };
    for (size_t i = 0; i < w->bytes.len; i++) {
        unsigned char c = (unsigned char)w->bytes.data[i];
        char two[2] = { hex[c >> 4], hex[c & 15] };
        if (hl7_buf_append(&h, two, 2) < 0)
            w->oom = 1;
    }
    xmlNodePtr b = child(w, el, "hl7bytes");
    if (b && h.data)
        xmlNewProp(b, (const xmlChar *)"hex", (const xmlChar *)h.data);
    hl7_buf_free(&h);
    w->bytes.len = 0;
}

/* Char of l bytes that XML 1.0 may hold. */
static int xml_char_ok(const unsigned char *p, int l)
{
    if (l == 1)
        return p[0] >= 0x20 || p[0] == '\t';
    if (l == 3 && p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE ||
                                                   p[2] == 0xBF))
        return 0; /* U+FFFE, U+FFFF */
    return 1;
}

static void add_text(xw *w, xmlNodePtr el, const char *p, size_t n)
{
    flush_bytes(w, el);
    if (hl7_buf_append(&w->text, p, n) < 0)
        w->oom = 1;
}

static void add_bytes(xw *w, xmlNodePtr el, const char *p, size_t n)
{
    flush_text(w, el);
    if (hl7_buf_append(&w->bytes, p, n) < 0)
        w->oom = 1;
}

static void write_leaf(xw *w, xmlNodePtr el, const hl7_node *nd)
{
    const hl7_msg *m = w->m;
    const char *p = nd->p;
    size_t n = nd->len, i = 0;
    int latin1 = m->charset == HL7_CHARSET_LATIN1;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        if (c == (unsigned char)m->es) {
            const char *e = memchr(p + i + 1, m->es, n - i - 1);
            if (!e) { /* lone escape character */
                add_bytes(w, el, p + i, 1);
                i++;
                continue;
            }
            size_t sl = (size_t)(e - (p + i + 1));
            const char *q = p + i + 1;
            char sep = 0;
            if (sl == 1) {
                switch (q[0]) {
                case 'F': sep = m->fs; break;
                case 'S': sep = m->cs; break;
                case 'T': sep = m->ss; break;
                case 'R': sep = m->rs; break;
                case 'E': sep = m->es; break;
                }
            }
            if (sep) {
                add_text(w, el, &sep, 1);
            } else {
                int safe = 1;
                for (size_t k = 0; k < sl; k++)
                    if ((unsigned char)q[k] < 0x20 ||
                        (unsigned char)q[k] > 0x7E)
                        safe = 0;
                if (safe) {
                    flush_text(w, el);
                    flush_bytes(w, el);
                    char *v = strndup(q, sl);
                    xmlNodePtr x = child(w, el, "escape");
                    if (!v)
                        w->oom = 1;
                    else if (x)
                        xmlNewProp(x, (const xmlChar *)"V",
                                   (const xmlChar *)v);
                    free(v);
                } else {
                    add_bytes(w, el, p + i, sl + 2);
                }
            }
            i += sl + 2;
            continue;
        }
        if (latin1) {
            if (c >= 0x80) {
                char u[2] = { (char)(0xC0 | (c >> 6)),
                              (char)(0x80 | (c & 0x3F)) };
                add_text(w, el, u, 2);
            } else if (xml_char_ok(&c, 1)) {
                add_text(w, el, p + i, 1);
            } else {
                add_bytes(w, el, p + i, 1);
            }
            i++;
            continue;
        }
        int l = hl7__utf8_len((const unsigned char *)p + i, n - i);
        if (l == 0 || !xml_char_ok((const unsigned char *)p + i, l)) {
            add_bytes(w, el, p + i, l ? (size_t)l : 1);
            i += l ? (size_t)l : 1;
        } else {
            add_text(w, el, p + i, (size_t)l);
            i += (size_t)l;
        }
    }
    flush_text(w, el);
    flush_bytes(w, el);
}

/* Children of a composite level, omitting empty ones but the last. */
static int skip_empty(const hl7_node *nd, uint32_t i)
{
    const hl7_node *c = &nd->c[i];
    return c->n == 0 && c->len == 0 && i + 1 < nd->n;
}

static void write_comp(xw *w, xmlNodePtr el, const hl7_node *nd,
                       const char *ctype, const char *cname)
{
    int composite = ctype && !hl7__is_primitive(ctype);
    char name[64];
    if (nd->n == 0) {
        if (composite && nd->len) {
            snprintf(name, sizeof(name), "%s.1", ctype);
            el = child(w, el, name);
        }
        if (el)
            write_leaf(w, el, nd);
        return;
    }
    for (uint32_t i = 0; i < nd->n; i++) {
        if (skip_empty(nd, i))
            continue;
        if (composite)
            snprintf(name, sizeof(name), "%s.%u", ctype, i + 1);
        else
            snprintf(name, sizeof(name), "%s.%u", cname, i + 1);
        xmlNodePtr s = child(w, el, name);
        if (s)
            write_leaf(w, s, &nd->c[i]);
    }
}

static void write_rep(xw *w, xmlNodePtr el, const hl7_node *nd,
                      const char *type, const char *fname)
{
    int composite = type && !hl7__is_primitive(type);
    char name[64];
    if (nd->n == 0) {
        write_comp(w, el, nd, type, fname);
        return;
    }
    for (uint32_t i = 0; i < nd->n; i++) {
        if (skip_empty(nd, i))
            continue;
        if (composite)
            snprintf(name, sizeof(name), "%s.%u", type, i + 1);
        else
            snprintf(name, sizeof(name), "%s.%u", fname, i + 1);
        xmlNodePtr c = child(w, el, name);
        if (c)
            write_comp(w, c, &nd->c[i],
                       composite ? hl7__comp_type(type, (int)i + 1) : NULL,
                       name);
    }
}

/* MSH-9-3 (message structure, e.g. ADT_A01) or type_event. */
static void root_name(const hl7_msg *m, char *out, size_t size)
{
    char a[40] = "", b[40] = "";
    hl7_get(m, "MSH-9-3", a, sizeof(a));
    if (!a[0]) {
        hl7_get(m, "MSH-9-1", a, sizeof(a));
        hl7_get(m, "MSH-9-2", b, sizeof(b));
        if (b[0] && strlen(a) + strlen(b) < sizeof(a) - 1) {
            strcat(a, "_");
            strcat(a, b);
        }
    }
    int ok = a[0] != '\0' && ((a[0] >= 'A' && a[0] <= 'Z') ||
                              (a[0] >= 'a' && a[0] <= 'z'));
    for (size_t i = 0; a[i] && ok; i++)
        ok = (a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= 'a' && a[i] <= 'z') ||
             (a[i] >= '0' && a[i] <= '9') || a[i] == '_';
    snprintf(out, size, "%s", ok ? a : "HL7V2");
}

int hl7_to_xml(const hl7_msg *m, hl7_buf *out, hl7_error *err)
{
    char rname[48];
    pthread_once(&xml_once, xml_init);
    root_name(m, rname, sizeof(rname));
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr root = doc ? xmlNewNode(NULL, (const xmlChar *)rname) : NULL;
    if (!root) {
        xmlFreeDoc(doc);
        return hl7__fail(err, HL7_ENOMEM, "out of memory");
    }
    xw w = { m, NULL, { 0 }, { 0 }, 0 };
    w.ns = xmlNewNs(root, (const xmlChar *)NS_V2XML, NULL);
    xmlSetNs(root, w.ns);
    xmlDocSetRootElement(doc, root);

    for (uint32_t s = 0; s < m->nseg && !w.oom; s++) {
        const hl7_node *seg = m->seg[s];
        char sname[4] = { seg->c[0].p[0], seg->c[0].p[1], seg->c[0].p[2], 0 };
        int is_msh = strcmp(sname, "MSH") == 0;
        xmlAddChild(root, xmlNewText((const xmlChar *)"\n"));
        xmlNodePtr se = child(&w, root, sname);
        if (!se)
            break;
        size_t nf = hl7_field_count(m, s + 1);
        for (size_t f = 1; f <= nf && !w.oom; f++) {
            const hl7_node *fn = hl7_field(m, s + 1, f);
            char fname[16];
            snprintf(fname, sizeof(fname), "%s.%zu", sname, f);
            if (is_msh && f <= 2) {
                /* the separators themselves, never escaped */
                xmlNodePtr x = child(&w, se, fname);
                xmlNodePtr t = xmlNewTextLen((const xmlChar *)fn->p,
                                             (int)fn->len);
                if (!x || !t || !xmlAddChild(x, t))
                    w.oom = 1;
                continue;
            }
            if (fn->n == 0 && fn->len == 0 && f < nf)
                continue;
            const char *type = hl7_field_type(sname, (int)f);
            size_t reps = fn->n ? fn->n : 1;
            for (size_t r = 1; r <= reps; r++) {
                xmlNodePtr x = child(&w, se, fname);
                if (x)
                    write_rep(&w, x, hl7__child(fn, r), type, fname);
            }
        }
    }
    xmlAddChild(root, xmlNewText((const xmlChar *)"\n"));
    hl7_buf_free(&w.text);
    hl7_buf_free(&w.bytes);
    if (w.oom) {
        xmlFreeDoc(doc);
        return hl7__fail(err, HL7_ENOMEM, "out of memory");
    }
    xmlChar *mem = NULL;
    int size = 0;
    xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");
    xmlFreeDoc(doc);
    if (!mem)
        return hl7__fail(err, HL7_ENOMEM, "out of memory");
    int rc = hl7_buf_append(out, mem, (size_t)size);
    xmlFree(mem);
    return rc < 0 ? hl7__fail(err, rc, "out of memory") : 0;
}

/* ---------------------------------------------------------------- reader */

typedef struct xr {
    hl7_msg *m;         /* only its separators and charset are used */
    hl7_buf *out;
    const hl7_limits *lim;
    hl7_error *err;
    size_t nseg;
} xr;

typedef struct indexed {
    xmlNodePtr node;
    int idx;
    size_t order;
} indexed;

static int read_segment(xr *r, xmlNodePtr se);
static int read_level(xr *r, xmlNodePtr el, int level);
static int read_leaf(xr *r, xmlNodePtr el);
static int collect(xr *r, xmlNodePtr el, indexed **out, size_t *n,
                   uint32_t limit);
static int fail_at(xr *r, xmlNodePtr n, int code, const char *what);
static int elem_index(xmlNodePtr n);
static int is_ws(const xmlChar *s);

static int fail_at(xr *r, xmlNodePtr n, int code, const char *what)
{
    long line = n ? xmlGetLineNo(n) : 0;
    const char *name = n && n->name ? (const char *)n->name : "";
    return hl7__fail(r->err, code, "%s (element <%.40s>, line %ld)", what,
                     name, line);
}

/* "PID.3" -> 3, "CX.4" -> 4; 0 when the name has no numeric suffix. */
static int elem_index(xmlNodePtr n)
{
    const char *name = (const char *)n->name;
    const char *dot = strrchr(name, '.');
    if (!dot || !dot[1])
        return 0;
    long v = 0;
    for (const char *p = dot + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (*p - '0');
        if (v > 100000)
            return 0;
    }
    return (int)v;
}

static int is_ws(const xmlChar *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return 0;
    return 1;
}

static int cmp_indexed(const void *a, const void *b)
{
    const indexed *x = a, *y = b;
    if (x->idx != y->idx)
        return x->idx < y->idx ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

/* The numbered child elements of el, sorted by index then document order;
 * text between them must be whitespace. */
static int collect(xr *r, xmlNodePtr el, indexed **out, size_t *n,
                   uint32_t limit)
{
    size_t cap = 0, k = 0;
    indexed *v = NULL;
    for (xmlNodePtr c = el->children; c; c = c->next) {
        if (c->type == XML_COMMENT_NODE || c->type == XML_PI_NODE)
            continue;
        if (c->type == XML_TEXT_NODE && is_ws(c->content))
            continue;
        int idx = c->type == XML_ELEMENT_NODE ? elem_index(c) : 0;
        if (idx < 1 || (uint32_t)idx > limit) {
            free(v);
            return fail_at(r, c->type == XML_ELEMENT_NODE ? c : el, HL7_EXML,
                           idx < 1 ? "expected a numbered element like "
                                     "PID.5 or XPN.1"
                                   : "element number over the limit");
        }
        if (k == cap) {
            cap = cap ? cap * 2 : 16;
            if (cap > (size_t)limit * 64 + 64) {
                free(v);
                return fail_at(r, c, HL7_ELIMIT, "too many elements");
            }
            indexed *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                free(v);
                return hl7__fail(r->err, HL7_ENOMEM, "out of memory");
            }
            v = nv;
        }
        v[k].node = c;
        v[k].idx = idx;
        v[k].order = k;
        k++;
    }
    if (k > 1)
        qsort(v, k, sizeof(*v), cmp_indexed);
    *out = v;
    *n = k;
    return 0;
}

static int has_numbered_children(xmlNodePtr el)
{
    for (xmlNodePtr c = el->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && elem_index(c) > 0)
            return 1;
    return 0;
}

static int put(xr *r, const void *p, size_t n)
{
    if (r->out->len + n > r->lim->max_message * 2 + 4096)
        return hl7__fail(r->err, HL7_ETOOBIG, "message over the size limit");
    if (hl7_buf_append(r->out, p, n) < 0)
        return hl7__fail(r->err, HL7_ENOMEM, "out of memory");
    return 0;
}

/* Text back to ER7: separators escaped, charset converted. */
static int put_text(xr *r, xmlNodePtr at, const char *s)
{
    const hl7_msg *m = r->m;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        char c = s[i];
        const char *e = NULL;
        if (c == m->fs) e = "F";
        else if (c == m->cs) e = "S";
        else if (c == m->rs) e = "R";
        else if (c == m->ss) e = "T";
        else if (c == m->es) e = "E";
        if (e) {
            char seq[3] = { m->es, e[0], m->es };
            if (put(r, seq, 3) < 0)
                return r->err ? r->err->code : HL7_ETOOBIG;
            i++;
            continue;
        }
        if (c == '\r' || c == '\n')
            return fail_at(r, at, HL7_EXML, "line break in a value (use "
                           "<escape V=\".br\"/>)");
        int l = hl7__utf8_len((const unsigned char *)s + i, n - i);
        if (l == 0)
            l = 1;
        if (m->charset == HL7_CHARSET_LATIN1 && l > 1) {
            hl7_buf b = { 0 };
            int rc = hl7__latin1_from_utf8(s + i, (size_t)l, &b);
            if (rc == 0)
                rc = put(r, b.data, b.len);
            hl7_buf_free(&b);
            if (rc < 0)
                return fail_at(r, at, HL7_ECHARSET, "character not in "
                               "8859/1");
        } else if (put(r, s + i, (size_t)l) < 0) {
            return HL7_ETOOBIG;
        }
        i += (size_t)l;
    }
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int read_leaf(xr *r, xmlNodePtr el)
{
    const hl7_msg *m = r->m;
    for (xmlNodePtr c = el->children; c; c = c->next) {
        int rc = 0;
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            rc = put_text(r, el, (const char *)c->content);
        } else if (c->type == XML_COMMENT_NODE || c->type == XML_PI_NODE) {
            continue;
        } else if (c->type != XML_ELEMENT_NODE) {
            rc = fail_at(r, el, HL7_EXML, "unexpected XML node");
        } else if (strcmp((const char *)c->name, "escape") == 0) {
            xmlChar *v = xmlGetProp(c, (const xmlChar *)"V");
            const char *s = v ? (const char *)v : "";
            for (const char *p = s; *p && rc == 0; p++)
                if (*p == m->fs || *p == m->cs || *p == m->rs ||
                    *p == m->ss || *p == m->es || (unsigned char)*p < 0x20)
                    rc = fail_at(r, c, HL7_EXML, "escape V holds a "
                                 "separator");
            if (rc == 0 && (rc = put(r, &m->es, 1)) == 0 &&
                (rc = put(r, s, strlen(s))) == 0)
                rc = put(r, &m->es, 1);
            xmlFree(v);
        } else if (strcmp((const char *)c->name, "hl7bytes") == 0) {
            xmlChar *v = xmlGetProp(c, (const xmlChar *)"hex");
            const char *s = v ? (const char *)v : "";
            size_t n = strlen(s);
            if (n % 2)
                rc = fail_at(r, c, HL7_EXML, "odd hex length");
            for (size_t i = 0; i + 1 < n && rc == 0; i += 2) {
                int hi = hexval((unsigned char)s[i]);
                int lo = hexval((unsigned char)s[i + 1]);
                char b = (char)(hi * 16 + lo);
                if (hi < 0 || lo < 0 || b == m->fs || b == m->cs ||
                    b == m->rs || b == m->ss || b == '\r' || b == '\n' ||
                    b == '\0')
                    rc = fail_at(r, c, HL7_EXML, "hl7bytes holds a "
                                 "separator or is not hex");
                else
                    rc = put(r, &b, 1);
            }
            xmlFree(v);
        } else {
            rc = fail_at(r, c, HL7_EXML, "unexpected element in a value");
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* level: LV_REP for a field repetition (components inside), LV_COMP for a
 * component (subcomponents inside), LV_SUB for a subcomponent. */
static int read_level(xr *r, xmlNodePtr el, int level)
{
    if (level == LV_SUB || !has_numbered_children(el))
        return read_leaf(r, el);
    indexed *v;
    size_t n;
    uint32_t limit = level == LV_REP ? r->lim->max_components
                                     : r->lim->max_subcomponents;
    int rc = collect(r, el, &v, &n, limit);
    if (rc < 0)
        return rc;
    char sep = level == LV_REP ? r->m->cs : r->m->ss;
    int at = 1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i > 0 && v[i].idx == v[i - 1].idx) {
            rc = fail_at(r, v[i].node, HL7_EXML,
                         "component given twice");
            break;
        }
        for (; at < v[i].idx && rc == 0; at++)
            rc = put(r, &sep, 1);
        if (rc == 0)
            rc = read_level(r, v[i].node, level + 1);
    }
    free(v);
    return rc;
}

static int read_segment(xr *r, xmlNodePtr se)
{
    const char *name = (const char *)se->name;
    int is_msh = strcmp(name, "MSH") == 0;
    if (++r->nseg > r->lim->max_segments)
        return fail_at(r, se, HL7_ELIMIT, "too many segments");
    if (is_msh != (r->nseg == 1))
        return fail_at(r, se, HL7_ESEQUENCE,
                       "MSH must be the first segment, and only it");
    indexed *v;
    size_t n;
    int rc = collect(r, se, &v, &n, r->lim->max_fields + 1);
    if (rc < 0)
        return rc;
    rc = put(r, name, 3);
    int at = is_msh ? 3 : 1;
    size_t i = 0;
    if (is_msh) {
        /* MSH-1 and MSH-2 were read already: write them as they are */
        rc = rc ? rc : put(r, r->m->sep, strlen(r->m->sep));
        while (i < n && v[i].idx <= 2)
            i++;
    }
    int prev = 0;
    for (; i < n && rc == 0; i++) {
        if (v[i].idx == prev) {
            rc = put(r, &r->m->rs, 1); /* same field again: a repetition */
        } else {
            for (; at <= v[i].idx && rc == 0; at++)
                rc = put(r, &r->m->fs, 1);
        }
        prev = v[i].idx;
        if (rc == 0)
            rc = read_level(r, v[i].node, LV_REP);
    }
    free(v);
    if (rc == 0)
        rc = put(r, "\r", 1);
    return rc;
}

static xmlNodePtr find_child(xmlNodePtr el, const char *name)
{
    for (xmlNodePtr c = el ? el->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE &&
            strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

/* Segments in document order; group elements (ADT_A01.PATIENT) are
 * walked through. */
static int walk(xr *r, xmlNodePtr el, int depth)
{
    if (depth > 32)
        return fail_at(r, el, HL7_EXML, "groups nested too deep");
    for (xmlNodePtr c = el->children; c; c = c->next) {
        int rc = 0;
        if (c->type == XML_ELEMENT_NODE) {
            const char *nm = (const char *)c->name;
            if (hl7__is_segname(nm, strlen(nm)))
                rc = read_segment(r, c);
            else if (strchr(nm, '.'))
                rc = walk(r, c, depth + 1);
            else
                rc = fail_at(r, c, HL7_EXML, "not a segment or group");
        } else if (c->type == XML_TEXT_NODE && !is_ws(c->content)) {
            rc = fail_at(r, el, HL7_EXML, "text between segments");
        } else if (c->type == XML_ENTITY_REF_NODE) {
            rc = fail_at(r, el, HL7_EXML, "entity references are refused");
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static xmlNodePtr first_segment(xmlNodePtr el, int depth)
{
    for (xmlNodePtr c = el->children; c && depth < 32; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        const char *nm = (const char *)c->name;
        if (hl7__is_segname(nm, strlen(nm)))
            return c;
        if (strchr(nm, '.')) {
            xmlNodePtr s = first_segment(c, depth + 1);
            if (s)
                return s;
        }
    }
    return NULL;
}

int hl7_from_xml(const char *xml, size_t len, const hl7_limits *lim,
                 hl7_buf *out, hl7_error *err)
{
    hl7_limits dl;
    pthread_once(&xml_once, xml_init);
    if (!lim) {
        hl7_limits_default(&dl);
        lim = &dl;
    }
    if (len > lim->max_message * 16 || len > 0x7fffffff)
        return hl7__fail(err, HL7_ETOOBIG, "XML document of %zu bytes is too "
                         "large", len);
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, NULL, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR |
                                  XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    if (!doc) {
        const xmlError *xe = xmlGetLastError();
        return hl7__fail(err, HL7_EXML, "XML is not well-formed: line %d: "
                         "%.120s", xe ? xe->line : 0,
                         xe && xe->message ? xe->message : "parse error");
    }
    int rc = 0;
    hl7_msg *m = NULL;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (doc->intSubset || doc->extSubset) {
        rc = hl7__fail(err, HL7_EXML, "a DTD is not allowed in HL7 XML");
        goto done;
    }
    xmlNodePtr msh = root ? first_segment(root, 0) : NULL;
    if (!msh || strcmp((const char *)msh->name, "MSH") != 0) {
        rc = hl7__fail(err, HL7_ENOMSH, "XML message does not start with "
                       "an MSH segment");
        goto done;
    }
    xmlNodePtr f1 = find_child(msh, "MSH.1"), f2 = find_child(msh, "MSH.2");
    xmlChar *s1 = f1 ? xmlNodeGetContent(f1) : NULL;
    xmlChar *s2 = f2 ? xmlNodeGetContent(f2) : NULL;
    char seps[16] = "";
    snprintf(seps, sizeof(seps), "%.1s%.5s", s1 ? (char *)s1 : "",
             s2 ? (char *)s2 : "");
    size_t sl = strlen(seps);
    /* MSH-2 longer than 5 characters must not be cut silently */
    if (s2 && xmlStrlen(s2) > 5)
        sl = 0;
    xmlFree(s1);
    xmlFree(s2);
    m = hl7__msg_new(lim);
    if (!m) {
        rc = hl7__fail(err, HL7_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = hl7__set_seps(m, seps, sl, err)) < 0)
        goto done;
    /* The charset comes from the raw bytes of MSH-18.1, exactly as the
     * parser reads them, or a value such as 88<hl7bytes hex="EA"/>59/1
     * would be taken for 8859/1 here and not there. */
    xmlNodePtr f18 = find_child(msh, "MSH.18");
    if (f18) {
        hl7_buf raw = { 0 };
        xr r18 = { m, &raw, lim, NULL, 0 };
        if (read_level(&r18, f18, LV_REP) == 0 && raw.data) {
            char *cut = memchr(raw.data, m->cs, raw.len);
            size_t n = cut ? (size_t)(cut - raw.data) : raw.len;
            m->charset = hl7__charset_of(raw.data, n);
        }
        hl7_buf_free(&raw);
    }
    xr r = { m, out, lim, err, 0 };
    size_t start = out->len;
    rc = walk(&r, root, 0);
    if (rc < 0) { /* nothing half-written stays behind */
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
done:
    hl7_msg_free(m);
    xmlFreeDoc(doc);
    return rc;
}
