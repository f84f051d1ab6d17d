/* Pharmacy module: e-prescriptions, dispensing, stock and the national
 * portals. The pure rules (code format, limits, codings, signatures) have
 * no database or HTTP dependency so they are unit-tested alone. */
#ifndef PHARMACY_PHARMACY_H
#define PHARMACY_PHARMACY_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>
#include <openssl/evp.h>

struct app;

/* ---- rx_rules.c: the prescription code and the limits ------------------- */

#define RX_CODE_LEN 14          /* 5 facility + 7 random + '-' + type */
#define RX_RANDOM_LEN 7
#define RX_VALID_DAYS 5         /* to be filled within 5 days of issue */
#define RX_ALPHABET "0123456789abcdefghijklmnopqrstuvwxyz"

/* Drug prescription classes (catalog.drugs.rx_class). */
enum rx_class { RX_CLASS_OTHER, RX_CLASS_NARCOTIC, RX_CLASS_PSYCHOTROPIC, RX_CLASS_HERBAL, RX_CLASS_INVALID };

enum rx_class rx_class_parse(const char *s);
const char *rx_class_name(enum rx_class c);
/* The prescription type letter a class must be prescribed on (N, H, C, T). */
char rx_class_type(enum rx_class c);
/* Accepts N/H/C/T in either case; returns the upper-case letter or 0. */
char rx_type_parse(const char *s);

/* Fills out (RX_CODE_LEN + 1 bytes) with facility code + 7 characters of
 * [0-9a-z] from OpenSSL's RAND_bytes (rejection sampling: no modulo bias)
 * + '-' + type. Returns 0, or -1 if the facility code is not 5 characters
 * of [0-9A-Za-z], the type is not N/H/C/T, or the random source failed. */
int rx_code_generate(const char *facility_code, char type, char out[RX_CODE_LEN + 1]);
/* ^[0-9A-Za-z]{5}[0-9a-z]{7}-[NHCTnhct]$ */
bool rx_code_valid(const char *code);

/* Diagnoses that allow the longer limits: the demo subset of the TT 26/2025
 * PL VII chronic-disease list (docs/pharmacy.md), by ICD-10 code. */
bool rx_icd10_chronic(const char *icd10);
/* Cancer (C00-C97) or HIV disease (B20-B24): the narcotic exception. */
bool rx_icd10_cancer_or_aids(const char *icd10);

/* What the visit's diagnoses allow. */
struct rx_context {
    bool chronic;           /* a listed chronic disease */
    bool cancer_or_aids;
};
/* The most days one item of this type may cover; why is a short English
 * tag for the message ("acute", "chronic", ...). */
int rx_max_days(char type, const struct rx_context *ctx, const char **why);

/* ---- codes.c: codings that differ between interfaces -------------------- */

/* Sex: the HIS stores "male" | "female" | "unknown". */
int codes_sex_to_claims(const char *sex);    /* XML1 GIOI_TINH: 1 male, 2 female, 3 undetermined */
int codes_sex_to_rx_portal(const char *sex); /* gui-don-thuoc gioi_tinh: 1 undetermined, 2 male, 3 female */
const char *codes_sex_from_rx_portal(int v); /* back: NULL if out of range */
const char *codes_sex_from_claims(int v);
/* Prescription type letter <-> the portal's loai_don_thuoc (lower case; the
 * herbal decoction T is sent as "y", the YHCT value real clients use). */
const char *codes_type_to_portal(char type);
char codes_type_from_portal(const char *loai);

/* ---- rx_sign.c: the facility's signature --------------------------------- */

/* One prescription's signed content. */
struct rx_doc_item {
    const char *drug_code, *drug_name, *unit, *dosage;
    long quantity;
    int days;
};
struct rx_doc {
    const char *code, *type, *issuer_facility_code, *visit_ma_lk, *patient_name, *patient_birth, *patient_sex,
        *card_number, *diagnoses, *doctor, *issued_at, *valid_until, *replaces_code, *advice;
    const struct rx_doc_item *items;
    int nitems;
};
/* The canonical byte string signed: a version tag, then every field and
 * every item field as "<octet length>:<bytes>;" in a fixed order, so no
 * separator can be forged. malloc'd; *len set. */
char *rx_canonical(const struct rx_doc *d, size_t *len);
/* New Ed25519 key as PEM strings (malloc'd). */
int rx_key_generate(char **private_pem, char **public_pem);
/* Base64 signature of msg (malloc'd), or NULL. */
char *rx_sign(const char *private_pem, const unsigned char *msg, size_t len);
char *rx_sign_pkey(EVP_PKEY *key, const unsigned char *msg, size_t len);
bool rx_verify(const char *public_pem, const unsigned char *msg, size_t len, const char *sig_b64);

/* The facility's private key (a reference the caller frees with
 * EVP_PKEY_free), made and stored on first use through an owner connection,
 * cached parsed per process. With owner NULL only the cache is asked. NULL
 * on error. */
EVP_PKEY *rx_facility_key(PGconn *owner, long long facility_id, char *err, size_t errlen);
/* Builds the canonical form of prescription `id` from the database rows
 * (any connection that can read them). malloc'd; NULL if absent. */
char *rx_canonical_from_db(PGconn *c, long long id, size_t *len, char *err, size_t errlen);
/* Signs prescription `id` in the transaction on `c` with the facility's
 * key and stores the signature; returns it (malloc'd) or NULL. */
char *rx_sign_stored(PGconn *c, EVP_PKEY *key, long long id, char *err, size_t errlen);

/* ---- the server side ----------------------------------------------------- */

void drugs_register_routes(void);
void rx_register_routes(void);
void dispense_register_routes(void);
void stock_register_routes(void);
/* Registers the outbox delivery functions of both portals. */
void portal_register_targets(void);
/* Fetches an outside prescription from the national portal by code
 * (GET thong-tin-don-thuoc/{code} with the facility's app-name/app-key).
 * Returns the portal's JSON text (malloc'd) with *http_status 200, or NULL
 * with *http_status the portal's status (404 unknown, 0 unreachable) and
 * err filled. */
char *portal_fetch_prescription(struct app *app, long long facility_id, const char *code, int *http_status, char *err,
                                size_t errlen);
bool portal_rx_configured(const struct app *app);
bool portal_pharmacy_configured(const struct app *app);

/* Loads a drug CSV (header names: code, ingredient_code, ingredient, name,
 * strength, dosage_form, unit, route, rx_class, insurance_price,
 * registration_no) into catalog.drugs with an upsert; one transaction when
 * own_tx. Returns rows loaded or -1. */
long drugs_load_csv(PGconn *c, const char *path, const char *source, bool own_tx, char *err, size_t errlen);
/* The loader's parser and checks without the database (see drugs.c). */
long drugs_parse_csv(char *buf, long len, const char *source, const char *where,
                     int (*row)(void *ctx, long line, const char *const p[13], char *err, size_t errlen), void *ctx,
                     char *err, size_t errlen);
/* Demo stock, portal accounts and a few prescriptions (called by the seed). */
int seed_pharmacy_demo(PGconn *c, bool quiet, char *err, size_t errlen);
/* The year of demo prescriptions, dispensings and portal states (seed_rx.c). */
int seed_rx_demo(PGconn *c, bool quiet, char *err, size_t errlen);

/* CLI: his rx verify | load-drugs; his portal-sim. */
int cmd_rx(int argc, char **argv);
int cmd_portal_sim(int argc, char **argv);

#endif
