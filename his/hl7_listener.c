/* MLLP listener: plain TCP or TLS with client certificates, one thread per
 * connection up to a limit. Each complete frame is handed to hl7e_ingest,
 * which commits it before we write its ACK back. Framing errors never reach
 * the database: garbage between frames is skipped, a frame over the size
 * limit gets an AR and the connection is closed, a connection that sends
 * nothing but garbage is dropped. */
#include "his/hl7_engine.h"
#include "his/his.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 65536

const char hl7e_env_help[] =
    "HL7 engine environment:\n"
    "  HIS_HL7_TLS_CERT, HIS_HL7_TLS_KEY  our certificate and key (PEM): with them the MLLP listener\n"
    "                                     speaks TLS and peers marked tls get it as client certificate\n"
    "  HIS_HL7_TLS_CA                     CA (PEM) that signs peers' certificates; a client without one\n"
    "                                     is refused\n"
    "  HIS_HL7_MAX_CONNECTIONS            simultaneous MLLP connections (default 64)\n"
    "  HIS_HL7_MAX_MESSAGE                bytes of one message (default 1048576)\n"
    "  HIS_HL7_ACK_TIMEOUT_MS             how long a sender waits for a peer's ACK (default 10000)\n";

static int env_int(const char *name, int def, int min, int max)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < min || n > max) {
        log_warn("%s=%s ignored (expected %d..%d)", name, v, min, max);
        return def;
    }
    return (int)n;
}

static const char *env_str(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

void hl7e_settings_load(struct hl7e_settings *s)
{
    memset(s, 0, sizeof *s);
    s->tls_cert = env_str("HIS_HL7_TLS_CERT");
    s->tls_key = env_str("HIS_HL7_TLS_KEY");
    s->tls_ca = env_str("HIS_HL7_TLS_CA");
    s->max_connections = env_int("HIS_HL7_MAX_CONNECTIONS", 64, 1, 4096);
    s->max_message = (size_t)env_int("HIS_HL7_MAX_MESSAGE", 1 << 20, 1024, 16 << 20);
    s->idle_timeout_ms = env_int("HIS_HL7_IDLE_TIMEOUT_MS", 300000, 1000, 86400000);
    s->ack_timeout_ms = env_int("HIS_HL7_ACK_TIMEOUT_MS", 10000, 100, 600000);
}

static void ssl_err(char *err, size_t errlen, const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s: %s", what, e ? buf : "unknown TLS error");
    ERR_clear_error();
}

SSL_CTX *hl7e_tls_ctx(const struct hl7e_settings *s, bool server, char *err, size_t errlen)
{
    if (!s->tls_cert || !s->tls_key || !s->tls_ca) {
        snprintf(err, errlen, "TLS needs HIS_HL7_TLS_CERT, HIS_HL7_TLS_KEY and HIS_HL7_TLS_CA");
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        ssl_err(err, errlen, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, s->tls_cert) != 1) {
        ssl_err(err, errlen, s->tls_cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, s->tls_key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, errlen, s->tls_key);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, s->tls_ca, NULL) != 1) {
        ssl_err(err, errlen, s->tls_ca);
        goto fail;
    }
    /* Both ends must show a certificate of the province's CA: a hospital is
     * identified by its certificate, not by its IP address. */
    SSL_CTX_set_verify(ctx, server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER, NULL);
    if (server) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->tls_ca);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* ------------------------------------------------------------ server */

struct hl7srv {
    struct app *app;
    struct hl7e_settings set;
    SSL_CTX *tls;
    hl7e_in_t *in;
    int fd;
    int port;
    pthread_t accept_thread;
    atomic_bool stopping;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int active;
};

struct conn {
    hl7srv_t *srv;
    int fd;
    SSL *ssl;
    char peer[64];
    char cn[200];
    hl7_mllp deframer;
};

static int parse_listen(const char *listen, char *host, size_t hl, char *port, size_t pl)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !colon[1])
        return -1;
    size_t n = (size_t)(colon - listen);
    if (n >= hl || strlen(colon + 1) >= pl)
        return -1;
    memcpy(host, listen, n);
    host[n] = '\0';
    if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    snprintf(port, pl, "%s", colon + 1);
    return 0;
}

static int bind_listen(const char *addr, int *port_out, char *err, size_t errlen)
{
    char host[256], port[16];
    if (parse_listen(addr, host, sizeof host, port, sizeof port) < 0) {
        snprintf(err, errlen, "bad HL7 listen address '%s' (expected HOST:PORT)", addr);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "HL7 listen address %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        snprintf(err, errlen, "cannot listen for HL7 on %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* Waits until fd is readable, the server stops, or the idle time runs out.
 * 1 readable, 0 stop/idle. */
static int wait_readable(struct conn *c, int timeout_ms)
{
    if (c->ssl && SSL_pending(c->ssl) > 0)
        return 1;
    int waited = 0;
    while (!atomic_load(&c->srv->stopping)) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int r = poll(&p, 1, 250);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return 0;
        waited += 250;
        if (waited >= timeout_ms)
            return 0;
    }
    return 0;
}

static ssize_t conn_read(struct conn *c, char *buf, size_t n)
{
    if (!wait_readable(c, c->srv->set.idle_timeout_ms))
        return 0;
    if (!c->ssl) {
        ssize_t r;
        do
            r = recv(c->fd, buf, n, 0);
        while (r < 0 && errno == EINTR);
        return r;
    }
    for (;;) {
        int r = SSL_read(c->ssl, buf, (int)n);
        if (r > 0)
            return r;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ && wait_readable(c, c->srv->set.idle_timeout_ms))
            continue;
        return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
}

static int conn_write(struct conn *c, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w;
        if (c->ssl) {
            int r = SSL_write(c->ssl, buf, (int)n);
            if (r <= 0)
                return -1;
            w = r;
        } else {
            w = send(c->fd, buf, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -1;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_framed(struct conn *c, const hl7_buf *ack)
{
    hl7_buf out = {0};
    int rc = hl7_mllp_frame(ack->data, ack->len, &out);
    if (rc == 0)
        rc = conn_write(c, out.data, out.len);
    hl7_buf_free(&out);
    return rc;
}

/* The TLS handshake, bounded in time: a client that connects and says
 * nothing must not hold a slot for long. */
static int tls_accept(struct conn *c)
{
    struct timeval tv = {.tv_sec = 10};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    c->ssl = SSL_new(c->srv->tls);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
        return -1;
    if (SSL_accept(c->ssl) != 1) {
        char err[300];
        ssl_err(err, sizeof err, "TLS handshake");
        log_warn("hl7: %s refused: %s", c->peer, err);
        return -1;
    }
    X509 *cert = SSL_get_peer_certificate(c->ssl);
    if (cert) {
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, c->cn, sizeof c->cn);
        X509_free(cert);
    }
    struct timeval none = {0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    return 0;
}

/* One frame in, one ACK out. Returns -1 to close the connection. */
static int conn_frame(struct conn *c, const hl7_str *frame)
{
    hl7_buf ack = {0};
    int rc = hl7e_ingest(c->srv->in, frame->ptr, frame->len, c->cn[0] ? c->cn : NULL, &ack);
    if (rc == 0)
        rc = send_framed(c, &ack);
    hl7_buf_free(&ack);
    return rc;
}

/* Reads frames until the peer closes, an error, or the server stops. */
static void conn_loop(struct conn *c)
{
    char *buf = malloc(READ_CHUNK);
    size_t garbage = 0;
    for (;;) {
        ssize_t n = conn_read(c, buf, READ_CHUNK);
        if (n <= 0 || hl7_mllp_feed(&c->deframer, buf, (size_t)n) < 0)
            break;
        for (;;) {
            hl7_str frame;
            hl7_error err;
            int r = hl7_mllp_next(&c->deframer, &frame, &err);
            if (r == 0)
                break;
            if (r == 1) {
                garbage = 0;
                if (conn_frame(c, &frame) < 0)
                    goto out;
                continue;
            }
            /* A frame over the limit can be neither stored nor identified:
             * say so once and hang up (the rest of it would be garbage). */
            if (strstr(err.message, "over the limit")) {
                hl7_buf nak = {0};
                hl7e_nak(err.message, &nak);
                send_framed(c, &nak);
                hl7_buf_free(&nak);
                log_warn("hl7: %s: %s; connection closed", c->peer, err.message);
                goto out;
            }
            garbage += hl7_mllp_pending(&c->deframer) + 1;
            if (garbage > c->srv->set.max_message) {
                log_warn("hl7: %s sends no MLLP frames; connection closed", c->peer);
                goto out;
            }
        }
    }
out:
    free(buf);
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    hl7srv_t *s = c->srv;
    hl7_mllp_init(&c->deframer, s->set.max_message);
    if (!s->tls || tls_accept(c) == 0)
        conn_loop(c);
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    close(c->fd);
    hl7_mllp_free(&c->deframer);
    free(c);
    ERR_clear_error();
    pthread_mutex_lock(&s->mu);
    s->active--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void start_conn(hl7srv_t *s, int fd, const struct sockaddr_storage *ss)
{
    pthread_mutex_lock(&s->mu);
    bool full = s->active >= s->set.max_connections;
    if (!full)
        s->active++;
    pthread_mutex_unlock(&s->mu);
    if (full) {
        /* Over the limit: close at once; the sender retries later. */
        log_warn("hl7: connection limit %d reached; connection refused", s->set.max_connections);
        close(fd);
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    c->srv = s;
    c->fd = fd;
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof host);
    else if (ss->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host, sizeof host);
    snprintf(c->peer, sizeof c->peer, "%s", host);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 * 1024);
    pthread_t t;
    if (pthread_create(&t, &at, conn_main, c) != 0) {
        close(fd);
        free(c);
        pthread_mutex_lock(&s->mu);
        s->active--;
        pthread_mutex_unlock(&s->mu);
    }
    pthread_attr_destroy(&at);
}

static void *accept_main(void *arg)
{
    hl7srv_t *s = arg;
    while (!atomic_load(&s->stopping)) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 250) <= 0)
            continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(s->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        start_conn(s, fd, &ss);
    }
    return NULL;
}

hl7srv_t *hl7srv_start(struct app *app, const char *listen, char *err, size_t errlen)
{
    hl7srv_t *s = calloc(1, sizeof *s);
    s->app = app;
    hl7e_settings_load(&s->set);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (s->set.tls_cert || s->set.tls_key || s->set.tls_ca) {
        s->tls = hl7e_tls_ctx(&s->set, true, err, errlen);
        if (!s->tls)
            goto fail;
    }
    s->fd = bind_listen(listen, &s->port, err, errlen);
    if (s->fd < 0)
        goto fail;
    s->in = hl7e_in_new(app, s->set.max_connections);
    if (!s->in || hl7e_processor_start(s->in) < 0) {
        snprintf(err, errlen, "cannot start the HL7 processor");
        goto fail;
    }
    if (pthread_create(&s->accept_thread, NULL, accept_main, s) != 0) {
        snprintf(err, errlen, "cannot start the HL7 listener thread");
        hl7e_processor_stop(s->in);
        goto fail;
    }
    log_info("hl7: MLLP%s listening on port %d", s->tls ? " over TLS" : "", s->port);
    return s;
fail:
    if (s->fd > 0)
        close(s->fd);
    if (s->in)
        hl7e_in_free(s->in);
    if (s->tls)
        SSL_CTX_free(s->tls);
    free(s);
    return NULL;
}

int hl7srv_port(const hl7srv_t *s)
{
    return s->port;
}

void hl7srv_stop(hl7srv_t *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    pthread_join(s->accept_thread, NULL);
    close(s->fd);
    /* Connection threads see the flag within their poll tick; a frame in
     * hand is finished (committed and answered) first. */
    pthread_mutex_lock(&s->mu);
    while (s->active > 0)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    hl7e_processor_stop(s->in);
    hl7e_in_free(s->in);
    if (s->tls)
        SSL_CTX_free(s->tls);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

/* ------------------------------------------------------------ his hl7 listen */

static const enum config_key listen_keys[] = {CFG_HL7_LISTEN, CFG_DATA_DIR, CFG_DATABASE_URL, CFG_DB_POOL,
                                              CFG_LOG_LEVEL, CFG_CONFIG_FILE, CFG__COUNT};

int cmd_hl7_listen(int argc, char **argv)
{
    struct config cfg;
    const char *pos[32];
    int np;
    char usage[2048];
    snprintf(usage, sizeof usage,
             "Usage: his hl7 listen --hl7-listen HOST:PORT [--data-dir DIR] [--database-url URL]\n"
             "Runs only the MLLP listener and the inbound processor (no HTTP), with the same storage as\n"
             "his serve: each message is committed before its ACK.\n%s",
             hl7e_env_help);
    int rc = his_parse_args(argc, argv, listen_keys, usage, &cfg, pos, &np, NULL, NULL);
    if (rc == 3)
        return 0;
    if (rc)
        return rc;
    const char *addr = config_get(&cfg, CFG_HL7_LISTEN);
    if (np || !addr) {
        fprintf(stderr, "his hl7 listen: %s\n", np ? "unexpected argument" : "--hl7-listen HOST:PORT is required");
        config_free(&cfg);
        return 2;
    }
    char err[2048];
    struct his_db db;
    if (his_db_open(&cfg, &db, err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        config_free(&cfg);
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct app app = {
        .cfg = &cfg,
        .db = db_pool_new(db.conninfo, config_get_int(&cfg, CFG_DB_POOL, 8), "his_app"),
        .sysdb = db_pool_new(db.conninfo, 4, NULL),
    };
    hl7srv_t *srv = hl7srv_start(&app, addr, err, sizeof err);
    rc = 0;
    if (!srv) {
        fprintf(stderr, "his: %s\n", err);
        rc = 1;
    } else {
        printf("his: hl7 listening on port %d\n", hl7srv_port(srv));
        fflush(stdout);
        int sig = 0;
        sigwait(&set, &sig);
        app.stopping = true;
        hl7srv_stop(srv);
    }
    db_pool_free(app.db);
    db_pool_free(app.sysdb);
    his_db_close(&db);
    config_free(&cfg);
    return rc;
}
