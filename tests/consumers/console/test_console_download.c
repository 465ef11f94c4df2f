/* Usage downloads through the console: the bytes of `tally-replay export`
 * for the same tenant and month (the export itself is tested in
 * test_download.c), the download headers, and the bound on downloads at
 * once (503 with Retry-After). Cross-tenant downloads are in
 * test_console_isolation.c. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console_fixture.h"
#include "replay_export.h"
#include "gateway_fixture.h"
#include "params.h"
#include "services.h"

static tally_test_console_t c;
static char topic[128];

static void setup(void)
{
    tally_test_console_db(&c);
    tally_test_unique_name("console.download.usage", topic, sizeof topic);
    tally_test_topic_create(topic, 2);
}

static void teardown(void)
{
    tally_test_console_teardown(&c);
}

TestSuite(console_download, .init = setup, .fini = teardown, .timeout = 180);

Test(console_download, the_bytes_of_tally_replay_export)
{
    char token[64], cookie[96], period[16], path[160], arg_brokers[160], arg_topic[200];
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", token, NULL);
    snprintf(arg_brokers, sizeof arg_brokers, "--brokers=%s", tally_test_brokers());
    snprintf(arg_topic, sizeof arg_topic, "--usage-topic=%s", topic);
    /* As tally_reader, like the console in production (0010 grants what the export reads). */
    const char *const args[] = {arg_brokers, arg_topic, NULL};
    tally_test_console_start(&c, args);
    tally_test_console_signin(&c, token, cookie);
    tally_params_period_now(tally_test_now_ms(), period, sizeof period);

    snprintf(path, sizeof path, "/t/acme/usage.csv?period=%s", period);
    tally_test_response_t r = tally_test_console_request(&c, "GET", path, cookie, NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(tally_test_header(&r, "Content-Type"), "text/csv; charset=utf-8");
    char want_disposition[128];
    snprintf(want_disposition, sizeof want_disposition, "attachment; filename=\"tally-usage-acme-%s.csv\"", period);
    cr_assert_str_eq(tally_test_header(&r, "Content-Disposition"), want_disposition);
    size_t want_len;
    char *want = console_replay_export(tally_test_pg_url(c.db), topic, "acme", period, "csv", &want_len);
    cr_assert_eq(r.len, want_len, "%zu bytes, tally-replay wrote %zu:\n%s\n---\n%s", r.len, want_len, r.body, want);
    cr_assert_eq(memcmp(r.body, want, want_len), 0, "%s\n---\n%s", r.body, want);
    free(want);
    tally_test_response_free(&r);

    snprintf(path, sizeof path, "/api/v1/tenants/acme/usage/export?period=%s&format=json", period);
    r = tally_test_console_request(&c, "GET", path, NULL, token);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(tally_test_header(&r, "Content-Type"), "application/json");
    want = console_replay_export(tally_test_pg_url(c.db), topic, "acme", period, "json", &want_len);
    cr_assert_eq(r.len, want_len, "%s\n---\n%s", r.body, want);
    cr_assert_eq(memcmp(r.body, want, want_len), 0);
    free(want);
    tally_test_response_free(&r);
}

static void *download_once(void *arg)
{
    long *status = arg;
    tally_test_response_t r = tally_test_console_request(&c, "GET", "/api/v1/tenants/acme/usage/export", NULL,
                                                         TALLY_TEST_STAFF_TOKEN);
    *status = r.status;
    tally_test_response_free(&r);
    return NULL;
}

Test(console_download, downloads_at_once_are_bounded)
{
    char arg_brokers[64];
    int dead = tally_test_free_port();   /* nothing listens: the export waits for its connect timeout */
    snprintf(arg_brokers, sizeof arg_brokers, "--brokers=127.0.0.1:%d", dead);
    const char *const args[] = {arg_brokers, "--downloads-max=1", NULL};
    tally_test_console_start(&c, args);
    static long first;
    pthread_t th;
    pthread_create(&th, NULL, download_once, &first);
    long status = 0;
    const char *retry = NULL;
    tally_test_response_t r = {0};
    for (int i = 0; i < 50 && status != 503; i++) {
        usleep(100 * 1000);
        tally_test_response_free(&r);
        r = tally_test_console_request(&c, "GET", "/api/v1/tenants/acme/usage/export?format=csv", NULL,
                                       TALLY_TEST_STAFF_TOKEN);
        status = r.status;
    }
    cr_assert_eq(status, 503, "a second download at once: %ld", status);
    retry = tally_test_header(&r, "Retry-After");
    cr_assert(retry && strcmp(retry, "5") == 0, "Retry-After: %s", retry ? retry : "(none)");
    cr_assert(strstr(r.body, "too many downloads") != NULL, "%s", r.body);
    tally_test_response_free(&r);
    pthread_join(th, NULL);
    cr_assert_eq(first, 503, "an unreachable broker: %ld", first);
    tally_test_response_t m = tally_test_console_request(&c, "GET", "/metrics", NULL, NULL);
    cr_assert(strstr(m.body, "tally_console_downloads_refused_total 0\n") == NULL, "%s", m.body);
    tally_test_response_free(&m);
}
