/* cli.c -- `his hl7 parse|validate|to-xml|from-xml|send`.
 *
 * Thin layer over the library: read files, loop over messages, print.
 * The only network code of libhl7 lives here (send), because the library
 * proper works on buffers. */
#include "hl7/hl7_cli.h"
#include "hl7/hl7.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CLI_MAX_INPUT (256u << 20)   /* one input file */
#define DEFAULT_TIMEOUT 30

static int read_input(const char *path, char **data, size_t *len);
static int usage(FILE *f, const char *text, int code);
static int is_help(int argc, char **argv);
static void report(const char *file, size_t idx, const hl7_error *e);

/* ---------------------------------------------------------------- common */

static int usage(FILE *f, const char *text, int code)
{
    fputs(text, f);
    return code;
}

static int is_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

/* Whole file (or standard input for "-") in memory: messages are small and
 * the parser wants one buffer. */
static int read_input(const char *path, char **data, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    *data = NULL;
    *len = 0;
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fprintf(stderr, "%s: out of memory\n", path);
            break;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
        if (n == cap) {
            if (cap >= CLI_MAX_INPUT) {
                fprintf(stderr, "%s: larger than %u bytes\n", path,
                        CLI_MAX_INPUT);
                free(buf);
                buf = NULL;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    int bad = !buf || ferror(f);
    if (buf && ferror(f))
        fprintf(stderr, "%s: read error\n", path);
    if (f != stdin)
        fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

static void report(const char *file, size_t idx, const hl7_error *e)
{
    char line[512];
    hl7_error_format(e, line, sizeof(line));
    if (idx)
        fprintf(stderr, "%s: message %zu: %s\n", file, idx, line);
    else
        fprintf(stderr, "%s: %s\n", file, line);
}

/* ---------------------------------------------------------------- parse */

static const char parse_usage[] =
    "usage: his hl7 parse [--roundtrip | --json | --count] FILE...\n"
    "  Parse every message of each FILE ('-' is standard input). A file\n"
    "  holds one message or many: MLLP-framed, FHS/BHS batches, or plain\n"
    "  messages one after another; segment ends CR, LF or CRLF.\n"
    "  (default)    one summary line per message\n"
    "  --roundtrip  each message serialised again (ER7, CR segment ends)\n"
    "  --json       each message's tree as one JSON line\n"
    "  --count      only the number of messages parsed\n";

enum { OUT_SUMMARY, OUT_ROUNDTRIP, OUT_JSON, OUT_COUNT };

static int parse_one(const char *file, size_t idx, hl7_str s, int mode,
                     size_t *count)
{
    hl7_msg *m;
    hl7_error e;
    if (hl7_parse(s.ptr, s.len, NULL, &m, &e) < 0) {
        report(file, idx, &e);
        return 1;
    }
    (*count)++;
    hl7_buf b = { 0 };
    int rc = 0;
    if (mode == OUT_ROUNDTRIP) {
        rc = hl7_serialize(m, &b);
    } else if (mode == OUT_JSON) {
        rc = hl7_to_json(m, &b);
        if (rc == 0)
            rc = hl7_buf_append(&b, "\n", 1);
    } else if (mode == OUT_SUMMARY) {
        char type[64], ctl[64];
        hl7_get(m, "MSH-9", type, sizeof(type));
        hl7_get(m, "MSH-10", ctl, sizeof(ctl));
        printf("%s: message %zu: %s %s, %zu segments\n", file, idx, type, ctl,
               hl7_segment_count(m));
    }
    if (rc < 0) {
        fprintf(stderr, "%s: message %zu: out of memory\n", file, idx);
    } else if (b.len && fwrite(b.data, 1, b.len, stdout) != b.len) {
        fprintf(stderr, "write error: %s\n", strerror(errno));
        rc = -1;
    }
    hl7_buf_free(&b);
    hl7_msg_free(m);
    return rc < 0;
}

int hl7_cli_parse(int argc, char **argv)
{
    int mode = OUT_SUMMARY, i, bad = 0, nfiles = 0, dashdash = 0;
    size_t count = 0;
    if (is_help(argc, argv))
        return usage(stdout, parse_usage, 0);
    char **files = calloc((size_t)argc, sizeof(*files));
    if (!files)
        return 1;
    /* options may come before or after the files, up to "--" */
    for (i = 1; i < argc; i++) {
        int m;
        if (dashdash || argv[i][0] != '-' || !argv[i][1]) {
            files[nfiles++] = argv[i];
            continue;
        }
        if (strcmp(argv[i], "--") == 0) {
            dashdash = 1;
            continue;
        } else if (strcmp(argv[i], "--roundtrip") == 0) {
            m = OUT_ROUNDTRIP;
        } else if (strcmp(argv[i], "--json") == 0) {
            m = OUT_JSON;
        } else if (strcmp(argv[i], "--count") == 0) {
            m = OUT_COUNT;
        } else {
            fprintf(stderr, "parse: unknown option %s\n", argv[i]);
            free(files);
            return usage(stderr, parse_usage, 2);
        }
        if (mode != OUT_SUMMARY && mode != m) {
            fprintf(stderr, "parse: choose one of --roundtrip, --json, "
                            "--count\n");
            free(files);
            return usage(stderr, parse_usage, 2);
        }
        mode = m;
    }
    if (nfiles == 0) {
        fprintf(stderr, "parse: no FILE given\n");
        free(files);
        return usage(stderr, parse_usage, 2);
    }
    for (int k = 0; k < nfiles; k++) {
        const char *file = files[k];
        char *data;
        size_t len;
        if (read_input(file, &data, &len) < 0) {
            bad = 1;
            continue;
        }
        hl7_iter it;
        hl7_str s;
        hl7_error e;
        int rc;
        hl7_iter_init(&it, data, len);
        while ((rc = hl7_iter_next(&it, &s, &e)) != 0) {
            if (rc < 0) {
                report(file, 0, &e);
                bad = 1;
                continue;
            }
            bad |= parse_one(file, it.index, s, mode, &count);
        }
        free(data);
    }
    free(files);
    if (mode == OUT_COUNT)
        printf("%zu\n", count);
    fflush(stdout);
    return bad ? 1 : 0;
}

/* ---------------------------------------------------------------- validate */

static const char validate_usage[] =
    "usage: his hl7 validate FILE...\n"
    "  Parse and validate every message of each FILE ('-' is standard\n"
    "  input). Exit 0 only if all are valid; each problem is one line on\n"
    "  stderr naming the file, message index, segment and field.\n";

int hl7_cli_validate(int argc, char **argv)
{
    int i = 1, bad = 0;
    if (is_help(argc, argv))
        return usage(stdout, validate_usage, 0);
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    else if (i < argc && argv[i][0] == '-' && argv[i][1]) {
        fprintf(stderr, "validate: unknown option %s\n", argv[i]);
        return usage(stderr, validate_usage, 2);
    }
    if (i >= argc) {
        fprintf(stderr, "validate: no FILE given\n");
        return usage(stderr, validate_usage, 2);
    }
    for (; i < argc; i++) {
        char *data;
        size_t len, nmsg = 0, nbad = 0;
        if (read_input(argv[i], &data, &len) < 0) {
            bad = 1;
            continue;
        }
        hl7_iter it;
        hl7_str s;
        hl7_error e, errs[32];
        int rc;
        hl7_iter_init(&it, data, len);
        while ((rc = hl7_iter_next(&it, &s, &e)) != 0) {
            if (rc < 0) {
                report(argv[i], 0, &e);
                bad = 1;
                nbad++;
                continue;
            }
            nmsg++;
            hl7_msg *m;
            if (hl7_parse(s.ptr, s.len, NULL, &m, &e) < 0) {
                report(argv[i], it.index, &e);
                bad = 1;
                nbad++;
                continue;
            }
            int n = hl7_validate(m, errs, 32);
            for (int k = 0; k < n && k < 32; k++)
                report(argv[i], it.index, &errs[k]);
            if (n > 32)
                fprintf(stderr, "%s: message %zu: %d more problems\n",
                        argv[i], it.index, n - 32);
            if (n > 0) {
                bad = 1;
                nbad++;
            }
            hl7_msg_free(m);
        }
        if (nmsg == 0 && nbad == 0) {
            fprintf(stderr, "%s: no HL7 message in the file\n", argv[i]);
            bad = 1;
        } else if (nbad == 0) {
            printf("%s: %zu message%s valid\n", argv[i], nmsg,
                   nmsg == 1 ? "" : "s");
        }
        free(data);
    }
    return bad ? 1 : 0;
}

/* ---------------------------------------------------------------- XML */

static const char to_xml_usage[] =
    "usage: his hl7 to-xml FILE\n"
    "  Write the message in FILE ('-' is standard input) in the HL7 v2 XML\n"
    "  encoding. `his hl7 from-xml` gives the message back byte for byte.\n";

static const char from_xml_usage[] =
    "usage: his hl7 from-xml FILE\n"
    "  Read an HL7 v2 XML message from FILE ('-' is standard input) and\n"
    "  write it in ER7 with CR segment ends.\n";

static int one_file_arg(int argc, char **argv, const char *name,
                        const char *text, const char **file)
{
    int i = 1;
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    else if (i < argc && argv[i][0] == '-' && argv[i][1]) {
        fprintf(stderr, "%s: unknown option %s\n", name, argv[i]);
        return usage(stderr, text, 2);
    }
    if (argc - i != 1) {
        fprintf(stderr, "%s: expected exactly one FILE\n", name);
        return usage(stderr, text, 2);
    }
    *file = argv[i];
    return 0;
}

int hl7_cli_to_xml(int argc, char **argv)
{
    const char *file;
    if (is_help(argc, argv))
        return usage(stdout, to_xml_usage, 0);
    int rc = one_file_arg(argc, argv, "to-xml", to_xml_usage, &file);
    if (rc)
        return rc;
    char *data;
    size_t len;
    if (read_input(file, &data, &len) < 0)
        return 1;
    hl7_iter it;
    hl7_str s, extra;
    hl7_error e;
    hl7_iter_init(&it, data, len);
    rc = hl7_iter_next(&it, &s, &e);
    if (rc <= 0) {
        if (rc == 0)
            fprintf(stderr, "%s: no HL7 message in the file\n", file);
        else
            report(file, 0, &e);
        free(data);
        return 1;
    }
    if (hl7_iter_next(&it, &extra, &e) != 0) {
        fprintf(stderr, "%s: holds more than one message; to-xml converts "
                        "one\n", file);
        free(data);
        return 1;
    }
    hl7_msg *m;
    if (hl7_parse(s.ptr, s.len, NULL, &m, &e) < 0) {
        report(file, 1, &e);
        free(data);
        return 1;
    }
    hl7_buf b = { 0 };
    rc = hl7_to_xml(m, &b, &e);
    if (rc < 0)
        report(file, 1, &e);
    else if (fwrite(b.data, 1, b.len, stdout) != b.len)
        rc = -1;
    hl7_buf_free(&b);
    hl7_msg_free(m);
    free(data);
    return rc < 0;
}

int hl7_cli_from_xml(int argc, char **argv)
{
    const char *file;
    if (is_help(argc, argv))
        return usage(stdout, from_xml_usage, 0);
    int rc = one_file_arg(argc, argv, "from-xml", from_xml_usage, &file);
    if (rc)
        return rc;
    char *data;
    size_t len;
    if (read_input(file, &data, &len) < 0)
        return 1;
    hl7_buf b = { 0 };
    hl7_error e;
    rc = hl7_from_xml(data, len, NULL, &b, &e);
    if (rc < 0)
        report(file, 0, &e);
    else if (b.len && fwrite(b.data, 1, b.len, stdout) != b.len)
        rc = -1;
    hl7_buf_free(&b);
    free(data);
    return rc < 0;
}

/* ---------------------------------------------------------------- send */

static const char send_usage[] =
    "usage: his hl7 send --to HOST:PORT [--tls --cert C --key K --ca A]\n"
    "                    [--timeout SECONDS] FILE...\n"
    "  Send every message of each FILE over MLLP, one at a time, waiting for\n"
    "  each ACK (default 30 s). Prints MSA-1 and MSA-2 of each ACK, one line\n"
    "  per message. Exit 1 if any ACK is not AA or CA.\n"
    "  --tls          TLS (OpenSSL), the server verified against --ca\n"
    "  --cert/--key   client certificate and key (PEM)\n"
    "  --ca           CA certificates (PEM) to verify the server with\n";

typedef struct conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    int timeout;
} conn;

static void tls_error(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    fprintf(stderr, "send: %s%s%s\n", what, buf[0] ? ": " : "", buf);
    ERR_clear_error();
}

static void set_timeouts(int fd, int seconds)
{
    struct timeval tv = { seconds, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* HOST:PORT or [V6]:PORT */
static int split_hostport(const char *s, char *host, size_t hsize,
                          char *port, size_t psize)
{
    const char *colon;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return -1;
        snprintf(host, hsize, "%.*s", (int)(end - s - 1), s + 1);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || colon == s)
            return -1;
        snprintf(host, hsize, "%.*s", (int)(colon - s), s);
    }
    if (!colon[1] || strlen(colon + 1) >= psize)
        return -1;
    snprintf(port, psize, "%s", colon + 1);
    return 0;
}

static int tcp_connect(const char *host, const char *port, int timeout)
{
    struct addrinfo hints = { 0 }, *res, *ai;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "send: %s:%s: %s\n", host, port, gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            errno == EINPROGRESS) {
            struct pollfd p = { fd, POLLOUT, 0 };
            socklen_t sl = sizeof(err);
            if (poll(&p, 1, timeout * 1000) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 &&
                err == 0) {
                fcntl(fd, F_SETFL, fl);
                set_timeouts(fd, timeout);
                break;
            }
            if (!err)
                err = ETIMEDOUT;
        } else {
            err = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "send: cannot connect to %s:%s: %s\n", host, port,
                strerror(err ? err : ECONNREFUSED));
    return fd;
}

static int tls_setup(conn *c, const char *host, const char *cert,
                     const char *key, const char *ca)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx) {
        tls_error("cannot create a TLS context");
        return -1;
    }
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (ca ? SSL_CTX_load_verify_locations(c->ctx, ca, NULL) != 1
           : SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        tls_error("cannot load the CA certificates");
        return -1;
    }
    if (cert && SSL_CTX_use_certificate_chain_file(c->ctx, cert) != 1) {
        tls_error("cannot load the client certificate");
        return -1;
    }
    if (key && (SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM)
                    != 1 || SSL_CTX_check_private_key(c->ctx) != 1)) {
        tls_error("cannot load the client key");
        return -1;
    }
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl) {
        tls_error("cannot create a TLS connection");
        return -1;
    }
    unsigned char ip[16];
    X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
        X509_VERIFY_PARAM_set1_ip_asc(vp, host);
    else {
        SSL_set_tlsext_host_name(c->ssl, host);
        SSL_set1_host(c->ssl, host);
    }
    SSL_set_fd(c->ssl, c->fd);
    if (SSL_connect(c->ssl) != 1) {
        long v = SSL_get_verify_result(c->ssl);
        if (v != X509_V_OK) {
            fprintf(stderr, "send: server certificate not trusted: %s\n",
                    X509_verify_cert_error_string(v));
            ERR_clear_error();
        } else {
            tls_error("TLS handshake failed");
        }
        return -1;
    }
    return 0;
}

static int conn_write(conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w;
        if (c->ssl) {
            int r = SSL_write(c->ssl, p, n > 1u << 30 ? 1 << 30 : (int)n);
            w = r > 0 ? r : -1;
        } else {
            w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
        }
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* > 0 bytes, 0 closed, -1 error, -2 timeout */
static ssize_t conn_read(conn *c, char *p, size_t n)
{
    for (;;) {
        if (c->ssl) {
            int r = SSL_read(c->ssl, p, (int)n);
            if (r > 0)
                return r;
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_ZERO_RETURN)
                return 0;
            if (e == SSL_ERROR_WANT_READ || (e == SSL_ERROR_SYSCALL &&
                                             (errno == EAGAIN ||
                                              errno == EWOULDBLOCK)))
                return -2;
            return r == 0 ? 0 : -1;
        }
        ssize_t r = recv(c->fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return -2;
        return r;
    }
}

static void conn_close(conn *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->ctx = NULL;
    c->fd = -1;
}

/* Send one message and wait for its ACK; 0 AA/CA, 1 other code or error. */
static int send_one(conn *c, hl7_mllp *d, const char *file, size_t idx,
                    hl7_str s, const char *sent_id)
{
    hl7_buf f = { 0 };
    hl7_error e;
    if (hl7_mllp_frame(s.ptr, s.len, &f) < 0 ||
        conn_write(c, f.data, f.len) < 0) {
        fprintf(stderr, "%s: message %zu: cannot send: %s\n", file, idx,
                strerror(errno));
        hl7_buf_free(&f);
        return -1;
    }
    hl7_buf_free(&f);
    time_t deadline = time(NULL) + c->timeout;
    hl7_str ack;
    int rc;
    while ((rc = hl7_mllp_next(d, &ack, &e)) == 0) {
        char buf[16384];
        if (time(NULL) > deadline) {
            fprintf(stderr, "%s: message %zu: no ACK within %d s\n", file,
                    idx, c->timeout);
            return -1;
        }
        ssize_t r = conn_read(c, buf, sizeof(buf));
        if (r == -2)
            continue;
        if (r <= 0) {
            fprintf(stderr, "%s: message %zu: connection %s before the "
                    "ACK\n", file, idx, r == 0 ? "closed" : "failed");
            return -1;
        }
        if (hl7_mllp_feed(d, buf, (size_t)r) < 0)
            return -1;
    }
    if (rc < 0) {
        report(file, idx, &e);
        return -1;
    }
    hl7_msg *a;
    if (hl7_parse(ack.ptr, ack.len, NULL, &a, &e) < 0) {
        fprintf(stderr, "%s: message %zu: the ACK does not parse: ", file,
                idx);
        report("ACK", 0, &e);
        return 1;
    }
    char code[8], ctl[200], text[256] = "";
    hl7_get(a, "MSA-1", code, sizeof(code));
    hl7_get(a, "MSA-2", ctl, sizeof(ctl));
    printf("%s %s\n", code[0] ? code : "-", ctl[0] ? ctl : "-");
    fflush(stdout);
    int ok = strcmp(code, "AA") == 0 || strcmp(code, "CA") == 0;
    if (ok && strcmp(ctl, sent_id) != 0) {
        /* an ACK of another message does not acknowledge this one */
        fprintf(stderr, "%s: message %zu: the ACK is for control id \"%s\", "
                "not \"%s\"\n", file, idx, ctl, sent_id);
        ok = 0;
    } else if (!ok) {
        if (hl7_get(a, "ERR-8", text, sizeof(text)) <= 0)
            hl7_get(a, "MSA-3", text, sizeof(text));
        fprintf(stderr, "%s: message %zu: answered %s%s%s\n", file, idx,
                code[0] ? code : "without MSA-1", text[0] ? ": " : "", text);
    }
    hl7_msg_free(a);
    return ok ? 0 : 1;
}

int hl7_cli_send(int argc, char **argv)
{
    const char *to = NULL, *cert = NULL, *key = NULL, *ca = NULL;
    int tls = 0, timeout = DEFAULT_TIMEOUT, i;
    if (is_help(argc, argv))
        return usage(stdout, send_usage, 0);
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(o, "--tls") == 0) {
            tls = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "send: %s needs a value\n", o);
            return usage(stderr, send_usage, 2);
        }
        const char *v = argv[++i];
        if (strcmp(o, "--to") == 0) to = v;
        else if (strcmp(o, "--cert") == 0) cert = v;
        else if (strcmp(o, "--key") == 0) key = v;
        else if (strcmp(o, "--ca") == 0) ca = v;
        else if (strcmp(o, "--timeout") == 0) {
            char *end;
            long t = strtol(v, &end, 10);
            if (*end || t < 1 || t > 3600) {
                fprintf(stderr, "send: --timeout takes 1..3600 seconds\n");
                return usage(stderr, send_usage, 2);
            }
            timeout = (int)t;
        } else {
            fprintf(stderr, "send: unknown option %s\n", o);
            return usage(stderr, send_usage, 2);
        }
    }
    char host[256], port[32];
    if (!to || split_hostport(to, host, sizeof(host), port, sizeof(port))) {
        fprintf(stderr, "send: --to HOST:PORT is required\n");
        return usage(stderr, send_usage, 2);
    }
    if (!tls && (cert || key || ca)) {
        fprintf(stderr, "send: --cert, --key and --ca need --tls\n");
        return usage(stderr, send_usage, 2);
    }
    if ((cert != NULL) != (key != NULL)) {
        fprintf(stderr, "send: --cert and --key go together\n");
        return usage(stderr, send_usage, 2);
    }
    if (i >= argc) {
        fprintf(stderr, "send: no FILE given\n");
        return usage(stderr, send_usage, 2);
    }

    /* a peer closing the connection must be an error, not a signal */
    struct sigaction ign = { 0 }, old;
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old);
    conn c = { -1, NULL, NULL, timeout };
    hl7_mllp d;
    hl7_mllp_init(&d, 0);
    int bad = 0;
    c.fd = tcp_connect(host, port, timeout);
    if (c.fd < 0 || (tls && tls_setup(&c, host, cert, key, ca) < 0)) {
        bad = 1;
        goto out;
    }
    for (; i < argc; i++) {
        char *data;
        size_t len;
        if (read_input(argv[i], &data, &len) < 0) {
            bad = 1;
            continue;
        }
        hl7_iter it;
        hl7_str s;
        hl7_error e;
        int rc;
        hl7_iter_init(&it, data, len);
        while ((rc = hl7_iter_next(&it, &s, &e)) != 0) {
            if (rc < 0) {
                report(argv[i], 0, &e);
                bad = 1;
                continue;
            }
            /* send what the parser accepts, in its serialised form */
            hl7_msg *m;
            hl7_buf b = { 0 };
            if (hl7_parse(s.ptr, s.len, NULL, &m, &e) < 0) {
                report(argv[i], it.index, &e);
                bad = 1;
                continue;
            }
            char id[200];
            hl7_get(m, "MSH-10", id, sizeof(id));
            rc = hl7_serialize(m, &b);
            hl7_msg_free(m);
            hl7_str out = { b.data, b.len };
            rc = rc < 0 ? -1 : send_one(&c, &d, argv[i], it.index, out, id);
            hl7_buf_free(&b);
            if (rc != 0)
                bad = 1;
            if (rc < 0) { /* the connection is no longer usable */
                free(data);
                goto out;
            }
        }
        free(data);
    }
out:
    conn_close(&c);
    hl7_mllp_free(&d);
    sigaction(SIGPIPE, &old, NULL);
    return bad ? 1 : 0;
}

/* ---------------------------------------------------------------- main */

static const char main_usage[] =
    "usage: his hl7 COMMAND [ARGS]\n"
    "  parse [--roundtrip | --json | --count] FILE...\n"
    "  validate FILE...\n"
    "  to-xml FILE\n"
    "  from-xml FILE\n"
    "  send --to HOST:PORT [--tls --cert C --key K --ca A] FILE...\n"
    "Each command takes --help.\n";

int hl7_cli_main(int argc, char **argv)
{
    if (argc < 1 || !argv[0])
        return usage(stderr, main_usage, 2);
    const char *cmd = argv[0];
    if (strcmp(cmd, "parse") == 0) return hl7_cli_parse(argc, argv);
    if (strcmp(cmd, "validate") == 0) return hl7_cli_validate(argc, argv);
    if (strcmp(cmd, "to-xml") == 0) return hl7_cli_to_xml(argc, argv);
    if (strcmp(cmd, "from-xml") == 0) return hl7_cli_from_xml(argc, argv);
    if (strcmp(cmd, "send") == 0) return hl7_cli_send(argc, argv);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0)
        return usage(stdout, main_usage, 0);
    fprintf(stderr, "hl7: unknown command %s\n", cmd);
    return usage(stderr, main_usage, 2);
}
