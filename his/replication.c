/* The district's end of the provincial data link over the network (issue 8
 * point 1): `his db replication-listen` opens the embedded cluster to the
 * province over TCP, TLS only, for the least-privilege role his_replication
 * only, with a random SCRAM password; `his db conninfo --replication` then
 * prints the string `his province add-district` takes (sslmode=verify-full).
 *
 * What it changes, all of it rewritten on every run (so a second run with
 * the same flags changes nothing, and one with other flags replaces them):
 *   DATA_DIR/pg/data/his-local.conf   a managed block: listen_addresses, port,
 *                                     ssl, ssl_min_protocol_version, password_encryption
 *   DATA_DIR/pg/data/pg_hba.conf      every TCP line replaced by hostssl lines for
 *                                     his_replication from the --allow addresses
 *   DATA_DIR/pg/data/server.crt|key   copies of --tls-cert/--tls-key (key mode 600)
 *   DATA_DIR/replication.password     the role's password (mode 600), kept across runs
 *   DATA_DIR/replication-root.crt     what the province verifies against (--tls-ca, or
 *                                     the self-signed certificate itself)
 *   DATA_DIR/replication.listen       the address add-district connects to
 * See docs/province.md, "The replication role and TLS". */
#include "his/his.h"
#include "core/auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPL_ROLE "his_replication"
#define REPL_DB "his"
#define REPL_OWNER "postgres"
#define REPL_MAX_ALLOW 8
#define REPL_BEGIN "# --- his db replication-listen (managed: rewritten by that command) ---"
#define REPL_END "# --- end his db replication-listen ---"

static const enum config_key repl_keys[] = {CFG_DATA_DIR, CFG_DATABASE_URL, CFG_LOG_LEVEL, CFG_CONFIG_FILE,
                                            CFG__COUNT};

struct repl_opts {
    char host[INET6_ADDRSTRLEN + 2]; /* the address listened on */
    int port;
    char check_addr[INET6_ADDRSTRLEN + 2]; /* where this machine reaches it (wildcards: loopback) */
    const char *advertise;             /* the name the province connects to; in the certificate */
    const char *cert, *key, *ca;
    const char *allow[REPL_MAX_ALLOW];
    int nallow;
    bool new_password;
};

#define REPL_USAGE                                                                                                  \
    "Usage: his db replication-listen --listen HOST:PORT --tls-cert FILE --tls-key FILE --allow CIDR\n"            \
    "           [--allow CIDR ...] [--tls-ca FILE] [--advertise NAME] [--new-password] [--data-dir DIR]\n"         \
    "On a district server: opens its embedded database to the province's replication over TCP, TLS only\n"        \
    "(1.2 or later), for the role his_replication only, with a random SCRAM password kept in\n"                    \
    "DATA_DIR/replication.password (mode 600). No other role and no plain TCP connection is accepted; the\n"      \
    "unix socket works as before. Run it again to change anything; then `his db conninfo --replication`\n"        \
    "prints the string for `his province add-district` at the province.\n"                                        \
    "  --listen HOST:PORT   an IP address of this machine ([ADDR]:PORT for IPv6; 0.0.0.0 or [::] for all,\n"     \
    "                       with --advertise) and the port;\n"                                                 \
    "                       PORT becomes the cluster's port (its socket file follows, his finds it)\n"             \
    "  --tls-cert, --tls-key  the server's certificate (PEM, may hold its chain) and private key\n"                \
    "  --tls-ca FILE        the CA that signed the certificate (the province verifies against it);\n"              \
    "                       without it the certificate must be self-signed\n"                                     \
    "  --allow CIDR         the province's address: 10.0.1.5/32, 10.0.1.0/24; 0.0.0.0/0 or ::/0 for any\n"          \
    "  --advertise NAME     the host name or address the province connects to, which the certificate\n"           \
    "                       must name (default: the --listen address)\n"                                         \
    "  --new-password       a new password (default: keep the one in DATA_DIR/replication.password);\n"           \
    "                       the province's subscription then needs the new string (ALTER SUBSCRIPTION)\n"         \
    "With --database-url (a server his does not run) nothing is changed: the steps are printed."

/* ---- argument checks ------------------------------------------------------ */

/* HOST:PORT or [V6]:PORT, HOST an IP literal: it goes into
 * listen_addresses, and a literal cannot carry a quote. */
static bool repl_parse_listen(const char *s, struct repl_opts *o)
{
    const char *colon;
    char host[INET6_ADDRSTRLEN + 2];
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host)
            return false;
        snprintf(host, sizeof host, "%.*s", (int)(end - s - 1), s + 1);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host)
            return false;
        snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535 || !isdigit((unsigned char)colon[1]))
        return false;
    unsigned char buf[sizeof(struct in6_addr)];
    bool v4 = inet_pton(AF_INET, host, buf) == 1, v6 = !v4 && inet_pton(AF_INET6, host, buf) == 1;
    if (!v4 && !v6)
        return false;
    snprintf(o->host, sizeof o->host, "%s", host);
    o->port = (int)port;
    bool any = !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
    snprintf(o->check_addr, sizeof o->check_addr, "%s", !any ? host : v4 ? "127.0.0.1" : "::1");
    return true;
}

static bool repl_cidr_valid(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || strlen(s) >= INET6_ADDRSTRLEN + 4)
        return false;
    char addr[INET6_ADDRSTRLEN + 4];
    snprintf(addr, sizeof addr, "%.*s", (int)(slash - s), s);
    unsigned char buf[sizeof(struct in6_addr)];
    int max = inet_pton(AF_INET, addr, buf) == 1 ? 32 : inet_pton(AF_INET6, addr, buf) == 1 ? 128 : -1;
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    return max > 0 && *end == '\0' && isdigit((unsigned char)slash[1]) && bits >= 0 && bits <= max;
}

/* A host name for the conninfo: letters, digits, '.', '-', ':' only. */
static bool repl_name_valid(const char *s)
{
    if (!*s || strlen(s) > 253)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(".-:", *s))
            return false;
    return true;
}

static X509 *repl_read_cert(const char *path, STACK_OF(X509) *rest)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    X509 *first = PEM_read_X509(f, NULL, NULL, NULL);
    for (X509 *x; first && rest && (x = PEM_read_X509(f, NULL, NULL, NULL));)
        sk_X509_push(rest, x);
    ERR_clear_error(); /* the end of the file reads as an error */
    fclose(f);
    return first;
}

/* Catches at once what would otherwise show only as a cluster that does not
 * start or a province that cannot connect: the key must match the
 * certificate, the certificate must verify against the root the province
 * will use (and be valid now), and name the host the province connects to
 * (sslmode=verify-full). */
static int repl_check_tls(const struct repl_opts *o, char *err, size_t errlen)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *cert = repl_read_cert(o->cert, chain);
    X509 *ca = o->ca ? repl_read_cert(o->ca, NULL) : NULL;
    FILE *kf = fopen(o->key, "r");
    EVP_PKEY *key = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
    if (kf)
        fclose(kf);
    int rc = -1;
    const char *name = o->advertise ? o->advertise : o->host;
    if (!cert)
        snprintf(err, errlen, "cannot read a PEM certificate from %s", o->cert);
    else if (!key)
        snprintf(err, errlen, "cannot read a PEM private key (without passphrase) from %s", o->key);
    else if (o->ca && !ca)
        snprintf(err, errlen, "cannot read a PEM certificate from %s", o->ca);
    else if (X509_check_private_key(cert, key) != 1)
        snprintf(err, errlen, "the key in %s does not belong to the certificate in %s", o->key, o->cert);
    else if (!ca && X509_check_issued(cert, cert) != X509_V_OK)
        snprintf(err, errlen, "%s is signed by a CA: give that CA's certificate with --tls-ca FILE", o->cert);
    else if (X509_check_host(cert, name, 0, 0, NULL) != 1 && X509_check_ip_asc(cert, name, 0) != 1)
        snprintf(err, errlen, "the certificate in %s does not name %s (subjectAltName or CN): the province's "
                              "verify-full would refuse it (use --advertise NAME for the name it holds)",
                 o->cert, name);
    else {
        X509_STORE *store = X509_STORE_new();
        X509_STORE_add_cert(store, ca ? ca : cert);
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        X509_STORE_CTX_init(ctx, store, cert, chain);
        if (X509_verify_cert(ctx) == 1)
            rc = 0;
        else
            snprintf(err, errlen, "the certificate in %s does not verify against %s: %s", o->cert,
                     o->ca ? o->ca : "itself", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
    }
    EVP_PKEY_free(key);
    X509_free(ca);
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

/* ---- files ------------------------------------------------------------------ */

static int repl_owner(uid_t *uid, gid_t *gid)
{
    if (geteuid() != 0) {
        *uid = geteuid();
        *gid = getegid();
        return 0;
    }
    struct passwd *pw = getpwnam(REPL_OWNER);
    if (!pw)
        return -1;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

/* Writes data to path through a temporary file and a rename, so the cluster
 * never reads half a file; with for_cluster the owner is the cluster's
 * (postgres when we are root), otherwise ours. */
int repl_write_file(const char *path, const char *data, size_t len, unsigned mode, bool for_cluster)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, (mode_t)mode);
    if (fd < 0)
        return -1;
    uid_t uid;
    gid_t gid;
    bool ok = fchmod(fd, (mode_t)mode) == 0 && (size_t)write(fd, data, len) == len;
    if (ok && for_cluster)
        ok = repl_owner(&uid, &gid) == 0 && fchown(fd, uid, gid) == 0;
    ok = fsync(fd) == 0 && ok;
    if (close(fd) != 0 || !ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* The whole file, NUL-terminated (at most 1 MB: certificates and settings). */
char *repl_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    for (size_t k; buf && (k = fread(buf + n, 1, cap - n, f)) > 0;)
        n += k;
    bool too_big = !feof(f);
    fclose(f);
    if (!buf || too_big) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int repl_copy(const char *from, const char *to, unsigned mode, bool for_cluster)
{
    size_t n;
    char *data = repl_read_file(from, &n);
    if (!data)
        return -1;
    int rc = repl_write_file(to, data, n, mode, for_cluster);
    OPENSSL_cleanse(data, n); /* it may be the private key */
    free(data);
    return rc;
}

/* An existing password file is kept (the province holds that password);
 * a new one is 256 random bits, base64url. */
static int repl_password(const char *path, bool renew, char out[64])
{
    char *old = renew ? NULL : repl_read_file(path, NULL);
    if (old) {
        old[strcspn(old, "\r\n")] = '\0';
        bool ok = strlen(old) >= 32 && strlen(old) < 64 && strspn(old, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                                      "0123456789-_") == strlen(old);
        if (ok)
            snprintf(out, 64, "%s", old);
        free(old);
        if (ok)
            return 0;
    }
    if (auth_new_token(out) < 0)
        return -1;
    char line[80];
    int n = snprintf(line, sizeof line, "%s\n", out);
    return repl_write_file(path, line, (size_t)n, 0600, false);
}

/* Text of lines kept from `text`, skipping the managed block and, with
 * drop_tcp, every TCP line of pg_hba.conf (host, hostssl, hostnossl,
 * hostgssenc, hostnogssenc): initdb's `host all all 127.0.0.1/32 trust` must
 * not survive once the cluster listens on TCP. */
static char *repl_strip(const char *text, bool drop_tcp)
{
    size_t cap = strlen(text) + 1, n = 0;
    char *out = malloc(cap);
    bool in_block = false;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
        const char *t = p + strspn(p, " \t");
        bool begin = !strncmp(p, REPL_BEGIN, strlen(REPL_BEGIN)), end = !strncmp(p, REPL_END, strlen(REPL_END));
        bool tcp = drop_tcp && !strncmp(t, "host", 4);
        if (begin)
            in_block = true;
        if (!in_block && !tcp) {
            memcpy(out + n, p, len);
            n += len;
        }
        if (end)
            in_block = false;
        p += len;
    }
    out[n] = '\0';
    while (n > 0 && out[n - 1] == '\n' && (n < 2 || out[n - 2] == '\n'))
        out[--n] = '\0';
    return out;
}

/* Appends the managed block to the kept text of path and writes it back. */
static int repl_rewrite(const char *path, bool drop_tcp, const char *block, unsigned mode)
{
    char *old = repl_read_file(path, NULL);
    if (!old && errno != ENOENT)
        return -1;
    char *kept = repl_strip(old ? old : "", drop_tcp);
    free(old);
    size_t n = strlen(kept) + strlen(block) + 256;
    char *text = malloc(n);
    int len = snprintf(text, n, "%s%s" REPL_BEGIN "\n%s" REPL_END "\n", kept, *kept ? "\n" : "", block);
    free(kept);
    int rc = repl_write_file(path, text, (size_t)len, mode, true);
    free(text);
    return rc;
}

static int repl_write_settings(const struct pgembed *pg, const struct repl_opts *o)
{
    char path[4400], block[1024];
    snprintf(path, sizeof path, "%s/his-local.conf", pg->datadir);
    /* ssl files are relative to the data folder; a copy of the folder (a
     * standby, a restore) keeps them. */
    snprintf(block, sizeof block,
             "listen_addresses = '%s'\n"
             "port = %d\n"
             "ssl = on\n"
             "ssl_cert_file = 'server.crt'\n"
             "ssl_key_file = 'server.key'\n"
             "ssl_min_protocol_version = 'TLSv1.2'\n"
             "password_encryption = 'scram-sha-256'\n",
             o->host, o->port);
    if (repl_rewrite(path, false, block, 0644) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/pg_hba.conf", pg->datadir);
    char hba[REPL_MAX_ALLOW * 128 + 256];
    size_t n = (size_t)snprintf(hba, sizeof hba, "# TLS only, the replication role only: no plain host line, no other role\n");
    for (int i = 0; i < o->nallow; i++)
        n += (size_t)snprintf(hba + n, sizeof hba - n, "hostssl " REPL_DB " " REPL_ROLE " %s scram-sha-256\n",
                              o->allow[i]);
    return repl_rewrite(path, true, hba, 0600);
}

/* ---- the cluster ------------------------------------------------------------ */

static bool repl_ok(PGresult *r)
{
    return PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
}

static int repl_exec(PGconn *c, const char *sql, int n, const char *const *params, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    int rc = repl_ok(r) ? 0 : -1;
    if (rc < 0) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        err[strcspn(err, "\n")] = '\0';
    }
    PQclear(r);
    return rc;
}

/* The password goes as a SCRAM verifier computed here, so the clear text
 * never reaches the server (nor its log); the statement is formatted by the
 * server with %I/%L. */
static int repl_set_password(PGconn *c, const char *password, char *err, size_t errlen)
{
    if (repl_exec(c, "SET password_encryption = 'scram-sha-256'", 0, NULL, err, errlen) < 0)
        return -1;
    char *verifier = PQencryptPasswordConn(c, password, REPL_ROLE, "scram-sha-256");
    if (!verifier) {
        snprintf(err, errlen, "cannot compute the password verifier: %s", PQerrorMessage(c));
        return -1;
    }
    const char *p[2] = {REPL_ROLE, verifier};
    PGresult *r = PQexecParams(c, "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)", 2, NULL, p, NULL,
                               NULL, 0);
    PQfreemem(verifier);
    int rc = -1;
    if (repl_ok(r) && PQntuples(r) == 1)
        rc = repl_exec(c, PQgetvalue(r, 0, 0), 0, NULL, err, errlen);
    else
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

/* SHOW name equals want. */
static bool repl_setting_is(PGconn *c, const char *name, const char *want)
{
    const char *p[1] = {name};
    PGresult *r = PQexecParams(c, "SELECT current_setting($1)", 1, NULL, p, NULL, NULL, 0);
    bool same = repl_ok(r) && PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), want);
    PQclear(r);
    return same;
}

/* After the reload or restart: the settings are in force (nothing such as
 * ALTER SYSTEM overrides them) and pg_hba.conf parsed without error. */
static int repl_verify_settings(PGconn *c, const struct repl_opts *o, char *err, size_t errlen)
{
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    static const char *const fixed[][2] = {{"ssl", "on"}, {"ssl_min_protocol_version", "TLSv1.2"},
                                           {"password_encryption", "scram-sha-256"}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!repl_setting_is(c, fixed[i][0], fixed[i][1])) {
            snprintf(err, errlen, "%s is not %s after the reload (his-local.conf not included from postgresql.conf, "
                                  "or overridden in postgresql.auto.conf?)", fixed[i][0], fixed[i][1]);
            return -1;
        }
    if (!repl_setting_is(c, "listen_addresses", o->host) || !repl_setting_is(c, "port", port)) {
        snprintf(err, errlen, "listen_addresses/port are not %s/%d after the restart (his-local.conf not included "
                              "from postgresql.conf, or overridden in postgresql.auto.conf?)", o->host, o->port);
        return -1;
    }
    PGresult *r = PQexec(c, "SELECT count(*) FILTER (WHERE error IS NOT NULL), "
                            "       count(*) FILTER (WHERE type <> 'local' AND type <> 'hostssl') "
                            "FROM pg_hba_file_rules");
    bool ok = repl_ok(r) && !strcmp(PQgetvalue(r, 0, 0), "0") && !strcmp(PQgetvalue(r, 0, 1), "0");
    PQclear(r);
    if (!ok) {
        snprintf(err, errlen, "pg_hba.conf has errors or a non-TLS TCP line (see pg_hba_file_rules)");
        return -1;
    }
    return 0;
}

/* Whether HOST:PORT can be listened on: tried before a restart, as a port
 * taken by another program would leave the cluster down. SO_REUSEADDR as
 * PostgreSQL sets it, so connections in TIME_WAIT do not count. */
static bool repl_port_free(const struct repl_opts *o)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, o->host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)o->port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, o->host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)o->port);
        len = sizeof *v6;
    } else {
        return false;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return ok;
}

/* The two files the settings change, as they were, to put back if the
 * cluster does not come up with the new ones. */
struct repl_saved {
    char *conf, *hba;
};

static void repl_save(const struct pgembed *pg, struct repl_saved *sv)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/his-local.conf", pg->datadir);
    sv->conf = repl_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/pg_hba.conf", pg->datadir);
    sv->hba = repl_read_file(path, NULL);
}

static void repl_restore(const struct pgembed *pg, const struct repl_saved *sv)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/his-local.conf", pg->datadir);
    if (sv->conf)
        repl_write_file(path, sv->conf, strlen(sv->conf), 0644, true);
    else
        unlink(path);
    snprintf(path, sizeof path, "%s/pg_hba.conf", pg->datadir);
    if (sv->hba)
        repl_write_file(path, sv->hba, strlen(sv->hba), 0600, true);
}

static int repl_reconnect(const struct pgembed *pg, PGconn **c, char *err, size_t errlen)
{
    *c = PQconnectdb(pg->conninfo);
    if (PQstatus(*c) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect after the restart: %s", PQerrorMessage(*c));
        err[strcspn(err, "\n")] = '\0';
        return -1;
    }
    return 0;
}

/* Writes the settings and makes them take effect: listen_addresses and port
 * only at a start, the rest on a reload. Restarts only when needed, so a
 * second run leaves the server's sessions be. A restart that fails puts the
 * old files back and starts the cluster as it was. */
static int repl_apply(struct pgembed *pg, PGconn **c, const struct repl_opts *o, char *err, size_t errlen)
{
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    bool restart = !repl_setting_is(*c, "listen_addresses", o->host) || !repl_setting_is(*c, "port", port);
    /* On the cluster's own port the cluster itself may hold the address
     * (0.0.0.0 before, 127.0.0.1 now): its restart frees it. */
    if (restart && pg->port != o->port && !repl_port_free(o)) {
        snprintf(err, errlen, "%s:%d is in use or not an address of this machine: %s", o->host, o->port,
                 strerror(errno));
        return -1;
    }
    struct repl_saved sv;
    repl_save(pg, &sv);
    int rc = -1;
    if (repl_write_settings(pg, o) < 0) {
        snprintf(err, errlen, "cannot rewrite his-local.conf or pg_hba.conf in %s: %s", pg->datadir, strerror(errno));
        repl_restore(pg, &sv);
    } else if (!restart) {
        rc = repl_exec(*c, "SELECT pg_reload_conf()", 0, NULL, err, errlen);
    } else {
        int old_port = pg->port;
        PQfinish(*c);
        *c = NULL;
        rc = pgembed_restart(pg, REPL_DB, err, errlen);
        if (rc < 0) {
            char again[512];
            repl_restore(pg, &sv);
            if (pgembed_restart(pg, REPL_DB, again, sizeof again) == 0)
                repl_reconnect(pg, c, again, sizeof again);
            strncat(err, " (the previous settings are back)", errlen - strlen(err) - 1);
        } else {
            if (!pg->started_here && old_port != pg->port)
                fprintf(stderr, "his: PostgreSQL restarted on port %d: restart `his serve` on this data dir if it "
                                "runs (its connections used the socket of port %d)\n", pg->port, old_port);
            rc = repl_reconnect(pg, c, err, errlen);
        }
    }
    free(sv.conf);
    free(sv.hba);
    return rc;
}

/* ---- conninfo ---------------------------------------------------------------- */

/* Appends key='value' (quoted for libpq) to out. */
static void repl_kv(char *out, size_t outlen, size_t *len, const char *key, const char *val)
{
    *len += (size_t)snprintf(out + *len, *len < outlen ? outlen - *len : 0, "%s%s='", *len ? " " : "", key);
    for (const char *v = val; *v; v++)
        *len += (size_t)snprintf(out + *len, *len < outlen ? outlen - *len : 0, "%s%c",
                                 *v == '\'' || *v == '\\' ? "\\" : "", *v);
    *len += (size_t)snprintf(out + *len, *len < outlen ? outlen - *len : 0, "'");
}

static void repl_paths(const char *dir, char *listen, char *password, char *root, size_t n)
{
    snprintf(listen, n, "%s/replication.listen", dir);
    snprintf(password, n, "%s/replication.password", dir);
    snprintf(root, n, "%s/replication-root.crt", dir);
}

static int repl_build_conninfo(const char *host, const char *hostaddr, int port, const char *password,
                               const char *root, char *out, size_t outlen)
{
    char portbuf[16];
    snprintf(portbuf, sizeof portbuf, "%d", port);
    size_t len = 0;
    out[0] = '\0';
    repl_kv(out, outlen, &len, "host", host);
    if (hostaddr)
        repl_kv(out, outlen, &len, "hostaddr", hostaddr);
    repl_kv(out, outlen, &len, "port", portbuf);
    repl_kv(out, outlen, &len, "dbname", REPL_DB);
    repl_kv(out, outlen, &len, "user", REPL_ROLE);
    repl_kv(out, outlen, &len, "password", password);
    repl_kv(out, outlen, &len, "sslmode", "verify-full");
    repl_kv(out, outlen, &len, "sslrootcert", root);
    return len < outlen ? 0 : -1;
}

int repl_conninfo(const char *data_dir, char *out, size_t outlen, char *err, size_t errlen)
{
    char abs[PATH_MAX];
    if (!realpath(data_dir, abs))
        return 0;
    char lpath[PATH_MAX + 32], ppath[PATH_MAX + 32], root[PATH_MAX + 32];
    repl_paths(abs, lpath, ppath, root, sizeof lpath);
    char *listen = repl_read_file(lpath, NULL);
    if (!listen)
        return 0;
    char host[256] = "";
    int port = 0;
    for (char *line = strtok(listen, "\n"); line; line = strtok(NULL, "\n")) {
        if (sscanf(line, "host = %255s", host) == 1)
            continue;
        if (sscanf(line, "port = %d", &port) == 1)
            continue;
    }
    free(listen);
    char *pw = repl_read_file(ppath, NULL);
    if (!host[0] || port <= 0 || !repl_name_valid(host) || !pw) {
        snprintf(err, errlen, "%s or %s is unreadable or damaged: run `his db replication-listen` again", lpath, ppath);
        free(pw);
        return -1;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    int rc = repl_build_conninfo(host, NULL, port, pw, root, out, outlen);
    OPENSSL_cleanse(pw, strlen(pw));
    free(pw);
    if (rc < 0) {
        snprintf(err, errlen, "the replication conninfo does not fit");
        return -1;
    }
    return 1;
}

/* The province's view, tried from here: TCP to the listener, TLS, the
 * certificate verified against the root copy under the advertised name
 * (hostaddr: this machine's way to the listener). "no pg_hba.conf entry ...
 * SSL encryption" also passes: the server says that only after the TLS
 * handshake, when this machine's own address is not in --allow. */
static int repl_self_check(const struct repl_opts *o, const char *password, const char *root, char *note,
                           size_t notelen, char *err, size_t errlen)
{
    char ci[PATH_MAX + 512];
    const char *name = o->advertise ? o->advertise : o->check_addr;
    if (repl_build_conninfo(name, o->check_addr, o->port, password, root, ci, sizeof ci - 32) < 0)
        return -1;
    strcat(ci, " connect_timeout=10");
    PGconn *t = PQconnectdb(ci);
    OPENSSL_cleanse(ci, sizeof ci);
    int rc = 0;
    const char *msg = PQerrorMessage(t);
    if (PQstatus(t) == CONNECTION_OK) {
        snprintf(note, notelen, "checked: TLS (%s) and login as " REPL_ROLE " over TCP",
                 PQsslAttribute(t, "protocol") ? PQsslAttribute(t, "protocol") : "?");
    } else if (strstr(msg, "no pg_hba.conf entry") && strstr(msg, "SSL encryption")) {
        snprintf(note, notelen, "checked: TLS and the certificate (this machine's address is not in --allow, "
                                "so the login was not tried)");
    } else {
        snprintf(err, errlen, "the listener is configured but a TLS connection to it as the province would make "
                              "failed: %s", msg);
        err[strcspn(err, "\n")] = '\0';
        rc = -1;
    }
    PQfinish(t);
    return rc;
}

/* ---- his db replication-listen --------------------------------------------- */

/* For a server his does not run: nothing changed, the steps printed. */
static int repl_print_steps(const struct repl_opts *o, const char *url)
{
    char dbname[256] = REPL_DB, *e = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &e);
    if (!opts) {
        PQfreemem(e);
        fprintf(stderr, "his: --database-url is not a valid connection string\n");
        return 1;
    }
    for (PQconninfoOption *p = opts; p->keyword; p++)
        if (!strcmp(p->keyword, "dbname") && p->val && *p->val && repl_name_valid(p->val))
            snprintf(dbname, sizeof dbname, "%s", p->val);
    PQconninfoFree(opts);
    char pw[64];
    if (auth_new_token(pw) < 0) {
        fprintf(stderr, "his: cannot draw a random password\n");
        return 1;
    }
    printf("--database-url names a server his does not run: nothing was changed. On that server, as its\n"
           "superuser, in its data folder (PGDATA):\n"
           "  cp %s server.crt; cp %s server.key; chown postgres: server.crt server.key; chmod 600 server.key\n"
           "  cat >> postgresql.conf <<'EOF'\n"
           "  listen_addresses = '%s'\n  port = %d\n  ssl = on\n  ssl_cert_file = 'server.crt'\n"
           "  ssl_key_file = 'server.key'\n  ssl_min_protocol_version = 'TLSv1.2'\n"
           "  password_encryption = 'scram-sha-256'\n  EOF\n"
           "  # pg_hba.conf: delete every host, hostnossl and hostssl line (no plain TCP, no other role), then\n",
           o->cert, o->key, o->host, o->port);
    for (int i = 0; i < o->nallow; i++)
        printf("  echo 'hostssl %s " REPL_ROLE " %s scram-sha-256' >> pg_hba.conf\n", dbname, o->allow[i]);
    printf("  psql -d %s -c \"SET password_encryption = 'scram-sha-256'\" -c \"ALTER ROLE " REPL_ROLE
           " PASSWORD '%s'\"\n"
           "  pg_ctl -D \"$PGDATA\" restart     # listen_addresses and port need a restart\n"
           "At the province, with a copy of %s at ROOT.crt:\n"
           "  his province add-district --code CODE --conninfo \"host=%s port=%d dbname=%s user=" REPL_ROLE
           " password=%s sslmode=verify-full sslrootcert=ROOT.crt\"\n",
           dbname, pw, o->ca ? o->ca : o->cert, o->advertise ? o->advertise : o->host, o->port, dbname, pw);
    return 0;
}

/* Pulls this command's own options out of argv (--allow may repeat). */
static int repl_take_opts(int argc, char **argv, struct repl_opts *o, const char **listen, char **rest, int *nrest)
{
    *nrest = 0;
    for (int i = 0; i < argc && *nrest < 62; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (i == 0) {
        } else if (!strcmp(a, "--listen")) dst = listen;
        else if (!strcmp(a, "--tls-cert")) dst = &o->cert;
        else if (!strcmp(a, "--tls-key")) dst = &o->key;
        else if (!strcmp(a, "--tls-ca")) dst = &o->ca;
        else if (!strcmp(a, "--advertise")) dst = &o->advertise;
        else if (!strcmp(a, "--allow")) {
            if (o->nallow == REPL_MAX_ALLOW) {
                fprintf(stderr, "his: at most %d --allow\n", REPL_MAX_ALLOW);
                return -1;
            }
            dst = &o->allow[o->nallow++];
        } else if (!strcmp(a, "--new-password")) {
            o->new_password = true;
            continue;
        }
        if (!dst) {
            rest[(*nrest)++] = argv[i];
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "his: %s needs a value\n", a);
            return -1;
        }
        *dst = argv[++i];
    }
    rest[*nrest] = NULL;
    return 0;
}

/* Flag values that are wrong (not missing): exit 1 with one line. */
static int repl_check_values(struct repl_opts *o, const char *listen, char *err, size_t errlen)
{
    if (!repl_parse_listen(listen, o)) {
        snprintf(err, errlen, "--listen needs IP:PORT or [IPv6]:PORT, not %s", listen);
        return -1;
    }
    for (int i = 0; i < o->nallow; i++)
        if (!repl_cidr_valid(o->allow[i])) {
            snprintf(err, errlen, "--allow needs an address with its prefix length (10.0.1.5/32, ::/0), not %s",
                     o->allow[i]);
            return -1;
        }
    if (o->advertise && !repl_name_valid(o->advertise)) {
        snprintf(err, errlen, "--advertise needs a host name or address, not %s", o->advertise);
        return -1;
    }
    if (!o->advertise && strcmp(o->host, o->check_addr) != 0) {
        snprintf(err, errlen, "--listen %s listens on every address: give the name the province connects to "
                              "with --advertise NAME", o->host);
        return -1;
    }
    return repl_check_tls(o, err, errlen);
}

/* The embedded cluster's part: role check, password, files, settings,
 * reload or restart, verification. */
static int repl_configure(struct pgembed *pg, const char *dir, const struct repl_opts *o, char *note, size_t notelen,
                          char *err, size_t errlen)
{
    PGconn *c = PQconnectdb(pg->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect to the embedded cluster: %s", PQerrorMessage(c));
        err[strcspn(err, "\n")] = '\0';
        PQfinish(c);
        return -1;
    }
    char lpath[PATH_MAX + 32], ppath[PATH_MAX + 32], root[PATH_MAX + 32], path[4400], pw[64] = "";
    repl_paths(dir, lpath, ppath, root, sizeof lpath);
    PGresult *r = PQexec(c, "SELECT 1 FROM pg_roles WHERE rolname = '" REPL_ROLE "' AND NOT rolsuper");
    bool role = repl_ok(r) && PQntuples(r) == 1;
    PQclear(r);
    int rc = -1;
    if (!role) {
        snprintf(err, errlen, "no role " REPL_ROLE " in this database: run `his db migrate` first");
        goto out;
    }
    if (repl_password(ppath, o->new_password, pw) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", ppath, strerror(errno));
        goto out;
    }
    if (repl_set_password(c, pw, err, errlen) < 0)
        goto out;
    snprintf(path, sizeof path, "%s/server.crt", pg->datadir);
    bool files = repl_copy(o->cert, path, 0644, true) == 0;
    snprintf(path, sizeof path, "%s/server.key", pg->datadir);
    files = files && repl_copy(o->key, path, 0600, true) == 0;
    files = files && repl_copy(o->ca ? o->ca : o->cert, root, 0644, false) == 0;
    if (!files) {
        snprintf(err, errlen, "cannot copy the certificate files: %s", strerror(errno));
        goto out;
    }
    if (repl_apply(pg, &c, o, err, errlen) < 0 || repl_verify_settings(c, o, err, errlen) < 0)
        goto out;
    char state[512];
    int n = snprintf(state, sizeof state,
                     "# written by `his db replication-listen`; read by `his db conninfo --replication`\n"
                     "host = %s\nport = %d\nlisten = %s\n",
                     o->advertise ? o->advertise : o->host, o->port, o->host);
    if (repl_write_file(lpath, state, (size_t)n, 0644, false) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", lpath, strerror(errno));
        goto out;
    }
    rc = repl_self_check(o, pw, root, note, notelen, err, errlen);
out:
    OPENSSL_cleanse(pw, sizeof pw);
    PQfinish(c);
    return rc;
}

int repl_cmd_listen(int argc, char **argv)
{
    struct repl_opts o;
    memset(&o, 0, sizeof o);
    const char *listen = NULL;
    char *rest[64];
    int nrest;
    if (repl_take_opts(argc, argv, &o, &listen, rest, &nrest) < 0)
        return 2;
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(nrest, rest, repl_keys, REPL_USAGE, &cfg, pos, &np, NULL, NULL);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (!listen || !o.cert || !o.key || o.nallow == 0 || np) {
        fprintf(stderr, "his db replication-listen: needs --listen HOST:PORT --tls-cert FILE --tls-key FILE "
                        "--allow CIDR (see --help)\n");
        return 2;
    }
    char err[10240] = ""; /* room for messages with two paths */
    if (repl_check_values(&o, listen, err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    const char *url = config_get(&cfg, CFG_DATABASE_URL);
    if (url && *url)
        return repl_print_steps(&o, url);
    struct his_db db;
    if (his_db_open(&cfg, &db, err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    char dir[PATH_MAX], note[512] = "";
    if (!realpath(config_get(&cfg, CFG_DATA_DIR), dir)) {
        fprintf(stderr, "his: cannot resolve the data folder\n");
        his_db_close(&db);
        return 1;
    }
    rc = repl_configure(&db.pg, dir, &o, note, sizeof note, err, sizeof err);
    his_db_close(&db);
    if (rc < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    printf("replication listener on %s:%d: TLS only, role " REPL_ROLE " only, from", o.host, o.port);
    for (int i = 0; i < o.nallow; i++)
        printf(" %s", o.allow[i]);
    printf("\n  %s\n  password: %s/replication.password (mode 600)\n"
           "  root certificate for the province: %s/replication-root.crt (copy it there)\n"
           "  the province's conninfo: his db conninfo --replication --data-dir %s\n",
           note, dir, dir, dir);
    return 0;
}
