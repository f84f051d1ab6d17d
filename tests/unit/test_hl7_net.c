/* test_hl7_net.c -- MLLP framing and the command-line tools of libhl7,
 * including `send` against an in-process MLLP server (plain and TLS with
 * client certificates) that answers with the library's ACK builder. */
#include "hl7/hl7.h"
#include "hl7/hl7_cli.h"

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

Suite *hl7_net_suite(void);
char *hl7_test_read_file(const char *path, size_t *len);
const char *hl7_test_fixtures(void);

static const char *ACK_MSG =
    "MSH|^~\\&|A|B|C|D|20240101||ACK^A01^ACK|1|P|2.5\rMSA|AA|M1\r";

/* ---------------------------------------------------------------- MLLP */

START_TEST(mllp_frame_and_fragments)
{
    hl7_buf f = { 0 };
    ck_assert_int_eq(hl7_mllp_frame(ACK_MSG, strlen(ACK_MSG), &f), 0);
    ck_assert_int_eq(hl7_mllp_frame(ACK_MSG, strlen(ACK_MSG), &f), 0);
    size_t one = strlen(ACK_MSG) + 3;
    ck_assert_int_eq(f.len, 2 * one);
    ck_assert_int_eq(f.data[0], 0x0B);
    ck_assert_int_eq(f.data[one - 2], 0x1C);
    ck_assert_int_eq(f.data[one - 1], 0x0D);

    /* fed one byte at a time, then in odd chunks: same two frames */
    for (size_t chunk = 1; chunk <= 17; chunk += 8) {
        hl7_mllp d;
        hl7_mllp_init(&d, 0);
        int frames = 0;
        for (size_t i = 0; i < f.len; i += chunk) {
            size_t n = f.len - i < chunk ? f.len - i : chunk;
            ck_assert_int_eq(hl7_mllp_feed(&d, f.data + i, n), 0);
            hl7_str s;
            int rc;
            while ((rc = hl7_mllp_next(&d, &s, NULL)) == 1) {
                ck_assert_int_eq(s.len, strlen(ACK_MSG));
                ck_assert_int_eq(memcmp(s.ptr, ACK_MSG, s.len), 0);
                frames++;
            }
            ck_assert_int_eq(rc, 0);
        }
        ck_assert_int_eq(frames, 2);
        ck_assert_int_eq(hl7_mllp_pending(&d), 0);
        hl7_mllp_free(&d);
    }
    hl7_buf_free(&f);
}
END_TEST

START_TEST(mllp_errors)
{
    hl7_mllp d;
    hl7_str s;
    hl7_error e;
    hl7_mllp_init(&d, 64);
    /* whitespace between frames is fine, garbage is not */
    const char *in = "\r\n\x0b" "abc\x1c\r" "junk\x0b" "def\x1c\r";
    hl7_mllp_feed(&d, in, strlen(in));
    ck_assert_int_eq(hl7_mllp_next(&d, &s, &e), 1);
    ck_assert_int_eq(s.len, 3);
    ck_assert_int_eq(hl7_mllp_next(&d, &s, &e), HL7_EFRAME);
    ck_assert_ptr_nonnull(strstr(e.message, "4 bytes of garbage"));
    ck_assert_int_eq(hl7_mllp_next(&d, &s, &e), 1); /* resynchronised */
    ck_assert_int_eq(memcmp(s.ptr, "def", 3), 0);
    ck_assert_int_eq(hl7_mllp_next(&d, &s, &e), 0);
    /* 0x1C not followed by 0x0D */
    const char *bad_end = "\x0b" "abc\x1cX\x0b" "ok\x1c\r";
    hl7_mllp_feed(&d, bad_end, strlen(bad_end));
    ck_assert_int_eq(hl7_mllp_next(&d, &s, &e), HL7_EFRAME);
    ck_assert_ptr_nonnull(strstr(e.message, "not followed by 0x0D"));
    ck_assert_int_eq(hl7_mllp_next(&d, &s, &e), HL7_EFRAME); /* the X */
    ck_assert_int_eq(hl7_mllp_next(&d, &s, &e), 1);
    /* a new start block before the end block */
    const char *no_end = "\x0b" "abc\x0b" "ok\x1c\r";
    hl7_mllp_feed(&d, no_end, strlen(no_end));
    ck_assert_int_eq(hl7_mllp_next(&d, &s, &e), HL7_EFRAME);
    ck_assert_ptr_nonnull(strstr(e.message, "end block 0x1C 0x0D is missing"));
    ck_assert_int_eq(hl7_mllp_next(&d, &s, &e), 1);
    /* oversized: refused as soon as it is known, without the end */
    char big[200];
    memset(big, 'x', sizeof(big));
    big[0] = 0x0b;
    hl7_mllp_feed(&d, big, sizeof(big));
    ck_assert_int_eq(hl7_mllp_next(&d, &s, &e), HL7_EFRAME);
    ck_assert_ptr_nonnull(strstr(e.message, "over the limit"));
    ck_assert_int_eq(hl7_mllp_pending(&d), 0);
    /* incomplete frame: wait */
    hl7_mllp_feed(&d, "\x0b" "ab\x1c", 4);
    ck_assert_int_eq(hl7_mllp_next(&d, &s, &e), 0);
    hl7_mllp_feed(&d, "\r", 1);
    ck_assert_int_eq(hl7_mllp_next(&d, &s, &e), 1);
    hl7_mllp_free(&d);
}
END_TEST

/* ---------------------------------------------------------------- CLI */

typedef int (*cli_fn)(int, char **);

static char *slurp_fd(int fd)
{
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    lseek(fd, 0, SEEK_SET);
    ssize_t r;
    while ((r = read(fd, b + n, cap - n - 1)) > 0) {
        n += (size_t)r;
        if (cap - n < 2)
            b = realloc(b, cap *= 2);
    }
    b[n] = '\0';
    close(fd);
    return b;
}

/* Run a CLI entry point with stdout/stderr captured. */
static int run_cli(cli_fn fn, char **out, char **err, int argc, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    char o[] = "/tmp/hl7outXXXXXX", e[] = "/tmp/hl7errXXXXXX";
    int ofd = mkstemp(o), efd = mkstemp(e);
    unlink(o);
    unlink(e);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    dup2(ofd, 1);
    dup2(efd, 2);
    int rc = fn(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    *out = slurp_fd(ofd);
    *err = slurp_fd(efd);
    return rc;
}

static char *fx(const char *rel)
{
    static char paths[8][1024];
    static int k;
    char *p = paths[k++ % 8];
    snprintf(p, 1024, "%s/%s", hl7_test_fixtures(), rel);
    return p;
}

START_TEST(cli_help_and_usage)
{
    cli_fn fns[] = { hl7_cli_parse, hl7_cli_validate, hl7_cli_to_xml,
                     hl7_cli_from_xml, hl7_cli_send };
    char *names[] = { "parse", "validate", "to-xml", "from-xml", "send" };
    for (int i = 0; i < 5; i++) {
        char *out, *err;
        ck_assert_int_eq(run_cli(fns[i], &out, &err, 2, names[i], "--help"),
                         0);
        ck_assert_ptr_nonnull(strstr(out, "usage: his hl7 "));
        ck_assert_str_eq(err, "");
        free(out);
        free(err);
        ck_assert_int_eq(run_cli(fns[i], &out, &err, 2, names[i], "--bogus"),
                         2);
        ck_assert_ptr_nonnull(strstr(err, "usage:"));
        free(out);
        free(err);
        ck_assert_int_eq(run_cli(fns[i], &out, &err, 1, names[i]), 2);
        free(out);
        free(err);
    }
    char *out, *err;
    ck_assert_int_eq(run_cli(hl7_cli_parse, &out, &err, 4, "parse", "--json",
                             "--count", "x"), 2);
    free(out);
    free(err);
    ck_assert_int_eq(run_cli(hl7_cli_main, &out, &err, 2, "parse", "--help"),
                     0);
    free(out);
    free(err);
    ck_assert_int_eq(run_cli(hl7_cli_main, &out, &err, 1, "nope"), 2);
    free(out);
    free(err);
}
END_TEST

START_TEST(cli_parse_modes)
{
    char *out, *err;
    ck_assert_int_eq(run_cli(hl7_cli_parse, &out, &err, 6, "parse", "--count",
                             fx("good/batch.hl7"), fx("good/mllp.hl7"),
                             fx("good/plain_lf.hl7"), fx("good/ack.hl7")), 0);
    ck_assert_str_eq(out, "10\n");
    ck_assert_str_eq(err, "");
    free(out);
    free(err);

    /* --roundtrip of a well-formed file is the file */
    size_t len;
    char *orig = hl7_test_read_file(fx("good/ref_i12.hl7"), &len);
    ck_assert_int_eq(run_cli(hl7_cli_parse, &out, &err, 3, "parse",
                             "--roundtrip", fx("good/ref_i12.hl7")), 0);
    ck_assert_str_eq(out, orig);
    free(out);
    free(err);
    free(orig);

    ck_assert_int_eq(run_cli(hl7_cli_parse, &out, &err, 3, "parse", "--json",
                             fx("good/adt_a04.hl7")), 0);
    ck_assert_ptr_nonnull(strstr(out, "{\"segments\":[{\"id\":\"MSH\","
                                      "\"fields\":[\"|\",\"^~\\\\&\","));
    ck_assert_ptr_nonnull(strstr(out, "[[\"Nguyễn\",\"Thị Hồng Nhung\","));
    ck_assert_int_eq(out[strlen(out) - 1], '\n');
    free(out);
    free(err);

    /* a bad file: exit 1, one line naming file and message */
    ck_assert_int_eq(run_cli(hl7_cli_parse, &out, &err, 3, "parse", "--count",
                             fx("bad/missing_msh.hl7")), 1);
    ck_assert_str_eq(out, "0\n");
    ck_assert_ptr_nonnull(strstr(err, "missing_msh.hl7: message 1: NO_MSH"));
    free(out);
    free(err);
    ck_assert_int_eq(run_cli(hl7_cli_parse, &out, &err, 3, "parse",
                             fx("good/ack.hl7"), "--count"), 0);
    ck_assert_str_eq(out, "1\n");
    free(out);
    free(err);
    ck_assert_int_eq(run_cli(hl7_cli_parse, &out, &err, 2, "parse",
                             fx("good/ack.hl7")), 0);
    ck_assert_ptr_nonnull(strstr(out, "ack.hl7: message 1: ACK^A01^ACK "
                                      "AMSG00001, 2 segments\n"));
    free(out);
    free(err);
    ck_assert_int_eq(run_cli(hl7_cli_parse, &out, &err, 2, "parse",
                             "/nonexistent/x.hl7"), 1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.hl7: No such file"));
    free(out);
    free(err);

    /* "-" reads standard input */
    int fd = open(fx("good/batch.hl7"), O_RDONLY);
    int saved = dup(0);
    dup2(fd, 0);
    close(fd);
    clearerr(stdin);
    int rc = run_cli(hl7_cli_parse, &out, &err, 3, "parse", "--count", "-");
    dup2(saved, 0);
    close(saved);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(out, "3\n");
    free(out);
    free(err);
}
END_TEST

START_TEST(cli_validate)
{
    char *out, *err;
    ck_assert_int_eq(run_cli(hl7_cli_validate, &out, &err, 3, "validate",
                             fx("good/adt_a01.hl7"), fx("good/batch.hl7")), 0);
    ck_assert_str_eq(err, "");
    free(out);
    free(err);
    ck_assert_int_eq(run_cli(hl7_cli_validate, &out, &err, 3, "validate",
                             fx("good/adt_a01.hl7"),
                             fx("bad/invalid_types.hl7")), 1);
    ck_assert_ptr_nonnull(strstr(err, "invalid_types.hl7: message 1: "
                                      "DATA_TYPE PID[1] (segment 3) "
                                      "field 7 component 1:"));
    ck_assert_ptr_null(strstr(err, "adt_a01"));
    free(out);
    free(err);
}
END_TEST

START_TEST(cli_xml_both_ways)
{
    const char *files[] = { "good/adt_a08_escapes.hl7", "good/latin1.hl7",
                            "good/trailing_empties.hl7", "good/ref_i12.hl7" };
    for (int i = 0; i < 4; i++) {
        char *out, *err, *back, *err2;
        ck_assert_int_eq(run_cli(hl7_cli_to_xml, &out, &err, 2, "to-xml",
                                 fx(files[i])), 0);
        char x[] = "/tmp/hl7xmlXXXXXX";
        int fd = mkstemp(x);
        ck_assert_int_eq(write(fd, out, strlen(out)), (ssize_t)strlen(out));
        close(fd);
        ck_assert_int_eq(run_cli(hl7_cli_from_xml, &back, &err2, 2,
                                 "from-xml", x), 0);
        unlink(x);
        size_t len;
        char *orig = hl7_test_read_file(fx(files[i]), &len);
        ck_assert_int_eq(strlen(back), len);
        ck_assert_int_eq(memcmp(back, orig, len), 0);
        free(orig);
        free(out);
        free(err);
        free(back);
        free(err2);
    }
    char *out, *err;
    ck_assert_int_eq(run_cli(hl7_cli_to_xml, &out, &err, 2, "to-xml",
                             fx("good/batch.hl7")), 1);
    ck_assert_ptr_nonnull(strstr(err, "more than one message"));
    free(out);
    free(err);
    ck_assert_int_eq(run_cli(hl7_cli_from_xml, &out, &err, 2, "from-xml",
                             fx("good/ack.hl7")), 1);
    ck_assert_ptr_nonnull(strstr(err, "XML"));
    free(out);
    free(err);
}
END_TEST

/* ---------------------------------------------------------------- server */

typedef struct srv {
    int lfd, port;
    SSL_CTX *ctx;
    pthread_t th;
} srv;

static int srv_write(SSL *ssl, int fd, const char *p, size_t n)
{
    if (ssl)
        return SSL_write(ssl, p, (int)n) == (int)n ? 0 : -1;
    return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

/* One connection: every frame is parsed, validated and answered with an
 * ACK; a message whose MSH-10 is SILENT gets no answer, one whose MSH-10
 * is WRONGID an AA for another control id. */
static void *srv_main(void *arg)
{
    srv *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    SSL *ssl = NULL;
    if (s->ctx) {
        ssl = SSL_new(s->ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) != 1) {
            SSL_free(ssl);
            close(fd);
            return NULL;
        }
    }
    hl7_mllp d;
    hl7_mllp_init(&d, 0);
    char buf[4096];
    for (;;) {
        int r = ssl ? SSL_read(ssl, buf, sizeof(buf))
                    : (int)read(fd, buf, sizeof(buf));
        if (r <= 0)
            break;
        hl7_mllp_feed(&d, buf, (size_t)r);
        hl7_str f;
        while (hl7_mllp_next(&d, &f, NULL) == 1) {
            hl7_msg *m, *a;
            if (hl7_parse(f.ptr, f.len, NULL, &m, NULL) < 0)
                continue;
            char ctl[32];
            hl7_get(m, "MSH-10", ctl, sizeof(ctl));
            if (strcmp(ctl, "SILENT") != 0) {
                hl7_error errs[8];
                int n = hl7_validate(m, errs, 8);
                hl7_ack_opts o = { NULL, NULL, "20240315120000", NULL };
                if (hl7_ack(m, &o, errs, n > 8 ? 8 : (size_t)n, &a, NULL)
                    == 0) {
                    if (strcmp(ctl, "WRONGID") == 0)
                        hl7_set(a, "MSA-2", "SOMEOTHER", NULL);
                    hl7_buf b = { 0 }, fr = { 0 };
                    hl7_serialize(a, &b);
                    hl7_mllp_frame(b.data, b.len, &fr);
                    srv_write(ssl, fd, fr.data, fr.len);
                    hl7_buf_free(&b);
                    hl7_buf_free(&fr);
                    hl7_msg_free(a);
                }
            }
            hl7_msg_free(m);
        }
    }
    hl7_mllp_free(&d);
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    close(fd);
    return NULL;
}

static void srv_start(srv *s, SSL_CTX *ctx)
{
    struct sockaddr_in a = { 0 };
    socklen_t al = sizeof(a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->ctx = ctx;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->lfd, 0);
    ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(s->lfd, 4), 0);
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->th, NULL, srv_main, s);
}

static void srv_stop(srv *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->th, NULL);
    close(s->lfd);
}

START_TEST(cli_send_plain)
{
    srv s;
    srv_start(&s, NULL);
    char to[32], *out, *err;
    snprintf(to, sizeof(to), "127.0.0.1:%d", s.port);
    /* three good messages and one whose validation fails -> AE, exit 1 */
    int rc = run_cli(hl7_cli_send, &out, &err, 5, "send", "--to", to,
                     fx("good/mllp.hl7"), fx("bad/invalid_types.hl7"));
    srv_stop(&s);
    ck_assert_int_eq(rc, 1);
    ck_assert_str_eq(out, "AA MSG00001\nAA MSG00003\nAA AMSG00001\n"
                          "AE X9\n");
    ck_assert_ptr_nonnull(strstr(err, "invalid_types.hl7: message 1: "
                                      "answered AE: "));
    free(out);
    free(err);

    srv_start(&s, NULL);
    snprintf(to, sizeof(to), "127.0.0.1:%d", s.port);
    rc = run_cli(hl7_cli_send, &out, &err, 4, "send", "--to", to,
                 fx("good/ref_i12.hl7"));
    srv_stop(&s);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(out, "AA REF20240315001\n");
    free(out);
    free(err);
}
END_TEST

START_TEST(cli_send_timeout_and_refused)
{
    srv s;
    srv_start(&s, NULL);
    char to[32], *out, *err;
    snprintf(to, sizeof(to), "127.0.0.1:%d", s.port);
    char f[] = "/tmp/hl7silXXXXXX";
    int fd = mkstemp(f);
    const char *m = "MSH|^~\\&|A|B|C|D|20240101||ACK^A01^ACK|SILENT|P|2.5\r"
                    "MSA|AA|X\r";
    ck_assert_int_eq(write(fd, m, strlen(m)), (ssize_t)strlen(m));
    close(fd);
    int rc = run_cli(hl7_cli_send, &out, &err, 6, "send", "--to", to,
                     "--timeout", "1", f);
    srv_stop(&s);
    ck_assert_int_eq(rc, 1);
    ck_assert_ptr_nonnull(strstr(err, "no ACK within 1 s"));
    free(out);
    free(err);
    /* an AA for another message is not an acknowledgement */
    srv_start(&s, NULL);
    snprintf(to, sizeof(to), "127.0.0.1:%d", s.port);
    fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const char *w = "MSH|^~\\&|A|B|C|D|20240101||ACK^A01^ACK|WRONGID|P|2.5\r"
                    "MSA|AA|X\r";
    ck_assert_int_eq(write(fd, w, strlen(w)), (ssize_t)strlen(w));
    close(fd);
    rc = run_cli(hl7_cli_send, &out, &err, 4, "send", "--to", to, f);
    srv_stop(&s);
    unlink(f);
    ck_assert_int_eq(rc, 1);
    ck_assert_str_eq(out, "AA SOMEOTHER\n");
    ck_assert_ptr_nonnull(strstr(err, "the ACK is for control id"));
    free(out);
    free(err);
    /* nobody listening: the port of the closed server */
    rc = run_cli(hl7_cli_send, &out, &err, 4, "send", "--to", to,
                 fx("good/ack.hl7"));
    ck_assert_int_eq(rc, 1);
    ck_assert_ptr_nonnull(strstr(err, "cannot connect"));
    free(out);
    free(err);
}
END_TEST

/* ---------------------------------------------------------------- TLS */

static long serial = 1;

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
                       EVP_PKEY *ikey, int ca)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509V3_CTX c;
    X509V3_set_ctx_nodb(&c);
    X509V3_set_ctx(&c, issuer ? issuer : x, x, NULL, NULL, 0);
    const char *exts[][2] = {
        { "basicConstraints", ca ? "critical,CA:TRUE" : "CA:FALSE" },
        { "keyUsage", ca ? "critical,keyCertSign,cRLSign"
                         : "critical,digitalSignature" },
        { "subjectAltName", ca ? NULL : "IP:127.0.0.1" },
    };
    for (int i = 0; i < 3; i++) {
        if (!exts[i][1])
            continue;
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &c, exts[i][0], exts[i][1]);
        ck_assert_ptr_nonnull(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    ck_assert_int_gt(X509_sign(x, ikey ? ikey : key, EVP_sha256()), 0);
    return x;
}

static void write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    if (x)
        PEM_write_X509(f, x);
    if (k)
        PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
}

typedef struct pki {
    char dir[64];
    char ca[128], other_ca[128], cert[128], key[128];
    SSL_CTX *server;
    X509 *xs[4];
    EVP_PKEY *ks[4];
} pki;

/* A CA of the province, a server and a client certificate it signed, and
 * an unrelated CA to show that the server is really verified. */
static void pki_make(pki *p)
{
    strcpy(p->dir, "/tmp/hl7pkiXXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(p->dir));
    for (int i = 0; i < 4; i++)
        p->ks[i] = EVP_EC_gen("P-256");
    p->xs[0] = make_cert(p->ks[0], "Sở Y tế tỉnh Phú Thọ CA", NULL, NULL, 1);
    p->xs[1] = make_cert(p->ks[1], "127.0.0.1", p->xs[0], p->ks[0], 0);
    p->xs[2] = make_cert(p->ks[2], "BV1001", p->xs[0], p->ks[0], 0);
    p->xs[3] = make_cert(p->ks[3], "Other CA", NULL, NULL, 1);
    snprintf(p->ca, sizeof(p->ca), "%s/ca.pem", p->dir);
    snprintf(p->other_ca, sizeof(p->other_ca), "%s/other.pem", p->dir);
    snprintf(p->cert, sizeof(p->cert), "%s/client.pem", p->dir);
    snprintf(p->key, sizeof(p->key), "%s/client.key", p->dir);
    write_pem(p->ca, p->xs[0], NULL);
    write_pem(p->other_ca, p->xs[3], NULL);
    write_pem(p->cert, p->xs[2], NULL);
    write_pem(p->key, NULL, p->ks[2]);
    p->server = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(p->server, p->xs[1]);
    SSL_CTX_use_PrivateKey(p->server, p->ks[1]);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(p->server), p->xs[0]);
    SSL_CTX_set_verify(p->server, SSL_VERIFY_PEER |
                       SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
}

static void pki_free(pki *p)
{
    unlink(p->ca);
    unlink(p->other_ca);
    unlink(p->cert);
    unlink(p->key);
    rmdir(p->dir);
    SSL_CTX_free(p->server);
    for (int i = 0; i < 4; i++) {
        X509_free(p->xs[i]);
        EVP_PKEY_free(p->ks[i]);
    }
}

START_TEST(cli_send_tls)
{
    pki p;
    pki_make(&p);
    srv s;
    char to[32], *out, *err;

    srv_start(&s, p.server);
    snprintf(to, sizeof(to), "127.0.0.1:%d", s.port);
    int rc = run_cli(hl7_cli_send, &out, &err, 11, "send", "--to", to,
                     "--tls", "--cert", p.cert, "--key", p.key, "--ca", p.ca,
                     fx("good/adt_a01.hl7"));
    srv_stop(&s);
    ck_assert_msg(rc == 0, "tls send failed: %s", err);
    ck_assert_str_eq(out, "AA MSG00001\n");
    free(out);
    free(err);

    /* a server not signed by the CA we trust is refused */
    srv_start(&s, p.server);
    snprintf(to, sizeof(to), "127.0.0.1:%d", s.port);
    rc = run_cli(hl7_cli_send, &out, &err, 11, "send", "--to", to, "--tls",
                 "--cert", p.cert, "--key", p.key, "--ca", p.other_ca,
                 fx("good/adt_a01.hl7"));
    srv_stop(&s);
    ck_assert_int_eq(rc, 1);
    ck_assert_str_eq(out, "");
    ck_assert_ptr_nonnull(strstr(err, "not trusted"));
    free(out);
    free(err);

    /* no client certificate: the server closes, no ACK */
    srv_start(&s, p.server);
    snprintf(to, sizeof(to), "127.0.0.1:%d", s.port);
    rc = run_cli(hl7_cli_send, &out, &err, 7, "send", "--to", to, "--tls",
                 "--ca", p.ca, fx("good/adt_a01.hl7"));
    srv_stop(&s);
    ck_assert_int_eq(rc, 1);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    pki_free(&p);
}
END_TEST

Suite *hl7_net_suite(void)
{
    Suite *s = suite_create("hl7-net");
    TCase *tc = tcase_create("mllp");
    tcase_add_test(tc, mllp_frame_and_fragments);
    tcase_add_test(tc, mllp_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("cli");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, cli_help_and_usage);
    tcase_add_test(tc, cli_parse_modes);
    tcase_add_test(tc, cli_validate);
    tcase_add_test(tc, cli_xml_both_ways);
    tcase_add_test(tc, cli_send_plain);
    tcase_add_test(tc, cli_send_timeout_and_refused);
    tcase_add_test(tc, cli_send_tls);
    suite_add_tcase(s, tc);
    return s;
}
