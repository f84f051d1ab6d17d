/* Enveloped XML-DSig for the GIAMDINHHS envelope (see sign.h). Signing
 * hashes the canonical bytes as they are written; verification does not
 * trust that: it re-canonicalises with libxml2 (xmlC14NExecute), so a
 * writer that was not canonical would fail its own tests. */
#include "claims/sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "claims/xml.h"

#define DSIG_NS "http://www.w3.org/2000/09/xmldsig#"
#define C14N_ALG "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
#define RSA_ALG "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define ECDSA_ALG "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
#define SHA256_ALG "http://www.w3.org/2001/04/xmlenc#sha256"
#define ENVELOPED_ALG "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

static void ossl_err(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[200] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s%s%s", what, *buf ? ": " : "", buf);
    ERR_clear_error();
}

static char *b64(const unsigned char *p, size_t n)
{
    claim_buf_t b = {0};
    claim_buf_base64(&b, p, n);
    return b.data;
}

int claim_signer_load(claim_signer_t *s, const char *key_pem, const char *cert_pem, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    BIO *kb = BIO_new_mem_buf(key_pem, -1), *cb = BIO_new_mem_buf(cert_pem, -1);
    s->key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    s->cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    BIO_free(kb);
    BIO_free(cb);
    if (!s->key || !s->cert) {
        ossl_err(err, errlen, !s->key ? "cannot read the signing key" : "cannot read the certificate");
        claim_signer_free(s);
        return -1;
    }
    if (X509_check_private_key(s->cert, s->key) != 1) {
        ossl_err(err, errlen, "the certificate does not match the key");
        claim_signer_free(s);
        return -1;
    }
    int id = EVP_PKEY_get_base_id(s->key);
    if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC) {
        snprintf(err, errlen, "the signing key must be RSA or EC");
        claim_signer_free(s);
        return -1;
    }
    unsigned char *der = NULL;
    int n = i2d_X509(s->cert, &der);
    if (n <= 0) {
        ossl_err(err, errlen, "cannot encode the certificate");
        claim_signer_free(s);
        return -1;
    }
    s->cert_b64 = b64(der, (size_t)n);
    OPENSSL_free(der);
    return 0;
}

void claim_signer_free(claim_signer_t *s)
{
    EVP_PKEY_free(s->key);
    X509_free(s->cert);
    free(s->cert_b64);
    memset(s, 0, sizeof *s);
}

static char *bio_text(BIO *b)
{
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *out = malloc((size_t)n + 1);
    if (out) {
        memcpy(out, p, (size_t)n);
        out[n] = '\0';
    }
    return out;
}

int claim_signer_generate(const char *facility_code, char **key_pem, char **cert_pem, char *err, size_t errlen)
{
    *key_pem = *cert_pem = NULL;
    EVP_PKEY *k = EVP_RSA_gen(2048);
    X509 *c = X509_new();
    BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
    int rc = -1;
    if (!k || !c || !kb || !cb) {
        ossl_err(err, errlen, "cannot generate a key");
        goto out;
    }
    X509_set_version(c, 2);
    unsigned char serial[16];
    BIGNUM *bn = BN_new();
    if (!bn || BN_rand(bn, 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c))) {
        BN_free(bn);
        ossl_err(err, errlen, "cannot make a serial number");
        goto out;
    }
    (void)serial;
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(c), 0);
    X509_gmtime_adj(X509_getm_notAfter(c), 10L * 366 * 24 * 3600);
    X509_set_pubkey(c, k);
    X509_NAME *name = X509_get_subject_name(c);
    char cn[64];
    snprintf(cn, sizeof cn, "CSKCB %s", facility_code);
    X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"VN", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"HIS claims signing", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, name);
    if (X509_sign(c, k, EVP_sha256()) <= 0 || PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_X509(cb, c) != 1) {
        ossl_err(err, errlen, "cannot sign the certificate");
        goto out;
    }
    *key_pem = bio_text(kb);
    *cert_pem = bio_text(cb);
    rc = *key_pem && *cert_pem ? 0 : -1;
out:
    EVP_PKEY_free(k);
    X509_free(c);
    BIO_free(kb);
    BIO_free(cb);
    return rc;
}

/* ---- streaming envelope -------------------------------------------------- */

int claim_sink_buf(void *ctx, const void *p, size_t n)
{
    claim_buf_add(ctx, p, n);
    return 0;
}

int claim_sink_file(void *ctx, const void *p, size_t n)
{
    return fwrite(p, 1, n, ctx) == n ? 0 : -1;
}

static void out_only(claim_env_t *e, const char *s)
{
    if (!e->err && e->sink(e->ctx, s, strlen(s)) < 0)
        e->err = 1;
}

static void hashed(claim_env_t *e, const void *p, size_t n)
{
    if (e->err)
        return;
    if (EVP_DigestUpdate(e->md, p, n) != 1 || e->sink(e->ctx, p, n) < 0)
        e->err = 1;
}

int claim_env_begin(claim_env_t *e, claim_sink_fn sink, void *ctx, const char *facility, const char *ngaylap,
                    int count)
{
    memset(e, 0, sizeof *e);
    e->sink = sink;
    e->ctx = ctx;
    e->md = EVP_MD_CTX_new();
    if (!e->md || EVP_DigestInit_ex(e->md, EVP_sha256(), NULL) != 1)
        return -1;
    /* The declaration is outside the canonical form, hence not hashed. */
    out_only(e, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    char head[256];
    int n = snprintf(head, sizeof head,
                     "<GIAMDINHHS><THONGTINDONVI><MACSKCB>%s</MACSKCB></THONGTINDONVI><THONGTINHOSO>"
                     "<NGAYLAP>%s</NGAYLAP><SOLUONGHOSO>%d</SOLUONGHOSO><DANHSACHHOSO>",
                     facility, ngaylap, count);
    hashed(e, head, (size_t)n);
    return e->err ? -1 : 0;
}

void claim_env_write(claim_env_t *e, const void *p, size_t n)
{
    hashed(e, p, n);
}

/* ECDSA in XML-DSig is r || s, each the size of the order, not DER. */
static int ecdsa_raw(unsigned char *sig, size_t *len, size_t cap, EVP_PKEY *key)
{
    const unsigned char *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)*len);
    if (!es)
        return -1;
    int bits = EVP_PKEY_get_bits(key);
    size_t half = (size_t)(bits + 7) / 8;
    if (2 * half > cap) {
        ECDSA_SIG_free(es);
        return -1;
    }
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(es, &r, &s);
    int ok = BN_bn2binpad(r, sig, (int)half) == (int)half && BN_bn2binpad(s, sig + half, (int)half) == (int)half;
    ECDSA_SIG_free(es);
    *len = 2 * half;
    return ok ? 0 : -1;
}

static unsigned char *ecdsa_der(const unsigned char *raw, size_t len, size_t *outlen)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(len / 2), NULL), *s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
    unsigned char *der = NULL;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL;
        int n = i2d_ECDSA_SIG(es, &der);
        *outlen = n > 0 ? (size_t)n : 0;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return der;
}

static char *signed_info(const char *alg, const char *digest_b64, bool with_ns)
{
    size_t n = strlen(digest_b64) + 1024;
    char *s = malloc(n);
    if (s)
        snprintf(s, n,
                 "<SignedInfo%s><CanonicalizationMethod Algorithm=\"" C14N_ALG "\"></CanonicalizationMethod>"
                 "<SignatureMethod Algorithm=\"%s\"></SignatureMethod><Reference URI=\"\"><Transforms>"
                 "<Transform Algorithm=\"" ENVELOPED_ALG "\"></Transform>"
                 "<Transform Algorithm=\"" C14N_ALG "\"></Transform></Transforms>"
                 "<DigestMethod Algorithm=\"" SHA256_ALG "\"></DigestMethod><DigestValue>%s</DigestValue>"
                 "</Reference></SignedInfo>",
                 with_ns ? " xmlns=\"" DSIG_NS "\"" : "", alg, digest_b64);
    return s;
}

int claim_env_end(claim_env_t *e, const claim_signer_t *s)
{
    static const char tail_a[] = "</DANHSACHHOSO></THONGTINHOSO><CHUKYDONVI>";
    static const char tail_b[] = "</CHUKYDONVI></GIAMDINHHS>";
    int rc = -1;
    unsigned char dg[32], sig[1024];
    unsigned int dlen = 0;
    size_t slen = sizeof sig;
    char *dg64 = NULL, *si_c14n = NULL, *si_doc = NULL, *sig64 = NULL;
    EVP_MD_CTX *sc = NULL;
    hashed(e, tail_a, sizeof tail_a - 1);
    /* The enveloped transform removes the Signature: what is hashed closes
     * CHUKYDONVI at once. */
    if (e->err || EVP_DigestUpdate(e->md, tail_b, sizeof tail_b - 1) != 1 ||
        EVP_DigestFinal_ex(e->md, dg, &dlen) != 1)
        goto out;
    const char *alg = EVP_PKEY_get_base_id(s->key) == EVP_PKEY_EC ? ECDSA_ALG : RSA_ALG;
    dg64 = b64(dg, dlen);
    si_c14n = signed_info(alg, dg64, true);
    si_doc = signed_info(alg, dg64, false);
    sc = EVP_MD_CTX_new();
    if (!si_c14n || !si_doc || !sc || EVP_DigestSignInit(sc, NULL, EVP_sha256(), NULL, s->key) != 1 ||
        EVP_DigestSign(sc, sig, &slen, (const unsigned char *)si_c14n, strlen(si_c14n)) != 1)
        goto out;
    if (EVP_PKEY_get_base_id(s->key) == EVP_PKEY_EC && ecdsa_raw(sig, &slen, sizeof sig, s->key) < 0)
        goto out;
    sig64 = b64(sig, slen);
    out_only(e, "<Signature xmlns=\"" DSIG_NS "\">");
    out_only(e, si_doc);
    out_only(e, "<SignatureValue>");
    out_only(e, sig64);
    out_only(e, "</SignatureValue><KeyInfo><X509Data><X509Certificate>");
    out_only(e, s->cert_b64);
    out_only(e, "</X509Certificate></X509Data></KeyInfo></Signature>");
    out_only(e, tail_b);
    out_only(e, "\n");
    rc = e->err ? -1 : 0;
out:
    EVP_MD_CTX_free(sc);
    EVP_MD_CTX_free(e->md);
    e->md = NULL;
    free(dg64);
    free(si_c14n);
    free(si_doc);
    free(sig64);
    return rc;
}

/* ---- verification --------------------------------------------------------- */

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

static bool is_dsig(xmlNodePtr n)
{
    return n && n->ns && strcmp((const char *)n->ns->href, DSIG_NS) == 0;
}

static char *attr(xmlNodePtr n, const char *name)
{
    return n ? (char *)xmlGetProp(n, BAD_CAST name) : NULL;
}

/* Node-set of the SignedInfo subtree for xmlC14NExecute: a namespace node is
 * passed with its element as parent. */
static int in_subtree(void *root, xmlNodePtr node, xmlNodePtr parent)
{
    xmlNodePtr n = node && node->type == XML_NAMESPACE_DECL ? parent : node;
    for (; n; n = n->parent)
        if (n == root)
            return 1;
    return 0;
}

static int decode64(const char *s, unsigned char **out, size_t *len)
{
    size_t n = strlen(s);
    unsigned char *b = malloc(n + 1);
    char *clean = calloc(1, n + 1);
    if (!b || !clean) {
        free(b);
        free(clean);
        return -1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '\n' && s[i] != '\r' && s[i] != ' ' && s[i] != '\t')
            clean[m++] = s[i];
    int r = EVP_DecodeBlock(b, (unsigned char *)clean, (int)m);
    if (r < 0) {
        free(b);
        free(clean);
        return -1;
    }
    size_t pad = m >= 1 && clean[m - 1] == '=' ? (m >= 2 && clean[m - 2] == '=' ? 2 : 1) : 0;
    free(clean);
    *out = b;
    *len = (size_t)r - pad;
    return 0;
}

int claim_verify(const char *xml, size_t len, X509 *expected, char *err, size_t errlen)
{
    int rc = -1;
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "claim.xml", "utf-8", XML_PARSE_NONET | XML_PARSE_HUGE);
    xmlChar *si_text = NULL, *doc_c14n = NULL, *dv = NULL, *sv = NULL, *ct = NULL;
    char *uri = NULL, *calg = NULL, *salg = NULL, *dalg = NULL;
    unsigned char *sig = NULL, *cder = NULL, *raw_der = NULL;
    size_t siglen = 0, clen = 0;
    X509 *cert = NULL;
    EVP_MD_CTX *vc = NULL;
    if (!doc) {
        snprintf(err, errlen, "not well-formed XML");
        goto out;
    }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr cky = root && !strcmp((const char *)root->name, "GIAMDINHHS") ? child(root, "CHUKYDONVI") : NULL;
    xmlNodePtr sg = child(cky, "Signature");
    xmlNodePtr si = child(sg, "SignedInfo");
    if (!is_dsig(sg) || !is_dsig(si)) {
        snprintf(err, errlen, "no XML-DSig Signature in GIAMDINHHS/CHUKYDONVI");
        goto out;
    }
    xmlNodePtr ref = child(si, "Reference");
    calg = attr(child(si, "CanonicalizationMethod"), "Algorithm");
    salg = attr(child(si, "SignatureMethod"), "Algorithm");
    dalg = attr(child(ref, "DigestMethod"), "Algorithm");
    uri = attr(ref, "URI");
    if (!calg || strcmp(calg, C14N_ALG) || !salg || (strcmp(salg, RSA_ALG) && strcmp(salg, ECDSA_ALG)) ||
        !dalg || strcmp(dalg, SHA256_ALG) || !uri || *uri) {
        snprintf(err, errlen, "unsupported SignedInfo (canonicalisation, algorithms or reference)");
        goto out;
    }
    dv = xmlNodeGetContent(child(ref, "DigestValue"));
    sv = xmlNodeGetContent(child(sg, "SignatureValue"));
    ct = xmlNodeGetContent(child(child(child(sg, "KeyInfo"), "X509Data"), "X509Certificate"));
    if (!dv || !sv || !ct || decode64((char *)sv, &sig, &siglen) < 0 || decode64((char *)ct, &cder, &clen) < 0) {
        snprintf(err, errlen, "DigestValue, SignatureValue or X509Certificate missing or not base64");
        goto out;
    }
    const unsigned char *cp = cder;
    cert = d2i_X509(NULL, &cp, (long)clen);
    if (!cert || (expected && X509_cmp(cert, expected) != 0)) {
        snprintf(err, errlen, cert ? "signed with another certificate" : "unreadable certificate");
        goto out;
    }
    xmlOutputBufferPtr ob = xmlAllocOutputBuffer(NULL);
    int silen = -1;
    if (ob && xmlC14NExecute(doc, in_subtree, si, XML_C14N_1_0, NULL, 0, ob) >= 0) {
        silen = (int)xmlOutputBufferGetSize(ob);
        si_text = xmlStrndup(xmlOutputBufferGetContent(ob), silen);
    }
    if (ob)
        xmlOutputBufferClose(ob);
    if (silen < 0 || !si_text) {
        snprintf(err, errlen, "cannot canonicalise SignedInfo");
        goto out;
    }
    EVP_PKEY *pk = X509_get0_pubkey(cert);
    const unsigned char *sp = sig;
    size_t splen = siglen;
    if (pk && EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
        raw_der = ecdsa_der(sig, siglen, &splen);
        sp = raw_der;
    }
    vc = EVP_MD_CTX_new();
    if (!pk || !sp || !vc || EVP_DigestVerifyInit(vc, NULL, EVP_sha256(), NULL, pk) != 1 ||
        EVP_DigestVerify(vc, sp, splen, si_text, (size_t)silen) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "the signature over SignedInfo does not verify");
        goto out;
    }
    /* Enveloped-signature transform, then canonicalise the whole document. */
    xmlUnlinkNode(sg);
    xmlFreeNode(sg);
    int dn = xmlC14NDocDumpMemory(doc, NULL, XML_C14N_1_0, NULL, 0, &doc_c14n);
    unsigned char dg[32];
    unsigned int dl = 0;
    unsigned char *want = NULL;
    size_t wl = 0;
    if (dn < 0 || EVP_Digest(doc_c14n, (size_t)dn, dg, &dl, EVP_sha256(), NULL) != 1 ||
        decode64((char *)dv, &want, &wl) < 0) {
        snprintf(err, errlen, "cannot digest the document");
        goto out;
    }
    bool same = wl == dl && memcmp(want, dg, dl) == 0;
    free(want);
    if (!same) {
        snprintf(err, errlen, "the document was changed after signing (digest mismatch)");
        goto out;
    }
    rc = 0;
out:
    EVP_MD_CTX_free(vc);
    X509_free(cert);
    OPENSSL_free(raw_der);
    free(sig);
    free(cder);
    xmlFree(si_text);
    xmlFree(doc_c14n);
    xmlFree(dv);
    xmlFree(sv);
    xmlFree(ct);
    xmlFree(uri);
    xmlFree(calg);
    xmlFree(salg);
    xmlFree(dalg);
    xmlFreeDoc(doc);
    return rc;
}
