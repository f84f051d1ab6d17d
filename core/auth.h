/* Accounts: scrypt password hashes, session and bearer tokens (256-bit
 * random, stored as SHA-256), CSRF tokens for browser sessions, lockout
 * after repeated failures. */
#ifndef CORE_AUTH_H
#define CORE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include "core/http.h"

struct auth_user {
    long long id;
    const char *username;
    const char *full_name;
    const char *role;
    long long facility_id;
    const char *facility_code;
    const char *facility_name;
    const char *facility_level;
    const char *province_code;
    const char *commune_code;
    const char *csrf;
};

#define AUTH_MAX_FAILURES 5
#define AUTH_LOCK_MINUTES 15

/* "scrypt$N$r$p$salt$hash" with base64 salt and hash. */
int auth_hash_password(const char *password, char *out, size_t outlen);
bool auth_verify_password(const char *password, const char *stored);
/* 32 random bytes, base64url without padding (43 characters). */
int auth_new_token(char out[64]);
/* Lower-case hex SHA-256 of a token (64 characters). */
void auth_token_hash(const char *token, char out[65]);
bool auth_role_valid(const char *role);
/* Password rules (after TT 12/2022/TT-BTTTT and the ministry's information-
 * security guidance): 8-256 characters with an upper-case letter, a
 * lower-case letter, a digit and a symbol. NULL when acceptable, else the
 * reason in Vietnamese (vi) or English. */
const char *auth_password_problem(const char *password, bool english);
/* Login rate limits, in memory, sliding 60-second window: at most
 * HIS_LOGIN_RATE_ACCOUNT attempts per account (default 10) and
 * HIS_LOGIN_RATE_ADDRESS per client address (default 30); 0 turns one off.
 * Returns 0 and counts the attempt, or the seconds to wait (nothing counted). */
int auth_login_rate_check(const char *username, const char *address);
bool auth_level_valid(const char *level);

void auth_register_routes(void);
/* The http auth hook: authenticates from Bearer header or session cookie. */
int auth_authenticate(http_req_t *req);
struct db_scope;
void auth_scope(const http_req_t *req, struct db_scope *scope);

#endif
