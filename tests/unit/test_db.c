/* core/db.c against a real PostgreSQL (HIS_TEST_PGHOST, set by
 * tests/run-all.sh once its private cluster is up; without it every test is
 * skipped and says so): the transaction opened with its first statement,
 * several statements in one round trip, and the prepared-statement cache
 * staying true to the server when a pipelined transaction fails. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/db.h"

static db_pool_t *pool;
static arena_t *arena;

static void setup(void)
{
    const char *host = getenv("HIS_TEST_PGHOST");
    if (!host)
        return;
    char ci[512];
    snprintf(ci, sizeof ci, "host=%s user=postgres dbname=postgres", host);
    pool = db_pool_new(ci, 1, NULL); /* one connection: every transaction reuses it and its cache */
    arena = arena_new(4096);
    PGconn *c = db_pool_acquire(pool, 5000);
    ck_assert_ptr_nonnull(c);
    PGresult *r = PQexec(c, "DROP TABLE IF EXISTS db_test; CREATE TABLE db_test (k int PRIMARY KEY, v text)");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    db_pool_release(pool, c);
}

static void teardown(void)
{
    if (!pool)
        return;
    arena_free(arena);
    db_pool_free(pool);
    pool = NULL;
}

#define NEED_DB()                                                                                                      \
    do {                                                                                                               \
        if (!pool) {                                                                                                   \
            fprintf(stderr, "%s: skipped (no HIS_TEST_PGHOST)\n", __func__);                                          \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

static const struct db_scope scope = {.user_id = 42, .facility_id = 7, .role = "doctor"};

START_TEST(first_statement_opens_the_transaction_with_its_scope)
{
    NEED_DB();
    db_tx_t tx;
    ck_assert_int_eq(db_tx_begin(&tx, pool, arena, &scope), 0);
    PGresult *r = db_q(&tx, "SELECT current_setting('his.user_id'), current_setting('his.facility_id'), "
                            "current_setting('his.role'), now() = statement_timestamp()");
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(db_val(r, 0, 0), "42");
    ck_assert_str_eq(db_val(r, 0, 1), "7");
    ck_assert_str_eq(db_val(r, 0, 2), "doctor");
    /* inside a transaction block: a second statement has the same now() */
    PGresult *r2 = db_q(&tx, "SELECT now() = transaction_timestamp(), now() < statement_timestamp()");
    ck_assert_str_eq(db_val(r2, 0, 0), "t");
    ck_assert_str_eq(db_val(r2, 0, 1), "t");
    ck_assert_int_eq(db_tx_commit(&tx), 0);
    /* the scope was local to that transaction */
    ck_assert_int_eq(db_tx_begin(&tx, pool, arena, NULL), 0);
    r = db_q(&tx, "SELECT current_setting('his.user_id', true)");
    ck_assert_str_eq(db_val(r, 0, 0), "0");
    db_tx_rollback(&tx);
    arena_reset(arena);
}
END_TEST

START_TEST(a_transaction_that_sent_nothing_commits_and_rolls_back)
{
    NEED_DB();
    db_tx_t tx;
    ck_assert_int_eq(db_tx_begin(&tx, pool, arena, &scope), 0);
    ck_assert_int_eq(db_tx_commit(&tx), 0);
    ck_assert_int_eq(db_tx_begin(&tx, pool, arena, &scope), 0);
    db_tx_rollback(&tx);
    /* only deferred statements: BEGIN goes first, then they commit */
    ck_assert_int_eq(db_tx_begin(&tx, pool, arena, &scope), 0);
    db_defer_q(&tx, "INSERT INTO db_test (k, v) VALUES ($1, current_setting('his.role'))", "1");
    ck_assert_int_eq(db_tx_commit(&tx), 0);
    ck_assert_int_eq(db_tx_begin(&tx, pool, arena, NULL), 0);
    PGresult *r = db_q(&tx, "SELECT v FROM db_test WHERE k = 1");
    ck_assert_int_eq(PQntuples(r), 1);
    ck_assert_str_eq(db_val(r, 0, 0), "doctor");
    db_tx_rollback(&tx);
    arena_reset(arena);
}
END_TEST

START_TEST(query_many_runs_in_order_and_reports_the_first_error)
{
    NEED_DB();
    db_tx_t tx;
    const char *p1[1] = {"10"}, *p2[1] = {"11"};
    struct db_stmt st[3] = {
        {"INSERT INTO db_test (k, v) VALUES ($1::int, 'a')", 1, p1},
        {"SELECT count(*) FROM db_test WHERE k = $1::int", 1, p1}, /* sees the row before it */
        {"SELECT 1 / ($1::int - 11)", 1, p2},                      /* division by zero */
    };
    PGresult *out[3];
    ck_assert_int_eq(db_tx_begin(&tx, pool, arena, &scope), 0);
    ck_assert_int_eq(db_query_many(&tx, 2, st, out), 0);
    ck_assert_str_eq(db_val(out[1], 0, 0), "1");
    db_tx_rollback(&tx);
    /* twice: the second time the statements are prepared already */
    for (int round = 0; round < 2; round++) {
        ck_assert_int_eq(db_tx_begin(&tx, pool, arena, &scope), 0);
        ck_assert_int_eq(db_query_many(&tx, 3, st, out), -1);
        ck_assert(tx.failed);
        ck_assert_str_eq(tx.sqlstate, "22012");
        ck_assert_ptr_null(db_q(&tx, "SELECT 1")); /* a failed transaction runs nothing more */
        db_tx_rollback(&tx);
    }
    /* the same texts again, now all good: the cache agrees with the server */
    ck_assert_int_eq(db_tx_begin(&tx, pool, arena, &scope), 0);
    ck_assert_int_eq(db_query_many(&tx, 2, st, out), 0);
    ck_assert_ptr_nonnull(db_q(&tx, "SELECT 1 / ($1::int - 11)", "12"));
    ck_assert_int_eq(db_tx_commit(&tx), 0);
    arena_reset(arena);
}
END_TEST

START_TEST(a_failed_commit_keeps_the_statement_cache_true)
{
    NEED_DB();
    db_tx_t tx;
    const char *ins = "INSERT INTO db_test (k, v) VALUES ($1::int, $2)";
    for (int round = 0; round < 2; round++) {
        /* key 20 exists after round 0: the deferred insert fails at COMMIT
         * time in round 1, after its statement was prepared in round 0 */
        ck_assert_int_eq(db_tx_begin(&tx, pool, arena, &scope), 0);
        db_defer_q(&tx, ins, "20", "x");
        int rc = db_tx_commit(&tx);
        ck_assert_int_eq(rc, round == 0 ? 0 : -1);
        if (round == 1)
            ck_assert_str_eq(tx.sqlstate, "23505");
    }
    /* a failure whose statement was first prepared in the failing pipeline */
    const char *ins2 = "INSERT INTO db_test (k, v) VALUES ($1::int, $2 || '')";
    ck_assert_int_eq(db_tx_begin(&tx, pool, arena, &scope), 0);
    db_defer_q(&tx, ins2, "20", "dup");
    ck_assert_int_eq(db_tx_commit(&tx), -1);
    ck_assert_int_eq(db_tx_begin(&tx, pool, arena, &scope), 0);
    db_defer_q(&tx, ins2, "21", "ok");
    db_defer_q(&tx, ins, "22", "ok");
    ck_assert_int_eq(db_tx_commit(&tx), 0);
    ck_assert_int_eq(db_tx_begin(&tx, pool, arena, NULL), 0);
    PGresult *r = db_q(&tx, "SELECT count(*) FROM db_test WHERE k IN (21, 22)");
    ck_assert_str_eq(db_val(r, 0, 0), "2");
    db_tx_rollback(&tx);
    arena_reset(arena);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("db");
    TCase *tc = tcase_create("db");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, first_statement_opens_the_transaction_with_its_scope);
    tcase_add_test(tc, a_transaction_that_sent_nothing_commits_and_rolls_back);
    tcase_add_test(tc, query_many_runs_in_order_and_reports_the_first_error);
    tcase_add_test(tc, a_failed_commit_keeps_the_statement_cache_true);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
