/* tally-gateway's credentials, black-box, with its keys read from the real
 * PostgreSQL (the tally.gateway_keys view) through a TCP proxy that the test
 * can turn into a hung database: a SIGHUP refresh stuck on it neither stops
 * the usage routes nor holds up SIGTERM; keys older than --keys-max-stale
 * answer 503 and fail /readyz; a deleted environment's key is refused after
 * a refresh; seat events need a production key; unknown credentials get 401
 * with WWW-Authenticate, valid ones out of their scope 403; repeated 401s
 * from one client address get 429 while other addresses go on; a short
 * admin token is refused at startup. */
#include "gateway_fixture.h"
#include "keys.h"
#include "pg.h"
#include "pg_migrate.h"
#include "tcp_proxy.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_DEV "tk_live_acme_dev_0123456789abcdef"
#define TENANT TALLY_TEST_TENANT

static char db[128], errbuf[1024], pg_arg[256];
static PGconn *conn;
static tally_test_proxy_t *proxy;
static tally_test_gateway_t gw;

static void pg_run(const char *sql)
{
    cr_assert_eq(tally_pg_exec(conn, sql, errbuf, sizeof errbuf), 0, "%s: %s", sql, errbuf);
}

static void insert_key(const char *key_id, const char *key, const char *env, const char *kind)
{
    char hex[TALLY_KEYS_HEX_SIZE], sql[1024];
    tally_keys_hash_hex(key, strlen(key), hex);
    snprintf(sql, sizeof sql,
             "INSERT INTO tally.environments (tenant_id, environment_id, name, kind, owner, created_at) "
             "VALUES ('%s', '%s', '%s', '%s', 'owner', now());"
             "INSERT INTO tally.api_keys (key_id, tenant_id, environment_id, key_sha256, issued_at) "
             "VALUES ('%s', '%s', '%s', '%s', now())",
             TENANT, env, env, kind, key_id, TENANT, env, hex);
    pg_run(sql);
}

static void setup(void)
{
    int applied = 0;
    conn = tally_test_db_create("tally_test_gw_auth", db, sizeof db);
    cr_assert_eq(tally_migrate_apply(conn, tally_test_source_path("deploy/postgres/migrations"), &applied, errbuf,
                                     sizeof errbuf),
                 0, "%s", errbuf);
    pg_run("INSERT INTO tally.tenants (tenant_id, name, registered_at) VALUES ('" TENANT "', 'Acme', now())");
    insert_key("k-prod", TALLY_TEST_API_KEY, TALLY_TEST_ENV, "production");
    insert_key("k-staging", TALLY_TEST_API_KEY_STAGING, "env-staging", "staging");
    insert_key("k-dev", KEY_DEV, "env-dev", "development");
    const char *port = getenv("TALLY_PG_PORT");
    proxy = tally_test_proxy_start(atoi(port ? port : "55432"));
    snprintf(pg_arg, sizeof pg_arg, "--keys-pg-url=postgresql://postgres@127.0.0.1:%d/%s",
             tally_test_proxy_port(proxy), db);
}

static void teardown(void)
{
    tally_test_gateway_stop(&gw);
    tally_test_proxy_stop(proxy);
    tally_test_db_drop(conn, db);
}

TestSuite(gateway_auth, .init = setup, .fini = teardown, .timeout = 120);

/* Starts the gateway on the proxy, with up to 4 more arguments. */
static void start(const char *a, const char *b, const char *c, const char *d)
{
    const char *args[] = {pg_arg, "--keys-refresh=1h", a, b, c, d, NULL};
    tally_test_gateway_start(&gw, args);
}

static tally_test_response_t post(const char *path, const char *key, const char *body)
{
    return tally_test_gateway_post(&gw, path, "application/json", key, body, strlen(body));
}

static tally_test_response_t post_from(const char *address, const char *path, const char *auth_header,
                                       const char *body)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", gw.base_url, path);
    const char *h[] = {"Content-Type: application/json", auth_header, NULL};
    return tally_test_http_from(address, "POST", url, h, body, strlen(body), 0);
}

static const char *usage_body(const char *env)
{
    static char body[1024];
    long long now = tally_test_now_ms();
    snprintf(body, sizeof body,
             "{\"tenant_id\":\"%s\",\"environment_id\":\"%s\",\"reporter_id\":\"2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d\","
             "\"reporter_started_at\":%lld,\"seq\":1,\"observed_at\":%lld,\"api_calls\":1,\"status_4xx\":0,"
             "\"status_5xx\":0,\"exec_ms\":1}",
             TENANT, env, now - 60000, now);
    return body;
}

static const char *seat_body(const char *user)
{
    static char body[512];
    snprintf(body, sizeof body, "{\"tenant_id\":\"%s\",\"user_id\":\"%s\",\"op\":\"ASSIGNED\",\"occurred_at\":%lld}",
             TENANT, user, tally_test_now_ms());
    return body;
}

static const char *cp_body(void)
{
    static char body[512];
    snprintf(body, sizeof body,
             "{\"tenant_id\":\"%s\",\"occurred_at\":%lld,\"payload\":{\"MemberRemoved\":{\"member_id\":\"m-1\"}}}",
             TENANT, tally_test_now_ms());
    return body;
}

static const char *product_body(void)
{
    static char body[512];
    snprintf(body, sizeof body,
             "{\"source\":\"CLI\",\"event\":\"project.create.start\",\"occurred_at\":%lld,\"install_id\":\"i-1\","
             "\"project_id\":\"p-1\",\"version\":\"5.2.1\",\"ci\":false,\"properties\":{\"template\":\"blog\"}}",
             tally_test_now_ms() - 1000);
    return body;
}

static long status_of(tally_test_response_t r)
{
    long st = r.status;
    tally_test_response_free(&r);
    return st;
}

static long readyz(char *detail, size_t size)
{
    char url[128];
    snprintf(url, sizeof url, "%s/readyz", gw.base_url);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    if (detail)
        snprintf(detail, size, "%s", r.body);
    return status_of(r);
}

/* Sends SIGTERM and returns how long the gateway took to exit (ms), or -1
 * when it still runs after timeout_ms; *status gets its exit status. */
static long long sigterm_exit_ms(int timeout_ms, int *status)
{
    long long t0 = tally_test_mono_ms();
    tally_test_signal(gw.proc, SIGTERM);
    *status = tally_test_wait(gw.proc, timeout_ms);
    return *status < 0 ? -1 : tally_test_mono_ms() - t0;
}

/* ---- defect 5: keys outlive their revocation --------------------------- */

Test(gateway_auth, sighup_on_a_hung_database_neither_blocks_serving_nor_sigterm)
{
    start(NULL, NULL, NULL, NULL);
    cr_assert_eq(status_of(post("/v1/usage/reports", TALLY_TEST_API_KEY, usage_body(TALLY_TEST_ENV))), 202);

    /* The database hangs: the refresh's connection and any new one get no
     * answer, ever. */
    tally_test_proxy_freeze(proxy);
    tally_test_signal(gw.proc, SIGHUP);
    usleep(300000);
    long long t0 = tally_test_mono_ms();
    long st = status_of(post("/v1/usage/reports", TALLY_TEST_API_KEY, usage_body(TALLY_TEST_ENV)));
    cr_assert_eq(st, 202, "usage during a hung refresh: %ld", st);
    cr_assert_lt(tally_test_mono_ms() - t0, 2000, "the usage route waited for the refresh");

    int status;
    long long took = sigterm_exit_ms(10000, &status);
    cr_assert(took >= 0, "SIGTERM during a hung refresh: still running after 10 s");
    cr_assert_lt(took, 3000, "SIGTERM during a hung refresh took %lld ms", took);
    cr_log_info("SIGTERM during a hung refresh: exited in %lld ms", took);
    cr_assert_eq(status, 0, "exit status %d; log:\n%s", status, tally_test_log(gw.proc));
    tally_test_proc_free(gw.proc);
    gw.proc = NULL;
}

Test(gateway_auth, stale_keys_answer_503_and_fail_readiness)
{
    start("--keys-max-stale=2s", "--keys-pg-timeout=60s", NULL, NULL);
    long long loaded = tally_test_mono_ms();   /* at most this long after the load */
    cr_assert_eq(status_of(post("/v1/usage/reports", TALLY_TEST_API_KEY, usage_body(TALLY_TEST_ENV))), 202);
    tally_test_proxy_freeze(proxy);
    tally_test_signal(gw.proc, SIGHUP);

    /* Served from the last table until it is 2 s old, then 503. */
    long st = 0;
    tally_test_response_t r = {0};
    while (tally_test_mono_ms() - loaded < 10000) {
        r = post("/v1/usage/reports", TALLY_TEST_API_KEY, usage_body(TALLY_TEST_ENV));
        st = r.status;
        if (st != 202)
            break;
        tally_test_response_free(&r);
        usleep(100000);
    }
    cr_assert_eq(st, 503, "usage with stale keys: %ld %s", st, r.body);
    cr_log_info("usage answered 202 until %lld ms after the load, then 503", tally_test_mono_ms() - loaded);
    cr_assert_not_null(tally_test_header(&r, "Retry-After"), "503 without Retry-After");
    cr_assert_not_null(strstr(r.body, "\"error\":\"unavailable\""), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "stale"), "%s", r.body);
    tally_test_response_free(&r);
    cr_assert_eq(status_of(post("/v1/usage/seats", TALLY_TEST_API_KEY, seat_body("u-1"))), 503);

    char detail[512];
    cr_assert_eq(readyz(detail, sizeof detail), 503, "readyz with stale keys: %s", detail);
    cr_assert_not_null(strstr(detail, "API keys"), "no reason: %s", detail);
    /* The product route needs no key, the Control Panel route the admin token. */
    cr_assert_eq(status_of(post("/v1/product/events", NULL, product_body())), 202);
    cr_assert_eq(status_of(post("/v1/controlpanel/events", TALLY_TEST_ADMIN_TOKEN, cp_body())), 202);

    int status;
    long long took = sigterm_exit_ms(10000, &status);
    cr_assert(took >= 0 && took < 3000, "SIGTERM during a hung refresh took %lld ms", took);
    cr_assert_eq(status, 0, "exit status %d", status);
    tally_test_proc_free(gw.proc);
    gw.proc = NULL;
}

Test(gateway_auth, key_of_a_deleted_environment_is_refused_after_refresh)
{
    start(NULL, NULL, NULL, NULL);
    cr_assert_eq(status_of(post("/v1/usage/reports", TALLY_TEST_API_KEY, usage_body(TALLY_TEST_ENV))), 202);
    pg_run("UPDATE tally.environments SET deleted_at = now() WHERE environment_id = '" TALLY_TEST_ENV "'");
    tally_test_signal(gw.proc, SIGHUP);
    long st = 202;
    for (int i = 0; i < 50 && st == 202; i++) {
        usleep(100000);
        st = status_of(post("/v1/usage/reports", TALLY_TEST_API_KEY, usage_body(TALLY_TEST_ENV)));
    }
    cr_assert_eq(st, 401, "the key of a deleted environment after SIGHUP: %ld", st);
    /* The other environments' keys still work. */
    cr_assert_eq(status_of(post("/v1/usage/reports", TALLY_TEST_API_KEY_STAGING, usage_body("env-staging"))), 202);
}

/* ---- defect 7: seat events need a production key ------------------------ */

Test(gateway_auth, seat_events_need_a_production_key)
{
    start(NULL, NULL, NULL, NULL);
    tally_test_response_t r = post("/v1/usage/seats", TALLY_TEST_API_KEY, seat_body("u-prod"));
    cr_assert_eq(r.status, 202, "production key: %ld %s", r.status, r.body);
    tally_test_response_free(&r);
    const char *refused[][2] = {{TALLY_TEST_API_KEY_STAGING, "staging"}, {KEY_DEV, "development"}};
    for (size_t i = 0; i < 2; i++) {
        r = post("/v1/usage/seats", refused[i][0], seat_body("u-other"));
        cr_assert_eq(r.status, 403, "%s key on seats: %ld %s", refused[i][1], r.status, r.body);
        cr_assert_not_null(strstr(r.body, "production"), "%s", r.body);
        cr_assert_not_null(strstr(r.body, refused[i][1]), "the detail names the key's kind: %s", r.body);
        tally_test_response_free(&r);
    }
    /* Usage reports are not seat writes: every kind may send its own. */
    cr_assert_eq(status_of(post("/v1/usage/reports", KEY_DEV, usage_body("env-dev"))), 202);

    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(gw.usage_topic, 2, 1500, 15000, &recs);
    size_t seats = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_null(strstr(recs[i].value, "u-other"), "a refused seat event reached Kafka");
        seats += strstr(recs[i].value, "u-prod") != NULL;
    }
    cr_assert_eq(n, 2, "records on the usage topic: %zu", n);
    cr_assert_eq(seats, 1);
    tally_test_records_free(recs, n);
}

/* ---- defect 6: authentication answers ---------------------------------- */

static void expect_401(tally_test_response_t r, const char *what)
{
    cr_assert_eq(r.status, 401, "%s: %ld %s", what, r.status, r.body);
    const char *www = tally_test_header(&r, "WWW-Authenticate");
    cr_assert(www != NULL && strncmp(www, "Bearer", 6) == 0, "%s: WWW-Authenticate %s", what, www ? www : "(none)");
    cr_assert_not_null(strstr(r.body, "\"error\":\"unauthorized\""), "%s: %s", what, r.body);
    tally_test_response_free(&r);
}

static void expect_403(tally_test_response_t r, const char *what)
{
    cr_assert_eq(r.status, 403, "%s: %ld %s", what, r.status, r.body);
    cr_assert_null(tally_test_header(&r, "WWW-Authenticate"), "%s", what);
    cr_assert_not_null(strstr(r.body, "\"error\":\"forbidden\""), "%s: %s", what, r.body);
    tally_test_response_free(&r);
}

Test(gateway_auth, unknown_credentials_get_401_and_valid_ones_out_of_scope_403)
{
    start(NULL, NULL, NULL, NULL);
    const char *cp = "/v1/controlpanel/events";
    expect_401(post(cp, NULL, cp_body()), "Control Panel without a token");
    expect_401(post(cp, "not-the-admin-token-but-long-enough-0123456789", cp_body()), "unknown admin token");
    expect_401(post(cp, TALLY_TEST_ADMIN_TOKEN "x", cp_body()), "admin token with a byte more");
    expect_401(post_from(NULL, cp, "Authorization: Bearer two tokens", cp_body()), "malformed admin token");
    expect_401(post_from(NULL, cp, "Authorization: Basic YWRtaW46YWRtaW4=", cp_body()), "Basic on Control Panel");
    expect_401(post("/v1/usage/reports", "tk_live_unknown_0123456789", usage_body(TALLY_TEST_ENV)),
               "unknown API key");
    expect_401(post("/v1/usage/seats", NULL, seat_body("u-1")), "seats without a key");

    /* A valid credential used where it does not apply. */
    expect_403(post(cp, TALLY_TEST_API_KEY, cp_body()), "an API key on the Control Panel route");
    expect_403(post("/v1/usage/reports", TALLY_TEST_ADMIN_TOKEN, usage_body(TALLY_TEST_ENV)),
               "the admin token on usage");
    expect_403(post("/v1/usage/seats", TALLY_TEST_ADMIN_TOKEN, seat_body("u-1")), "the admin token on seats");

    cr_assert_eq(status_of(post(cp, TALLY_TEST_ADMIN_TOKEN, cp_body())), 202);
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(gw.usage_topic, 0, 1000, 3000, &recs);
    cr_assert_eq(n, 0, "nothing refused reached Kafka");
    tally_test_records_free(recs, n);
}

Test(gateway_auth, repeated_401s_from_one_address_get_429_and_others_go_on)
{
    /* The defaults: 20 failures, refilled evenly over a minute (one every
     * 3 s), then 429. Two loopback addresses stand for two clients. */
    start(NULL, NULL, NULL, NULL);
    const char *limited = "127.0.0.3", *other = "127.0.0.2";
    const char *wrong = "Authorization: Bearer tk_live_wrong_0123456789";
    int unauthorized = 0;
    long st = 0;
    tally_test_response_t r = {0};
    long long t0 = tally_test_mono_ms();
    for (int i = 0; i < 40; i++) {
        r = post_from(limited, "/v1/usage/reports", wrong, usage_body(TALLY_TEST_ENV));
        st = r.status;
        if (st != 401)
            break;
        unauthorized++;
        tally_test_response_free(&r);
    }
    long long took = tally_test_mono_ms() - t0;
    cr_assert_eq(st, 429, "after %d failures: %ld %s", unauthorized, st, r.body);
    /* 20, and one more for each 3 s the loop took (a slow build). */
    cr_assert(unauthorized >= 20 && unauthorized <= 20 + took / 3000, "429 after %d failures in %lld ms, want 20",
              unauthorized, took);
    const char *retry = tally_test_header(&r, "Retry-After");
    cr_assert(retry != NULL && atoi(retry) >= 1, "Retry-After %s", retry ? retry : "(none)");
    tally_test_response_free(&r);
    /* The client stays limited on every credentialed route, even with a
     * valid key, until its allowance refills. */
    cr_assert_eq(status_of(post_from(limited, "/v1/controlpanel/events",
                                     "Authorization: Bearer not-the-admin-token-0123456789abcdef", cp_body())),
                 429);
    const char *good = "Authorization: Bearer " TALLY_TEST_API_KEY;
    cr_assert_eq(status_of(post_from(limited, "/v1/usage/reports", good, usage_body(TALLY_TEST_ENV))), 429);

    /* Another address is unaffected, with a valid key or a wrong one. */
    cr_assert_eq(status_of(post_from(other, "/v1/usage/reports", good, usage_body(TALLY_TEST_ENV))), 202);
    cr_assert_eq(status_of(post_from(other, "/v1/usage/reports", wrong, usage_body(TALLY_TEST_ENV))), 401);
    /* The product route needs no credential and is not locked. */
    cr_assert_eq(status_of(post_from(limited, "/v1/product/events", "X-Nothing: 1", product_body())), 202);

    /* Neither client address is ever logged. */
    tally_test_signal(gw.proc, SIGTERM);
    cr_assert_eq(tally_test_wait(gw.proc, 30000), 0);
    cr_assert_null(strstr(tally_test_log(gw.proc), limited), "%s", tally_test_log(gw.proc));
    cr_assert_null(strstr(tally_test_log(gw.proc), other), "%s", tally_test_log(gw.proc));
}

Test(gateway_auth, a_short_admin_token_is_refused_at_startup)
{
    const char *token = "short-admin-token-0123456789abc";   /* 31 characters */
    char arg[128];
    snprintf(arg, sizeof arg, "--admin-token=%s", token);
    char *argv[] = {(char *)tally_test_bin("tally-gateway"), "--port=0", "--keys-file=/dev/null", arg, NULL};
    tally_test_proc_t *p = tally_test_spawn(argv, NULL, 0, NULL, 0);
    int status = tally_test_wait(p, 10000);
    const char *log = tally_test_log(p);
    cr_assert_eq(status, 2, "exit status %d; log:\n%s", status, log);
    cr_assert_not_null(strstr(log, "admin token"), "%s", log);
    cr_assert_not_null(strstr(log, "32"), "the message says the minimum: %s", log);
    cr_assert_null(strstr(log, token), "the token is printed: %s", log);
    tally_test_proc_free(p);
}
