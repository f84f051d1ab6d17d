/* The claim tables of QĐ 130 as amended by QĐ 4750 (XML1 summary, XML2
 * drugs, XML3 services and supplies, XML4 para-clinical results, XML5
 * clinical progress, XML13 referral paper) and the GIAMDINHHS envelope that
 * carries them base64-encoded in FILEHOSO{LOAIHOSO, NOIDUNGFILE}.
 *
 * The envelope is written in canonical form (XML C14N 1.0: no declaration
 * inside the hash, no self-closing tags, no attributes but the signature's)
 * and streamed through a sink, so a month of visits is hashed as it is
 * written and signed at the end without building a tree (claims/sign.c). */
#ifndef CLAIMS_XML_H
#define CLAIMS_XML_H

#include <stddef.h>
#include <stdio.h>

#include "claims/claim.h"

enum { CLAIM_XML1 = 1, CLAIM_XML2 = 2, CLAIM_XML3 = 3, CLAIM_XML4 = 4, CLAIM_XML5 = 5, CLAIM_XML13 = 13 };
/* The tables written, in the order they go into a HOSO. */
extern const int claim_tables[6];

/* Whether a table applies to the visit (XML2 only with drugs, XML13 only
 * when referred on, ...). XML1 always does. */
bool claim_table_applies(const claim_visit_t *v, int table);
/* The table document (UTF-8, with XML declaration); malloc'd, *len set.
 * NULL when it does not apply. */
char *claim_table_xml(const claim_visit_t *v, int table, size_t *len);
/* Root element name and the element names in template order. */
const char *claim_table_root(int table);
const char *const *claim_table_fields(int table, int *n);

/* A growing byte buffer. */
typedef struct claim_buf {
    char *data;
    size_t len, cap;
} claim_buf_t;
void claim_buf_add(claim_buf_t *b, const void *p, size_t n);
void claim_buf_str(claim_buf_t *b, const char *s);
void claim_buf_free(claim_buf_t *b);
/* Appends the base64 (RFC 4648, no line breaks) of p. */
void claim_buf_base64(claim_buf_t *b, const void *p, size_t n);

/* One HOSO element (canonical form) for a visit's tables: docs[i] is the
 * document of claim_tables[i] or NULL. */
void claim_hoso(claim_buf_t *out, char *const docs[6], const size_t lens[6]);

#endif
