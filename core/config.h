/* Configuration: flags beat environment, environment beats the config file,
 * the config file beats the built-in default. Every option has one entry in
 * the table in config.c, which also produces the --help text. */
#ifndef CORE_CONFIG_H
#define CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum config_key {
    CFG_DATABASE_URL,
    CFG_DATA_DIR,
    CFG_LISTEN,
    CFG_HL7_LISTEN,
    CFG_WEB_DIR,
    CFG_SCHEMA_DIR,
    CFG_THREADS,
    CFG_DB_POOL,
    CFG_LOG_LEVEL,
    CFG_SESSION_HOURS,
    CFG_RX_PORTAL_URL,
    CFG_PHARMACY_PORTAL_URL,
    CFG_CLAIMS_PORTAL_URL,
    CFG_CONFIG_FILE,
    CFG_TLS_CERT,
    CFG_TLS_KEY,
    CFG__COUNT
};

struct config_option {
    enum config_key key;
    const char *flag;     /* "--listen" */
    const char *env;      /* "HIS_LISTEN" */
    const char *file_key; /* "listen" */
    const char *def;      /* may be NULL */
    const char *help;
};

struct config {
    const char *value[CFG__COUNT];
    const char *source[CFG__COUNT]; /* "flag", "env", "file", "default" */
};

const struct config_option *config_options(void);
/* Fills cfg from the environment and config file; flags are applied by
 * config_take_flag while the caller parses its own argv. */
int config_load(struct config *cfg, const char *flag_config_file, char *err, size_t errlen);
/* If argv[*i] is one of the options listed in keys (terminated by CFG__COUNT),
 * stores its value in flag_values and advances *i. Returns 1 if consumed,
 * 0 if not an option of ours, -1 on a missing value. */
int config_take_flag(const enum config_key *keys, int argc, char **argv, int *i,
                     const char *flag_values[CFG__COUNT]);
void config_apply_flags(struct config *cfg, const char *flag_values[CFG__COUNT]);
void config_print_help(const enum config_key *keys);
const char *config_get(const struct config *cfg, enum config_key key);
/* Releases the strings read from a config file. */
void config_free(struct config *cfg);
int config_get_int(const struct config *cfg, enum config_key key, int def);
/* Parses a config file's text ("key = value" lines, '#' comments) into cfg
 * for the keys not already set. Exposed for tests and fuzzing. */
int config_parse_text(struct config *cfg, const char *text, size_t len, char *err, size_t errlen);

#endif
