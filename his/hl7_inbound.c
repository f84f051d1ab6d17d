/* Inbound HL7: receipt (store, commit, then ACK) and processing.
 *
 * Receipt is on the listener's connection thread and does as little as it
 * can: parse, check the header and the fields we will rely on, build the
 * ACK, and store message and ACK in ONE autocommit INSERT through an owner
 * connection scoped by hand (facility_id = the receiving facility, MSH-6).
 * The ACK goes out only after that commit. A duplicate (same receiving
 * facility, MSH-4 and MSH-10) conflicts on the unique key and gets the ACK
 * stored with the first copy.
 *
 * Processing is a separate thread: it takes stored messages in id order, a
 * batch per facility per transaction through the application pool with the
 * facility's scope (row-level security applies), a savepoint per message,
 * and records each one processed or error. Every message applied writes
 * audit rows with the HL7 system identity: user "hl7:<MSH-4>", role
 * "system", the receiving facility. */
#include "his/hl7_engine.h"
#include "core/audit.h"
#include "core/auth.h"
#include "core/log.h"
#include "core/text.h"
#include "his/idcard.h"

#include <ctype.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ERRS 16
#define FAC_CACHE 64
#define BATCH 50
#define WRITE_BATCH 64
#define BURST 200          /* messages stored during one processing batch */
#define BURST_PAUSE_MS 250

struct hl7e_in {
    struct app *app;
    db_pool_t *own;          /* owner connections for receipt (one statement each) */
    size_t max_message;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool kicked, stop, running;
    pthread_t thread;
    struct { char code[64]; long long id; } fac[FAC_CACHE];
    int nfac;
    /* Group commit: connection threads queue their message, one writer
     * stores everything queued in one INSERT (one commit, one fsync) and
     * wakes them; each then sends its ACK. */
    pthread_mutex_t qmu;
    pthread_cond_t qcv, donecv;
    struct pending *qhead, *qtail;
    bool wstop, wrunning;
    pthread_t writer;
    atomic_long stored;      /* messages stored since start (burst detection) */
};

struct pending {
    const struct receipt *r;
    const char *raw;
    size_t rawlen;
    hl7_buf *ack;
    const char *peer_cn;
    long long id;            /* row id, -1 if not stored */
    bool inserted, done;
    struct pending *next;
};

/* What receipt decided about one message. */
struct receipt {
    long long facility_id;
    char sender[201], control_id[201], type[31];
    hl7_error errs[MAX_ERRS];
    int nerrs;
    bool reject;             /* AR (header-level) rather than AE */
};

hl7e_in_t *hl7e_in_new(struct app *app, int connections)
{
    hl7e_in_t *in = calloc(1, sizeof *in);
    in->app = app;
    /* As many owner connections as MLLP connections can use at once, but a
     * handful is enough: a receipt holds one for a single round trip. */
    in->own = db_pool_new(db_pool_conninfo(app->sysdb), connections < 16 ? connections : 16, NULL);
    struct hl7e_settings s;
    hl7e_settings_load(&s);
    in->max_message = s.max_message;
    pthread_mutex_init(&in->mu, NULL);
    pthread_cond_init(&in->cv, NULL);
    pthread_mutex_init(&in->qmu, NULL);
    pthread_cond_init(&in->qcv, NULL);
    pthread_cond_init(&in->donecv, NULL);
    return in;
}

void hl7e_in_free(hl7e_in_t *in)
{
    if (!in)
        return;
    db_pool_free(in->own);
    pthread_mutex_destroy(&in->mu);
    pthread_cond_destroy(&in->cv);
    pthread_mutex_destroy(&in->qmu);
    pthread_cond_destroy(&in->qcv);
    pthread_cond_destroy(&in->donecv);
    free(in);
}

void hl7e_now(char out[16])
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

/* ------------------------------------------------------------ receipt checks */

static void err_add(struct receipt *r, int hl7_code, const char *seg, int field, int comp, bool reject,
                    const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void err_add(struct receipt *r, int hl7_code, const char *seg, int field, int comp, bool reject,
                    const char *fmt, ...)
{
    if (reject)
        r->reject = true;
    if (r->nerrs >= MAX_ERRS)
        return;
    hl7_error *e = &r->errs[r->nerrs++];
    memset(e, 0, sizeof *e);
    e->code = HL7_EVALUE;
    e->hl7_code = hl7_code;
    e->severity = 'E';
    snprintf(e->segment, sizeof e->segment, "%s", seg);
    e->seg_seq = seg[0] ? 1 : 0;
    e->field = field;
    e->component = comp;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

static void get(const hl7_msg *m, const char *path, char *buf, size_t n)
{
    if (hl7_get(m, path, buf, n) < 0)
        buf[0] = '\0';
}

static bool all_digits(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool facility_code_ok(const char *s)
{
    return strlen(s) == 5 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
           (isdigit((unsigned char)s[2]) || isupper((unsigned char)s[2])) &&
           (isdigit((unsigned char)s[3]) || isupper((unsigned char)s[3])) &&
           (isdigit((unsigned char)s[4]) || isupper((unsigned char)s[4]));
}

static bool card_ok(const char *s)
{
    if (strlen(s) != 15 || !isupper((unsigned char)s[0]) || !isupper((unsigned char)s[1]) || s[2] < '1' || s[2] > '5')
        return false;
    return all_digits(s + 3, 12);
}

static bool icd10_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 6 || !isupper((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
        !isdigit((unsigned char)s[2]))
        return false;
    if (n == 3)
        return true;
    if (s[3] != '.' || n < 5)
        return false;
    for (size_t i = 4; i < n; i++)
        if (!isdigit((unsigned char)s[i]) && !isupper((unsigned char)s[i]))
            return false;
    return true;
}

static const char *const supported[] = {"ADT^A01", "ADT^A03", "ADT^A04", "ADT^A08", "ADT^A28",
                                        "ADT^A31", "REF^I12", "RRI^I12", "ORU^R01", NULL};

static long long facility_lookup(hl7e_in_t *in, const char *code)
{
    pthread_mutex_lock(&in->mu);
    for (int i = 0; i < in->nfac; i++)
        if (strcmp(in->fac[i].code, code) == 0) {
            long long id = in->fac[i].id;
            pthread_mutex_unlock(&in->mu);
            return id;
        }
    pthread_mutex_unlock(&in->mu);
    arena_t *a = arena_new(1024);
    bool unavailable = false;
    const char *p[1] = {code};
    PGresult *r = db_query_once(in->own, a, "SELECT id FROM core.facilities WHERE code = $1", 1, p, &unavailable);
    long long id = r && PQntuples(r) ? db_ll(r, 0, 0) : (unavailable ? -1 : 0);
    arena_free(a);
    if (id > 0) {
        pthread_mutex_lock(&in->mu);
        if (in->nfac < FAC_CACHE) {
            snprintf(in->fac[in->nfac].code, sizeof in->fac[0].code, "%s", code);
            in->fac[in->nfac++].id = id;
        }
        pthread_mutex_unlock(&in->mu);
    }
    return id;
}

/* MSH: what we need to store, route and answer the message. */
static void check_header(hl7e_in_t *in, const hl7_msg *m, const char *peer_cn, struct receipt *r)
{
    char to[64], ver[16], t1[8], t2[8];
    get(m, "MSH-4-1", r->sender, sizeof r->sender);
    get(m, "MSH-10", r->control_id, sizeof r->control_id);
    get(m, "MSH-6-1", to, sizeof to);
    get(m, "MSH-12-1", ver, sizeof ver);
    get(m, "MSH-9-1", t1, sizeof t1);
    get(m, "MSH-9-2", t2, sizeof t2);
    snprintf(r->type, sizeof r->type, "%s^%s", t1, t2);
    if (!r->sender[0])
        err_add(r, 101, "MSH", 4, 1, true, "MSH-4 sending facility is required");
    if (!r->control_id[0])
        err_add(r, 101, "MSH", 10, 0, true, "MSH-10 message control id is required");
    if (strncmp(ver, "2.", 2) != 0)
        err_add(r, 203, "MSH", 12, 1, true, "MSH-12 version '%s' is not supported (2.x)", ver);
    bool known = false;
    for (int i = 0; supported[i]; i++)
        known = known || strcmp(r->type, supported[i]) == 0;
    if (!known)
        err_add(r, strcmp(t1, "ADT") == 0 ? 201 : 200, "MSH", 9, 0, true, "message type %s is not supported here",
                r->type);
    long long fid = to[0] ? facility_lookup(in, to) : 0;
    if (fid < 0)
        fid = 0;
    if (fid == 0)
        err_add(r, 204, "MSH", 6, 1, true, "MSH-6 receiving facility '%s' is not served here", to);
    r->facility_id = fid;
    /* With TLS the certificate names the hospital: it may only speak for
     * itself. */
    if (peer_cn && facility_code_ok(peer_cn) && strcmp(peer_cn, r->sender) != 0)
        err_add(r, 204, "MSH", 4, 1, true, "MSH-4 '%s' does not match the client certificate (%s)", r->sender,
                peer_cn);
}

/* PID values we will store: wrong ones are refused now, naming the field,
 * rather than failing later where the sender cannot see it. */
static void check_pid(const hl7_msg *m, struct receipt *r)
{
    if (!hl7_segment_find(m, "PID", 1))
        return;
    char v[256], path[32];
    size_t reps = 0;
    const hl7_node *f3 = hl7_field(m, hl7_segment_find(m, "PID", 1), 3);
    reps = f3 ? hl7_node_count(f3) : 0;
    if (reps == 0)
        reps = 1;
    for (size_t i = 1; i <= reps && i <= 10; i++) {
        char type[16];
        snprintf(path, sizeof path, "PID-3[%zu]-5", i);
        get(m, path, type, sizeof type);
        snprintf(path, sizeof path, "PID-3[%zu]-1", i);
        get(m, path, v, sizeof v);
        if (strcmp(type, "NI") == 0 && !all_digits(v, 12))
            err_add(r, 102, "PID", 3, 1, false, "PID-3 repetition %zu: CCCD must be 12 digits", i);
        if (strcmp(type, "HC") == 0 && !card_ok(v))
            err_add(r, 102, "PID", 3, 1, false, "PID-3 repetition %zu: insurance card number is not valid", i);
    }
    get(m, "PID-5-1", v, sizeof v);
    if (!v[0])
        err_add(r, 101, "PID", 5, 1, false, "PID-5 patient name is required");
    get(m, "PID-7-1", v, sizeof v);
    int year = strlen(v) >= 4 ? (v[0] - '0') * 1000 + (v[1] - '0') * 100 + (v[2] - '0') * 10 + (v[3] - '0') : 0;
    if (!(all_digits(v, 4) || all_digits(v, 8) || (strlen(v) > 8 && all_digits(v, strlen(v)))) || year < 1880 ||
        year > 2200)
        err_add(r, 102, "PID", 7, 1, false, "PID-7 birth date must be YYYY or YYYYMMDD");
    get(m, "PID-22-1", v, sizeof v);
    if (v[0] && !all_digits(v, 2))
        err_add(r, 103, "PID", 22, 1, false, "PID-22 ethnic group must be a 2-digit code");
    get(m, "PID-11-3", v, sizeof v);
    if (v[0] && !all_digits(v, 5))
        err_add(r, 102, "PID", 11, 3, false, "PID-11-3 commune code must be 5 digits");
    get(m, "PID-11-4", v, sizeof v);
    if (v[0] && !all_digits(v, 2))
        err_add(r, 102, "PID", 11, 4, false, "PID-11-4 province code must be 2 digits");
    get(m, "IN1-36-1", v, sizeof v);
    if (v[0] && !card_ok(v))
        err_add(r, 102, "IN1", 36, 1, false, "IN1-36 insurance card number is not valid");
}

/* The fields each message type needs beyond what the validator knows. */
static void check_body(const hl7_msg *m, struct receipt *r)
{
    char v[256];
    bool referral = strncmp(r->type, "REF", 3) == 0 || strncmp(r->type, "RRI", 3) == 0;
    if ((referral || strcmp(r->type, "ORU^R01") == 0) && r->sender[0] && !facility_code_ok(r->sender))
        err_add(r, 102, "MSH", 4, 1, false, "MSH-4 must be the sending facility's 5-character code");
    if (referral) {
        get(m, "RF1-6-1", v, sizeof v);
        if (!v[0])
            err_add(r, 101, "RF1", 6, 1, false, "RF1-6 referral number is required");
    }
    if (strcmp(r->type, "REF^I12") == 0) {
        get(m, "RF1-10-2", v, sizeof v);
        if (!v[0])
            err_add(r, 101, "RF1", 10, 2, false, "RF1-10 referral reason text is required");
        get(m, "RF1-10-1", v, sizeof v);
        if (v[0] && !(strlen(v) == 1 && v[0] >= '1' && v[0] <= '3'))
            err_add(r, 103, "RF1", 10, 1, false, "RF1-10-1 reason code must be 1, 2 or 3 (MA_LYDO_CT)");
        get(m, "DG1-3-1", v, sizeof v);
        if (!icd10_ok(v))
            err_add(r, 102, "DG1", 3, 1, false, "DG1-3 diagnosis must be an ICD-10 code");
    }
    if (strcmp(r->type, "RRI^I12") == 0) {
        get(m, "RF1-1-1", v, sizeof v);
        if (strcmp(v, "A") && strcmp(v, "R") && strcmp(v, "P"))
            err_add(r, 103, "RF1", 1, 1, false, "RF1-1 referral status must be A, R or P");
    }
    if (strcmp(r->type, "ORU^R01") == 0) {
        get(m, "OBR-2-1", v, sizeof v);
        if (!v[0])
            err_add(r, 101, "OBR", 2, 1, false, "OBR-2 placer order number (the referral number) is required");
        if (!hl7_segment_find(m, "OBX", 1))
            err_add(r, 101, "OBX", 0, 0, false, "ORU^R01 without OBX results");
    }
    if (strncmp(r->type, "ADT", 3) == 0 && (strcmp(r->type, "ADT^A01") == 0 || strcmp(r->type, "ADT^A03") == 0)) {
        get(m, "PV1-19-1", v, sizeof v);
        if (!v[0])
            err_add(r, 101, "PV1", 19, 1, false, "PV1-19 visit number is required for admission and discharge");
    }
}

static void check_message(hl7e_in_t *in, const hl7_msg *m, const char *peer_cn, struct receipt *r)
{
    check_header(in, m, peer_cn, r);
    if (r->reject)
        return;
    hl7_error verrs[MAX_ERRS];
    int nv = hl7_validate(m, verrs, MAX_ERRS);
    for (int i = 0; i < nv && i < MAX_ERRS && r->nerrs < MAX_ERRS; i++)
        r->errs[r->nerrs++] = verrs[i];
    check_pid(m, r);
    check_body(m, r);
}

/* ------------------------------------------------------------ ACKs */

/* An AR built by hand, for frames that are not a message at all. */
static void nak_build(const char *control_id, const hl7_error *e, hl7_buf *ack)
{
    hl7_msg *a = NULL;
    char ts[16], id[40];
    hl7e_now(ts);
    snprintf(id, sizeof id, "NAK%s%06ld", ts, random() % 1000000);
    if (hl7_msg_create(NULL, &a) < 0)
        return;
    hl7_set(a, "MSH-3", "HIS", NULL);
    hl7_set(a, "MSH-7", ts, NULL);
    hl7_set(a, "MSH-9-1", "ACK", NULL);
    hl7_set(a, "MSH-10", id, NULL);
    hl7_set(a, "MSH-11", "P", NULL);
    hl7_set(a, "MSH-12", "2.5", NULL);
    hl7_set(a, "MSA-1", "AR", NULL);
    hl7_set(a, "MSA-2", control_id ? control_id : "", NULL);
    char loc[64], code[16];
    snprintf(loc, sizeof loc, "%s", e->segment[0] ? e->segment : "MSH");
    hl7_set(a, "ERR-2-1", loc, NULL);
    if (e->field) {
        snprintf(loc, sizeof loc, "%d", e->field);
        hl7_set(a, "ERR-2-3", loc, NULL);
    }
    snprintf(code, sizeof code, "%d", e->hl7_code ? e->hl7_code : 100);
    hl7_set(a, "ERR-3-1", code, NULL);
    hl7_set(a, "ERR-3-3", "HL70357", NULL);
    hl7_set(a, "ERR-4", "E", NULL);
    hl7_set(a, "ERR-8", e->message, NULL);
    hl7_serialize(a, ack);
    hl7_msg_free(a);
}

void hl7e_nak(const char *text, hl7_buf *ack)
{
    hl7_error e = {.hl7_code = 100, .severity = 'E'};
    snprintf(e.message, sizeof e.message, "%s", text);
    nak_build(NULL, &e, ack);
}

static void ack_build(const hl7_msg *m, const struct receipt *r, hl7_buf *ack)
{
    hl7_ack_opts o = {.code = r->reject ? "AR" : r->nerrs ? "AE" : "AA"};
    hl7_msg *a = NULL;
    hl7_error e;
    if (hl7_ack(m, &o, r->errs, (size_t)r->nerrs, &a, &e) < 0 || hl7_serialize(a, ack) < 0) {
        ack->len = 0;
        nak_build(r->control_id, r->nerrs ? &r->errs[0] : &e, ack);
    }
    hl7_msg_free(a);
}

static const char *ack_code_of(const hl7_buf *ack)
{
    /* MSA-1 of what we built; the enhanced codes when the sender asked. */
    const char *p = memmem(ack->data, ack->len, "\rMSA|", 5);
    if (!p || p + 7 > ack->data + ack->len)
        return "AR";
    if (p[5] == 'A' || p[5] == 'C') {
        if (p[6] == 'A')
            return p[5] == 'A' ? "AA" : "CA";
        if (p[6] == 'E')
            return p[5] == 'A' ? "AE" : "CE";
    }
    return p[5] == 'C' ? "CR" : "AR";
}

/* ------------------------------------------------------------ storing */

/* The audit identity of the engine: no user, the receiving facility, the
 * sending facility in the user name. */
struct actor {
    struct auth_user user;
    http_req_t req;
    char name[220];
};

static void actor_init(struct actor *a, long long fid, const char *sender, long long msg_id)
{
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "hl7:%.200s", sender && *sender ? sender : "?");
    a->user.username = a->name;
    a->user.role = "system";
    a->user.facility_id = fid;
    a->req.user = &a->user;
    snprintf(a->req.request_id, sizeof a->req.request_id, "hl7-%lld", msg_id);
}

static const char *STORE_SQL =
    "WITH ins AS (INSERT INTO hl7.messages (facility_id, sender, control_id, message_type, raw, ack, ack_code, "
    "state, error, peer_cn) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
    "ON CONFLICT (facility_id, sender, control_id) DO NOTHING RETURNING id) "
    "SELECT id, NULL::bytea, true FROM ins UNION ALL "
    "SELECT id, ack, false FROM hl7.messages WHERE facility_id = $1 AND sender = $2 AND control_id = $3 "
    "AND NOT EXISTS (SELECT 1 FROM ins)";

static long long be64(const char *p)
{
    unsigned long long v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | (unsigned char)p[i];
    return (long long)v;
}

static void error_text(const struct receipt *r, char *err, size_t n);

/* One statement, autocommit: stored and durable when it returns. On a
 * duplicate, ack is replaced by the ACK stored with the first copy.
 * Returns the row id (>0), or -1 if the database could not take it. */
static long long store(PGconn *c, const struct receipt *r, const char *raw, size_t rawlen, hl7_buf *ack,
                       const char *peer_cn, bool *inserted)
{
    char fid[24], err[600];
    snprintf(fid, sizeof fid, "%lld", r->facility_id);
    bool ok = r->nerrs == 0;
    error_text(r, err, sizeof err);
    const char *p[10] = {fid, r->sender, r->control_id, r->type, raw, ack->data, ack_code_of(ack),
                         ok ? "received" : "error", ok ? NULL : err, peer_cn};
    int len[10] = {0, 0, 0, 0, (int)rawlen, (int)ack->len, 0, 0, 0, 0};
    int fmt[10] = {0, 0, 0, 0, 1, 1, 0, 0, 0, 0};
    for (int attempt = 0; attempt < 3; attempt++) {
        PGresult *res = PQexecParams(c, STORE_SQL, 10, NULL, p, len, fmt, 1);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            log_warn("hl7: cannot store a message: %s", PQresultErrorMessage(res));
            PQclear(res);
            return -1;
        }
        if (PQntuples(res) == 0) {
            /* The first copy is being stored by another connection right
             * now: its commit is what we waited for; look again. */
            PQclear(res);
            continue;
        }
        long long id = be64(PQgetvalue(res, 0, 0));
        *inserted = PQgetvalue(res, 0, 2)[0] != 0;
        if (!*inserted) {
            ack->len = 0;
            hl7_buf_append(ack, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1));
        }
        PQclear(res);
        return id;
    }
    return -1;
}

/* Refused messages are rare: they get their audit row right after they
 * are stored (accepted ones are audited by the processor). */
static void audit_refused(PGconn *c, const struct receipt *r, long long id)
{
    arena_t *a = arena_new(4096);
    db_tx_t tx = {.conn = c, .arena = a};
    struct actor act;
    actor_init(&act, r->facility_id, r->sender, id);
    char eid[24];
    snprintf(eid, sizeof eid, "%lld", id);
    audit_record(&tx, &act.req, "receive", "hl7_message", eid, 0, "invalid", r->type);
    arena_free(a);
}

static void unparsed_receipt(const char *frame, size_t len, const hl7_error *perr, struct receipt *r)
{
    /* Nothing names it: the content's hash stands for MSH-10, so the same
     * garbage sent twice is one row. */
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)frame, len, h);
    r->control_id[0] = '#';
    for (int i = 0; i < 16; i++)
        snprintf(r->control_id + 1 + 2 * i, 3, "%02x", h[i]);
    snprintf(r->type, sizeof r->type, "?");
    r->errs[0] = *perr;
    if (!r->errs[0].hl7_code)
        r->errs[0].hl7_code = 100;
    r->nerrs = 1;
    r->reject = true;
}

/* When the whole message does not parse, its MSH alone often does: then
 * the sender learns which message was refused and why. */
static hl7_msg *parse_header_only(const char *frame, size_t len)
{
    size_t n = 0;
    while (n < len && frame[n] != '\r' && frame[n] != '\n')
        n++;
    hl7_msg *m = NULL;
    if (n >= 3 && hl7_parse(frame, n, NULL, &m, NULL) < 0)
        m = NULL;
    return m;
}

static void error_text(const struct receipt *r, char *err, size_t n)
{
    err[0] = '\0';
    if (!r->nerrs)
        return;
    hl7_error_format(&r->errs[0], err, n);
    if (r->nerrs > 1)
        snprintf(err + strlen(err), n - strlen(err), " (and %d more)", r->nerrs - 1);
}

/* Stores n queued messages with one multi-row INSERT in autocommit: one
 * commit for all of them. Rows that conflict (duplicates) are not returned
 * and go through store() one by one, which hands back the stored ACK.
 * Returns 0, or -1 when the statement failed (nothing of it stored). */
static int write_batch(PGconn *c, struct pending **items, int n)
{
    enum { NP = 10 };
    size_t cap = 512 + (size_t)n * 96;
    char *sql = malloc(cap);
    size_t k = (size_t)snprintf(sql, cap,
                                "INSERT INTO hl7.messages (facility_id, sender, control_id, message_type, raw, ack, "
                                "ack_code, state, error, peer_cn) VALUES ");
    const char **vals = calloc((size_t)n * NP, sizeof *vals);
    int *lens = calloc((size_t)n * NP, sizeof *lens), *fmts = calloc((size_t)n * NP, sizeof *fmts);
    char (*fids)[24] = calloc((size_t)n, sizeof *fids), (*errs)[600] = calloc((size_t)n, sizeof *errs);
    for (int i = 0; i < n; i++) {
        const struct pending *p = items[i];
        int b = i * NP;
        k += (size_t)snprintf(sql + k, cap - k, "%s($%d::bigint, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)",
                              i ? ", " : "", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10);
        snprintf(fids[i], sizeof fids[i], "%lld", p->r->facility_id);
        error_text(p->r, errs[i], sizeof errs[i]);
        const char *v[NP] = {fids[i], p->r->sender, p->r->control_id, p->r->type, p->raw, p->ack->data,
                             ack_code_of(p->ack), p->r->nerrs ? "error" : "received", p->r->nerrs ? errs[i] : NULL,
                             p->peer_cn};
        memcpy(vals + b, v, sizeof v);
        lens[b + 4] = (int)p->rawlen;
        lens[b + 5] = (int)p->ack->len;
        fmts[b + 4] = fmts[b + 5] = 1;
    }
    snprintf(sql + k, cap - k, " ON CONFLICT (facility_id, sender, control_id) DO NOTHING "
                               "RETURNING id, facility_id, sender, control_id");
    PGresult *res = PQexecParams(c, sql, n * NP, NULL, vals, lens, fmts, 0);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc < 0)
        log_warn("hl7: cannot store %d message(s): %s", n, PQresultErrorMessage(res));
    for (int row = 0; rc == 0 && row < PQntuples(res); row++)
        for (int i = 0; i < n; i++) {
            struct pending *p = items[i];
            if (!p->inserted && p->r->facility_id == db_ll(res, row, 1) && !strcmp(p->r->sender, db_val(res, row, 2)) &&
                !strcmp(p->r->control_id, db_val(res, row, 3))) {
                p->inserted = true;
                p->id = db_ll(res, row, 0);
                break;
            }
        }
    PQclear(res);
    for (int i = 0; rc == 0 && i < n; i++)
        if (!items[i]->inserted) /* a duplicate: answer with the first copy's ACK */
            items[i]->id = store(c, items[i]->r, items[i]->raw, items[i]->rawlen, items[i]->ack, items[i]->peer_cn,
                                 &items[i]->inserted);
    free(sql);
    free(vals);
    free(lens);
    free(fmts);
    free(fids);
    free(errs);
    return rc;
}

static void *writer_main(void *arg)
{
    hl7e_in_t *in = arg;
    struct pending *batch[WRITE_BATCH];
    for (;;) {
        pthread_mutex_lock(&in->qmu);
        while (!in->qhead && !in->wstop)
            pthread_cond_wait(&in->qcv, &in->qmu);
        if (!in->qhead && in->wstop) {
            pthread_mutex_unlock(&in->qmu);
            break;
        }
        int n = 0;
        while (in->qhead && n < WRITE_BATCH) {
            batch[n++] = in->qhead;
            in->qhead = in->qhead->next;
        }
        if (!in->qhead)
            in->qtail = NULL;
        pthread_mutex_unlock(&in->qmu);
        PGconn *c = db_pool_acquire(in->own, 5000);
        int rc = c ? write_batch(c, batch, n) : -1;
        /* A batch refused as a whole (one odd row): each one alone, so
         * only the odd one fails. */
        for (int i = 0; rc < 0 && c && n > 1 && i < n; i++)
            if (write_batch(c, &batch[i], 1) < 0)
                batch[i]->id = -1;
        if (c)
            db_pool_release(in->own, c);
        pthread_mutex_lock(&in->qmu);
        for (int i = 0; i < n; i++) {
            if (rc < 0 && (n == 1 || !c))
                batch[i]->id = -1;
            batch[i]->done = true;
        }
        pthread_cond_broadcast(&in->donecv);
        pthread_mutex_unlock(&in->qmu);
    }
    return NULL;
}

static int writer_start(hl7e_in_t *in)
{
    in->wstop = false;
    if (pthread_create(&in->writer, NULL, writer_main, in) != 0)
        return -1;
    in->wrunning = true;
    return 0;
}

static void writer_stop(hl7e_in_t *in)
{
    if (!in->wrunning)
        return;
    pthread_mutex_lock(&in->qmu);
    in->wstop = true;
    pthread_cond_signal(&in->qcv);
    pthread_mutex_unlock(&in->qmu);
    pthread_join(in->writer, NULL);
    in->wrunning = false;
}

/* Queues one message for the writer and waits until it is committed. */
static long long store_grouped(hl7e_in_t *in, struct pending *p)
{
    pthread_mutex_lock(&in->qmu);
    if (in->qtail)
        in->qtail->next = p;
    else
        in->qhead = p;
    in->qtail = p;
    pthread_cond_signal(&in->qcv);
    while (!p->done)
        pthread_cond_wait(&in->donecv, &in->qmu);
    pthread_mutex_unlock(&in->qmu);
    return p->id;
}

int hl7e_ingest(hl7e_in_t *in, const char *frame, size_t len, const char *peer_cn, hl7_buf *ack)
{
    struct receipt r;
    memset(&r, 0, sizeof r);
    hl7_limits lim;
    hl7_limits_default(&lim);
    lim.max_message = in->max_message;
    hl7_msg *m = NULL;
    hl7_error perr;
    memset(&perr, 0, sizeof perr);
    if (hl7_parse(frame, len, &lim, &m, &perr) == 0) {
        check_message(in, m, peer_cn, &r);
        ack_build(m, &r, ack);
    } else if ((m = parse_header_only(frame, len)) != NULL) {
        check_header(in, m, peer_cn, &r);
        if (perr.hl7_code == 0)
            perr.hl7_code = 100;
        perr.severity = 'E';
        r.errs[r.nerrs < MAX_ERRS ? r.nerrs++ : MAX_ERRS - 1] = perr;
        r.reject = true;
        if (!r.control_id[0])
            unparsed_receipt(frame, len, &perr, &r);
        ack_build(m, &r, ack);
    } else {
        unparsed_receipt(frame, len, &perr, &r);
        nak_build(NULL, &perr, ack);
    }
    hl7_msg_free(m);
    struct pending p = {.r = &r, .raw = frame, .rawlen = len, .ack = ack, .peer_cn = peer_cn};
    long long id = store_grouped(in, &p);
    if (id < 0)
        return -1;
    if (p.inserted && r.nerrs) {
        PGconn *c = db_pool_acquire(in->own, 5000);
        if (c) {
            audit_refused(c, &r, id);
            db_pool_release(in->own, c);
        }
    }
    atomic_fetch_add(&in->stored, 1);
    if (p.inserted && !r.nerrs) {
        pthread_mutex_lock(&in->mu);
        in->kicked = true;
        pthread_cond_signal(&in->cv);
        pthread_mutex_unlock(&in->mu);
    }
    return 0;
}

/* ------------------------------------------------------------ processing */

struct pctx {
    db_tx_t *tx;
    arena_t *a;
    hl7_msg *m;
    const char *sender, *type, *control_id;
    long long msg_id;
    struct actor *act;
    long long patient_id;
    char err[512];
};

static int fail(struct pctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct pctx *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* Decoded value in the arena, NULL when empty. */
static const char *val(struct pctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *val(struct pctx *p, const char *fmt, ...)
{
    char path[48];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    char buf[4096];
    ssize_t n = hl7_get(p->m, path, buf, sizeof buf);
    if (n <= 0)
        return NULL;
    return arena_strdup(p->a, buf);
}

/* HL7 DTM to a timestamptz literal in the session's zone; NULL if empty. */
static const char *dtm(struct pctx *p, const char *s)
{
    if (!s)
        return NULL;
    char d[15] = "00000000000000";
    size_t i = 0;
    while (i < 14 && isdigit((unsigned char)s[i])) {
        d[i] = s[i];
        i++;
    }
    if (i < 8)
        return NULL;
    const char *zone = strpbrk(s, "+-");
    return arena_printf(p->a, "%.4s-%.2s-%.2s %.2s:%.2s:%.2s%s", d, d + 4, d + 6, d + 8, d + 10, d + 12,
                        zone && strlen(zone) == 5 ? zone : "");
}

static const char *ll(struct pctx *p, long long v)
{
    return arena_printf(p->a, "%lld", v);
}

static int audit(struct pctx *p, const char *action, const char *entity, long long id)
{
    return audit_record(p->tx, &p->act->req, action, entity, ll(p, id), p->patient_id, "ok",
                        arena_printf(p->a, "%s %s", p->type, p->control_id));
}

struct pid_rec {
    const char *full_name, *name_fold, *birth_date, *birth_year, *sex, *cccd, *card, *phone, *ethnicity;
    const char *province, *commune, *village, *line, *card_from, *card_to, *card_fac;
};

static const char *date_of(struct pctx *p, const char *s)
{
    if (!s || strlen(s) < 8)
        return NULL;
    return arena_printf(p->a, "%.4s-%.2s-%.2s", s, s + 4, s + 6);
}

static void pid_read(struct pctx *p, struct pid_rec *r)
{
    memset(r, 0, sizeof *r);
    const char *fam = val(p, "PID-5-1"), *given = val(p, "PID-5-2"), *middle = val(p, "PID-5-3");
    r->full_name = arena_printf(p->a, "%s%s%s%s%s", fam ? fam : "", middle ? " " : "", middle ? middle : "",
                                given ? " " : "", given ? given : "");
    char fold[800];
    text_fold(r->full_name, fold, sizeof fold);
    r->name_fold = arena_strdup(p->a, fold);
    const char *birth = val(p, "PID-7-1");
    r->birth_year = birth ? arena_strndup(p->a, birth, 4) : NULL;
    r->birth_date = date_of(p, birth);
    const char *sex = val(p, "PID-8");
    r->sex = sex && !strcmp(sex, "M") ? "male" : sex && !strcmp(sex, "F") ? "female" : "unknown";
    for (int i = 1; i <= 10; i++) {
        const char *id = val(p, "PID-3[%d]-1", i), *type = val(p, "PID-3[%d]-5", i);
        if (!id)
            break;
        if (type && !strcmp(type, "NI"))
            r->cccd = id;
        if (type && !strcmp(type, "HC"))
            r->card = id;
    }
    const char *in1 = val(p, "IN1-36-1");
    if (in1)
        r->card = in1;
    r->card_from = date_of(p, val(p, "IN1-12"));
    r->card_to = date_of(p, val(p, "IN1-13"));
    r->card_fac = val(p, "IN1-35");
    if (r->card_fac && !facility_code_ok(r->card_fac))
        r->card_fac = NULL;
    const char *phone = val(p, "PID-13-1");
    char digits[16];
    r->phone = phone && idcard_phone_normalize(phone, digits, sizeof digits) == IDCARD_OK ? arena_strdup(p->a, digits)
                                                                                    : NULL;
    r->ethnicity = val(p, "PID-22-1");
    r->line = val(p, "PID-11-1");
    r->village = val(p, "PID-11-2");
    r->commune = val(p, "PID-11-3");
    r->province = val(p, "PID-11-4");
}

static const char *PATIENT_INSERT =
    "INSERT INTO clinical.patients (full_name, name_fold, birth_date, birth_year, sex, cccd, phone, ethnicity, "
    "province_code, commune_code, village, address_line, card_number, card_valid_from, card_valid_to, "
    "card_primary_facility) VALUES ($1, $2, $3::date, $4::smallint, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
    "$14::date, $15::date, $16) RETURNING id";

static const char *PATIENT_UPDATE =
    "UPDATE clinical.patients SET full_name = $2, name_fold = $3, birth_date = coalesce($4::date, birth_date), "
    "birth_year = $5::smallint, sex = CASE WHEN $6 = 'unknown' THEN sex ELSE $6 END, cccd = coalesce($7, cccd), "
    "phone = coalesce($8, phone), ethnicity = coalesce($9, ethnicity), province_code = coalesce($10, province_code), "
    "commune_code = coalesce($11, commune_code), village = coalesce($12, village), "
    "address_line = coalesce($13, address_line), card_number = coalesce($14, card_number), "
    "card_valid_from = coalesce($15::date, card_valid_from), card_valid_to = coalesce($16::date, card_valid_to), "
    "card_primary_facility = coalesce($17, card_primary_facility), version = version + 1, updated_at = now() "
    "WHERE id = $1";

/* The patient of PID within the receiving facility: matched by CCCD, then
 * card number; created when neither matches. update: ADT registration and
 * update messages overwrite the fields they carry. */
static int patient_upsert(struct pctx *p, bool update)
{
    struct pid_rec r;
    pid_read(p, &r);
    if (!r.cccd && !r.card)
        goto create;
    PGresult *q = db_q(p->tx,
                       "SELECT id FROM clinical.patients WHERE merged_into IS NULL AND (cccd = $1 OR card_number = $2) "
                       "ORDER BY (cccd IS NOT DISTINCT FROM $1) DESC, id LIMIT 1",
                       r.cccd, r.card);
    if (!q)
        return fail(p, "patient look-up failed: %s", p->tx->error);
    if (PQntuples(q) == 0)
        goto create;
    p->patient_id = db_ll(q, 0, 0);
    if (!update)
        return 0;
    if (!db_q(p->tx, PATIENT_UPDATE, ll(p, p->patient_id), r.full_name, r.name_fold, r.birth_date, r.birth_year,
              r.sex, r.cccd, r.phone, r.ethnicity, r.province, r.commune, r.village, r.line, r.card, r.card_from,
              r.card_to, r.card_fac))
        return fail(p, "patient update failed: %s", p->tx->error);
    return audit(p, "update", "patient", p->patient_id);
create:
    q = db_q(p->tx, PATIENT_INSERT, r.full_name, r.name_fold, r.birth_date, r.birth_year, r.sex, r.cccd, r.phone,
             r.ethnicity, r.province, r.commune, r.village, r.line, r.card, r.card_from, r.card_to, r.card_fac);
    if (!q)
        return fail(p, "patient not created: %s", p->tx->error);
    p->patient_id = db_ll(q, 0, 0);
    return audit(p, "create", "patient", p->patient_id);
}

static int do_admit(struct pctx *p)
{
    const char *number = val(p, "PV1-19-1");
    const char *at = dtm(p, val(p, "PV1-44-1"));
    const char *cls = val(p, "PV1-2");
    const char *kind = cls && !strcmp(cls, "E") ? "emergency" : "inpatient";
    PGresult *q = db_q(p->tx, "SELECT visit_id FROM hl7.visit_links WHERE sender = $1 AND visit_number = $2",
                       p->sender, number);
    if (!q)
        return fail(p, "visit look-up failed: %s", p->tx->error);
    if (PQntuples(q) > 0)
        return 0; /* admitted already under this number: nothing new */
    q = db_q(p->tx,
             "INSERT INTO clinical.visits (id, patient_id, ma_lk, kind, received_at, admitted_at, reason) "
             "SELECT s.n, $1, f.code || to_char(s.t, 'YYMMDD') || lpad(s.n::text, 8, '0'), $2, s.t, s.t, $4 "
             "FROM (SELECT nextval('clinical.visits_id_seq') AS n, coalesce($3::timestamptz, now()) AS t) s, "
             "core.facilities f WHERE f.id = current_setting('his.facility_id')::bigint RETURNING id",
             ll(p, p->patient_id), kind, at, val(p, "PV2-3-2"));
    if (!q || PQntuples(q) != 1)
        return fail(p, "visit not created: %s", p->tx->error);
    long long vid = db_ll(q, 0, 0);
    if (!db_q(p->tx, "INSERT INTO hl7.visit_links (sender, visit_number, visit_id) VALUES ($1, $2, $3)", p->sender,
              number, ll(p, vid)))
        return fail(p, "visit link not stored: %s", p->tx->error);
    return audit(p, "create", "visit", vid);
}

static int do_discharge(struct pctx *p)
{
    const char *number = val(p, "PV1-19-1");
    PGresult *q = db_q(p->tx, "SELECT visit_id FROM hl7.visit_links WHERE sender = $1 AND visit_number = $2",
                       p->sender, number);
    if (!q)
        return fail(p, "visit look-up failed: %s", p->tx->error);
    if (PQntuples(q) == 0)
        return fail(p, "PV1-19: no visit admitted under number %s from %s", number, p->sender);
    const char *vid = db_val(q, 0, 0);
    q = db_q(p->tx,
             "UPDATE clinical.visits SET discharged_at = greatest(coalesce($2::timestamptz, now()), received_at), "
             "version = version + 1, updated_at = now() WHERE id = $1 AND discharged_at IS NULL",
             vid, dtm(p, val(p, "PV1-45-1")));
    if (!q)
        return fail(p, "discharge failed: %s", p->tx->error);
    return audit(p, "update", "visit", atoll(vid));
}

static int process_adt(struct pctx *p)
{
    const char *ev = p->type + 4;
    if (patient_upsert(p, strcmp(ev, "A01") && strcmp(ev, "A03")) < 0)
        return -1;
    if (!strcmp(ev, "A01"))
        return do_admit(p);
    if (!strcmp(ev, "A03"))
        return do_discharge(p);
    return 0;
}

/* NTE comments of a referral carry the letter's free-text fields, named by
 * NTE-4 (a local code of comment type). */
static const char *nte(struct pctx *p, const char *kind)
{
    size_t n = hl7_segment_occurrences(p->m, "NTE");
    for (size_t i = 1; i <= n; i++) {
        const char *k = val(p, "NTE[%zu]-4-1", i);
        if (k && !strcmp(k, kind))
            return val(p, "NTE[%zu]-3", i);
    }
    return NULL;
}

/* The provider of a role in PRD: its name (family^given) and id (PRD-7). */
static void prd(struct pctx *p, const char *role, const char **name, const char **code)
{
    *name = *code = NULL;
    size_t n = hl7_segment_occurrences(p->m, "PRD");
    for (size_t i = 1; i <= n; i++) {
        const char *r = val(p, "PRD[%zu]-1-1", i);
        if (!r || strcmp(r, role))
            continue;
        const char *fam = val(p, "PRD[%zu]-2-1", i), *given = val(p, "PRD[%zu]-2-2", i);
        *name = fam ? arena_printf(p->a, "%s%s%s", fam, given ? " " : "", given ? given : "") : NULL;
        *code = val(p, "PRD[%zu]-7-1", i);
        return;
    }
}

static int process_ref(struct pctx *p)
{
    if (patient_upsert(p, false) < 0)
        return -1;
    const char *doctor, *doctor_code;
    prd(p, "RP", &doctor, &doctor_code);
    PGresult *q = db_q(
        p->tx,
        "INSERT INTO clinical.referrals (direction, code, from_facility, to_facility, patient_id, reason_code, "
        "reason, diagnosis_icd10, diagnosis_text, clinical_signs, treatment_given, transport, doctor_name, "
        "doctor_code, state, remote_id, hl7_control_id) SELECT 'in', $1, $2, f.code, $3, $4::smallint, $5, $6, $7, "
        "$8, $9, $10, $11, $12, 'received', $13, $14 FROM core.facilities f WHERE f.id = current_setting('his.facility_id')::bigint "
        "ON CONFLICT (facility_id, direction, from_facility, code) DO UPDATE SET patient_id = EXCLUDED.patient_id, "
        "reason_code = EXCLUDED.reason_code, reason = EXCLUDED.reason, diagnosis_icd10 = EXCLUDED.diagnosis_icd10, "
        "diagnosis_text = EXCLUDED.diagnosis_text, clinical_signs = EXCLUDED.clinical_signs, "
        "treatment_given = EXCLUDED.treatment_given, transport = EXCLUDED.transport, "
        "doctor_name = EXCLUDED.doctor_name, doctor_code = EXCLUDED.doctor_code, "
        "hl7_control_id = EXCLUDED.hl7_control_id, version = clinical.referrals.version + 1, updated_at = now() RETURNING id",
        val(p, "RF1-6-1"), p->sender, ll(p, p->patient_id), val(p, "RF1-10-1"), val(p, "RF1-10-2"),
        val(p, "DG1-3-1"), val(p, "DG1-3-2"), nte(p, "CLINICAL"), nte(p, "TREATMENT"), nte(p, "TRANSPORT"), doctor,
        doctor_code, val(p, "RF1-11-1"), p->control_id);
    if (!q || PQntuples(q) != 1)
        return fail(p, "referral not stored: %s", p->tx->error);
    return audit(p, "create", "referral", db_ll(q, 0, 0));
}

static int process_rri(struct pctx *p)
{
    const char *status = val(p, "RF1-1-1");
    const char *doctor, *code;
    prd(p, "RT", &doctor, &code);
    if (!doctor)
        prd(p, "RP", &doctor, &code);
    PGresult *q = db_q(p->tx,
                       "UPDATE clinical.referrals SET state = CASE $2 WHEN 'A' THEN 'accepted' WHEN 'R' THEN 'rejected' "
                       "ELSE state END, answer_note = coalesce($3, answer_note), answered_by = $4, answered_at = now(), "
                       "remote_id = coalesce($5, remote_id), version = version + 1, updated_at = now() "
                       "WHERE direction = 'out' AND code = $1 AND to_facility = $6 RETURNING id, patient_id",
                       val(p, "RF1-6-1"), status, nte(p, "ANSWER"), doctor, val(p, "RF1-11-1"), p->sender);
    if (!q)
        return fail(p, "referral answer not stored: %s", p->tx->error);
    if (PQntuples(q) == 0)
        return fail(p, "RF1-6: no referral %s was sent to %s", val(p, "RF1-6-1"), p->sender);
    p->patient_id = db_ll(q, 0, 1);
    return audit(p, "update", "referral", db_ll(q, 0, 0));
}

static int process_oru(struct pctx *p)
{
    const char *code = val(p, "OBR-2-1");
    PGresult *q = db_q(p->tx,
                       "SELECT id, patient_id FROM clinical.referrals WHERE code = $1 AND ((direction = 'out' AND "
                       "to_facility = $2) OR (direction = 'in' AND from_facility = $2)) ORDER BY id LIMIT 1",
                       code, p->sender);
    if (!q)
        return fail(p, "referral look-up failed: %s", p->tx->error);
    if (PQntuples(q) == 0)
        return fail(p, "OBR-2: no referral %s shared with %s", code, p->sender);
    const char *rid = db_val(q, 0, 0);
    p->patient_id = db_ll(q, 0, 1);
    size_t n = hl7_segment_occurrences(p->m, "OBX");
    for (size_t i = 1; i <= n && i <= 1000; i++) {
        const char *type = val(p, "OBX[%zu]-2", i);
        bool coded = type && (!strcmp(type, "CE") || !strcmp(type, "CWE"));
        const char *value = coded ? val(p, "OBX[%zu]-5-2", i) : val(p, "OBX[%zu]-5", i);
        if (coded && !value)
            value = val(p, "OBX[%zu]-5-1", i);
        const char *status = val(p, "OBX[%zu]-11", i);
        if (!db_q(p->tx,
                  "INSERT INTO clinical.referral_results (referral_id, patient_id, direction, seq, code, name, "
                  "value_type, value, unit, reference_range, flag, status, observed_at, message_control_id) "
                  "VALUES ($1, $2, 'in', $3::int, $4, $5, coalesce($6, 'ST'), $7, $8, $9, $10, coalesce($11, 'F'), "
                  "$12::timestamptz, $13)",
                  rid, ll(p, p->patient_id), ll(p, (long long)i), val(p, "OBX[%zu]-3-1", i),
                  val(p, "OBX[%zu]-3-2", i), type, value, val(p, "OBX[%zu]-6-1", i), val(p, "OBX[%zu]-7", i),
                  val(p, "OBX[%zu]-8", i), status, dtm(p, val(p, "OBX[%zu]-14", i)), p->control_id))
            return fail(p, "OBX[%zu]: result not stored: %s", i, p->tx->error);
    }
    return audit(p, "create", "referral_result", atoll(rid));
}

static int process_one(struct pctx *p, const char *raw, size_t len)
{
    if (hl7_parse(raw, len, NULL, &p->m, NULL) < 0)
        return fail(p, "stored message does not parse");
    int rc;
    if (!strncmp(p->type, "ADT", 3))
        rc = process_adt(p);
    else if (!strcmp(p->type, "REF^I12"))
        rc = process_ref(p);
    else if (!strcmp(p->type, "RRI^I12"))
        rc = process_rri(p);
    else if (!strcmp(p->type, "ORU^R01"))
        rc = process_oru(p);
    else
        rc = fail(p, "message type %s is not processed", p->type);
    hl7_msg_free(p->m);
    p->m = NULL;
    if (rc == 0)
        rc = audit_record(p->tx, &p->act->req, "receive", "hl7_message", ll(p, p->msg_id), p->patient_id, "ok",
                          arena_printf(p->a, "%s %s", p->type, p->control_id));
    return rc;
}

static bool simple(db_tx_t *tx, const char *sql)
{
    PGconn *c = db_tx_conn(tx);
    if (!c)
        return false;
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

/* One stored message inside the batch transaction, behind a savepoint so a
 * failure marks only this message. Returns -1 when the connection itself
 * failed (the batch is abandoned and retried). */
static int process_row(db_tx_t *tx, arena_t *a, PGresult *rows, int i, long long fid)
{
    struct pctx p = {.tx = tx, .a = a};
    p.msg_id = db_ll(rows, i, 0);
    p.sender = db_val(rows, i, 1);
    p.control_id = db_val(rows, i, 2);
    p.type = db_val(rows, i, 3);
    struct actor act;
    actor_init(&act, fid, p.sender, p.msg_id);
    p.act = &act;
    size_t len = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(rows, i, 4), &len);
    if (!simple(tx, "SAVEPOINT msg"))
        return -1;
    int rc = raw ? process_one(&p, (const char *)raw, len) : fail(&p, "cannot read the stored message");
    PQfreemem(raw);
    if (rc == 0 && !tx->failed) {
        if (!simple(tx, "RELEASE SAVEPOINT msg") ||
            !db_q(tx, "UPDATE hl7.messages SET state = 'processed', patient_id = NULLIF($2, '0')::bigint, "
                      "processed_at = now() WHERE id = $1",
                  ll(&p, p.msg_id), ll(&p, p.patient_id)))
            return -1;
        return 0;
    }
    if (db_is_connection_error(tx))
        return -1;
    if (!p.err[0])
        snprintf(p.err, sizeof p.err, "%s", tx->error);
    log_info("hl7: message %lld (%s) not applied: %s", p.msg_id, p.type, p.err);
    if (!simple(tx, "ROLLBACK TO SAVEPOINT msg"))
        return -1;
    tx->failed = false;
    p.patient_id = 0;
    if (!db_q(tx, "UPDATE hl7.messages SET state = 'error', error = left($2, 2000), processed_at = now() WHERE id = $1",
              ll(&p, p.msg_id), p.err) ||
        audit_record(tx, &act.req, "receive", "hl7_message", ll(&p, p.msg_id), 0, "error", p.type) < 0)
        return -1;
    return 0;
}

/* One batch: the facility of the oldest waiting message, then up to BATCH
 * of its messages in id order in one transaction. Returns the number of
 * messages handled, 0 when none wait, -1 on a database failure. */
static int process_batch(hl7e_in_t *in)
{
    arena_t *a = arena_new(64 * 1024);
    bool unavailable = false;
    PGresult *r = db_query_once(in->own, a,
                                "SELECT facility_id FROM hl7.messages WHERE state = 'received' ORDER BY id LIMIT 1", 0,
                                NULL, &unavailable);
    int done = r ? 0 : -1;
    if (!r || PQntuples(r) == 0)
        goto out;
    long long fid = db_ll(r, 0, 0);
    struct db_scope scope = {.user_id = 0, .facility_id = fid, .role = "system"};
    db_tx_t tx;
    if (db_tx_begin(&tx, in->app->db, a, &scope) < 0) {
        done = -1;
        goto out;
    }
    PGresult *rows = db_q0(&tx, "SELECT id, sender, control_id, message_type, raw FROM hl7.messages "
                                "WHERE state = 'received' ORDER BY id LIMIT " "50" " FOR UPDATE SKIP LOCKED");
    if (!rows || !db_q0(&tx, "SELECT set_config('his.hl7_inbound', '1', true)")) {
        db_tx_rollback(&tx);
        done = -1;
        goto out;
    }
    for (int i = 0; i < PQntuples(rows); i++) {
        if (process_row(&tx, a, rows, i, fid) < 0) {
            db_tx_rollback(&tx);
            done = -1;
            goto out;
        }
        done++;
    }
    if (db_tx_commit(&tx) < 0)
        done = -1;
out:
    arena_free(a);
    return done;
}

static void *proc_main(void *arg)
{
    hl7e_in_t *in = arg;
    int backoff = 0;
    for (;;) {
        pthread_mutex_lock(&in->mu);
        if (!in->kicked && !in->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += backoff ? backoff : 1;
            pthread_cond_timedwait(&in->cv, &in->mu, &ts);
        }
        bool stop = in->stop;
        in->kicked = false;
        pthread_mutex_unlock(&in->mu);
        if (stop)
            break;
        int n;
        long seen = atomic_load(&in->stored);
        while ((n = process_batch(in)) > 0) {
            /* During a burst of arrivals the ACK path has the CPU: one batch,
             * then a pause, so processing still advances but trails behind
             * and catches up when the burst ends. */
            long now = atomic_load(&in->stored);
            bool burst = now - seen > BURST;
            seen = now;
            pthread_mutex_lock(&in->mu);
            if (burst && !in->stop) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += BURST_PAUSE_MS * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&in->cv, &in->mu, &ts);
            }
            stop = in->stop;
            pthread_mutex_unlock(&in->mu);
            if (stop)
                break;
        }
        backoff = n < 0 ? (backoff ? (backoff < 30 ? backoff * 2 : 30) : 1) : 0;
    }
    return NULL;
}

int hl7e_processor_start(hl7e_in_t *in)
{
    if (writer_start(in) < 0)
        return -1;
    in->stop = false;
    in->kicked = true; /* messages left by a previous run */
    if (pthread_create(&in->thread, NULL, proc_main, in) != 0)
        return -1;
    in->running = true;
    return 0;
}

void hl7e_processor_stop(hl7e_in_t *in)
{
    if (!in)
        return;
    writer_stop(in);
    if (!in->running)
        return;
    pthread_mutex_lock(&in->mu);
    in->stop = true;
    pthread_cond_signal(&in->cv);
    pthread_mutex_unlock(&in->mu);
    pthread_join(in->thread, NULL);
    in->running = false;
}
