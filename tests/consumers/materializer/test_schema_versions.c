/* The real tally-materializer and ControlPanelEvent versions it does not
 * know, on the real broker and PostgreSQL:
 *   - deployed with a catalog that lacks version 2 (only 1.avsc), it cannot
 *     read a version 2 record at all (the fingerprint names no schema it
 *     has), so a ConsoleTokenIssued goes to the dead-letter topic as
 *     unknown_schema, counted, and the records after it are applied;
 *   - deployed with a catalog that has a later version (3, one more
 *     branch), it reads that version's known branches (the tokens among
 *     them) and skips the new branch as unknown_branch: counted in
 *     tally_materializer_skipped_total, no dead letter, nothing blocked. */
#include "mat_fixture.h"

#include <signal.h>

#define T0 INT64_C(1709251200000)   /* 2024-03-01T00:00:00Z */
#define DAY INT64_C(86400000)
#define TOKEN_ID "7e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b"
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static mat_env_t env;

static void setup(void)
{
    mat_env_create(&env, 1);
}

static void teardown(void)
{
    mat_env_destroy(&env);
}

TestSuite(schema_versions, .init = setup, .fini = teardown, .timeout = 120);

static void member_added(mat_producer_t *p, const tally_catalog_entry_t *schema, int64_t at, const char *id)
{
    avro_value_t v, b = mat_cp_value(schema, &v, "acme", at, "MemberAdded");
    mat_set_str(&b, "member_id", id);
    mat_set_str(&b, "first_name", "Ada");
    mat_set_str(&b, "last_name", "Lovelace");
    mat_set_str(&b, "email", "ada@example.com");
    mat_set_str(&b, "role", "admin");
    mat_produce_value(p, schema, &v, env.topics[2], "acme");
}

static void token_issued(mat_producer_t *p, const tally_catalog_entry_t *schema, int64_t at)
{
    avro_value_t v, b = mat_cp_value(schema, &v, "acme", at, "ConsoleTokenIssued");
    mat_set_str(&b, "token_id", TOKEN_ID);
    mat_set_str(&b, "member_id", "m1");
    mat_set_str(&b, "token_sha256", SHA_A);
    mat_set_long(&b, "expires_at", at + DAY);
    mat_produce_value(p, schema, &v, env.topics[2], "acme");
}

static void stop(tally_test_proc_t *proc)
{
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0, "log:\n%s", tally_test_log(proc));
    tally_test_proc_free(proc);
}

Test(schema_versions, a_v1_catalog_dead_letters_a_v2_record_and_applies_the_next)
{
    char dir[256], arg[300], body[16384];
    int port = 0;
    mat_producer_t p;
    mat_producer_open(&p);
    const tally_catalog_entry_t *v1 = tally_catalog_get(p.cat, "ControlPanelEvent", 1);
    const tally_catalog_entry_t *v2 = tally_catalog_get(p.cat, "ControlPanelEvent", 2);
    cr_assert_not_null(v1);
    cr_assert_not_null(v2);
    member_added(&p, v1, T0, "m1");
    token_issued(&p, v2, T0 + 10);
    member_added(&p, v1, T0 + 20, "m2");
    mat_producer_flush(&p);

    mat_schemas_variant(dir, sizeof dir, 0);
    snprintf(arg, sizeof arg, "--schemas=%s", dir);
    tally_test_proc_t *proc = mat_start(&env, env.db, env.group, (const char *const[]){arg, NULL}, &port);
    mat_wait_caught_up(env.conn, &env, env.group, (const long long[3]){0, 0, 3}, 30000);
    cr_assert_eq(mat_scalar(env.conn, "SELECT count(*) FROM tally.members"), 2);
    cr_assert_eq(mat_scalar(env.conn, "SELECT count(*) FROM tally.console_tokens"), 0);
    cr_assert_eq(mat_read_dead_letters(env.dlq, 1, 10000), 1);
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(env.dlq, 1, 0, 10000, &recs);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(tally_test_record_header(&recs[0], "error"), "unknown_schema");
    cr_assert_str_eq(tally_test_record_header(&recs[0], "source.offset"), "1");
    tally_test_records_free(recs, n);
    cr_assert_eq(mat_http_status(port, "/metrics", body, sizeof body), 200);
    cr_assert(strstr(body, "tally_materializer_dead_letters_total 1") != NULL, "%s", body);
    cr_assert(strstr(body, "tally_materializer_skipped_total{reason=\"unknown_branch\"} 0") != NULL, "%s", body);
    stop(proc);
    mat_producer_close(&p);
    mat_rm_dir(dir);
}

Test(schema_versions, a_later_versions_new_branch_is_skipped_and_counted_not_dead_lettered)
{
    char dir[256], arg[300], err[512], body[16384];
    int port = 0;
    mat_producer_t p;
    mat_producer_open(&p);
    mat_schemas_variant(dir, sizeof dir, 1);
    tally_catalog_t *c3 = tally_catalog_load(dir, err, sizeof err);
    cr_assert_not_null(c3, "%s", err);
    const tally_catalog_entry_t *v3 = tally_catalog_get(c3, "ControlPanelEvent", MAT_CP_FUTURE_VERSION);
    cr_assert_not_null(v3);

    member_added(&p, v3, T0, "m1");
    avro_value_t v, b = mat_cp_value(v3, &v, "acme", T0 + 5, "ConsoleFuture");
    mat_set_str(&b, "note", "a branch this materializer does not know");
    mat_produce_value(&p, v3, &v, env.topics[2], "acme");
    token_issued(&p, v3, T0 + 10);
    mat_producer_flush(&p);

    snprintf(arg, sizeof arg, "--schemas=%s", dir);
    tally_test_proc_t *proc = mat_start(&env, env.db, env.group, (const char *const[]){arg, NULL}, &port);
    mat_wait_caught_up(env.conn, &env, env.group, (const long long[3]){0, 0, 3}, 30000);
    cr_assert_eq(mat_scalar(env.conn, "SELECT count(*) FROM tally.members"), 1);
    cr_assert_str_eq(mat_text(env.conn, "SELECT member_id || ' ' || token_sha256 FROM tally.console_tokens"),
                     "m1 " SHA_A);
    cr_assert_eq(mat_http_status(port, "/metrics", body, sizeof body), 200);
    cr_assert(strstr(body, "tally_materializer_skipped_total{reason=\"unknown_branch\"} 1") != NULL, "%s", body);
    cr_assert(strstr(body, "tally_materializer_dead_letters_total 0") != NULL, "%s", body);
    cr_assert(strstr(tally_test_log(proc), "ConsoleFuture") != NULL, "the skip is logged:\n%s", tally_test_log(proc));
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(env.dlq, 0, 1000, 3000, &recs);
    cr_assert_eq(n, 0, "no dead letter");
    tally_test_records_free(recs, n);
    stop(proc);
    tally_catalog_free(c3);
    mat_producer_close(&p);
    mat_rm_dir(dir);
}
