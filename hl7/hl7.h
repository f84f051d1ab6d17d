/* hl7.h -- standalone HL7 v2 library: ER7 parse/serialise, escapes,
 * charsets, path accessors, builder, validator, ACK builder, v2.xml
 * encoding and MLLP framing.
 *
 * No database, no network, no HTTP: everything works on memory buffers so
 * that the server engine, the command-line tools and other projects can use
 * the same code.
 *
 * Result convention (one for the whole library): a function returning int
 * gives 0 (or a non-negative count/length) on success and a negative HL7_E*
 * code on failure. When the caller passes an hl7_error pointer it is filled
 * with the code, the position of the fault and a human message. Pointers may
 * be NULL where an error report is not wanted.
 *
 * Indexes are 1-based everywhere, as in the standard (PID-5-1, OBX[2]-5). */
#ifndef HL7_H
#define HL7_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

enum {
    HL7_OK = 0,
    HL7_ENOMEM = -1,     /* out of memory */
    HL7_EEMPTY = -2,     /* nothing but whitespace */
    HL7_ENOMSH = -3,     /* message does not start with MSH */
    HL7_ESEP = -4,       /* bad MSH-1/MSH-2 separators */
    HL7_ESEGNAME = -5,   /* segment id is not three letters/digits */
    HL7_EBINARY = -6,    /* NUL or other control byte in the message */
    HL7_ELIMIT = -7,     /* too many segments/fields/repetitions/... */
    HL7_ETOOBIG = -8,    /* message larger than the size limit */
    HL7_EPATH = -9,      /* malformed accessor path */
    HL7_ENOTFOUND = -10, /* segment named by a path is not there */
    HL7_EREQUIRED = -11, /* required segment or field missing */
    HL7_EDATATYPE = -12, /* value does not match its data type */
    HL7_ESEQUENCE = -13, /* segment out of order (e.g. a second MSH) */
    HL7_EFRAME = -14,    /* MLLP framing error */
    HL7_EXML = -15,      /* XML not well-formed or not v2.xml */
    HL7_ECHARSET = -16,  /* text not representable in the charset */
    HL7_EIO = -17,       /* read/write/socket error (CLI only) */
    HL7_EINVAL = -18,    /* invalid argument */
    HL7_EVALUE = -19     /* value not allowed (table value) */
};

typedef struct hl7_error {
    int code;            /* HL7_E* */
    int hl7_code;        /* HL7 table 0357 code for ERR-3 (100, 101, ...) */
    char severity;       /* 'E' error, 'W' warning */
    char segment[4];     /* segment id at fault, "" if none */
    int seg_pos;         /* position of the segment in the message, 0 none */
    int seg_seq;         /* occurrence of that segment id (ERR-2.2), 0 none */
    int field;           /* field position, 0 none */
    int rep;             /* repetition, 0 none */
    int component;       /* component, 0 none */
    int subcomponent;    /* subcomponent, 0 none */
    size_t offset;       /* byte offset in the parsed input, when known */
    char message[200];   /* human text, no trailing newline */
} hl7_error;

/* Short stable name of a code, e.g. "NO_MSH" (used in fixture .expect). */
const char *hl7_strerror(int code);
/* "PID[1] (segment 3) field 5 component 1: required field missing" */
int hl7_error_format(const hl7_error *e, char *buf, size_t size);

/* ---------------------------------------------------------------- limits */

typedef struct hl7_limits {
    size_t max_message;        /* bytes of one message (default 1 MiB) */
    uint32_t max_segments;     /* per message (default 4096) */
    uint32_t max_fields;       /* per segment (default 512) */
    uint32_t max_reps;         /* per field (default 1024) */
    uint32_t max_components;   /* per repetition (default 128) */
    uint32_t max_subcomponents;/* per component (default 128) */
} hl7_limits;

void hl7_limits_default(hl7_limits *l);

/* ---------------------------------------------------------------- buffers */

/* Growable output buffer; data is always NUL-terminated when len > 0. */
typedef struct hl7_buf {
    char *data;
    size_t len, cap;
} hl7_buf;

int hl7_buf_append(hl7_buf *b, const void *p, size_t n);
void hl7_buf_free(hl7_buf *b);

/* A slice of bytes (not NUL-terminated). */
typedef struct hl7_str {
    const char *ptr;
    size_t len;
} hl7_str;

/* ---------------------------------------------------------------- messages */

typedef struct hl7_msg hl7_msg;
typedef struct hl7_node hl7_node;

enum { HL7_CHARSET_DEFAULT = 0, HL7_CHARSET_UTF8 = 1, HL7_CHARSET_LATIN1 = 2 };

/* Parse one ER7 message. The tree points into buf (no copy): buf must
 * outlive the message. Segment ends may be CR, LF or CRLF; a leading UTF-8
 * BOM is skipped. lim may be NULL for the defaults. */
int hl7_parse(const char *buf, size_t len, const hl7_limits *lim,
              hl7_msg **out, hl7_error *err);
/* Same, but the message keeps its own copy of the input. */
int hl7_parse_copy(const char *buf, size_t len, const hl7_limits *lim,
                   hl7_msg **out, hl7_error *err);
void hl7_msg_free(hl7_msg *m);

/* Serialise from the tree to ER7 with CR segment ends (appends to out).
 * For well-formed input (CR ends) this gives back the input byte for byte. */
int hl7_serialize(const hl7_msg *m, hl7_buf *out);

/* Separators: "|^~\\&" plus the v2.7 truncation char when present. */
const char *hl7_msg_separators(const hl7_msg *m);
int hl7_msg_charset(const hl7_msg *m); /* HL7_CHARSET_* from MSH-18 */

/* Tree walking. Segments are numbered 1..count in message order; node
 * children 1..count. A leaf node (no separator inside) has 0 children and
 * stands for its own first child at every level below. */
size_t hl7_segment_count(const hl7_msg *m);
const hl7_node *hl7_segment(const hl7_msg *m, size_t pos);
hl7_str hl7_segment_name(const hl7_node *seg);
/* Number of fields of a segment (for MSH, MSH-1 and MSH-2 count). */
size_t hl7_field_count(const hl7_msg *m, size_t pos);
/* Field n of segment pos, MSH-1/MSH-2 handled as the standard says; NULL
 * when absent. */
const hl7_node *hl7_field(const hl7_msg *m, size_t pos, size_t n);
size_t hl7_node_count(const hl7_node *n);
const hl7_node *hl7_node_child(const hl7_node *n, size_t i);
hl7_str hl7_node_raw(const hl7_node *n);

/* ---------------------------------------------------------------- paths */

/* Paths: SEG[occ]-FIELD[rep]-COMPONENT-SUBCOMPONENT, '-' or '.' between
 * parts, occurrence and repetition default to 1: "PID-5-1", "PID-3[2]-1",
 * "OBX[2]-5", "MSH-9-2". "PID-3" without [rep] is the whole field with all
 * repetitions; naming a component implies repetition 1. An absent element
 * of a present segment is empty (success, length 0); an absent segment is
 * HL7_ENOTFOUND. */
int hl7_get_raw(const hl7_msg *m, const char *path, hl7_str *out);
/* Decoded value (escapes resolved, converted to UTF-8) written to buf
 * (always NUL-terminated when size > 0); returns the full decoded length
 * like snprintf, or a negative error. */
ssize_t hl7_get(const hl7_msg *m, const char *path, char *buf, size_t size);
/* Decoded value in a malloc'd string (NULL on error; "" when absent). */
char *hl7_get_dup(const hl7_msg *m, const char *path);
/* Number of occurrences of a segment id. */
size_t hl7_segment_occurrences(const hl7_msg *m, const char *name);
/* Position (1-based) of the occ-th segment with this id, 0 if none. */
size_t hl7_segment_find(const hl7_msg *m, const char *name, size_t occ);

/* ---------------------------------------------------------------- escapes */

/* Decode escape sequences of a raw value (\F\ \S\ \T\ \R\ \E\ \P\ \Xhh..\
 * \.br\ -> LF) in the message's charset, output in UTF-8. Unknown or
 * malformed sequences are kept as they are. Returns the full length. */
ssize_t hl7_decode(const hl7_msg *m, const char *raw, size_t len,
                   char *buf, size_t size);
/* Encode UTF-8 text for this message: separators and the escape char
 * become \F\ \S\ \T\ \R\ \E\, line ends \.br\, other control bytes \Xhh\;
 * converted to 8859/1 when MSH-18 says so (HL7_ECHARSET if impossible). */
int hl7_encode(const hl7_msg *m, const char *text, size_t len, hl7_buf *out);

/* ---------------------------------------------------------------- builder */

/* New message holding only MSH-1/MSH-2 (seps NULL = "|^~\\&"). */
int hl7_msg_create(const char *seps, hl7_msg **out);
/* Append a segment; returns its position (>= 1) or an error. */
int hl7_append_segment(hl7_msg *m, const char *name, hl7_error *err);
/* Set the element at path to text (encoded with hl7_encode). Missing
 * fields/components are created; a path naming occurrence count+1 of a
 * segment appends that segment. MSH-1 and MSH-2 cannot be set. */
int hl7_set(hl7_msg *m, const char *path, const char *text, hl7_error *err);
/* Same, but er7 is already encoded and may contain separators of the
 * levels below the element (e.g. "Trần^Văn Minh" for PID-5). */
int hl7_set_raw(hl7_msg *m, const char *path, const char *er7,
                hl7_error *err);

/* ---------------------------------------------------------------- batches */

/* Splits a buffer holding many messages: MLLP frames (0x0B .. 0x1C 0x0D),
 * FHS/BHS/BTS/FTS batches, or plain messages one after another, each
 * starting at MSH. The envelope segments are skipped. */
typedef struct hl7_iter {
    const char *buf;
    size_t len, pos;
    int mllp;                 /* input is MLLP framed */
    const char *frame;        /* current frame's content (MLLP mode) */
    size_t flen, fpos;
    size_t index;             /* messages returned so far */
    size_t max_message;
} hl7_iter;

void hl7_iter_init(hl7_iter *it, const char *buf, size_t len);
/* 1: *msg holds the next message (a slice of the input), 0: end,
 * < 0: framing error (iteration can go on after it). Text before the first
 * MSH of a frame/part is returned as a message so that parsing it reports
 * HL7_ENOMSH. */
int hl7_iter_next(hl7_iter *it, hl7_str *msg, hl7_error *err);

/* ---------------------------------------------------------------- validate */

/* Check header fields, required segments/fields of the known message types
 * (ADT^A01/A03/A04/A08/A28/A31, REF^I12, RRI^I12, ORU^R01, ACK) and basic
 * data types. Returns the number of problems found (0 = valid); the first
 * max of them are stored in errs. */
int hl7_validate(const hl7_msg *m, hl7_error *errs, size_t max);

/* v2.5 data type of a field ("CX") or NULL when not known. */
const char *hl7_field_type(const char *seg, int field);

/* ---------------------------------------------------------------- ACK */

typedef struct hl7_ack_opts {
    const char *code;       /* "AA", "AE", "AR" (or CA/CE/CR); NULL: AA,
                             * or AE when an error of severity E is given */
    const char *control_id; /* MSH-10 of the ACK; NULL: "A" + original */
    const char *timestamp;  /* MSH-7; NULL: now */
    const char *text;       /* MSA-3 text, optional */
} hl7_ack_opts;

/* Build an ACK to orig: MSH sender/receiver swapped, MSA-1 the code
 * (enhanced CA/CE/CR when MSH-15 or MSH-16 is valued), MSA-2 = MSH-10,
 * one ERR segment per error (ERR-2 location, ERR-3 table 0357 code,
 * ERR-4 severity, ERR-8 message). */
int hl7_ack(const hl7_msg *orig, const hl7_ack_opts *opts,
            const hl7_error *errs, size_t nerrs, hl7_msg **out,
            hl7_error *err);

/* ---------------------------------------------------------------- XML */

/* HL7 v2.xml encoding. Fields of known data type use <CX.1> component
 * names, others the generic <PID.3.1>. Escapes other than the separator
 * ones are <escape V=".br"/>; bytes XML cannot carry are
 * <hl7bytes hex="..."/>, so from-xml of to-xml is byte-identical. */
int hl7_to_xml(const hl7_msg *m, hl7_buf *out, hl7_error *err);
/* Back to ER7 (CR segment ends), appended to out. No network, no DTD, no
 * entities. */
int hl7_from_xml(const char *xml, size_t len, const hl7_limits *lim,
                 hl7_buf *out, hl7_error *err);

/* ---------------------------------------------------------------- JSON */

/* The tree as one line of JSON: {"segments":[{"id":"PID","fields":[..]}]}
 * where a leaf is its decoded string and a node with children an array. */
int hl7_to_json(const hl7_msg *m, hl7_buf *out);

/* ---------------------------------------------------------------- MLLP */

#define HL7_MLLP_SB 0x0B
#define HL7_MLLP_EB 0x1C
#define HL7_MLLP_CR 0x0D

/* Append 0x0B msg 0x1C 0x0D to out. */
int hl7_mllp_frame(const char *msg, size_t len, hl7_buf *out);

/* Stateless scan of buf for one frame. Returns 1 with the content at
 * buf[*start .. *start+*flen) and *consumed bytes to drop; 0 when more
 * bytes are needed (*consumed whitespace may be dropped); < 0 on error
 * with *consumed bytes to drop to resynchronise. Whitespace between frames
 * is tolerated. */
int hl7_mllp_scan(const char *buf, size_t len, size_t max_frame,
                  size_t *start, size_t *flen, size_t *consumed,
                  hl7_error *err);

/* Incremental deframer: feed bytes as they arrive, take frames out. */
typedef struct hl7_mllp {
    char *buf;
    size_t len, cap, off;   /* live bytes are buf[off .. len) */
    size_t max_frame;
} hl7_mllp;

void hl7_mllp_init(hl7_mllp *d, size_t max_frame); /* 0 = 1 MiB */
void hl7_mllp_free(hl7_mllp *d);
int hl7_mllp_feed(hl7_mllp *d, const void *data, size_t len);
/* 1: *frame is a complete message (valid until the next feed/next call),
 * 0: need more bytes, < 0: framing error (the bad bytes are dropped, so a
 * caller may go on or close the connection). */
int hl7_mllp_next(hl7_mllp *d, hl7_str *frame, hl7_error *err);
/* Bytes buffered and not yet returned. */
size_t hl7_mllp_pending(const hl7_mllp *d);

#ifdef __cplusplus
}
#endif

#endif
