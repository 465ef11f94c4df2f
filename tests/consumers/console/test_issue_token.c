/* tally-console issue-token / revoke-token as library calls, end to end on
 * the real gateway, the real materializer and PostgreSQL:
 *   - an issued token lands in tally.console_tokens with its SHA-256 and
 *     expiry, a revocation sets revoked_at;
 *   - the token text itself is in no topic record, no table and no log;
 *   - a gateway that answers 401, 503, 422, garbage, or nothing gives a
 *     clear error and no token;
 *   - options out of range are refused before anything is sent. */
#define _GNU_SOURCE   /* memmem */

#include "../materializer/mat_fixture.h"

#include "gateway_fixture.h"
#include "http_server.h"
#include "http_answer.h"
#include "services.h"
#include "issue_token.h"
#include "token.h"

#include <curl/curl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#define DAY_MS INT64_C(86400000)

static tally_test_gateway_t gw;
static mat_env_t env;
static tally_test_proc_t *mat;

static void setup(void)
{
    cr_assert_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
}

static void teardown(void)
{
    curl_global_cleanup();
}

TestSuite(issue_token, .init = setup, .fini = teardown, .timeout = 180);

/* The gateway, and the materializer reading its Control Panel topic. */
static void pipeline_start(void)
{
    tally_test_gateway_start(&gw, NULL);
    mat_env_create(&env, 1);
    cr_assert_lt(strlen(gw.controlpanel_topic), sizeof env.topics[2]);
    memcpy(env.topics[2], gw.controlpanel_topic, strlen(gw.controlpanel_topic) + 1);
    mat = mat_start(&env, env.db, env.group, NULL, NULL);
}

static void pipeline_stop(void)
{
    tally_test_signal(mat, SIGTERM);
    cr_assert_eq(tally_test_wait(mat, 30000), 0, "log:\n%s", tally_test_log(mat));
    tally_test_proc_free(mat);
    tally_test_gateway_stop(&gw);
    mat_env_destroy(&env);
}

/* Waits until sql (a count) gives want. */
static void wait_for(const char *sql, long long want)
{
    for (int waited = 0; mat_scalar(env.conn, "%s", sql) != want; waited += 100) {
        cr_assert(waited < 30000, "%s: %lld, not %lld; materializer log:\n%s", sql, mat_scalar(env.conn, "%s", sql),
                  want, tally_test_log(mat));
        usleep(100 * 1000);
    }
}

static int contains(const void *hay, size_t n, const char *needle)
{
    return n >= strlen(needle) && memmem(hay, n, needle, strlen(needle)) != NULL;
}

/* The token (and its random part alone) is in no record of topic. */
static size_t assert_not_in_topic(const char *topic, const char *token)
{
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(topic, 0, 1000, 10000, &recs);
    for (size_t i = 0; i < n; i++) {
        const char *parts[2] = {token, token + strlen(TALLY_CONSOLE_TOKEN_PREFIX)};
        for (int k = 0; k < 2; k++) {
            cr_assert(!contains(recs[i].value, recs[i].len, parts[k]), "the token is in %s record %zu", topic, i);
            cr_assert(!contains(recs[i].key, recs[i].key_len, parts[k]), "the token is in a key of %s", topic);
            cr_assert(!contains(recs[i].headers_text, strlen(recs[i].headers_text), parts[k]));
        }
    }
    tally_test_records_free(recs, n);
    return n;
}

/* ...and in no row of any table of the database. */
static void assert_not_in_tables(const char *token)
{
    PGresult *r = PQexec(env.conn, "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
                                   "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    cr_assert_geq(PQntuples(r), 12);
    for (int i = 0; i < PQntuples(r); i++) {
        long long hits = mat_scalar(env.conn, "SELECT count(*) FROM %s t WHERE strpos(t::text, '%s') > 0",
                                    PQgetvalue(r, i, 0), token + strlen(TALLY_CONSOLE_TOKEN_PREFIX));
        cr_assert_eq(hits, 0, "the token is in table %s", PQgetvalue(r, i, 0));
    }
    PQclear(r);
}

Test(issue_token, issued_and_revoked_through_the_gateway_into_console_tokens_and_the_token_is_nowhere)
{
    pipeline_start();
    long long now = tally_test_now_ms();
    char body[1024], err[512] = "", token[TALLY_CONSOLE_TOKEN_SIZE], id[TALLY_CONSOLE_TOKEN_ID_SIZE];
    char sha[65], q[512];
    int64_t expires = 0;

    /* The member the token is for. */
    snprintf(body, sizeof body,
             "{\"tenant_id\":\"%s\",\"occurred_at\":%lld,\"payload\":{\"MemberAdded\":{\"member_id\":\"m-1\","
             "\"first_name\":\"Ada\",\"last_name\":\"Lovelace\",\"email\":\"ada@example.com\",\"role\":\"admin\"}}}",
             TALLY_TEST_TENANT, now - 1000);
    tally_test_response_t r = tally_test_gateway_post(&gw, "/v1/controlpanel/events", "application/json",
                                                      TALLY_TEST_ADMIN_TOKEN, body, strlen(body));
    cr_assert_eq(r.status, 202, "%s", r.body);
    tally_test_response_free(&r);

    tally_issue_token_opts_t o = {.gateway_url = gw.base_url, .admin_token = TALLY_TEST_ADMIN_TOKEN,
                                  .tenant_id = TALLY_TEST_TENANT, .member_id = "m-1", .now_ms = now};
    cr_assert_eq(tally_console_issue_token(&o, token, sizeof token, id, &expires, err, sizeof err), 0, "%s", err);
    cr_assert(tally_console_token_well_formed(token, strlen(token)), "%s", token);
    cr_assert_eq(strncmp(token, "tct_", 4), 0);
    cr_assert_eq(expires, now + 24 * 3600000LL, "24 h by default");
    tally_test_sha256_hex(token, sha);

    snprintf(q, sizeof q, "SELECT count(*) FROM tally.console_tokens WHERE token_id = '%s'", id);
    wait_for(q, 1);
    snprintf(q, sizeof q,
             "SELECT tenant_id || ' ' || member_id || ' ' || token_sha256 || ' ' || "
             "(extract(epoch FROM expires_at) * 1000)::bigint || ' ' || (extract(epoch FROM issued_at) * 1000)::bigint "
             "|| ' ' || coalesce(revoked_at::text, '-') FROM tally.console_tokens WHERE token_id = '%s'",
             id);
    char want[512];
    snprintf(want, sizeof want, "%s m-1 %s %lld %lld -", TALLY_TEST_TENANT, sha, (long long)expires, now);
    cr_assert_str_eq(mat_text(env.conn, "%s", q), want);

    /* A second token for the same member is another row. */
    char token2[TALLY_CONSOLE_TOKEN_SIZE], id2[TALLY_CONSOLE_TOKEN_ID_SIZE];
    o.ttl_ms = 2 * DAY_MS;
    cr_assert_eq(tally_console_issue_token(&o, token2, sizeof token2, id2, &expires, err, sizeof err), 0, "%s", err);
    cr_assert_str_neq(token2, token);
    cr_assert_str_neq(id2, id);
    cr_assert_eq(expires, now + 2 * DAY_MS);

    tally_revoke_token_opts_t rv = {.gateway_url = gw.base_url, .admin_token = TALLY_TEST_ADMIN_TOKEN,
                                    .tenant_id = TALLY_TEST_TENANT, .token_id = id, .now_ms = now + 5000};
    cr_assert_eq(tally_console_revoke_token(&rv, err, sizeof err), 0, "%s", err);
    snprintf(q, sizeof q, "SELECT count(*) FROM tally.console_tokens WHERE token_id = '%s' AND revoked_at = "
                          "to_timestamp(%lld / 1000.0)", id, now + 5000);
    wait_for(q, 1);
    wait_for("SELECT count(*) FROM tally.console_tokens WHERE revoked_at IS NULL", 1);

    /* The token text is nowhere: not in the topic, the dead letters, a
     * table or a log. */
    const char *tokens[2] = {token, token2};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(assert_not_in_topic(gw.controlpanel_topic, tokens[k]), 4);
        assert_not_in_topic(env.dlq, tokens[k]);
        assert_not_in_tables(tokens[k]);
        cr_assert(strstr(tally_test_log(gw.proc), tokens[k] + 4) == NULL);
        cr_assert(strstr(tally_test_log(mat), tokens[k] + 4) == NULL);
    }
    pipeline_stop();
}

/* ---- a hostile gateway ------------------------------------------------ */

typedef struct {
    unsigned status;
    const char *body;
    int posts;
} fake_t;

static enum MHD_Result fake_answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                   const char *version, const char *upload, size_t *upload_size, void **state)
{
    fake_t *f = cls;
    (void)url, (void)method, (void)version, (void)upload;
    if (*state == NULL) {
        *state = f;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    f->posts++;
    return tally_http_answer_text(c, f->status, "application/json", f->body, NULL);
}

Test(issue_token, a_gateway_that_refuses_or_babbles_gives_a_clear_error_and_no_token)
{
    struct {
        unsigned status;
        const char *body, *says;
        int code;
    } cases[] = {
        {401, "{\"error\":\"unauthorized\"}", "401 (wrong admin token?)", TALLY_CONSOLE_TOKEN_ERR_REFUSED},
        {503, "{\"error\":\"unavailable\",\"detail\":\"saturated\"}", "503", TALLY_CONSOLE_TOKEN_ERR_REFUSED},
        {422, "{\"accepted\":0,\"rejected\":[{\"index\":0,\"error\":\"schema\"}]}", "422",
         TALLY_CONSOLE_TOKEN_ERR_REFUSED},
        {200, "{\"accepted\":1,\"rejected\":[]}", "200", TALLY_CONSOLE_TOKEN_ERR_REFUSED},
        {202, "<html>garbage\x01</html>", "without accepting", TALLY_CONSOLE_TOKEN_ERR_REFUSED},
        {202, "{\"accepted\":0,\"rejected\":[{\"index\":0}]}", "without accepting", TALLY_CONSOLE_TOKEN_ERR_REFUSED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_t f = {cases[i].status, cases[i].body, 0};
        char err[512] = "", url[64], token[TALLY_CONSOLE_TOKEN_SIZE], id[TALLY_CONSOLE_TOKEN_ID_SIZE];
        int port = 0;
        int64_t expires = -1;
        tally_http_opts_t ho = {.name = "fake gateway", .handler = fake_answer, .handler_cls = &f};
        struct MHD_Daemon *d = tally_http_start(&ho, &port, err, sizeof err);
        cr_assert_not_null(d, "%s", err);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
        memset(token, 'x', sizeof token);
        memset(id, 'x', sizeof id);
        tally_issue_token_opts_t o = {.gateway_url = url, .admin_token = TALLY_TEST_ADMIN_TOKEN,
                                      .tenant_id = "t", .member_id = "m"};
        int rc = tally_console_issue_token(&o, token, sizeof token, id, &expires, err, sizeof err);
        cr_assert_eq(rc, cases[i].code, "case %zu: %d %s", i, rc, err);
        cr_assert_eq(f.posts, 1, "case %zu", i);
        cr_assert(strstr(err, cases[i].says) != NULL, "case %zu: %s", i, err);
        cr_assert_str_eq(token, "", "case %zu: no token", i);
        cr_assert_str_eq(id, "", "case %zu: no token id", i);
        cr_assert_eq(expires, -1);
        cr_assert(strstr(err, "tct_") == NULL && strstr(err, TALLY_TEST_ADMIN_TOKEN) == NULL, "%s", err);
        tally_revoke_token_opts_t rv = {.gateway_url = url, .admin_token = TALLY_TEST_ADMIN_TOKEN, .tenant_id = "t",
                                        .token_id = "7e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b"};
        cr_assert_eq(tally_console_revoke_token(&rv, err, sizeof err), cases[i].code, "case %zu: %s", i, err);
        tally_http_stop(d);
    }

    /* Nobody listening, and a gateway that never answers. */
    char err[512] = "", url[64], token[TALLY_CONSOLE_TOKEN_SIZE], id[TALLY_CONSOLE_TOKEN_ID_SIZE];
    int64_t expires = -1;
    int port = tally_test_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    tally_issue_token_opts_t o = {.gateway_url = url, .admin_token = TALLY_TEST_ADMIN_TOKEN, .tenant_id = "t",
                                  .member_id = "m", .timeout_ms = 2000};
    cr_assert_eq(tally_console_issue_token(&o, token, sizeof token, id, &expires, err, sizeof err),
                 TALLY_CONSOLE_TOKEN_ERR_TRANSPORT, "%s", err);
    cr_assert(strstr(err, "cannot reach the gateway") != NULL, "%s", err);
    cr_assert_str_eq(token, "");
    int silent = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(silent, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(silent, 4), 0);
    socklen_t sl = sizeof sa;
    cr_assert_eq(getsockname(silent, (struct sockaddr *)&sa, &sl), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    o.timeout_ms = 500;
    cr_assert_eq(tally_console_issue_token(&o, token, sizeof token, id, &expires, err, sizeof err),
                 TALLY_CONSOLE_TOKEN_ERR_TRANSPORT, "%s", err);
    cr_assert(strstr(err, "imeout") != NULL || strstr(err, "timed out") != NULL, "%s", err);
    cr_assert_str_eq(token, "");
    close(silent);
}

Test(issue_token, options_out_of_range_are_refused_before_anything_is_sent)
{
    fake_t f = {202, "{\"accepted\":1,\"rejected\":[]}", 0};
    char err[512] = "", url[64], token[TALLY_CONSOLE_TOKEN_SIZE], id[TALLY_CONSOLE_TOKEN_ID_SIZE];
    int port = 0;
    int64_t expires;
    tally_http_opts_t ho = {.name = "fake gateway", .handler = fake_answer, .handler_cls = &f};
    struct MHD_Daemon *d = tally_http_start(&ho, &port, err, sizeof err);
    cr_assert_not_null(d, "%s", err);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    tally_issue_token_opts_t good = {.gateway_url = url, .admin_token = "a", .tenant_id = "t", .member_id = "m"};
    tally_issue_token_opts_t o = good;
    o.ttl_ms = 30 * DAY_MS + 1;
    cr_assert_eq(tally_console_issue_token(&o, token, sizeof token, id, &expires, err, sizeof err),
                 TALLY_CONSOLE_TOKEN_ERR_USAGE);
    cr_assert(strstr(err, "30 days") != NULL, "%s", err);
    o = good;
    o.ttl_ms = -5;
    cr_assert_eq(tally_console_issue_token(&o, token, sizeof token, id, &expires, err, sizeof err),
                 TALLY_CONSOLE_TOKEN_ERR_USAGE);
    o = good;
    o.member_id = "";
    cr_assert_eq(tally_console_issue_token(&o, token, sizeof token, id, &expires, err, sizeof err),
                 TALLY_CONSOLE_TOKEN_ERR_USAGE);
    o = good;
    o.admin_token = NULL;
    cr_assert_eq(tally_console_issue_token(&o, token, sizeof token, id, &expires, err, sizeof err),
                 TALLY_CONSOLE_TOKEN_ERR_USAGE);
    cr_assert_eq(tally_console_issue_token(&good, token, TALLY_CONSOLE_TOKEN_SIZE - 1, id, &expires, err, sizeof err),
                 TALLY_CONSOLE_TOKEN_ERR_USAGE);
    o = good;
    o.member_id = "m\xff";
    cr_assert_eq(tally_console_issue_token(&o, token, sizeof token, id, &expires, err, sizeof err),
                 TALLY_CONSOLE_TOKEN_ERR_USAGE);
    cr_assert(strstr(err, "UTF-8") != NULL, "%s", err);
    tally_revoke_token_opts_t rv = {.gateway_url = url, .admin_token = "a", .tenant_id = "t"};
    cr_assert_eq(tally_console_revoke_token(&rv, err, sizeof err), TALLY_CONSOLE_TOKEN_ERR_USAGE);
    rv.token_id = "7e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b";
    rv.tenant_id = "\xc3";
    cr_assert_eq(tally_console_revoke_token(&rv, err, sizeof err), TALLY_CONSOLE_TOKEN_ERR_USAGE);
    cr_assert_eq(f.posts, 0, "nothing was sent");
    /* The same options, fixed, are sent and accepted. */
    cr_assert_eq(tally_console_issue_token(&good, token, sizeof token, id, &expires, err, sizeof err), 0, "%s", err);
    cr_assert_eq(f.posts, 1);
    tally_http_stop(d);
}

Test(issue_token, tokens_are_random_well_formed_and_hashed_whole)
{
    char a[TALLY_CONSOLE_TOKEN_SIZE], b[TALLY_CONSOLE_TOKEN_SIZE], ia[TALLY_CONSOLE_TOKEN_ID_SIZE],
        ib[TALLY_CONSOLE_TOKEN_ID_SIZE], h[TALLY_CONSOLE_SHA256_SIZE], want[65];
    tally_console_token_new(a, ia);
    tally_console_token_new(b, ib);
    cr_assert_eq(strlen(a), TALLY_CONSOLE_TOKEN_LEN);
    cr_assert_str_neq(a, b);
    cr_assert_str_neq(ia, ib);
    cr_assert_eq(strlen(ia), 36);
    cr_assert_eq(ia[14], '4', "version 4 UUID: %s", ia);
    cr_assert(tally_console_token_well_formed(a, strlen(a)));
    tally_console_token_sha256(a, strlen(a), h);
    tally_test_sha256_hex(a, want);
    cr_assert_str_eq(h, want, "the SHA-256 of the whole token, prefix included");
    /* Shapes a sign-in must refuse before any lookup. */
    char bad[TALLY_CONSOLE_TOKEN_SIZE];
    cr_assert_not(tally_console_token_well_formed(a, strlen(a) - 1));
    cr_assert_not(tally_console_token_well_formed("", 0));
    cr_assert_not(tally_console_token_well_formed(NULL, 0));
    memcpy(bad, a, sizeof bad);
    bad[0] = 'T';
    cr_assert_not(tally_console_token_well_formed(bad, strlen(bad)));
    memcpy(bad, a, sizeof bad);
    bad[10] = '+';
    cr_assert_not(tally_console_token_well_formed(bad, strlen(bad)));
    memcpy(bad, a, sizeof bad);
    bad[10] = '\'';
    cr_assert_not(tally_console_token_well_formed(bad, strlen(bad)));
}
