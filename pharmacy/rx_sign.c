/* The facility's signature on each prescription: Ed25519 (OpenSSL) over a
 * canonical byte string built from the stored rows, so `his rx verify`
 * rebuilds the same bytes from the database and any change to a signed
 * field (an item's quantity, the patient, the dates) breaks the signature.
 *
 * Keys: one per facility in pharmacy.facility_keys, made on first use; the
 * private half is readable by the owner role only (see schema 005 and
 * docs/pharmacy.md for why this and not a file in the data dir). */
#include "pharmacy/pharmacy.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RX_CANON_VERSION "his-rx-v1"

/* ---- canonical form --------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void field(struct buf *b, const char *s)
{
    char num[24];
    size_t n = s ? strlen(s) : 0;
    int k = snprintf(num, sizeof num, "%zu:", n);
    buf_put(b, num, (size_t)k);
    if (n)
        buf_put(b, s, n);
    buf_put(b, ";", 1);
}

static void field_long(struct buf *b, long v)
{
    char s[24];
    snprintf(s, sizeof s, "%ld", v);
    field(b, s);
}

char *rx_canonical(const struct rx_doc *d, size_t *len)
{
    struct buf b = {0};
    field(&b, RX_CANON_VERSION);
    const char *head[] = {d->code, d->type, d->issuer_facility_code, d->visit_ma_lk, d->patient_name,
                          d->patient_birth, d->patient_sex, d->card_number, d->diagnoses, d->doctor,
                          d->issued_at, d->valid_until, d->replaces_code, d->advice};
    for (size_t i = 0; i < sizeof head / sizeof *head; i++)
        field(&b, head[i]);
    field_long(&b, d->nitems);
    for (int i = 0; i < d->nitems; i++) {
        const struct rx_doc_item *it = &d->items[i];
        field(&b, it->drug_code);
        field(&b, it->drug_name);
        field_long(&b, it->quantity);
        field(&b, it->unit);
        field(&b, it->dosage);
        field_long(&b, it->days);
    }
    *len = b.len;
    return b.p;
}

/* ---- keys and signatures ------------------------------------------------------ */

static char *pem_of(EVP_PKEY *k, bool private)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int ok = private ? PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_PUBKEY(bio, k);
    char *out = NULL;
    if (ok) {
        char *data;
        long n = BIO_get_mem_data(bio, &data);
        out = malloc((size_t)n + 1);
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(bio);
    return out;
}

int rx_key_generate(char **private_pem, char **public_pem)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!k)
        return -1;
    *private_pem = pem_of(k, true);
    *public_pem = pem_of(k, false);
    EVP_PKEY_free(k);
    if (!*private_pem || !*public_pem) {
        free(*private_pem);
        free(*public_pem);
        return -1;
    }
    return 0;
}

char *rx_sign_pkey(EVP_PKEY *k, const unsigned char *msg, size_t len)
{
    unsigned char sig[64];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char *out = NULL;
    if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 && EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1) {
        out = malloc(4 * ((siglen + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *)out, sig, (int)siglen);
    }
    EVP_MD_CTX_free(ctx);
    return out;
}

static EVP_PKEY *parse_private(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return k;
}

char *rx_sign(const char *private_pem, const unsigned char *msg, size_t len)
{
    EVP_PKEY *k = parse_private(private_pem);
    if (!k)
        return NULL;
    char *out = rx_sign_pkey(k, msg, len);
    EVP_PKEY_free(k);
    return out;
}

bool rx_verify(const char *public_pem, const unsigned char *msg, size_t len, const char *sig_b64)
{
    if (!public_pem || !sig_b64 || strlen(sig_b64) != 88) /* base64 of 64 bytes */
        return false;
    unsigned char sig[72];
    int n = EVP_DecodeBlock(sig, (const unsigned char *)sig_b64, 88);
    if (n != 66) /* 88 chars decode to 66 bytes: 64 and two padding zeros */
        return false;
    BIO *bio = BIO_new_mem_buf(public_pem, -1);
    EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!k)
        return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 && EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok;
}

/* ---- facility keys -------------------------------------------------------------- */

/* Parsed keys are cached: decoding the PEM costs about 1.7 ms with
 * OpenSSL 3's decoders, an Ed25519 signature about 50 us. */
#define KEY_CACHE 64
static struct {
    long long facility_id;
    EVP_PKEY *key;
} key_cache[KEY_CACHE];
static int key_cache_n;
static pthread_mutex_t key_mu = PTHREAD_MUTEX_INITIALIZER;

static EVP_PKEY *cached_key(long long facility_id)
{
    EVP_PKEY *out = NULL;
    pthread_mutex_lock(&key_mu);
    for (int i = 0; i < key_cache_n; i++)
        if (key_cache[i].facility_id == facility_id && EVP_PKEY_up_ref(key_cache[i].key) == 1)
            out = key_cache[i].key;
    pthread_mutex_unlock(&key_mu);
    return out;
}

static void cache_key(long long facility_id, EVP_PKEY *k)
{
    pthread_mutex_lock(&key_mu);
    if (key_cache_n < KEY_CACHE && EVP_PKEY_up_ref(k) == 1) {
        key_cache[key_cache_n].facility_id = facility_id;
        key_cache[key_cache_n].key = k;
        key_cache_n++;
    }
    pthread_mutex_unlock(&key_mu);
}

EVP_PKEY *rx_facility_key(PGconn *owner, long long facility_id, char *err, size_t errlen)
{
    EVP_PKEY *k = cached_key(facility_id);
    if (k || !owner)
        return k;
    char fid[24];
    snprintf(fid, sizeof fid, "%lld", facility_id);
    char *priv = NULL, *pub = NULL;
    if (rx_key_generate(&priv, &pub) < 0) {
        snprintf(err, errlen, "cannot generate a key");
        return NULL;
    }
    /* Two first signers at once: both insert, the loser's key is dropped
     * and both read the winner's. */
    const char *p[3] = {fid, pub, priv};
    PGresult *r = PQexecParams(owner,
                               "INSERT INTO pharmacy.facility_keys (facility_id, public_key, private_key) "
                               "VALUES ($1, $2, $3) ON CONFLICT (facility_id) DO NOTHING",
                               3, NULL, p, NULL, NULL, 0);
    PQclear(r);
    free(priv);
    free(pub);
    r = PQexecParams(owner, "SELECT private_key FROM pharmacy.facility_keys WHERE facility_id = $1", 1, NULL, p, NULL,
                     NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        snprintf(err, errlen, "cannot read the facility key: %s", PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    k = parse_private(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!k) {
        snprintf(err, errlen, "the stored facility key does not parse");
        return NULL;
    }
    cache_key(facility_id, k);
    return k;
}

/* The rows as they are stored, in the order and format the signature uses:
 * timestamps in UTC to the microsecond, dates ISO. */
static const char *HEAD_SQL =
    "SELECT p.code, p.type, p.issuer_facility_code, v.ma_lk, p.patient_name, p.patient_birth, p.patient_sex,"
    " p.card_number, p.diagnoses::text, coalesce(u.username, '') || '|' || coalesce(p.doctor_name, ''),"
    " to_char(p.issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), p.valid_until::text,"
    " p.replaces_code, p.advice "
    "FROM pharmacy.prescriptions p LEFT JOIN clinical.visits v ON v.id = p.visit_id"
    " LEFT JOIN core.users u ON u.id = p.doctor_id WHERE p.id = $1";
static const char *ITEMS_SQL =
    "SELECT drug_code, drug_name, quantity, unit, dosage, days FROM pharmacy.prescription_items"
    " WHERE prescription_id = $1 ORDER BY seq";

char *rx_canonical_from_db(PGconn *c, long long id, size_t *len, char *err, size_t errlen)
{
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", id);
    const char *p[1] = {sid};
    PGresult *h = PQexecParams(c, HEAD_SQL, 1, NULL, p, NULL, NULL, 0);
    PGresult *it = PQexecParams(c, ITEMS_SQL, 1, NULL, p, NULL, NULL, 0);
    char *out = NULL;
    if (PQresultStatus(h) != PGRES_TUPLES_OK || PQresultStatus(it) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(PQresultStatus(h) != PGRES_TUPLES_OK ? h : it));
    } else if (PQntuples(h) != 1) {
        snprintf(err, errlen, "no such prescription");
    } else {
#define V(r, row, col) (PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col))
        int n = PQntuples(it);
        struct rx_doc_item *items = calloc((size_t)(n ? n : 1), sizeof *items);
        for (int i = 0; i < n; i++) {
            items[i].drug_code = V(it, i, 0);
            items[i].drug_name = V(it, i, 1);
            items[i].quantity = atol(PQgetvalue(it, i, 2));
            items[i].unit = V(it, i, 3);
            items[i].dosage = V(it, i, 4);
            items[i].days = atoi(PQgetvalue(it, i, 5));
        }
        struct rx_doc d = {
            .code = V(h, 0, 0), .type = V(h, 0, 1), .issuer_facility_code = V(h, 0, 2), .visit_ma_lk = V(h, 0, 3),
            .patient_name = V(h, 0, 4), .patient_birth = V(h, 0, 5), .patient_sex = V(h, 0, 6),
            .card_number = V(h, 0, 7), .diagnoses = V(h, 0, 8), .doctor = V(h, 0, 9), .issued_at = V(h, 0, 10),
            .valid_until = V(h, 0, 11), .replaces_code = V(h, 0, 12), .advice = V(h, 0, 13),
            .items = items, .nitems = n,
        };
#undef V
        out = rx_canonical(&d, len);
        free(items);
    }
    PQclear(h);
    PQclear(it);
    return out;
}

char *rx_sign_stored(PGconn *c, EVP_PKEY *key, long long id, char *err, size_t errlen)
{
    size_t len;
    char *canon = rx_canonical_from_db(c, id, &len, err, errlen);
    if (!canon)
        return NULL;
    char *sig = rx_sign_pkey(key, (const unsigned char *)canon, len);
    free(canon);
    if (!sig) {
        snprintf(err, errlen, "signing failed");
        return NULL;
    }
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", id);
    const char *p[2] = {sid, sig};
    PGresult *r = PQexecParams(c, "UPDATE pharmacy.prescriptions SET signature = $2 WHERE id = $1", 2, NULL, p, NULL,
                               NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        free(sig);
        sig = NULL;
    }
    PQclear(r);
    return sig;
}
