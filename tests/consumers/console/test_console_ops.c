/* tally-console as an operator sees it: /healthz, /readyz, /metrics,
 * caching headers, a database outage and a PostgreSQL restart survived
 * without restarting the console, and SIGTERM draining a request in
 * flight. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console_fixture.h"
#include "pg.h"
#include "services.h"

static tally_test_console_t c;

TestSuite(console_ops, .timeout = 240);

static long status_of(const char *path, const char *cookie, const char *bearer)
{
    tally_test_response_t r = tally_test_console_request(&c, "GET", path, cookie, bearer);
    long st = r.status;
    tally_test_response_free(&r);
    return st;
}

static void wait_status(const char *path, const char *cookie, long want, int timeout_ms)
{
    long st = 0;
    long long until = tally_test_mono_ms() + timeout_ms;
    while (tally_test_mono_ms() < until) {
        if ((st = status_of(path, cookie, NULL)) == want)
            return;
        usleep(100 * 1000);
    }
    cr_assert_fail("%s did not answer %ld within %d ms (last %ld)", path, want, timeout_ms, st);
}

static const char *const security_headers[][2] = {
    {"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
};

static void expect_security_headers(const tally_test_response_t *r, const char *what)
{
    for (size_t i = 0; i < sizeof security_headers / sizeof security_headers[0]; i++) {
        const char *v = tally_test_header(r, security_headers[i][0]);
        cr_assert(v && strcmp(v, security_headers[i][1]) == 0, "%s: %s is %s", what, security_headers[i][0],
                  v ? v : "missing");
    }
}

Test(console_ops, health_readiness_metrics_and_headers)
{
    char token[64], cookie[96];
    tally_test_console_db(&c);
    tally_test_console_member(&c, "acme", "m-acme", NULL, token, cookie);
    tally_test_response_t r = tally_test_console_request(&c, "GET", "/healthz", NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{\"status\":\"ok\"}");
    tally_test_response_free(&r);
    r = tally_test_console_request(&c, "GET", "/readyz", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    tally_test_response_free(&r);
    cr_assert_eq(status_of("/t/acme/", cookie, NULL), 200);
    cr_assert_eq(status_of("/api/v1/tenants/globex/overview", cookie, NULL), 404);

    /* Every kind of answer carries the security headers. */
    static const struct {
        const char *path, *method;
        int with_cookie;
        long status;
    } kinds[] = {
        {"/t/acme/", "GET", 1, 200}, {"/api/v1/tenants/acme/overview", "GET", 1, 200},
        {"/no/such", "GET", 1, 404}, {"/api/v1/no/such", "GET", 0, 404},
        {"/t/acme/", "GET", 0, 303}, {"/api/v1/tenants/acme/overview", "GET", 0, 401},
        {"/t/acme/", "PUT", 1, 405}, {"/api/v1/tenants/acme/usage?period=x", "GET", 1, 400},
        {"/signin", "GET", 0, 200}, {"/healthz", "GET", 0, 200}, {"/metrics", "GET", 0, 200},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        r = tally_test_console_request(&c, kinds[i].method, kinds[i].path, kinds[i].with_cookie ? cookie : NULL, NULL);
        cr_assert_eq(r.status, kinds[i].status, "%s %s: %ld", kinds[i].method, kinds[i].path, r.status);
        expect_security_headers(&r, kinds[i].path);
        tally_test_response_free(&r);
    }
    r = tally_test_console_request(&c, "GET", "/metrics", NULL, NULL);
    cr_assert_eq(r.status, 200);
    static const char *const series[] = {
        "tally_console_requests_total{route=\"html:overview\",status=\"200\"} 2\n",
        "tally_console_requests_total{route=\"api:overview\",status=\"404\"} 1\n",
        "tally_console_requests_total{route=\"signin\",status=\"303\"} 1\n",
        "tally_console_request_seconds_bucket{route=\"html:overview\",le=\"+Inf\"} 4\n",
        "tally_console_sessions 1\n",
        "tally_console_db_errors_total 0\n",
        "tally_console_signins_total{result=\"ok\"} 1\n",
    };
    for (size_t i = 0; i < sizeof series / sizeof series[0]; i++)
        cr_assert(strstr(r.body, series[i]) != NULL, "no %s in:\n%s", series[i], r.body);
    tally_test_response_free(&r);
    tally_test_console_teardown(&c);
}

Test(console_ops, etag_and_cache_control)
{
    char token[64], cookie[96], inm[128];
    tally_test_console_db(&c);
    tally_test_console_member(&c, "acme", "m-acme", NULL, token, cookie);
    /* The team page: a model with no clock in it. */
    tally_test_response_t r = tally_test_console_request(&c, "GET", "/api/v1/tenants/acme/team", cookie, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(tally_test_header(&r, "Content-Type"), "application/json");
    cr_assert_str_eq(tally_test_header(&r, "Cache-Control"), "private, max-age=30");
    char etag[64];
    snprintf(etag, sizeof etag, "%s", tally_test_header(&r, "ETag"));
    cr_assert(strlen(etag) == 34 && etag[0] == '"' && etag[33] == '"', "a strong ETag: %s", etag);
    tally_test_response_free(&r);
    char url[256];
    snprintf(url, sizeof url, "%s/api/v1/tenants/acme/team", c.base_url);
    char cookie_h[128];
    snprintf(cookie_h, sizeof cookie_h, "Cookie: %s", cookie);
    static const char *const prefixes[] = {"", "W/", "\"other\", ", NULL};
    for (size_t i = 0; i < 4; i++) {
        char h[160];
        if (prefixes[i])
            snprintf(inm, sizeof inm, "%s%s", prefixes[i], etag);
        else
            snprintf(inm, sizeof inm, "*");
        snprintf(h, sizeof h, "If-None-Match: %s", inm);
        const char *const headers[] = {cookie_h, h, NULL};
        r = tally_test_http("GET", url, headers, NULL, 0, 0);
        cr_assert_eq(r.status, 304, "If-None-Match: %s: %ld", inm, r.status);
        cr_assert_eq(r.len, 0);
        cr_assert_str_eq(tally_test_header(&r, "ETag"), etag);
        tally_test_response_free(&r);
    }
    const char *const stale[] = {cookie_h, "If-None-Match: \"0123456789abcdef0123456789abcdef\"", NULL};
    r = tally_test_http("GET", url, stale, NULL, 0, 0);
    cr_assert_eq(r.status, 200);
    tally_test_response_free(&r);
    /* Another member of another tenant never gets a 304 for it: 404. */
    r = tally_test_console_request(&c, "GET", "/t/acme/", cookie, NULL);
    cr_assert_str_eq(tally_test_header(&r, "Cache-Control"), "private, no-cache");
    cr_assert_str_eq(tally_test_header(&r, "Content-Type"), "text/html; charset=utf-8");
    cr_assert_not_null(tally_test_header(&r, "ETag"));
    tally_test_response_free(&r);
    r = tally_test_console_request(&c, "GET", "/no/such", cookie, NULL);
    cr_assert_str_eq(tally_test_header(&r, "Cache-Control"), "no-store");
    tally_test_response_free(&r);
    tally_test_console_teardown(&c);
}

Test(console_ops, database_outage_answers_503_then_recovers)
{
    char token[64], cookie[96], sql[256], err[512];
    tally_test_console_db(&c);
    static const char *const args[] = {"--session-recheck=0", NULL};
    tally_test_console_member(&c, "acme", "m-acme", args, token, cookie);
    cr_assert_eq(status_of("/t/acme/", cookie, NULL), 200);
    PGconn *admin = tally_pg_connect(tally_test_pg_url("postgres"), "tally-test", err, sizeof err);
    cr_assert_not_null(admin, "%s", err);
    snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS false", c.db);
    cr_assert_eq(tally_pg_exec(admin, sql, err, sizeof err), 0, "%s", err);
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' "
                              "AND application_name = 'tally-console'", c.db);
    cr_assert_eq(tally_pg_exec(admin, sql, err, sizeof err), 0, "%s", err);
    /* Down: 503 with Retry-After, quickly, on every face. */
    long long t0 = tally_test_mono_ms();
    tally_test_response_t r = tally_test_console_request(&c, "GET", "/t/acme/", cookie, NULL);
    cr_assert_eq(r.status, 503, "%ld", r.status);
    cr_assert_not_null(tally_test_header(&r, "Retry-After"));
    tally_test_response_free(&r);
    cr_assert_lt(tally_test_mono_ms() - t0, 5000, "a 503 should not wait for long");
    cr_assert_eq(status_of("/api/v1/tenants/acme/overview", cookie, NULL), 503);
    wait_status("/readyz", NULL, 503, 5000);
    r = tally_test_console_request(&c, "GET", "/readyz", NULL, NULL);
    cr_assert(strstr(r.body, "postgres") != NULL, "%s", r.body);
    tally_test_response_free(&r);
    cr_assert_eq(status_of("/healthz", NULL, NULL), 200, "alive all along");
    /* Back: the same process, the same session. */
    snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS true", c.db);
    cr_assert_eq(tally_pg_exec(admin, sql, err, sizeof err), 0, "%s", err);
    PQfinish(admin);
    wait_status("/t/acme/", cookie, 200, 10000);
    wait_status("/readyz", NULL, 200, 5000);
    r = tally_test_console_request(&c, "GET", "/metrics", NULL, NULL);
    cr_assert(strstr(r.body, "tally_console_db_errors_total 0\n") == NULL, "no database error counted:\n%s", r.body);
    tally_test_response_free(&r);
    tally_test_console_teardown(&c);
}

/* deploy/local/postgres.sh on a cluster of the test's own (state folder
 * and port): the shared server is never touched. */
static int own_pg(const char *state, int port, const char *cmd)
{
    char line[2048], bin_dir[1024];
    snprintf(bin_dir, sizeof bin_dir, "%s", tally_test_bin("x"));
    char *build = dirname(dirname(bin_dir));
    snprintf(line, sizeof line,
             "TALLY_STATE='%s' TALLY_PG_PORT=%d TALLY_BUILD_DIR='%s' TALLY_PG_URL= TALLY_PG_DB=tally "
             "'%s' %s >>'%s/pg.out' 2>&1",
             state, port, build, tally_test_source_path("deploy/local/postgres.sh"), cmd, state);
    return system(line);
}

Test(console_ops, survives_a_postgresql_restart)
{
    char state[] = "/tmp/tally-console-pg-XXXXXX";
    cr_assert_not_null(mkdtemp(state));
    int port = tally_test_free_port();
    cr_assert_gt(port, 0);
    cr_assert_eq(own_pg(state, port, "start"), 0, "own PostgreSQL did not start (see %s/pg.out)", state);
    char portbuf[16];
    snprintf(portbuf, sizeof portbuf, "%d", port);
    setenv("TALLY_PG_PORT", portbuf, 1);   /* this test's fixtures use the own server */
    char token[64], cookie[96];
    tally_test_console_db(&c);
    static const char *const args[] = {"--session-recheck=0", NULL};
    tally_test_console_member(&c, "acme", "m-acme", args, token, cookie);
    cr_assert_eq(status_of("/t/acme/usage", cookie, NULL), 200);
    PQfinish(c.admin);
    c.admin = NULL;

    cr_assert_eq(own_pg(state, port, "stop"), 0);
    long long t0 = tally_test_mono_ms();
    cr_assert_eq(status_of("/t/acme/usage", cookie, NULL), 503);
    cr_assert_lt(tally_test_mono_ms() - t0, 5000);
    wait_status("/readyz", NULL, 503, 5000);
    cr_assert_eq(status_of("/api/v1/tenants/acme/overview", cookie, NULL), 503);
    sleep(2);   /* back-off grows meanwhile */
    cr_assert_eq(own_pg(state, port, "start"), 0);
    wait_status("/t/acme/usage", cookie, 200, 15000);
    wait_status("/readyz", NULL, 200, 5000);
    cr_assert_eq(status_of("/api/v1/tenants/acme/overview", NULL, token), 200, "a token lookup after the restart");
    cr_assert(tally_test_pid_alive(tally_test_pid(c.proc)));
    cr_assert_eq(tally_test_console_stop(&c), 0);
    char err[512];
    c.admin = tally_pg_connect(tally_test_pg_url("postgres"), "tally-test", err, sizeof err);
    cr_assert_not_null(c.admin, "%s", err);
    tally_test_console_teardown(&c);
    own_pg(state, port, "wipe");
    char rm[256];
    snprintf(rm, sizeof rm, "rm -rf '%s'", state);
    cr_assert_eq(system(rm), 0);
}

typedef struct {
    const char *token;
    long status;
    char body[256];
} inflight_t;

static void *slow_request(void *arg)
{
    inflight_t *f = arg;
    tally_test_response_t r = tally_test_console_request(&c, "GET", "/api/v1/tenants/acme/overview", NULL, f->token);
    f->status = r.status;
    snprintf(f->body, sizeof f->body, "%s", r.body ? r.body : "");
    tally_test_response_free(&r);
    return NULL;
}

static int connect_refused(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int refused = rc != 0 && errno == ECONNREFUSED;
    close(fd);
    return refused;
}

Test(console_ops, sigterm_answers_the_request_in_flight_then_exits_0)
{
    char token[64], err[512];
    tally_test_console_db(&c);
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", token, NULL);
    tally_test_console_start(&c, NULL);
    cr_assert_eq(status_of("/api/v1/tenants/acme/overview", NULL, token), 200);
    /* Hold the token lookup up: a lock the request must wait for. */
    PGconn *locker = tally_pg_connect(tally_test_pg_url(c.db), "tally-test", err, sizeof err);
    cr_assert_not_null(locker, "%s", err);
    cr_assert_eq(tally_pg_exec(locker, "BEGIN; LOCK TABLE tally.console_tokens IN ACCESS EXCLUSIVE MODE", err,
                               sizeof err), 0, "%s", err);
    static inflight_t f;
    f.token = token;
    pthread_t th;
    pthread_create(&th, NULL, slow_request, &f);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND "
                              "application_name = 'tally-console' AND wait_event_type = 'Lock'", c.db);
    int waiting = 0;
    for (int i = 0; i < 100 && !waiting; i++) {
        PGresult *res = PQexec(c.admin, sql);
        waiting = PQresultStatus(res) == PGRES_TUPLES_OK && atoi(PQgetvalue(res, 0, 0)) > 0;
        PQclear(res);
        if (!waiting)
            usleep(50 * 1000);
    }
    cr_assert(waiting, "the request never waited on the lock");
    cr_assert_eq(tally_test_signal(c.proc, SIGTERM), 0);
    /* Draining: no new connection is accepted, the request still waits. */
    int refused = 0;
    for (int i = 0; i < 40 && !refused; i++) {
        refused = connect_refused(c.port);
        if (!refused)
            usleep(25 * 1000);
    }
    cr_assert(refused, "still accepting connections after SIGTERM");
    cr_assert_eq(tally_test_wait(c.proc, 300), -1, "exited with a request in flight");
    cr_assert_eq(tally_pg_exec(locker, "COMMIT", err, sizeof err), 0, "%s", err);
    PQfinish(locker);
    pthread_join(th, NULL);
    cr_assert_eq(f.status, 200, "the request in flight: %ld %s", f.status, f.body);
    int st = tally_test_wait(c.proc, 10000);
    cr_assert_eq(st, 0, "exit status %d; log:\n%s", st, tally_test_log(c.proc));
    tally_test_proc_free(c.proc);
    c.proc = NULL;
    tally_test_console_teardown(&c);
}
