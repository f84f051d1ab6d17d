/* fuzz_claims.c -- libFuzzer target for the claims XML builder: the input
 * is a claim-input JSON document (docs/claims.md, the fixtures of
 * tests/fixtures/claims), read with claim_visit_from_json, priced, written
 * as the QĐ 130/4750 tables, validated against schema/xsd and the business
 * rules (claim_build_visit), then put in a HOSO element. Promises checked
 * with abort(): every table written is well-formed XML, the HOSO is
 * well-formed, and a table that applies is written. */
#include "claims/check.h"
#include "claims/claim.h"
#include "claims/xml.h"
#include "core/arena.h"

#include <libxml/parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(c) do { if (!(c)) { \
        fprintf(stderr, "fuzz_claims: check failed: %s (line %d)\n", #c, __LINE__); \
        abort(); } } while (0)

static claim_schemas_t *schemas;
static claim_validator_t *val;

static void quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xmlSetGenericErrorFunc(NULL, quiet);
    char err[256];
    const char *dir = getenv("CLAIMS_XSD_DIR") ? getenv("CLAIMS_XSD_DIR") : CLAIMS_XSD;
    schemas = claim_schemas_load(dir, err, sizeof err);
    if (!schemas) {
        fprintf(stderr, "fuzz_claims: %s\n", err);
        exit(1);
    }
    val = claim_validator_new(schemas);
    return 0;
}

/* A small ICD-10 list: codes of a letter and two digits exist; Z codes may
 * not be the main diagnosis. */
static bool icd_lookup(void *ctx, const char *code, bool *main_allowed)
{
    (void)ctx;
    if (strlen(code) < 3 || code[0] < 'A' || code[0] > 'Z' || code[1] < '0' || code[1] > '9')
        return false;
    *main_allowed = code[0] != 'Z';
    return true;
}

static bool well_formed(const char *x, size_t n)
{
    xmlDocPtr d = xmlReadMemory(x, (int)n, "fuzz.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!d)
        return false;
    xmlFreeDoc(d);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    json_t *in = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!in)
        return 0;
    arena_t *a = arena_new(8192);
    claim_visit_t v;
    claim_issues_t is = {0};
    if (claim_visit_from_json(in, &v, a, &is)) {
        claim_docs_t d;
        claim_build_visit(val, &v, a, icd_lookup, NULL, &d, &is);
        for (int i = 0; i < 6; i++) {
            if (d.xml[i] && !well_formed(d.xml[i], d.len[i])) {
                fprintf(stderr, "table %d not well-formed:\n%.*s\n", claim_tables[i], (int)d.len[i], d.xml[i]);
                abort();
            }
            if (claim_table_applies(&v, claim_tables[i]))
                CHECK(d.xml[i] != NULL);
        }
        CHECK(d.xml[0] != NULL);
        claim_buf_t h = {0};
        claim_hoso(&h, d.xml, d.len);
        CHECK(h.len > 0 && well_formed(h.data, h.len));
        claim_buf_free(&h);
        claim_docs_free(&d);
    }
    claim_issues_free(&is);
    arena_free(a);
    json_decref(in);
    return 0;
}
