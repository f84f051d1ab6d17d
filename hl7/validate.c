/* validate.c -- structural and data type checks of a parsed message.
 *
 * The checks are what a receiver needs before it can act on a message and
 * answer it: header fields, the segments each known message type cannot do
 * without, required fields, table values and data types (DT, DTM/TS, NM,
 * SI) of the fields whose type is known (types.c). Every problem is an
 * hl7_error naming segment, field and component, ready for an ERR segment. */
#include "hl7/hl7_int.h"

#include <stdio.h>
#include <string.h>

typedef struct vctx {
    const hl7_msg *m;
    hl7_error *errs;
    size_t max, count;
} vctx;

typedef struct seg_at {
    const char *name;
    int pos, seq;
} seg_at;

static void add(vctx *v, int code, int hl7_code, const seg_at *s, int field,
                int rep, int comp, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
static int is_dtm(const char *p, size_t n);
static int is_dt(const char *p, size_t n);
static int is_nm(const char *p, size_t n);
static int is_si(const char *p, size_t n);
static int in_list(const char *p, size_t n, const char *list);
static void check_header(vctx *v);
static void check_structure(vctx *v);
static void check_segment(vctx *v, const seg_at *s);
static void check_value(vctx *v, const seg_at *s, int field, int rep,
                        int comp, const char *type, const hl7_node *nd);
static hl7_str get(const hl7_msg *m, size_t pos, int field, int rep,
                   int comp);

/* Message types the validator knows and the segments they require. */
static const struct {
    const char *type, *event, *required;
} msg_rules[] = {
    { "ADT", "A01", "EVN PID PV1" }, { "ADT", "A03", "EVN PID PV1" },
    { "ADT", "A04", "EVN PID PV1" }, { "ADT", "A08", "EVN PID PV1" },
    { "ADT", "A28", "EVN PID PV1" }, { "ADT", "A31", "EVN PID PV1" },
    { "REF", "I12", "PRD PID" },     { "RRI", "I12", "PRD PID" },
    { "ORU", "R01", "OBR" },         { "ACK", NULL, "MSA" },
};

/* Fields required wherever their segment appears, and table values. */
static const struct {
    const char *seg;
    int field, comp;
    const char *values; /* NULL: only required; "": not required, checked */
} field_rules[] = {
    { "EVN", 2, 1, NULL },
    { "PID", 3, 1, NULL },
    { "PID", 5, 1, NULL },
    { "PID", 8, 1, " F M O U A N " },
    { "PV1", 2, 1, NULL },
    { "PV1", 2, 1, " E I O P R B C N U " },
    { "MSA", 1, 1, NULL },
    { "MSA", 1, 1, " AA AE AR CA CE CR " },
    { "MSA", 2, 1, NULL },
    { "OBR", 4, 1, NULL },
    { "OBX", 3, 1, NULL },
    { "OBX", 11, 1, NULL },
    { "OBX", 2, 1, " AD CE CF CK CN CP CWE CX DT DTM ED FT ID MO NM PN RP SN "
                   "ST TM TN TS TX XAD XCN XON XPN XTN " },
    { "OBX", 11, 1, " C D F I N O P R S U W X " },
    { "PRD", 1, 1, NULL },
    { "DG1", 1, 1, NULL },
    { "DG1", 6, 1, NULL },
    { "ERR", 3, 1, NULL },
    { "ERR", 4, 1, NULL },
    { "ERR", 4, 1, " E W I F " },
};

static void add(vctx *v, int code, int hl7_code, const seg_at *s, int field,
                int rep, int comp, const char *fmt, ...)
{
    if (v->count < v->max) {
        hl7_error *e = &v->errs[v->count];
        memset(e, 0, sizeof(*e));
        e->code = code;
        e->hl7_code = hl7_code;
        e->severity = 'E';
        if (s)
            hl7__err_at(e, s->name, s->pos, s->seq, field, rep, comp, 0);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
    }
    v->count++;
}

/* ---------------------------------------------------------------- types */

static int digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

static int num(const char *p, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    return v;
}

static int days_in(int y, int mo)
{
    static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[mo - 1];
}

/* YYYY[MM[DD]] with real months and days. */
static int is_dt(const char *p, size_t n)
{
    if ((n != 4 && n != 6 && n != 8) || !digits(p, n))
        return 0;
    if (n >= 6) {
        int mo = num(p + 4, 2);
        if (mo < 1 || mo > 12)
            return 0;
        if (n == 8) {
            int d = num(p + 6, 2);
            if (d < 1 || d > days_in(num(p, 4), mo))
                return 0;
        }
    }
    return 1;
}

/* YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ] */
static int is_dtm(const char *p, size_t n)
{
    size_t d = 0;
    while (d < n && p[d] >= '0' && p[d] <= '9')
        d++;
    if (d < 4 || d > 14 || d % 2 != 0)
        return 0;
    if (!is_dt(p, d < 8 ? d : 8))
        return 0;
    if (d >= 10 && num(p + 8, 2) > 23)
        return 0;
    if (d >= 12 && num(p + 10, 2) > 59)
        return 0;
    if (d >= 14 && num(p + 12, 2) > 59)
        return 0;
    size_t i = d;
    if (i < n && p[i] == '.') {
        if (d != 14)
            return 0;
        size_t f = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i - f < 1 || i - f > 4)
            return 0;
    }
    if (i < n && (p[i] == '+' || p[i] == '-')) {
        if (n - i != 5 || !digits(p + i + 1, 4) || num(p + i + 1, 2) > 23 ||
            num(p + i + 3, 2) > 59)
            return 0;
        i = n;
    }
    return i == n;
}

/* [+-]digits[.digits] or [+-].digits */
static int is_nm(const char *p, size_t n)
{
    size_t i = 0, dg = 0;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        i++;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++, dg++;
    if (i < n && p[i] == '.') {
        i++;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++, dg++;
    }
    return dg > 0 && i == n;
}

static int is_si(const char *p, size_t n)
{
    return n > 0 && n <= 4 && digits(p, n);
}

/* list is " A B C " so that a value matches only whole words. */
static int in_list(const char *p, size_t n, const char *list)
{
    char w[16];
    if (n == 0 || n > sizeof(w) - 3)
        return 0;
    w[0] = ' ';
    memcpy(w + 1, p, n);
    w[n + 1] = ' ';
    w[n + 2] = '\0';
    return strstr(list, w) != NULL;
}

/* ---------------------------------------------------------------- checks */

static hl7_str get(const hl7_msg *m, size_t pos, int field, int rep,
                   int comp)
{
    hl7_str s = { "", 0 };
    const hl7_node *n = hl7_field(m, pos, (size_t)field);
    if (n && rep)
        n = hl7__child(n, (size_t)rep);
    if (n && comp)
        n = hl7__child(n, (size_t)comp);
    if (n) {
        s.ptr = n->p;
        s.len = n->len;
    }
    return s;
}

static void check_header(vctx *v)
{
    const hl7_msg *m = v->m;
    seg_at msh = { "MSH", 1, 1 };
    hl7_str s;
    if ((s = get(m, 1, 7, 1, 1)).len == 0)
        add(v, HL7_EREQUIRED, 101, &msh, 7, 1, 1,
            "MSH-7 date/time of message is missing");
    if ((s = get(m, 1, 9, 1, 1)).len == 0)
        add(v, HL7_EREQUIRED, 101, &msh, 9, 1, 1,
            "MSH-9 message type is missing");
    else if (!(s.len == 3 && memcmp(s.ptr, "ACK", 3) == 0) &&
             get(m, 1, 9, 1, 2).len == 0)
        add(v, HL7_EREQUIRED, 101, &msh, 9, 1, 2,
            "MSH-9 trigger event is missing");
    if (get(m, 1, 10, 0, 0).len == 0)
        add(v, HL7_EREQUIRED, 101, &msh, 10, 1, 0,
            "MSH-10 message control id is missing");
    s = get(m, 1, 11, 1, 1);
    if (s.len == 0)
        add(v, HL7_EREQUIRED, 101, &msh, 11, 1, 1,
            "MSH-11 processing id is missing");
    else if (!in_list(s.ptr, s.len, " P D T "))
        add(v, HL7_EVALUE, 202, &msh, 11, 1, 1,
            "MSH-11 processing id \"%.*s\" is not P, D or T",
            (int)(s.len > 20 ? 20 : s.len), s.ptr);
    s = get(m, 1, 12, 1, 1);
    if (s.len == 0)
        add(v, HL7_EREQUIRED, 101, &msh, 12, 1, 1,
            "MSH-12 version id is missing");
    else if (s.len < 3 || memcmp(s.ptr, "2.", 2) != 0)
        add(v, HL7_EVALUE, 203, &msh, 12, 1, 1,
            "MSH-12 version \"%.*s\" is not an HL7 v2 version",
            (int)(s.len > 20 ? 20 : s.len), s.ptr);
}

static void check_structure(vctx *v)
{
    const hl7_msg *m = v->m;
    hl7_str type = get(m, 1, 9, 1, 1), event = get(m, 1, 9, 1, 2);
    for (size_t i = 0; i < sizeof(msg_rules) / sizeof(msg_rules[0]); i++) {
        const char *t = msg_rules[i].type, *e = msg_rules[i].event;
        if (type.len != 3 || memcmp(type.ptr, t, 3) != 0)
            continue;
        if (e && (event.len != 3 || memcmp(event.ptr, e, 3) != 0))
            continue;
        for (const char *r = msg_rules[i].required; *r; r += 3) {
            while (*r == ' ')
                r++;
            char name[4] = { r[0], r[1], r[2], '\0' };
            if (!hl7_segment_find(m, name, 1)) {
                seg_at s = { name, 0, 0 };
                add(v, HL7_EREQUIRED, 100, &s, 0, 0, 0,
                    "required segment %s is missing in %.*s^%.*s", name,
                    (int)type.len, type.ptr, (int)event.len, event.ptr);
            }
        }
        break;
    }
}

static void check_value(vctx *v, const seg_at *s, int field, int rep,
                        int comp, const char *type, const hl7_node *nd)
{
    const char *p = nd->p;
    size_t n = nd->len;
    int ok = 1;
    if (n == 0)
        return;
    if (nd->n != 0 && strcmp(type, "TS") != 0)
        ok = 0; /* a primitive with separators inside */
    else if (strcmp(type, "DT") == 0)
        ok = is_dt(p, n);
    else if (strcmp(type, "DTM") == 0)
        ok = is_dtm(p, n);
    else if (strcmp(type, "NM") == 0)
        ok = is_nm(p, n);
    else if (strcmp(type, "SI") == 0)
        ok = is_si(p, n);
    else if (strcmp(type, "TS") == 0) {
        const hl7_node *c = hl7__child(nd, 1);
        ok = c && (c->len == 0 || (c->n == 0 && is_dtm(c->p, c->len)));
        comp = 1;
    }
    if (!ok)
        add(v, HL7_EDATATYPE, 102, s, field, rep, comp,
            "%s-%d is not a valid %s: \"%.*s\"", s->name, field, type,
            (int)(n > 40 ? 40 : n), p);
}

static void check_segment(vctx *v, const seg_at *s)
{
    const hl7_msg *m = v->m;
    size_t nf = hl7_field_count(m, (size_t)s->pos);
    int is_msh = strcmp(s->name, "MSH") == 0;
    for (size_t i = 0; i < sizeof(field_rules) / sizeof(field_rules[0]); i++) {
        if (strcmp(field_rules[i].seg, s->name) != 0)
            continue;
        int f = field_rules[i].field, c = field_rules[i].comp;
        hl7_str val = get(m, (size_t)s->pos, f, 1, c);
        if (!field_rules[i].values) {
            if (get(m, (size_t)s->pos, f, 0, 0).len == 0)
                add(v, HL7_EREQUIRED, 101, s, f, 1, 0,
                    "%s-%d is required", s->name, f);
        } else if (val.len && !in_list(val.ptr, val.len,
                                       field_rules[i].values)) {
            add(v, HL7_EVALUE, 103, s, f, 1, c,
                "%s-%d value \"%.*s\" is not in its table", s->name, f,
                (int)(val.len > 20 ? 20 : val.len), val.ptr);
        }
    }
    char t[4];
    for (size_t f = is_msh ? 3 : 1; f <= nf; f++) {
        const char *type = hl7_field_type(s->name, (int)f);
        const hl7_node *fn = hl7_field(m, (size_t)s->pos, f);
        if (strcmp(s->name, "OBX") == 0 && f == 5) {
            /* OBX-5 takes the type named in OBX-2 */
            hl7_str vt = get(m, (size_t)s->pos, 2, 1, 1);
            if (vt.len >= 2 && vt.len <= 3) {
                memcpy(t, vt.ptr, vt.len);
                t[vt.len] = '\0';
                type = t;
            }
        }
        if (!type || !fn || fn->len == 0)
            continue;
        if (!hl7__is_primitive(type) && strcmp(type, "TS") != 0)
            continue;
        size_t reps = fn->n ? fn->n : 1;
        for (size_t r = 1; r <= reps; r++) {
            const hl7_node *rn = hl7__child(fn, r);
            if (rn)
                check_value(v, s, (int)f, (int)r, 0, type, rn);
        }
    }
}

int hl7_validate(const hl7_msg *m, hl7_error *errs, size_t max)
{
    vctx v = { m, errs, max, 0 };
    if (m->nseg == 0 || memcmp(m->seg[0]->c[0].p, "MSH", 3) != 0) {
        seg_at s = { "MSH", 1, 0 };
        add(&v, HL7_ENOMSH, 100, &s, 0, 0, 0,
            "message does not start with MSH");
        return (int)v.count;
    }
    check_header(&v);
    check_structure(&v);
    /* occurrence counters per segment id, for ERR-2.2; few distinct ids
     * in a message, so a short list does */
    struct { char name[4]; int seen; } ids[64];
    size_t nids = 0;
    for (uint32_t i = 0; i < m->nseg; i++) {
        char name[4];
        memcpy(name, m->seg[i]->c[0].p, 3);
        name[3] = '\0';
        size_t k;
        for (k = 0; k < nids && strcmp(ids[k].name, name) != 0; k++)
            ;
        if (k == nids && nids < 64) {
            memcpy(ids[nids].name, name, 4);
            ids[nids++].seen = 0;
        }
        int seq = 0;
        if (k < nids)
            seq = ++ids[k].seen;
        else /* more than 64 distinct ids: count the slow way */
            for (uint32_t j = 0; j <= i; j++)
                seq += memcmp(m->seg[j]->c[0].p, name, 3) == 0;
        seg_at s = { name, (int)i + 1, seq };
        if (i > 0 && strcmp(name, "MSH") == 0)
            add(&v, HL7_ESEQUENCE, 100, &s, 0, 0, 0,
                "second MSH segment in the message");
        check_segment(&v, &s);
    }
    return v.count > 0x7fffffff ? 0x7fffffff : (int)v.count;
}
