/* fuzz_csv.c -- libFuzzer target for the catalogue CSV loaders: byte 0
 * even feeds the rest to the ICD-10 loader's parser and checks
 * (catalog_icd10_to_copy, his/cmd_catalog.c), odd to the drug catalogue's
 * (drugs_parse_csv, pharmacy/drugs.c); both stop where the database would
 * be touched. Promises checked with abort(): the ICD-10 COPY text has
 * exactly 12 tab-separated columns per row and as many rows as reported;
 * every drug row has its required parameters. */
#include "pharmacy/pharmacy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
char *catalog_icd10_to_copy(char *buf, size_t len, const char *source, long *rows, char *err, size_t errlen);

#define CHECK(c) do { if (!(c)) { \
        fprintf(stderr, "fuzz_csv: check failed: %s (line %d)\n", #c, __LINE__); \
        abort(); } } while (0)

static int look(void *ctx, long line, const char *const p[13], char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    (void)line;
    long *n = ctx;
    for (int k = 0; k < 4; k++)
        CHECK(p[k] != NULL);
    CHECK(p[7] && p[9] && p[12]);
    CHECK(strlen(p[4]) < 1000);
    (*n)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len = size - 1;
    char *buf = malloc(len + 1);
    memcpy(buf, data + 1, len);
    buf[len] = '\0';
    char err[512] = "";
    if (data[0] % 2 == 0) {
        long rows = -1;
        char *copy = catalog_icd10_to_copy(buf, len, "fuzz", &rows, err, sizeof err);
        if (copy) {
            long lines = 0;
            int tabs = 0;
            for (const char *c = copy; *c; c++) {
                if (*c == '\t')
                    tabs++;
                if (*c == '\n') {
                    CHECK(tabs == 11);
                    tabs = 0;
                    lines++;
                }
            }
            CHECK(tabs == 0);
            CHECK(lines == rows);
            free(copy);
        } else {
            CHECK(err[0] != '\0');
        }
    } else {
        long seen = 0;
        long rows = drugs_parse_csv(buf, (long)len, "fuzz", "fuzz.csv", look, &seen, err, sizeof err);
        if (rows >= 0)
            CHECK(rows == seen);
        else
            CHECK(err[0] != '\0');
    }
    free(buf);
    return 0;
}
