/* fuzz_config.c -- libFuzzer target for the config file reader
 * (config_parse_text in core/config.c). Promises checked with abort(): on
 * success every value read is a NUL-terminated string of the input's
 * length at most; on failure an error message is set. The strings read are
 * released with config_free. */
#include "core/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { \
        fprintf(stderr, "fuzz_config: check failed: %s (line %d)\n", #c, __LINE__); \
        abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    char err[256] = "";
    int rc = config_parse_text(&cfg, (const char *)data, size, err, sizeof err);
    if (rc == 0) {
        for (int k = 0; k < CFG__COUNT; k++)
            if (cfg.value[k])
                CHECK(strlen(cfg.value[k]) <= size);
    } else {
        CHECK(err[0] != '\0');
    }
    config_free(&cfg);
    return 0;
}
