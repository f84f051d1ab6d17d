#include "core/auth.h"
#include "core/app.h"
#include "core/audit.h"
#include "core/db.h"
#include "core/log.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* scrypt cost: 2^15 x 8 x 1 uses 32 MiB and ~100 ms, the OWASP floor. */
#define SCRYPT_N 32768ULL
#define SCRYPT_R 8ULL
#define SCRYPT_P 1ULL
#define SCRYPT_MAXMEM (64ULL * 1024 * 1024)
#define SALT_LEN 16
#define KEY_LEN 32

static const char *const roles[] = {"doctor", "nurse", "pharmacist", "commune_worker", "claims_officer",
                                    "health_department", "admin", NULL};
static const char *const levels[] = {"commune_station", "district_hospital", "provincial_hospital", "pharmacy",
                                     "health_department", NULL};

static void handle_login(http_req_t *req);
static void handle_logout(http_req_t *req);
static void handle_me(http_req_t *req);
static json_t *user_json(const struct auth_user *u);
static void set_session_cookie(http_req_t *req, const char *token, int max_age);

bool auth_role_valid(const char *role)
{
    for (int i = 0; roles[i]; i++)
        if (role && strcmp(role, roles[i]) == 0)
            return true;
    return false;
}

bool auth_level_valid(const char *level)
{
    for (int i = 0; levels[i]; i++)
        if (level && strcmp(level, levels[i]) == 0)
            return true;
    return false;
}

const char *auth_user_role(const struct auth_user *u);
const char *auth_user_csrf(const struct auth_user *u);
long long auth_user_id_for_log(const struct auth_user *u);
const char *auth_user_role(const struct auth_user *u)
{
    return u ? u->role : NULL;
}
const char *auth_user_csrf(const struct auth_user *u)
{
    return u ? u->csrf : NULL;
}
long long auth_user_id_for_log(const struct auth_user *u)
{
    return u ? u->id : 0;
}

const char *auth_password_problem(const char *password, bool en)
{
    size_t chars = 0;
    bool upper = false, lower = false, digit = false, symbol = false;
    for (const unsigned char *p = (const unsigned char *)password; *p; p++) {
        if ((*p & 0xC0) != 0x80)
            chars++;
        if (*p >= 'A' && *p <= 'Z')
            upper = true;
        else if (*p >= 'a' && *p <= 'z')
            lower = true;
        else if (*p >= '0' && *p <= '9')
            digit = true;
        else if (*p >= 0x20 && *p < 0x7f)
            symbol = true;
        else if (*p < 0x20 || *p == 0x7f)
            return en ? "the password contains a control character" : "Mật khẩu chứa ký tự điều khiển";
    }
    if (chars < 8)
        return en ? "the password must have at least 8 characters" : "Mật khẩu phải có ít nhất 8 ký tự";
    if (chars > 256)
        return en ? "the password must have at most 256 characters" : "Mật khẩu dài tối đa 256 ký tự";
    if (!upper || !lower || !digit || !symbol)
        return en ? "the password must contain an upper-case letter, a lower-case letter, a digit and a symbol"
                  : "Mật khẩu phải có chữ hoa, chữ thường, chữ số và ký tự đặc biệt";
    return NULL;
}

/* ---- login rate limits -----------------------------------------------------
 * Sliding window log: each key (account name or client address) keeps the
 * times of its attempts in the last 60 s, at most `limit` of them. The table
 * is bounded (RL_MAX_ENTRIES keys); expired keys are swept when it fills up,
 * and if it is still full the oldest key of the bucket gives way. */
#define RL_WINDOW 60.0
#define RL_BUCKETS 4096
#define RL_MAX_ENTRIES 65536

struct rl_entry {
    struct rl_entry *next;
    char *key;
    int n;         /* attempts kept (<= limit) */
    int head;      /* index of the oldest */
    double t[];    /* ring of `limit` times */
};

struct rl_table {
    struct rl_entry *b[RL_BUCKETS];
    int entries;
    int limit;
};

static pthread_mutex_t rl_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rl_table rl_account, rl_address;
static bool rl_ready;

static int env_limit(const char *name, int def)
{
    const char *e = getenv(name);
    if (!e || !*e)
        return def;
    int v = atoi(e);
    return v < 0 ? 0 : v > 10000 ? 10000 : v;
}

static unsigned rl_hash(const char *k)
{
    unsigned h = 2166136261u;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h % RL_BUCKETS;
}

/* Drops the times older than the window; true when nothing is left. */
static bool rl_expire(struct rl_entry *e, int limit, double now)
{
    while (e->n > 0 && e->t[e->head] <= now - RL_WINDOW) {
        e->head = (e->head + 1) % limit;
        e->n--;
    }
    return e->n == 0;
}

static void rl_sweep(struct rl_table *t, double now)
{
    for (int i = 0; i < RL_BUCKETS; i++)
        for (struct rl_entry **pp = &t->b[i]; *pp;) {
            struct rl_entry *e = *pp;
            if (rl_expire(e, t->limit, now)) {
                *pp = e->next;
                free(e->key);
                free(e);
                t->entries--;
            } else {
                pp = &e->next;
            }
        }
}

static struct rl_entry *rl_find(struct rl_table *t, const char *key, bool create, double now)
{
    unsigned h = rl_hash(key);
    for (struct rl_entry *e = t->b[h]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    if (!create)
        return NULL;
    if (t->entries >= RL_MAX_ENTRIES)
        rl_sweep(t, now);
    if (t->entries >= RL_MAX_ENTRIES && t->b[h]) {
        /* Still full: the bucket's last key gives way. */
        struct rl_entry **pp = &t->b[h];
        while ((*pp)->next)
            pp = &(*pp)->next;
        free((*pp)->key);
        free(*pp);
        *pp = NULL;
        t->entries--;
    }
    struct rl_entry *e = calloc(1, sizeof(*e) + sizeof(double) * (size_t)t->limit);
    if (!e)
        return NULL;
    e->key = strdup(key);
    e->next = t->b[h];
    t->b[h] = e;
    t->entries++;
    return e;
}

/* Seconds until one more attempt fits, 0 if it fits now. */
static int rl_wait(struct rl_table *t, const char *key, double now)
{
    if (t->limit <= 0 || !key)
        return 0;
    struct rl_entry *e = rl_find(t, key, false, now);
    if (!e)
        return 0;
    rl_expire(e, t->limit, now);
    if (e->n < t->limit)
        return 0;
    int w = (int)(e->t[e->head] + RL_WINDOW - now + 0.999);
    return w < 1 ? 1 : w;
}

static void rl_add(struct rl_table *t, const char *key, double now)
{
    if (t->limit <= 0 || !key)
        return;
    struct rl_entry *e = rl_find(t, key, true, now);
    if (!e)
        return;
    rl_expire(e, t->limit, now);
    if (e->n == t->limit) { /* cannot happen after rl_wait == 0; keep the ring sane */
        e->head = (e->head + 1) % t->limit;
        e->n--;
    }
    e->t[(e->head + e->n) % t->limit] = now;
    e->n++;
}

static double mono_now(void);

int auth_login_rate_check(const char *username, const char *address)
{
    double now = mono_now();
    pthread_mutex_lock(&rl_mu);
    if (!rl_ready) {
        rl_account.limit = env_limit("HIS_LOGIN_RATE_ACCOUNT", 10);
        rl_address.limit = env_limit("HIS_LOGIN_RATE_ADDRESS", 30);
        rl_ready = true;
    }
    char acct[72];
    snprintf(acct, sizeof acct, "%s", username ? username : "");
    for (char *p = acct; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    const char *addr = address && *address ? address : NULL;
    int wa = rl_wait(&rl_account, acct, now);
    int wb = rl_wait(&rl_address, addr, now);
    int w = wa > wb ? wa : wb;
    if (w == 0) {
        rl_add(&rl_account, acct, now);
        rl_add(&rl_address, addr, now);
    }
    pthread_mutex_unlock(&rl_mu);
    return w;
}

int auth_hash_password(const char *password, char *out, size_t outlen)
{
    unsigned char salt[SALT_LEN], key[KEY_LEN];
    if (RAND_bytes(salt, sizeof salt) != 1)
        return -1;
    if (EVP_PBE_scrypt(password, strlen(password), salt, sizeof salt, SCRYPT_N, SCRYPT_R, SCRYPT_P,
                       SCRYPT_MAXMEM, key, sizeof key) != 1)
        return -1;
    char salt64[32], key64[64];
    EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof salt);
    EVP_EncodeBlock((unsigned char *)key64, key, sizeof key);
    int n = snprintf(out, outlen, "scrypt$%llu$%llu$%llu$%s$%s", SCRYPT_N, SCRYPT_R, SCRYPT_P, salt64, key64);
    OPENSSL_cleanse(key, sizeof key);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

bool auth_verify_password(const char *password, const char *stored)
{
    unsigned long long n, r, p;
    char salt64[64], key64[96];
    if (!stored || sscanf(stored, "scrypt$%llu$%llu$%llu$%63[^$]$%95s", &n, &r, &p, salt64, key64) != 5)
        return false;
    if (n < 1024 || n > (1ULL << 20) || r < 1 || r > 32 || p < 1 || p > 16)
        return false;
    unsigned char salt[64], want[96], got[KEY_LEN];
    int sl = EVP_DecodeBlock(salt, (unsigned char *)salt64, (int)strlen(salt64));
    int kl = EVP_DecodeBlock(want, (unsigned char *)key64, (int)strlen(key64));
    if (sl < SALT_LEN || kl < KEY_LEN)
        return false;
    if (EVP_PBE_scrypt(password, strlen(password), salt, SALT_LEN, n, r, p, SCRYPT_MAXMEM * 2, got, KEY_LEN) != 1)
        return false;
    bool ok = CRYPTO_memcmp(got, want, KEY_LEN) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}

int auth_new_token(char out[64])
{
    unsigned char b[32];
    if (RAND_bytes(b, sizeof b) != 1)
        return -1;
    char tmp[64];
    EVP_EncodeBlock((unsigned char *)tmp, b, sizeof b);
    /* base64 -> base64url, no padding */
    size_t j = 0;
    for (size_t i = 0; tmp[i] && tmp[i] != '='; i++)
        out[j++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
    out[j] = '\0';
    return 0;
}

void auth_token_hash(const char *token, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, strlen(token), d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + i * 2, 3, "%02x", d[i]);
}

void auth_scope(const http_req_t *req, struct db_scope *scope)
{
    scope->user_id = req->user ? req->user->id : 0;
    scope->facility_id = req->user ? req->user->facility_id : 0;
    scope->role = req->user ? req->user->role : "anonymous";
}

static const char *bearer_or_cookie(http_req_t *req, bool *via_cookie)
{
    const char *h = http_header(req, "Authorization");
    *via_cookie = false;
    if (h && strncasecmp(h, "Bearer ", 7) == 0)
        return h + 7;
    const char *c = http_cookie(req, "his_session");
    if (c) {
        *via_cookie = true;
        return c;
    }
    return NULL;
}

#define USER_COLUMNS                                                                                       \
    "u.id, u.username, u.full_name, u.role, u.facility_id, f.code, f.name, f.level, f.province_code, " \
    "f.commune_code"

static void fill_user(arena_t *a, struct auth_user *u, PGresult *r)
{
    u->id = db_ll(r, 0, 0);
    u->username = arena_strdup(a, db_val(r, 0, 1));
    u->full_name = arena_strdup(a, db_val(r, 0, 2));
    u->role = arena_strdup(a, db_val(r, 0, 3));
    u->facility_id = db_ll(r, 0, 4);
    u->facility_code = arena_strdup(a, db_val(r, 0, 5));
    u->facility_name = arena_strdup(a, db_val(r, 0, 6));
    u->facility_level = arena_strdup(a, db_val(r, 0, 7));
    u->province_code = arena_strdup(a, db_val(r, 0, 8));
    u->commune_code = arena_strdup(a, db_val(r, 0, 9));
}

/* ---- session cache --------------------------------------------------------
 * Each authenticated request used to look its session up in the database
 * (a pool connection and a round trip before the handler's own transaction).
 * A small in-process cache maps token hash -> user for a short time:
 * entries live at most HIS_SESSION_CACHE_SECONDS (default 5; 0 turns the
 * cache off) and never past the session's expires_at. Logout through this
 * process forgets the entry at once; a session deleted or a user deactivated
 * by another process (or by SQL) is still accepted here for at most that
 * many seconds: the staleness bound. Direct-mapped: a colliding token
 * simply replaces the entry. */
#define SC_SLOTS 4096

struct sc_entry {
    char th[65];
    double until; /* CLOCK_MONOTONIC seconds */
    struct auth_user u;
};

static pthread_mutex_t sc_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sc_entry sc_table[SC_SLOTS];
static int sc_ttl = -1;

static double mono_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int sc_seconds(void)
{
    if (sc_ttl < 0) {
        const char *e = getenv("HIS_SESSION_CACHE_SECONDS");
        int v = e && *e ? atoi(e) : 5;
        sc_ttl = v < 0 ? 0 : v > 60 ? 60 : v;
    }
    return sc_ttl;
}

static struct sc_entry *sc_slot(const char *th)
{
    unsigned long h = strtoul((char[]){th[0], th[1], th[2], th[3], th[4], th[5], th[6], th[7], 0}, NULL, 16);
    return &sc_table[h % SC_SLOTS];
}

static void sc_clear(struct sc_entry *e)
{
    free((char *)e->u.username);
    free((char *)e->u.full_name);
    free((char *)e->u.role);
    free((char *)e->u.facility_code);
    free((char *)e->u.facility_name);
    free((char *)e->u.facility_level);
    free((char *)e->u.province_code);
    free((char *)e->u.commune_code);
    free((char *)e->u.csrf);
    memset(e, 0, sizeof *e);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void sc_put(const char *th, const struct auth_user *u, double seconds_left)
{
    int ttl = sc_seconds();
    if (ttl == 0 || seconds_left <= 0)
        return;
    pthread_mutex_lock(&sc_mu);
    struct sc_entry *e = sc_slot(th);
    sc_clear(e);
    memcpy(e->th, th, 65);
    e->until = mono_now() + (seconds_left < ttl ? seconds_left : ttl);
    e->u.id = u->id;
    e->u.facility_id = u->facility_id;
    e->u.username = dup_or_null(u->username);
    e->u.full_name = dup_or_null(u->full_name);
    e->u.role = dup_or_null(u->role);
    e->u.facility_code = dup_or_null(u->facility_code);
    e->u.facility_name = dup_or_null(u->facility_name);
    e->u.facility_level = dup_or_null(u->facility_level);
    e->u.province_code = dup_or_null(u->province_code);
    e->u.commune_code = dup_or_null(u->commune_code);
    e->u.csrf = dup_or_null(u->csrf);
    pthread_mutex_unlock(&sc_mu);
}

/* A copy of the cached user in the request's arena, or NULL. */
static struct auth_user *sc_get(arena_t *a, const char *th)
{
    if (sc_seconds() == 0)
        return NULL;
    struct auth_user *u = NULL;
    pthread_mutex_lock(&sc_mu);
    struct sc_entry *e = sc_slot(th);
    if (e->th[0] && strcmp(e->th, th) == 0) {
        if (e->until > mono_now()) {
            u = arena_calloc(a, 1, sizeof(*u));
            u->id = e->u.id;
            u->facility_id = e->u.facility_id;
#define C(f) u->f = e->u.f ? arena_strdup(a, e->u.f) : NULL
            C(username);
            C(full_name);
            C(role);
            C(facility_code);
            C(facility_name);
            C(facility_level);
            C(province_code);
            C(commune_code);
            C(csrf);
#undef C
        } else {
            sc_clear(e);
        }
    }
    pthread_mutex_unlock(&sc_mu);
    return u;
}

static void sc_forget(const char *th)
{
    pthread_mutex_lock(&sc_mu);
    struct sc_entry *e = sc_slot(th);
    if (e->th[0] && strcmp(e->th, th) == 0)
        sc_clear(e);
    pthread_mutex_unlock(&sc_mu);
}

int auth_authenticate(http_req_t *req)
{
    bool via_cookie;
    const char *token = bearer_or_cookie(req, &via_cookie);
    if (!token || strlen(token) < 20 || strlen(token) > 128)
        return -1;
    char th[65];
    auth_token_hash(token, th);
    struct auth_user *cached = sc_get(req->arena, th);
    if (cached) {
        req->user = cached;
        req->via_cookie = via_cookie;
        return 0;
    }
    bool unavailable;
    const char *params[1] = {th};
    PGresult *r = db_query_once(req->app->db, req->arena,
                                "SELECT " USER_COLUMNS ", s.csrf_token, "
                                "extract(epoch FROM s.expires_at - now())::float8 FROM core.sessions s "
                                "JOIN core.users u ON u.id = s.user_id JOIN core.facilities f ON f.id = u.facility_id "
                                "WHERE s.token_hash = $1 AND s.expires_at > now() AND u.active",
                                1, params, &unavailable);
    if (!r) {
        http_add_header(req, "Retry-After", "5");
        http_problem(req, 503, NULL, http_t(req, "Cơ sở dữ liệu tạm thời không truy cập được", "database unavailable"));
        return -1;
    }
    if (PQntuples(r) != 1)
        return -1;
    struct auth_user *u = arena_calloc(req->arena, 1, sizeof(*u));
    fill_user(req->arena, u, r);
    u->csrf = arena_strdup(req->arena, db_val(r, 0, 10));
    sc_put(th, u, db_val(r, 0, 11) ? strtod(db_val(r, 0, 11), NULL) : 0);
    req->user = u;
    req->via_cookie = via_cookie;
    return 0;
}

static json_t *user_json(const struct auth_user *u)
{
    json_t *f = json_object();
    json_object_set_new(f, "id", json_integer(u->facility_id));
    json_set_str(f, "code", u->facility_code);
    json_set_str(f, "name", u->facility_name);
    json_set_str(f, "level", u->facility_level);
    json_set_str(f, "province_code", u->province_code);
    json_set_str(f, "commune_code", u->commune_code);
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer(u->id));
    json_set_str(j, "username", u->username);
    json_set_str(j, "full_name", u->full_name);
    json_set_str(j, "role", u->role);
    json_object_set_new(j, "facility", f);
    return j;
}

static void set_session_cookie(http_req_t *req, const char *token, int max_age)
{
    char *c = arena_printf(req->arena, "his_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s", token, max_age,
                           req->tls ? "; Secure" : "");
    http_add_header(req, "Set-Cookie", c);
}

static void handle_login(http_req_t *req)
{
    json_t *body = http_json_body(req);
    if (!body)
        return;
    verr_t v;
    verr_init(&v);
    const char *username = json_str_field(body, "username", "username", true, 64, &v, req);
    const char *password = json_str_field(body, "password", "password", true, 256, &v, req);
    if (verr_any(&v)) {
        verr_reply(req, &v);
        return;
    }
    verr_free(&v);

    /* Rate limits before any work: per account and per client address. */
    int wait = auth_login_rate_check(username, http_client_address(req));
    if (wait > 0) {
        http_add_header(req, "Retry-After", arena_printf(req->arena, "%d", wait));
        http_problem(req, 429, NULL,
                     http_t(req, "Quá nhiều lần đăng nhập; vui lòng thử lại sau",
                            "too many login attempts; please try again later"));
        return;
    }

    db_tx_t tx;
    if (db_tx_begin(&tx, req->app->db, req->arena, NULL) < 0) {
        http_add_header(req, "Retry-After", "5");
        http_problem(req, 503, NULL, http_t(req, "Cơ sở dữ liệu tạm thời không truy cập được", "database unavailable"));
        return;
    }
    PGresult *r = db_q(&tx,
                       "SELECT " USER_COLUMNS ", u.password_hash, u.locked_until > now(), u.failed_logins "
                       "FROM core.users u JOIN core.facilities f ON f.id = u.facility_id "
                       "WHERE u.username = $1 AND u.active FOR UPDATE OF u",
                       username);
    if (!r) {
        db_tx_rollback(&tx);
        http_problem(req, 500, NULL, http_t(req, "Lỗi hệ thống", "internal error"));
        return;
    }
    const char *bad_msg = http_t(req, "Sai tên đăng nhập hoặc mật khẩu", "wrong username or password");
    if (PQntuples(r) != 1) {
        /* Same work and answer as a wrong password, so names cannot be probed by timing. */
        auth_verify_password(password, "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        db_tx_rollback(&tx);
        audit_record_alone(req, "login", "user", NULL, 0, "denied", "unknown user");
        http_problem_field(req, 401, "password", bad_msg);
        return;
    }
    struct auth_user *u = arena_calloc(req->arena, 1, sizeof(*u));
    fill_user(req->arena, u, r);
    const char *locked = db_val(r, 0, 11);
    if (locked && strcmp(locked, "t") == 0) {
        db_tx_rollback(&tx);
        req->user = u;
        audit_record_alone(req, "login", "user", NULL, 0, "denied", "locked");
        req->user = NULL;
        http_add_header(req, "Retry-After", "900");
        http_problem_field(req, 423, "username",
                           http_t(req, "Tài khoản tạm khóa do đăng nhập sai nhiều lần; thử lại sau 15 phút",
                                  "account locked after repeated failures; try again in 15 minutes"));
        return;
    }
    char uid[24];
    snprintf(uid, sizeof uid, "%lld", u->id);
    if (!auth_verify_password(password, db_val(r, 0, 10))) {
        db_q(&tx,
             "UPDATE core.users SET failed_logins = failed_logins + 1, "
             "locked_until = CASE WHEN failed_logins + 1 >= " "5" " THEN now() + interval '15 minutes' END "
             "WHERE id = $1",
             uid);
        db_tx_commit(&tx);
        req->user = u;
        audit_record_alone(req, "login", "user", uid, 0, "denied", "wrong password");
        req->user = NULL;
        http_problem_field(req, 401, "password", bad_msg);
        return;
    }
    char token[64], csrf[64], th[65];
    auth_new_token(token);
    auth_new_token(csrf);
    auth_token_hash(token, th);
    char hours[16];
    snprintf(hours, sizeof hours, "%d", req->app->session_hours > 0 ? req->app->session_hours : 10);
    db_q(&tx, "UPDATE core.users SET failed_logins = 0, locked_until = NULL, last_login = now() WHERE id = $1", uid);
    db_q(&tx,
         "INSERT INTO core.sessions (token_hash, user_id, csrf_token, expires_at) "
         "VALUES ($1, $2, $3, now() + make_interval(hours => $4::int))",
         th, uid, csrf, hours);
    /* Expired sessions are swept at each login rather than by a timer. */
    db_q(&tx, "DELETE FROM core.sessions WHERE user_id = $1 AND expires_at < now()", uid);
    req->user = u;
    audit_record(&tx, req, "login", "user", uid, 0, "ok", NULL);
    if (db_tx_commit(&tx) < 0) {
        req->user = NULL;
        http_problem(req, 500, NULL, http_t(req, "Lỗi hệ thống", "internal error"));
        return;
    }
    set_session_cookie(req, token, (req->app->session_hours > 0 ? req->app->session_hours : 10) * 3600);
    json_t *j = json_object();
    json_object_set_new(j, "token", json_string(token));
    json_object_set_new(j, "csrf_token", json_string(csrf));
    json_object_set_new(j, "user", user_json(u));
    http_reply_json(req, 200, j);
}

static void handle_logout(http_req_t *req)
{
    bool via_cookie;
    const char *token = bearer_or_cookie(req, &via_cookie);
    char th[65];
    auth_token_hash(token ? token : "", th);
    sc_forget(th);
    struct db_scope scope;
    auth_scope(req, &scope);
    db_tx_t tx;
    if (db_tx_begin(&tx, req->app->db, req->arena, &scope) == 0) {
        db_q(&tx, "DELETE FROM core.sessions WHERE token_hash = $1", th);
        char uid[24];
        snprintf(uid, sizeof uid, "%lld", req->user->id);
        audit_record(&tx, req, "logout", "user", uid, 0, "ok", NULL);
        db_tx_commit(&tx);
    }
    sc_forget(th); /* again: a request running meanwhile may have cached it */
    set_session_cookie(req, "", 0);
    http_reply_raw(req, 204, "text/plain", "", 0);
}

static void handle_me(http_req_t *req)
{
    json_t *j = json_object();
    json_object_set_new(j, "user", user_json(req->user));
    json_set_str(j, "csrf_token", req->user->csrf);
    http_reply_json(req, 200, j);
}

void auth_register_routes(void)
{
    http_route("POST", "/api/v1/auth/login", handle_login, 0, ROUTE_PUBLIC | ROUTE_NO_CSRF);
    http_route("POST", "/api/v1/auth/logout", handle_logout, ROLE_ANY, ROUTE_NO_CSRF);
    http_route("GET", "/api/v1/auth/me", handle_me, ROLE_ANY, 0);
}
