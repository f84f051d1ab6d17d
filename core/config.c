#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_FILE_MAX (64 * 1024)
#define CONFIG_LINE_MAX 1024

static const struct config_option options[CFG__COUNT] = {
    {CFG_DATABASE_URL, "--database-url", "HIS_DATABASE_URL", "database_url", NULL,
     "PostgreSQL connection (libpq URL or key=value); unset: the embedded cluster under DATA_DIR/pg"},
    {CFG_DATA_DIR, "--data-dir", "HIS_DATA_DIR", "data_dir", "./var",
     "folder for the embedded PostgreSQL cluster and keys"},
    {CFG_LISTEN, "--listen", "HIS_LISTEN", "listen", "127.0.0.1:8080", "HTTP address HOST:PORT"},
    {CFG_HL7_LISTEN, "--hl7-listen", "HIS_HL7_LISTEN", "hl7_listen", NULL,
     "HL7 MLLP address HOST:PORT (unset: no listener)"},
    {CFG_WEB_DIR, "--web-dir", "HIS_WEB_DIR", "web_dir", NULL, "static web UI folder (default: web/ beside the binary's source tree)"},
    {CFG_SCHEMA_DIR, "--schema-dir", "HIS_SCHEMA_DIR", "schema_dir", NULL, "SQL migrations folder (default: schema/ of the source tree)"},
    {CFG_THREADS, "--threads", "HIS_THREADS", "threads", "16", "HTTP worker threads"},
    {CFG_DB_POOL, "--db-pool", "HIS_DB_POOL", "db_pool", "20", "database connections in the pool"},
    {CFG_LOG_LEVEL, "--log-level", "HIS_LOG_LEVEL", "log_level", "info", "debug, info, warn or error"},
    {CFG_SESSION_HOURS, "--session-hours", "HIS_SESSION_HOURS", "session_hours", "10", "session lifetime in hours"},
    {CFG_RX_PORTAL_URL, "--rx-portal-url", "HIS_RX_PORTAL_URL", "rx_portal_url", NULL, "national prescription portal base URL"},
    {CFG_PHARMACY_PORTAL_URL, "--pharmacy-portal-url", "HIS_PHARMACY_PORTAL_URL", "pharmacy_portal_url", NULL,
     "national pharmacy portal base URL"},
    {CFG_CLAIMS_PORTAL_URL, "--claims-portal-url", "HIS_CLAIMS_PORTAL_URL", "claims_portal_url", NULL,
     "social-security assessment portal base URL"},
    {CFG_CONFIG_FILE, "--config", "HIS_CONFIG", NULL, NULL, "config file (key = value lines; default DATA_DIR/his.conf if present)"},
    {CFG_TLS_CERT, "--tls-cert", "HIS_TLS_CERT", "tls_cert", NULL,
     "HTTPS: certificate chain PEM file (with --tls-key; TLS 1.2/1.3 only, HSTS, Secure cookies)"},
    {CFG_TLS_KEY, "--tls-key", "HIS_TLS_KEY", "tls_key", NULL, "HTTPS: private key PEM file of --tls-cert"},
};

static const struct config_option *find_by_file_key(const char *k, size_t n);
static char *trim(char *s);

const struct config_option *config_options(void)
{
    return options;
}

static char *trim(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static const struct config_option *find_by_file_key(const char *k, size_t n)
{
    for (int i = 0; i < CFG__COUNT; i++)
        if (options[i].file_key && strlen(options[i].file_key) == n &&
            strncmp(options[i].file_key, k, n) == 0)
            return &options[i];
    return NULL;
}

int config_parse_text(struct config *cfg, const char *text, size_t len, char *err, size_t errlen)
{
    if (len > CONFIG_FILE_MAX) {
        snprintf(err, errlen, "config file larger than %d bytes", CONFIG_FILE_MAX);
        return -1;
    }
    size_t pos = 0;
    int lineno = 0;
    while (pos < len) {
        lineno++;
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        size_t n = end - pos;
        if (n >= CONFIG_LINE_MAX) {
            snprintf(err, errlen, "config line %d is too long", lineno);
            return -1;
        }
        char line[CONFIG_LINE_MAX];
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos = end < len ? end + 1 : end;
        if (memchr(line, '\0', n)) {
            snprintf(err, errlen, "config line %d contains a NUL byte", lineno);
            return -1;
        }
        char *l = trim(line);
        if (*l == '\0' || *l == '#')
            continue;
        char *eq = strchr(l, '=');
        if (!eq) {
            snprintf(err, errlen, "config line %d: expected key = value", lineno);
            return -1;
        }
        *eq = '\0';
        char *key = trim(l);
        char *val = trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = '\0';
            val++;
        }
        const struct config_option *opt = find_by_file_key(key, strlen(key));
        if (!opt) {
            snprintf(err, errlen, "config line %d: unknown key '%.64s'", lineno, key);
            return -1;
        }
        if (!cfg->value[opt->key]) {
            cfg->value[opt->key] = strdup(val);
            cfg->source[opt->key] = "file";
        }
    }
    return 0;
}

static int load_file(struct config *cfg, const char *path, bool required, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (!required && errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(CONFIG_FILE_MAX + 1);
    size_t n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    fclose(f);
    int rc = config_parse_text(cfg, buf, n, err, errlen);
    free(buf);
    return rc;
}

int config_load(struct config *cfg, const char *flag_config_file, char *err, size_t errlen)
{
    /* Environment first (flags were applied before this call and win). */
    for (int i = 0; i < CFG__COUNT; i++) {
        if (cfg->value[i])
            continue;
        const char *v = options[i].env ? getenv(options[i].env) : NULL;
        if (v && *v) {
            cfg->value[i] = v;
            cfg->source[i] = "env";
        }
    }
    const char *file = flag_config_file ? flag_config_file : cfg->value[CFG_CONFIG_FILE];
    if (file) {
        if (load_file(cfg, file, true, err, errlen) < 0)
            return -1;
    } else {
        const char *dd = cfg->value[CFG_DATA_DIR] ? cfg->value[CFG_DATA_DIR] : options[CFG_DATA_DIR].def;
        char path[4096];
        snprintf(path, sizeof path, "%s/his.conf", dd);
        if (load_file(cfg, path, false, err, errlen) < 0)
            return -1;
    }
    for (int i = 0; i < CFG__COUNT; i++) {
        if (!cfg->value[i] && options[i].def) {
            cfg->value[i] = options[i].def;
            cfg->source[i] = "default";
        }
    }
    return 0;
}

int config_take_flag(const enum config_key *keys, int argc, char **argv, int *i,
                     const char *flag_values[CFG__COUNT])
{
    const char *arg = argv[*i];
    for (const enum config_key *k = keys; *k != CFG__COUNT; k++) {
        const char *flag = options[*k].flag;
        size_t fl = strlen(flag);
        if (strncmp(arg, flag, fl) != 0)
            continue;
        if (arg[fl] == '=') {
            flag_values[*k] = arg + fl + 1;
            return 1;
        }
        if (arg[fl] == '\0') {
            if (*i + 1 >= argc)
                return -1;
            flag_values[*k] = argv[++*i];
            return 1;
        }
    }
    return 0;
}

void config_apply_flags(struct config *cfg, const char *flag_values[CFG__COUNT])
{
    for (int i = 0; i < CFG__COUNT; i++)
        if (flag_values[i]) {
            cfg->value[i] = flag_values[i];
            cfg->source[i] = "flag";
        }
}

void config_print_help(const enum config_key *keys)
{
    printf("Options (flag > environment > config file > default):\n");
    for (const enum config_key *k = keys; *k != CFG__COUNT; k++) {
        const struct config_option *o = &options[*k];
        printf("  %-24s %s", o->flag, o->help);
        printf(" [env %s", o->env);
        if (o->file_key)
            printf(", file key %s", o->file_key);
        if (o->def)
            printf(", default %s", o->def);
        printf("]\n");
    }
}

const char *config_get(const struct config *cfg, enum config_key key)
{
    return cfg->value[key];
}

int config_get_int(const struct config *cfg, enum config_key key, int def)
{
    const char *v = cfg->value[key];
    if (!v)
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 0 || n > 100000)
        return def;
    return (int)n;
}

void config_free(struct config *cfg)
{
    for (int i = 0; i < CFG__COUNT; i++)
        if (cfg->source[i] && strcmp(cfg->source[i], "file") == 0) {
            free((char *)cfg->value[i]);
            cfg->value[i] = NULL;
            cfg->source[i] = NULL;
        }
}
