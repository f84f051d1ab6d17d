/* Outbound HL7: messages to peer hospitals are rows of the outbox (target
 * "hl7:<facility code>", ordered per peer, dedupe key = MSH-10), written in
 * the transaction of the change that caused them. The delivery function
 * here opens MLLP (TLS when the peer is marked so), sends, waits for the
 * ACK and settles the row: AA/CA delivered; AE/AR/CE/CR refused for good
 * with the ERR text; no connection, no ACK in time or a closed connection
 * retried by the outbox with backoff. The receiver dedupes by MSH-4 +
 * MSH-10, so a message sent again after a crash has one effect.
 *
 * Also: the ER7 builders the engine shares, ADT built from the trigger's
 * JSON snapshot, and `his hl7 peer add|list|remove`. */
#include "his/hl7_engine.h"
#include "his/his.h"
#include "core/log.h"
#include "core/outbox.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ builders */

void hl7e_name_split(const char *full, char *family, size_t fl, char *given, size_t gl)
{
    while (*full == ' ')
        full++;
    const char *sp = strchr(full, ' ');
    size_t n = sp ? (size_t)(sp - full) : strlen(full);
    snprintf(family, fl, "%.*s", (int)n, full);
    const char *rest = sp ? sp + 1 : "";
    while (*rest == ' ')
        rest++;
    snprintf(given, gl, "%s", rest);
}

int hl7e_msg_start(hl7_msg **m, const char *from, const char *to, const char *type, const char *control_id,
                   const char *ts)
{
    if (hl7_msg_create(NULL, m) < 0)
        return -1;
    int rc = 0;
    rc |= hl7_set(*m, "MSH-3", "HIS", NULL);
    rc |= hl7_set(*m, "MSH-4", from, NULL);
    rc |= hl7_set(*m, "MSH-5", "HIS", NULL);
    rc |= hl7_set(*m, "MSH-6", to, NULL);
    rc |= hl7_set(*m, "MSH-7", ts, NULL);
    rc |= hl7_set_raw(*m, "MSH-9", type, NULL);
    rc |= hl7_set(*m, "MSH-10", control_id, NULL);
    rc |= hl7_set(*m, "MSH-11", "P", NULL);
    rc |= hl7_set(*m, "MSH-12", "2.5", NULL);
    rc |= hl7_set(*m, "MSH-18", "UNICODE UTF-8", NULL);
    return rc < 0 ? -1 : 0;
}

static int set_if(hl7_msg *m, const char *path, const char *v)
{
    if (!v || !*v)
        return 0;
    return hl7_set(m, path, v, NULL) < 0 ? -1 : 0;
}

/* "2026-05-01" or "2026-05-01T10:20:30+07:00" -> "20260501[102030]". */
static void iso_to_dtm(const char *iso, char *out, size_t n)
{
    size_t k = 0;
    for (const char *s = iso ? iso : ""; *s && k + 1 < n && k < 14; s++) {
        if (*s == '.' || *s == '+' || (k >= 8 && *s == '-') || *s == 'Z')
            break;
        if (*s >= '0' && *s <= '9')
            out[k++] = *s;
    }
    out[k] = '\0';
}

int hl7e_set_pid(hl7_msg *m, const struct hl7e_patient *p)
{
    int rc = 0, rep = 0;
    char path[32], fam[200], given[400], birth[16];
    rc |= hl7_set(m, "PID-1", "1", NULL);
    if (p->code && *p->code) {
        rep++;
        snprintf(path, sizeof path, "PID-3[%d]-1", rep);
        rc |= hl7_set(m, path, p->code, NULL);
        snprintf(path, sizeof path, "PID-3[%d]-5", rep);
        rc |= hl7_set(m, path, "MR", NULL);
    }
    if (p->cccd && *p->cccd) {
        rep++;
        snprintf(path, sizeof path, "PID-3[%d]-1", rep);
        rc |= hl7_set(m, path, p->cccd, NULL);
        snprintf(path, sizeof path, "PID-3[%d]-4", rep);
        rc |= hl7_set(m, path, "VNM", NULL);
        snprintf(path, sizeof path, "PID-3[%d]-5", rep);
        rc |= hl7_set(m, path, "NI", NULL);
    }
    if (p->card_number && *p->card_number) {
        rep++;
        snprintf(path, sizeof path, "PID-3[%d]-1", rep);
        rc |= hl7_set(m, path, p->card_number, NULL);
        snprintf(path, sizeof path, "PID-3[%d]-4", rep);
        rc |= hl7_set(m, path, "VSS", NULL);
        snprintf(path, sizeof path, "PID-3[%d]-5", rep);
        rc |= hl7_set(m, path, "HC", NULL);
    }
    hl7e_name_split(p->full_name ? p->full_name : "", fam, sizeof fam, given, sizeof given);
    rc |= set_if(m, "PID-5-1", fam);
    rc |= set_if(m, "PID-5-2", given);
    iso_to_dtm(p->birth, birth, sizeof birth);
    rc |= set_if(m, "PID-7", birth);
    const char *sex = p->sex && !strcmp(p->sex, "male") ? "M" : p->sex && !strcmp(p->sex, "female") ? "F" : "U";
    rc |= hl7_set(m, "PID-8", sex, NULL);
    rc |= set_if(m, "PID-11-1", p->line);
    rc |= set_if(m, "PID-11-2", p->village);
    rc |= set_if(m, "PID-11-3", p->commune_code);
    rc |= set_if(m, "PID-11-4", p->province_code);
    rc |= set_if(m, "PID-11-6", "VNM");
    rc |= set_if(m, "PID-13-1", p->phone);
    rc |= set_if(m, "PID-22-1", p->ethnicity);
    rc |= set_if(m, "PID-28-1", p->nationality);
    return rc < 0 ? -1 : 0;
}

int hl7e_set_in1(hl7_msg *m, const struct hl7e_patient *p)
{
    if (!p->card_number || !*p->card_number)
        return 0;
    char d[16];
    int rc = 0;
    rc |= hl7_set(m, "IN1-1", "1", NULL);
    rc |= hl7_set(m, "IN1-2", "BHYT", NULL);
    rc |= hl7_set(m, "IN1-3", "VSS", NULL);
    iso_to_dtm(p->card_from, d, sizeof d);
    rc |= set_if(m, "IN1-12", d);
    iso_to_dtm(p->card_to, d, sizeof d);
    rc |= set_if(m, "IN1-13", d);
    rc |= set_if(m, "IN1-35", p->card_facility);
    rc |= hl7_set(m, "IN1-36", p->card_number, NULL);
    return rc < 0 ? -1 : 0;
}

void hl7e_patient_from_row(PGresult *r, int row, int col0, struct hl7e_patient *p)
{
    const char **f[] = {&p->code,          &p->full_name,    &p->birth,         &p->sex,         &p->cccd,
                        &p->phone,         &p->ethnicity,    &p->nationality,   &p->province_code,
                        &p->commune_code,  &p->village,      &p->line,          &p->card_number, &p->card_from,
                        &p->card_to,       &p->card_facility};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        *f[i] = db_val(r, row, col0 + (int)i);
}

char *hl7e_to_er7(hl7_msg *m)
{
    hl7_buf b = {0};
    if (hl7_serialize(m, &b) < 0 || hl7_buf_append(&b, "", 1) < 0) {
        hl7_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static const char *js(json_t *o, const char *k)
{
    json_t *v = o ? json_object_get(o, k) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

char *hl7e_adt_from_json(const char *text, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) {
        snprintf(err, errlen, "event payload is not JSON: %s", je.text);
        return NULL;
    }
    const char *ev = js(j, "event");
    json_t *pat = json_object_get(j, "patient"), *vis = json_object_get(j, "visit");
    char *out = NULL;
    if (!ev || !json_is_object(pat)) {
        snprintf(err, errlen, "event payload without event or patient");
        goto done;
    }
    const char *structure = !strcmp(ev, "A03") ? "ADT_A03" : "ADT_A01";
    char type[32], birth[16];
    snprintf(type, sizeof type, "ADT^%s^%s", ev, structure);
    hl7_msg *m = NULL;
    if (hl7e_msg_start(&m, js(j, "from"), js(j, "to"), type, js(j, "control_id"), js(j, "at")) < 0)
        goto build_fail;
    struct hl7e_patient p = {
        .code = js(pat, "code"), .full_name = js(pat, "full_name"), .sex = js(pat, "sex"), .cccd = js(pat, "cccd"),
        .phone = js(pat, "phone"), .ethnicity = js(pat, "ethnicity"), .nationality = js(pat, "nationality"),
        .province_code = js(pat, "province_code"), .commune_code = js(pat, "commune_code"),
        .village = js(pat, "village"), .line = js(pat, "address_line"), .card_number = js(pat, "card_number"),
        .card_from = js(pat, "card_valid_from"), .card_to = js(pat, "card_valid_to"),
        .card_facility = js(pat, "card_primary_facility")};
    json_t *by = json_object_get(pat, "birth_year");
    if (js(pat, "birth_date"))
        p.birth = js(pat, "birth_date");
    else if (json_is_integer(by)) {
        snprintf(birth, sizeof birth, "%lld", (long long)json_integer_value(by));
        p.birth = birth;
    }
    char dt[16];
    int rc = hl7_set(m, "EVN-1", ev, NULL) < 0 || hl7_set(m, "EVN-2", js(j, "at"), NULL) < 0 ? -1 : 0;
    rc |= hl7e_set_pid(m, &p);
    bool visit = json_is_object(vis);
    rc |= hl7_set(m, "PV1-1", "1", NULL);
    rc |= hl7_set(m, "PV1-2", visit ? (!strcmp(js(vis, "kind") ? js(vis, "kind") : "", "emergency") ? "E" : "I") : "N",
                  NULL);
    if (visit) {
        rc |= set_if(m, "PV1-19", js(vis, "ma_lk"));
        iso_to_dtm(js(vis, "admitted_at") ? js(vis, "admitted_at") : js(vis, "received_at"), dt, sizeof dt);
        rc |= set_if(m, "PV1-44", dt);
        iso_to_dtm(js(vis, "discharged_at"), dt, sizeof dt);
        rc |= set_if(m, "PV1-45", dt);
    }
    rc |= hl7e_set_in1(m, &p);
    if (rc < 0)
        goto build_fail;
    out = hl7e_to_er7(m);
    hl7_msg_free(m);
    goto done;
build_fail:
    hl7_msg_free(m);
    snprintf(err, errlen, "cannot build the %s message", type);
done:
    json_decref(j);
    return out;
}

/* ------------------------------------------------------------ enqueue */

const char *hl7e_control_id(db_tx_t *tx, const char *facility_code)
{
    PGresult *r = db_q0(tx, "SELECT nextval('hl7.event_seq')");
    if (!r)
        return NULL;
    return arena_printf(tx->arena, "%sM%s", facility_code, db_val(r, 0, 0));
}

int hl7e_enqueue(db_tx_t *tx, const char *peer_code, const char *kind, const char *control_id, const char *er7)
{
    const char *target = arena_printf(tx->arena, "hl7:%s", peer_code);
    return outbox_enqueue(tx, target, kind, control_id, NULL, er7) < 0 ? -1 : 0;
}

/* ------------------------------------------------------------ delivery */

struct peer {
    char host[256];
    char port[8];
    bool tls;
};

static pthread_mutex_t tls_mu = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *client_ctx;

static SSL_CTX *tls_client(char *err, size_t errlen)
{
    pthread_mutex_lock(&tls_mu);
    if (!client_ctx) {
        struct hl7e_settings s;
        hl7e_settings_load(&s);
        client_ctx = hl7e_tls_ctx(&s, false, err, errlen);
    }
    SSL_CTX *c = client_ctx;
    pthread_mutex_unlock(&tls_mu);
    return c;
}

static int peer_lookup(struct app *app, arena_t *a, const char *code, struct peer *p)
{
    bool unavailable = false;
    const char *params[1] = {code};
    PGresult *r = db_query_once(app->sysdb, a, "SELECT host, port, tls FROM hl7.peers WHERE facility_code = $1", 1,
                                params, &unavailable);
    if (!r)
        return -1;
    if (PQntuples(r) == 0)
        return 0;
    snprintf(p->host, sizeof p->host, "%s", db_val(r, 0, 0));
    snprintf(p->port, sizeof p->port, "%s", db_val(r, 0, 1));
    p->tls = db_val(r, 0, 2)[0] == 't';
    return 1;
}

static int tcp_connect(const struct peer *p, int timeout_ms, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(p->host, p->port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "%s: %s", p->host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int e = fd < 0 ? errno : 0;
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            socklen_t sl = sizeof e;
            e = poll(&pf, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) == 0 ? e : ETIMEDOUT;
        }
    }
    freeaddrinfo(res);
    if (e) {
        snprintf(err, errlen, "cannot connect to %s:%s: %s", p->host, p->port, strerror(e));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static SSL *tls_connect(int fd, const struct peer *p, char *err, size_t errlen)
{
    SSL_CTX *ctx = tls_client(err, errlen);
    if (!ctx)
        return NULL;
    SSL *ssl = SSL_new(ctx);
    unsigned char ip[16];
    if (inet_pton(AF_INET, p->host, ip) == 1 || inet_pton(AF_INET6, p->host, ip) == 1)
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), p->host);
    else {
        SSL_set_tlsext_host_name(ssl, p->host);
        SSL_set1_host(ssl, p->host);
    }
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        long v = SSL_get_verify_result(ssl);
        char buf[200];
        ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
        snprintf(err, errlen, "TLS with %s: %s", p->host, v != X509_V_OK ? X509_verify_cert_error_string(v) : buf);
        ERR_clear_error();
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

static int io_write(int fd, SSL *ssl, const char *b, size_t n)
{
    while (n) {
        ssize_t w = ssl ? SSL_write(ssl, b, (int)n) : send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (!ssl && w < 0 && errno == EINTR)
                continue;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until one ACK frame; 0 ok, -1 error/timeout/closed. */
static int read_ack(int fd, SSL *ssl, int timeout_ms, hl7_buf *ack)
{
    hl7_mllp d;
    hl7_mllp_init(&d, 1 << 20);
    char buf[8192];
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = -1;
    for (;;) {
        ssize_t n = ssl ? SSL_read(ssl, buf, sizeof buf) : recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            if (!ssl && n < 0 && errno == EINTR)
                continue;
            break;
        }
        hl7_mllp_feed(&d, buf, (size_t)n);
        hl7_str f;
        int r = hl7_mllp_next(&d, &f, NULL);
        if (r == 1) {
            rc = hl7_buf_append(ack, f.ptr, f.len) < 0 ? -1 : 0;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms)
            break;
    }
    hl7_mllp_free(&d);
    return rc;
}

/* Reads the ACK into the outbox result. */
static void settle(const struct outbox_msg *m, const hl7_buf *ackbuf, struct outbox_result *res)
{
    hl7_msg *a = NULL;
    if (hl7_parse(ackbuf->data, ackbuf->len, NULL, &a, NULL) < 0) {
        res->status = OUTBOX_RETRY;
        snprintf(res->error, sizeof res->error, "the peer's answer is not an HL7 message");
        return;
    }
    char code[8], ref[200], text[300];
    if (hl7_get(a, "MSA-1", code, sizeof code) < 0)
        code[0] = '\0';
    if (hl7_get(a, "MSA-2", ref, sizeof ref) < 0 || strcmp(ref, m->key) != 0) {
        res->status = OUTBOX_RETRY;
        snprintf(res->error, sizeof res->error, "ACK for another message (MSA-2 %s)", ref);
        hl7_msg_free(a);
        return;
    }
    if (hl7_get(a, "MSH-10", ref, sizeof ref) >= 0)
        snprintf(res->remote_ref, sizeof res->remote_ref, "%s", ref);
    if (!strcmp(code, "AA") || !strcmp(code, "CA")) {
        res->status = OUTBOX_DELIVERED;
        hl7_msg_free(a);
        return;
    }
    res->status = OUTBOX_REJECTED;
    if (hl7_get(a, "MSA-3", text, sizeof text) < 0)
        text[0] = '\0';
    snprintf(res->error, sizeof res->error, "%s%s%s", code, text[0] ? ": " : "", text);
    res->errors = json_array();
    size_t n = hl7_segment_occurrences(a, "ERR");
    for (size_t i = 1; i <= n && i <= 20; i++) {
        char path[32], seg[8], fld[8], c3[16], msg[256];
        snprintf(path, sizeof path, "ERR[%zu]-2-1", i);
        hl7_get(a, path, seg, sizeof seg);
        snprintf(path, sizeof path, "ERR[%zu]-2-3", i);
        hl7_get(a, path, fld, sizeof fld);
        snprintf(path, sizeof path, "ERR[%zu]-3-1", i);
        hl7_get(a, path, c3, sizeof c3);
        snprintf(path, sizeof path, "ERR[%zu]-8", i);
        if (hl7_get(a, path, msg, sizeof msg) <= 0) {
            snprintf(path, sizeof path, "ERR[%zu]-3-2", i);
            hl7_get(a, path, msg, sizeof msg);
        }
        char field[24];
        snprintf(field, sizeof field, "%s%s%s", seg, fld[0] ? "-" : "", fld);
        json_t *e = json_object();
        json_object_set_new(e, "field", json_string(field));
        json_object_set_new(e, "code", json_string(c3));
        json_object_set_new(e, "message", json_string(msg));
        json_array_append_new(res->errors, e);
        if (i == 1)
            snprintf(res->error + strlen(res->error), sizeof res->error - strlen(res->error), " [%s] %s", field, msg);
    }
    hl7_msg_free(a);
}

static void deliver(struct app *app, const struct outbox_msg *m, arena_t *a, struct outbox_result *res)
{
    struct peer p;
    const char *code = m->target + 4;
    int found = peer_lookup(app, a, code, &p);
    if (found <= 0) {
        res->status = found < 0 ? OUTBOX_RETRY : OUTBOX_UNCONFIGURED;
        snprintf(res->error, sizeof res->error, found < 0 ? "database unavailable" : "no HL7 peer %s configured", code);
        return;
    }
    char *built = NULL;
    const char *er7 = m->payload;
    if (m->payload[0] == '{') {
        built = hl7e_adt_from_json(m->payload, res->error, sizeof res->error);
        if (!built) {
            res->status = OUTBOX_REJECTED;
            return;
        }
        er7 = built;
    }
    struct hl7e_settings s;
    hl7e_settings_load(&s);
    hl7_buf frame = {0}, ack = {0};
    hl7_mllp_frame(er7, strlen(er7), &frame);
    free(built);
    res->status = OUTBOX_RETRY;
    int fd = tcp_connect(&p, s.ack_timeout_ms, res->error, sizeof res->error);
    SSL *ssl = NULL;
    if (fd >= 0 && p.tls && !(ssl = tls_connect(fd, &p, res->error, sizeof res->error)))
        goto out;
    if (fd < 0)
        goto out;
    if (io_write(fd, ssl, frame.data, frame.len) < 0) {
        snprintf(res->error, sizeof res->error, "connection to %s lost while sending", code);
        goto out;
    }
    if (read_ack(fd, ssl, s.ack_timeout_ms, &ack) < 0) {
        snprintf(res->error, sizeof res->error, "no ACK from %s within %d ms", code, s.ack_timeout_ms);
        goto out;
    }
    res->error[0] = '\0';
    settle(m, &ack, res);
out:
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    if (fd >= 0)
        close(fd);
    ERR_clear_error();
    hl7_buf_free(&frame);
    hl7_buf_free(&ack);
}

void hl7e_outbound_register(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    outbox_register_target("hl7", deliver, true);
}

/* ------------------------------------------------------------ his hl7 peer */

static const enum config_key peer_keys[] = {CFG_DATA_DIR, CFG_DATABASE_URL, CFG_LOG_LEVEL, CFG_CONFIG_FILE,
                                            CFG__COUNT};

static int peer_exec(struct config *cfg, const char *sql, int n, const char *const *params, bool print)
{
    char err[2048];
    struct his_db db;
    if (his_db_open(cfg, &db, err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    PGconn *c = db_connect(db.conninfo, err, sizeof err);
    int rc = 1;
    if (!c) {
        fprintf(stderr, "his: cannot connect to the database: %s\n", err);
    } else {
        PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK) {
            rc = 0;
            for (int i = 0; print && i < PQntuples(r); i++)
                printf("%s %s:%s%s%s%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                       PQgetvalue(r, i, 3)[0] == 't' ? " tls" : "", PQgetvalue(r, i, 4)[0] ? " events=" : "",
                       PQgetvalue(r, i, 4));
            if (!print && PQntuples(r) == 0 && strncmp(sql, "DELETE", 6) == 0) {
                fprintf(stderr, "his hl7 peer: no such peer\n");
                rc = 1;
            }
        } else {
            fprintf(stderr, "his hl7 peer: %s", PQresultErrorMessage(r));
        }
        PQclear(r);
        PQfinish(c);
    }
    his_db_close(&db);
    return rc;
}

int cmd_hl7_peer(int argc, char **argv)
{
    const char *usage = "Usage: his hl7 peer add --code CODE --host HOST:PORT [--tls] [--events adt]\n"
                        "       his hl7 peer list | remove --code CODE\n"
                        "  [--data-dir DIR] [--database-url URL]\n"
                        "Where the peer facility CODE listens for MLLP; --tls: connect with TLS and present\n"
                        "HIS_HL7_TLS_CERT/KEY, checking the peer against HIS_HL7_TLS_CA; --events adt: also send it\n"
                        "every patient registration/update, admission and discharge (referrals, their answers and\n"
                        "results always go to the other end of the referral).";
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc < 2 ? stderr : stdout, "%s\n", usage);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    const char *code = NULL, *hostport = NULL, *events = "";
    const char *rest[32];
    int nrest = 0;
    bool tls = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--code") && i + 1 < argc)
            code = argv[++i];
        else if (!strcmp(argv[i], "--host") && i + 1 < argc)
            hostport = argv[++i];
        else if (!strcmp(argv[i], "--events") && i + 1 < argc)
            events = argv[++i];
        else if (!strcmp(argv[i], "--tls"))
            tls = true;
        else if (nrest < 30)
            rest[nrest++] = argv[i];
    }
    char *args[34];
    args[0] = (char *)"peer";
    for (int i = 0; i < nrest; i++)
        args[i + 1] = (char *)rest[i];
    struct config cfg;
    const char *pos[32];
    int np;
    int rc = his_parse_args(nrest + 1, args, peer_keys, usage, &cfg, pos, &np, NULL, NULL);
    if (rc == 3)
        return 0;
    if (rc)
        return rc;
    if (np) {
        fprintf(stderr, "his hl7 peer: unexpected argument %s\n", pos[0]);
        config_free(&cfg);
        return 2;
    }
    if (!strcmp(verb, "list")) {
        rc = peer_exec(&cfg, "SELECT facility_code, host, port, tls, array_to_string(events, ',') FROM hl7.peers "
                             "ORDER BY facility_code", 0, NULL, true);
    } else if (!strcmp(verb, "remove") && code) {
        const char *p[1] = {code};
        rc = peer_exec(&cfg, "DELETE FROM hl7.peers WHERE facility_code = $1 RETURNING 1", 1, p, false);
    } else if (!strcmp(verb, "add") && code && hostport) {
        const char *colon = strrchr(hostport, ':');
        if (!colon || colon == hostport || atoi(colon + 1) <= 0) {
            fprintf(stderr, "his hl7 peer: --host must be HOST:PORT\n");
            config_free(&cfg);
            return 2;
        }
        char *host = strndup(hostport, (size_t)(colon - hostport));
        const char *p[5] = {code, host, colon + 1, tls ? "true" : "false", events};
        rc = peer_exec(&cfg,
                       "INSERT INTO hl7.peers (facility_code, host, port, tls, events) VALUES ($1, $2, $3::int, $4::bool, "
                       "coalesce(string_to_array(NULLIF($5, ''), ','), '{}')::text[]) ON CONFLICT (facility_code) DO UPDATE SET "
                       "host = EXCLUDED.host, port = EXCLUDED.port, tls = EXCLUDED.tls, events = EXCLUDED.events, "
                       "updated_at = now()",
                       5, p, false);
        free(host);
    } else {
        fprintf(stderr, "%s\n", usage);
        rc = 2;
    }
    config_free(&cfg);
    return rc;
}
