/* hl7_int.h -- internals shared by the files of libhl7 (not installed). */
#ifndef HL7_INT_H
#define HL7_INT_H

#include "hl7/hl7.h"

#include <stdarg.h>

/* Tree levels: a segment splits into fields by the field separator, a field
 * into repetitions, a repetition into components, a component into
 * subcomponents. */
enum { LV_SEG = 1, LV_FIELD = 2, LV_REP = 3, LV_COMP = 4, LV_SUB = 5 };

/* One node of the tree. p/len is the raw (still escaped) text of the node;
 * n == 0 means a leaf: no separator of any lower level inside. A segment
 * node always has children: child 0 is the segment id, child i field i
 * (for MSH, child i is MSH-(i+1) because MSH-1 is the separator itself). */
struct hl7_node {
    const char *p;
    uint32_t len;
    uint32_t n;
    struct hl7_node *c;
};

/* Chunked arena: pointers handed out stay valid until the message is
 * freed, which is what lets nodes point at each other and at copies. */
typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, size;
    char data[];
} arena_chunk;

struct hl7_msg {
    arena_chunk *arena;
    arena_chunk *arena0; /* first chunk, allocated with the message */
    char sep[8];        /* field, comp, rep, esc, sub[, trunc], NUL */
    char fs, cs, rs, es, ss, ts; /* the same, by name; ts 0 if none */
    hl7_node **seg;     /* segments in order (seg_local while it fits) */
    uint32_t nseg, segcap;
    hl7_node *seg_local[32];
    hl7_node msh1;      /* MSH-1: points at sep[0] */
    int charset;
    hl7_limits lim;
    char *owned;        /* input copy of hl7_parse_copy */
};

/* util.c */
void *hl7__alloc_slow(hl7_msg *m, size_t n);
/* Bump allocation, 8-byte aligned, from the message's arena. */
static inline void *hl7__alloc(hl7_msg *m, size_t n)
{
    arena_chunk *c = m->arena;
    n = n ? (n + 7) & ~(size_t)7 : 8;
    if (c && c->size - c->used >= n) {
        void *p = c->data + c->used;
        c->used += n;
        return p;
    }
    return hl7__alloc_slow(m, n);
}
char *hl7__strdup(hl7_msg *m, const char *p, size_t n);
void hl7__arena_free(hl7_msg *m);
int hl7__fail(hl7_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hl7__err_at(hl7_error *e, const char *seg, int seg_pos, int seg_seq,
                 int field, int rep, int comp, int sub);
int hl7__buf_putc(hl7_buf *b, char c);
int hl7__buf_puts(hl7_buf *b, const char *s);
int hl7__buf_printf(hl7_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int hl7__charset_of(const char *p, size_t len);
int hl7__utf8_len(const unsigned char *s, size_t len);
int hl7__is_segname(const char *p, size_t len);
int hl7__levelsep(const hl7_msg *m, int level);

/* parse.c */
int hl7__split(hl7_msg *m, hl7_node *nd, int level, hl7_error *err,
               const char *segname, int seg_pos, int field, int rep,
               int comp);
int hl7__write_node(const hl7_msg *m, const hl7_node *nd, int level,
                    hl7_buf *out);
void hl7__update_charset(hl7_msg *m);
hl7_msg *hl7__msg_new(const hl7_limits *lim);
int hl7__push_segment(hl7_msg *m, hl7_node *seg);
int hl7__set_seps(hl7_msg *m, const char *fs_and_enc, size_t len,
                  hl7_error *err);
const hl7_node *hl7__child(const hl7_node *n, size_t i);

/* path.c */
typedef struct hl7_path {
    char seg[4];
    int occ;            /* >= 1 */
    int field;          /* 0 = whole segment */
    int rep;            /* 0 = not given */
    int comp, sub;      /* 0 = not given */
} hl7_path;
int hl7__path_parse(const char *s, hl7_path *p);

/* escape.c */
/* Decoder used by hl7_decode and the XML writer: calls back for plain
 * runs and for escape sequences. */
typedef struct dec_sink {
    char *buf;
    size_t size, len;
} dec_sink;
void hl7__sink_put(dec_sink *s, const char *p, size_t n);
int hl7__latin1_from_utf8(const char *p, size_t n, hl7_buf *out);

/* types.c */
const char *hl7__comp_type(const char *type, int comp);
int hl7__is_primitive(const char *type);

#endif
