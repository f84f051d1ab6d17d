#include "core/audit.h"
#include "core/app.h"
#include "core/auth.h"
#include "core/log.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_FIELDS 13

static const char *INSERT_SQL =
    "INSERT INTO audit.events (facility_id, user_id, username, role, action, entity, entity_id, patient_id, "
    "outcome, request_id, detail) VALUES ($1, NULLIF($2,'0')::bigint, $3, $4, $5, $6, $7, NULLIF($8,'0')::bigint, "
    "$9, $10, $11)";

int audit_record(db_tx_t *tx, http_req_t *req, const char *action, const char *entity, const char *entity_id,
                 long long patient_id, const char *outcome, const char *detail)
{
    char fid[24], uid[24], pid[24];
    const struct auth_user *u = req ? req->user : NULL;
    snprintf(fid, sizeof fid, "%lld", u ? u->facility_id : 0LL);
    snprintf(uid, sizeof uid, "%lld", u ? u->id : 0LL);
    snprintf(pid, sizeof pid, "%lld", patient_id);
    /* Sent with COMMIT: the facility's chain head is then locked only for
     * the commit itself, not for the rest of the request. */
    db_defer_q(tx, INSERT_SQL, fid, uid, u ? u->username : NULL, u ? u->role : NULL, action, entity, entity_id, pid,
               outcome, req ? req->request_id : NULL, detail);
    return tx->failed ? -1 : 0;
}

void audit_record_alone(http_req_t *req, const char *action, const char *entity, const char *entity_id,
                        long long patient_id, const char *outcome, const char *detail)
{
    db_tx_t tx;
    struct db_scope scope;
    auth_scope(req, &scope);
    if (db_tx_begin(&tx, req->app->db, req->arena, &scope) < 0) {
        log_error("audit: database unavailable, event %s/%s not recorded (req=%s)", action, outcome, req->request_id);
        return;
    }
    audit_record(&tx, req, action, entity, entity_id, patient_id, outcome, detail);
    if (db_tx_commit(&tx) < 0)
        log_error("audit: could not record %s/%s (req=%s)", action, outcome, req->request_id);
}

char *audit_canonical(const char *const *fields, int n, size_t *len)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += 24 + (fields[i] ? strlen(fields[i]) : 0);
    char *out = malloc(total + 1);
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        const char *f = fields[i] ? fields[i] : "";
        size_t fl = strlen(f);
        pos += (size_t)snprintf(out + pos, total + 1 - pos, "%zu:", fl);
        memcpy(out + pos, f, fl);
        pos += fl;
        out[pos++] = ';';
    }
    out[pos] = '\0';
    *len = pos;
    return out;
}

static int hex_to_bytes(const char *hex, unsigned char *out, size_t outlen)
{
    /* PostgreSQL bytea hex output: "\x..." */
    if (!hex || hex[0] != '\\' || hex[1] != 'x' || strlen(hex + 2) != outlen * 2)
        return -1;
    for (size_t i = 0; i < outlen; i++) {
        unsigned v;
        if (sscanf(hex + 2 + i * 2, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return 0;
}

long audit_verify(PGconn *c, FILE *out, long *rows_checked)
{
    /* The fields in the same order and text form as audit.canonical() in the
     * schema; timestamps rendered in UTC with microseconds. */
    PGresult *heads = PQexec(c, "SELECT facility_id, shard, seq, last_hash FROM audit.chain ORDER BY facility_id, shard");
    if (PQresultStatus(heads) != PGRES_TUPLES_OK) {
        fprintf(out, "cannot read audit chains: %s", PQerrorMessage(c));
        PQclear(heads);
        return -1;
    }
    long problems = 0, rows = 0;
    for (int h = 0; h < PQntuples(heads); h++) {
        /* "facility/shard" names a chain in the messages */
        char fid[64];
        snprintf(fid, sizeof fid, "%s/%s", PQgetvalue(heads, h, 0), PQgetvalue(heads, h, 1));
        long long head_seq = atoll(PQgetvalue(heads, h, 2));
        unsigned char head_hash[32];
        hex_to_bytes(PQgetvalue(heads, h, 3), head_hash, 32);
        const char *params[2] = {PQgetvalue(heads, h, 0), PQgetvalue(heads, h, 1)};
        /* A cursor keeps memory flat on chains of millions of rows. */
        PGresult *b = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ");
        PQclear(b);
        PGresult *d = PQexecParams(c,
                                   "DECLARE audit_cur NO SCROLL CURSOR FOR SELECT chain_seq, facility_id, "
                                   "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), user_id, "
                                   "username, role, action, entity, entity_id, patient_id, outcome, request_id, "
                                   "detail, prev_hash, hash FROM audit.events WHERE facility_id = $1 "
                                   "AND shard = $2::smallint ORDER BY chain_seq",
                                   2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(d) != PGRES_COMMAND_OK) {
            fprintf(out, "cannot read audit events: %s", PQerrorMessage(c));
            PQclear(d);
            PQclear(heads);
            return -1;
        }
        PQclear(d);
        unsigned char prev[32];
        memset(prev, 0, sizeof prev);
        long long expect_seq = 1;
        for (;;) {
            PGresult *r = PQexec(c, "FETCH 5000 FROM audit_cur");
            if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                PQclear(r);
                break;
            }
            int n = PQntuples(r);
            for (int i = 0; i < n; i++) {
                rows++;
                long long seq = atoll(PQgetvalue(r, i, 0));
                const char *fields[AUDIT_FIELDS];
                for (int k = 0; k < AUDIT_FIELDS; k++)
                    fields[k] = PQgetisnull(r, i, k) ? NULL : PQgetvalue(r, i, k);
                unsigned char stored_prev[32], stored_hash[32];
                if (hex_to_bytes(PQgetvalue(r, i, 13), stored_prev, 32) < 0 ||
                    hex_to_bytes(PQgetvalue(r, i, 14), stored_hash, 32) < 0) {
                    fprintf(out, "chain %s row %lld: malformed hash columns\n", fid, seq);
                    problems++;
                    continue;
                }
                if (seq != expect_seq) {
                    fprintf(out, "chain %s: rows %lld..%lld missing (deleted)\n", fid, expect_seq, seq - 1);
                    problems++;
                }
                if (memcmp(stored_prev, prev, 32) != 0) {
                    fprintf(out, "chain %s row %lld: previous hash does not match the row before it\n", fid, seq);
                    problems++;
                }
                size_t len;
                char *canon = audit_canonical(fields, AUDIT_FIELDS, &len);
                unsigned char buf[32];
                EVP_MD_CTX *ctx = EVP_MD_CTX_new();
                EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
                EVP_DigestUpdate(ctx, stored_prev, 32);
                EVP_DigestUpdate(ctx, canon, len);
                EVP_DigestFinal_ex(ctx, buf, NULL);
                EVP_MD_CTX_free(ctx);
                free(canon);
                if (memcmp(buf, stored_hash, 32) != 0) {
                    fprintf(out, "chain %s row %lld: content altered (hash mismatch)\n", fid, seq);
                    problems++;
                }
                memcpy(prev, stored_hash, 32);
                expect_seq = seq + 1;
            }
            PQclear(r);
            if (n == 0)
                break;
        }
        PQclear(PQexec(c, "CLOSE audit_cur"));
        PQclear(PQexec(c, "COMMIT"));
        if (expect_seq - 1 != head_seq) {
            fprintf(out, "chain %s: chain head says %lld rows, found up to %lld (rows at the end deleted)\n", fid,
                    head_seq, expect_seq - 1);
            problems++;
        } else if (head_seq > 0 && memcmp(prev, head_hash, 32) != 0) {
            fprintf(out, "chain %s: last row's hash differs from the chain head\n", fid);
            problems++;
        }
    }
    PQclear(heads);
    if (rows_checked)
        *rows_checked = rows;
    return problems;
}
