/* The facility's signature on a GIAMDINHHS file: an enveloped XML-DSig
 * signature (SHA-256 digest of the canonical envelope, RSA-SHA256 or
 * ECDSA-SHA256 over the canonical SignedInfo, the X.509 certificate in
 * KeyInfo) placed inside CHUKYDONVI, which is what the portal's signing
 * clients produce ([S] reference §1.2; the exact node scope is only in the
 * portal's XSD, docs/claims.md says what was chosen).
 *
 * The envelope is streamed: claim_env_begin writes the header, the caller
 * writes HOSO elements with claim_env_write, claim_env_end signs. Bytes are
 * hashed as they pass, so a month of visits is signed without a tree. */
#ifndef CLAIMS_SIGN_H
#define CLAIMS_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct claim_signer {
    EVP_PKEY *key;
    X509 *cert;
    char *cert_b64; /* DER, base64, for KeyInfo */
} claim_signer_t;

/* From PEM text. Returns 0 or -1 with err. */
int claim_signer_load(claim_signer_t *s, const char *key_pem, const char *cert_pem, char *err, size_t errlen);
/* A new RSA-2048 key and a self-signed certificate (10 years) naming the
 * facility; *key_pem and *cert_pem are malloc'd PEM text. */
int claim_signer_generate(const char *facility_code, char **key_pem, char **cert_pem, char *err, size_t errlen);
void claim_signer_free(claim_signer_t *s);

typedef int (*claim_sink_fn)(void *ctx, const void *p, size_t n);
typedef struct claim_env {
    EVP_MD_CTX *md;
    claim_sink_fn sink;
    void *ctx;
    int err;
} claim_env_t;

int claim_env_begin(claim_env_t *e, claim_sink_fn sink, void *ctx, const char *facility, const char *ngaylap,
                    int count);
/* Bytes inside DANHSACHHOSO (HOSO elements in canonical form). */
void claim_env_write(claim_env_t *e, const void *p, size_t n);
/* Closes the envelope with the signature; 0 or -1. Frees e's state. */
int claim_env_end(claim_env_t *e, const claim_signer_t *s);
/* Sinks for a claim_buf_t and a FILE *. */
int claim_sink_buf(void *ctx, const void *p, size_t n);
int claim_sink_file(void *ctx, const void *p, size_t n);

/* Verifies a signed GIAMDINHHS document: digest of the envelope, signature
 * over SignedInfo with the certificate it carries (and, when given, that
 * the certificate is `expected`). Returns 0, or -1 with the reason. */
int claim_verify(const char *xml, size_t len, X509 *expected, char *err, size_t errlen);

#endif
