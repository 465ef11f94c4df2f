/* The real `tally webhook-listen` (producers/client/cmd_webhook_listen.c):
 * a webhook signed with the secret is answered 204 and printed once; the
 * same webhook-id again (a replay, or a retry with a fresh timestamp) is
 * answered 204 and not printed again; a bad signature, a stale timestamp
 * or missing headers are answered 401 and print nothing; a body over
 * 64 KiB is answered 413 and prints nothing; other methods 405; a missing
 * or group-readable secret file is a usage error (exit 2). */
#include "cli_harness.h"
#include "http.h"
#include "webhook_sign.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static cli_env_t env;
static char secret_path[256];

static void setup(void)
{
    cli_env_init(&env);
    snprintf(secret_path, sizeof secret_path, "%s/webhook.secret", env.dir);
    int fd = open(secret_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, SECRET "\n", strlen(SECRET) + 1), (ssize_t)strlen(SECRET) + 1);
    close(fd);
}

static void teardown(void)
{
    cli_env_cleanup(&env);
}

TestSuite(cli_webhook_listen, .init = setup, .fini = teardown, .timeout = 120);

/* Starts the listener on a free port; the port in *port. */
static cli_proc_t start(int *port)
{
    char opt[300];
    snprintf(opt, sizeof opt, "--secret-file=%s", secret_path);
    const char *const args[] = {"webhook-listen", "0", opt, NULL};
    cli_proc_t p = cli_spawn(&env, NULL, NULL, args);
    long long end = cli_mono_ms() + 20000;
    for (;;) {
        char *err = access(p.err_path, R_OK) == 0 ? cli_slurp(p.err_path) : NULL;
        const char *line = err ? strstr(err, "listening on ") : NULL;
        if (line != NULL) {
            *port = tally_test_port_from_line(line);
            free(err);
            cr_assert_gt(*port, 0);
            return p;
        }
        free(err);
        cr_assert_lt(cli_mono_ms(), end, "webhook-listen did not start");
        usleep(20000);
    }
}

static cli_result_t stop(cli_proc_t *p)
{
    kill(p->pid, SIGTERM);
    cli_result_t r = cli_wait(p, 20000);
    cr_assert_eq(r.status, 0, "webhook-listen exit %d", r.status);
    return r;
}

static long post(int port, const char *id, long long ts, const char *sig, const char *body, size_t len)
{
    char url[64], hid[300], hts[64], hsig[400];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    snprintf(hid, sizeof hid, "webhook-id: %s", id);
    snprintf(hts, sizeof hts, "webhook-timestamp: %lld", ts);
    snprintf(hsig, sizeof hsig, "webhook-signature: %s", sig);
    const char *headers[] = {hid, hts, hsig, "Content-Type: application/json", NULL};
    tally_test_response_t r = tally_test_http("POST", url, headers, body, len, 0);
    long status = r.status;
    tally_test_response_free(&r);
    return status;
}

/* POSTs body signed with SECRET at ts; the status. */
static long post_signed(int port, const char *id, long long ts, const char *body)
{
    tally_webhook_secret_t s;
    char err[128], sig[TALLY_WEBHOOK_SIGNATURE_SIZE];
    cr_assert_eq(tally_webhook_secret_parse(SECRET, strlen(SECRET), &s, err, sizeof err), 0);
    tally_webhook_sign(&s, id, ts, body, strlen(body), sig);
    return post(port, id, ts, sig, body, strlen(body));
}

static size_t count_lines(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

#define ALERT1                                                                                                       \
    "{\"type\":\"usage.alert\",\"alert_id\":\"a1\",\"tenant_id\":\"globex\",\"environment_id\":null,"                \
    "\"metric\":\"MONTHLY_API_CALLS\",\"threshold\":80,\"value\":8000,\"limit\":10000,\"period\":\"2026-12\","        \
    "\"state\":\"TRIGGERED\",\"at\":1765000000000}"

Test(cli_webhook_listen, a_good_signature_is_printed_once_and_replays_are_not)
{
    int port = 0;
    cli_proc_t p = start(&port);
    long long now = time(NULL);
    cr_assert_eq(post_signed(port, "alert-0001", now, ALERT1), 204);
    /* The same request again (a replay), and a retry with a new timestamp. */
    cr_assert_eq(post_signed(port, "alert-0001", now, ALERT1), 204);
    cr_assert_eq(post_signed(port, "alert-0001", now + 1, ALERT1), 204);
    cr_assert_eq(post_signed(port, "alert-0002", now, "{\"hello\": 1}"), 204);
    cli_result_t r = stop(&p);
    cr_assert_eq(count_lines(r.out, "\n"), 2, "stdout:\n%s", r.out);
    cr_assert_eq(count_lines(r.out, "id=alert-0001"), 1, "stdout:\n%s", r.out);
    cr_assert_not_null(strstr(r.out, "ALERT TRIGGERED tenant=globex metric=MONTHLY_API_CALLS threshold=80% "
                                     "value=8000 limit=10000 period=2026-12 id=alert-0001\n"),
                       "stdout:\n%s", r.out);
    cr_assert_not_null(strstr(r.out, "WEBHOOK id=alert-0002 {\"hello\":1}\n"), "stdout:\n%s", r.out);
    cr_assert_not_null(strstr(r.err, "2 printed, 2 duplicates, 0 refused"), "%s", r.err);
    cr_assert_null(strstr(r.err, "MfKQ9r8G"));
    cli_result_free(&r);
}

Test(cli_webhook_listen, bad_signature_stale_timestamp_and_missing_headers_are_401)
{
    int port = 0;
    cli_proc_t p = start(&port);
    long long now = time(NULL);
    /* Signed, then the body changed. */
    tally_webhook_secret_t s;
    char err[128], sig[TALLY_WEBHOOK_SIGNATURE_SIZE];
    cr_assert_eq(tally_webhook_secret_parse(SECRET, strlen(SECRET), &s, err, sizeof err), 0);
    tally_webhook_sign(&s, "alert-bad", now, ALERT1, strlen(ALERT1), sig);
    const char *changed = "{\"type\":\"usage.alert\",\"tenant_id\":\"evil\"}";
    cr_assert_eq(post(port, "alert-bad", now, sig, changed, strlen(changed)), 401);
    /* Signed with another secret. */
    tally_webhook_secret_t other;
    tally_webhook_secret_generate(&other, NULL);
    tally_webhook_sign(&other, "alert-other", now, ALERT1, strlen(ALERT1), sig);
    cr_assert_eq(post(port, "alert-other", now, sig, ALERT1, strlen(ALERT1)), 401);
    /* Correctly signed, but 301 s old or 301 s ahead. */
    cr_assert_eq(post_signed(port, "alert-stale", now - 301, ALERT1), 401);
    cr_assert_eq(post_signed(port, "alert-future", now + 301, ALERT1), 401);
    /* No signature header at all. */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    tally_test_response_t r0 = tally_test_http("POST", url, NULL, ALERT1, strlen(ALERT1), 0);
    cr_assert_eq(r0.status, 401);
    tally_test_response_free(&r0);
    /* The refused ids are not remembered: the genuine one is printed. */
    cr_assert_eq(post_signed(port, "alert-stale", now, ALERT1), 204);
    cli_result_t r = stop(&p);
    cr_assert_eq(count_lines(r.out, "\n"), 1, "stdout:\n%s", r.out);
    cr_assert_not_null(strstr(r.out, "id=alert-stale\n"), "stdout:\n%s", r.out);
    cr_assert_null(strstr(r.out, "evil"));
    cr_assert_not_null(strstr(r.err, "1 printed, 0 duplicates, 5 refused"), "%s", r.err);
    cli_result_free(&r);
}

Test(cli_webhook_listen, an_oversized_body_is_413_and_other_methods_405)
{
    int port = 0;
    cli_proc_t p = start(&port);
    size_t big_len = 70 * 1024;
    char *big = malloc(big_len + 1);
    memset(big, 'a', big_len);
    big[0] = '"';
    big[big_len - 1] = '"';
    big[big_len] = '\0';
    cr_assert_eq(post_signed(port, "alert-big", time(NULL), big), 413);
    /* Chunked (no Content-Length): refused when it grows past the cap. */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    const char *chunked[] = {"Transfer-Encoding: chunked", "webhook-id: alert-big2", NULL};
    tally_test_response_t rc = tally_test_http("POST", url, chunked, big, big_len, 0);
    cr_assert_eq(rc.status, 413);
    tally_test_response_free(&rc);
    tally_test_response_t g = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_assert_eq(g.status, 405);
    tally_test_response_free(&g);
    free(big);
    cli_result_t r = stop(&p);
    cr_assert_str_eq(r.out, "");
    cli_result_free(&r);
}

Test(cli_webhook_listen, a_missing_or_readable_secret_file_is_a_usage_error)
{
    const char *const none[] = {"webhook-listen", "0", NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, none);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "--secret-file"), "%s", r.err);
    cli_result_free(&r);
    cr_assert_eq(chmod(secret_path, 0644), 0);
    char opt[300];
    snprintf(opt, sizeof opt, "--secret-file=%s", secret_path);
    const char *const readable[] = {"webhook-listen", "0", opt, NULL};
    r = cli_run(&env, NULL, NULL, readable);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "chmod 600"), "%s", r.err);
    cr_assert_null(strstr(r.err, "MfKQ9r8G"));
    cli_result_free(&r);
    const char *const bad_port[] = {"webhook-listen", "70000", opt, NULL};
    r = cli_run(&env, NULL, NULL, bad_port);
    cr_assert_eq(r.status, 2);
    cli_result_free(&r);
}
