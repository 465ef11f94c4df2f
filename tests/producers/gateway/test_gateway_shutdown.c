/* tally-gateway's shutdown with requests still waiting for the broker's
 * acknowledgement, the shutdown timeout shorter than the ack time: every
 * client gets an answer (202 when the ack came, else a 503 JSON error),
 * the gateway exits with its documented status, and a late
 * acknowledgement touches nothing freed (run it in the sanitizer build). */
#include "gateway_fixture.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static tally_test_gateway_t gw;

static void teardown(void)
{
    tally_test_gateway_stop(&gw);
}

TestSuite(gateway_shutdown, .fini = teardown, .timeout = 180);

typedef struct {
    int seq;
    int controlpanel;   /* a Control Panel event instead of a usage report */
    tally_test_response_t r;
    long long answered_ms;
} client_t;

static void *post_report(void *arg)
{
    client_t *c = arg;
    char body[1024], url[160];
    const char *headers[] = {"Content-Type: application/json",
                             c->controlpanel ? "Authorization: Bearer " TALLY_TEST_ADMIN_TOKEN
                                             : "Authorization: Bearer " TALLY_TEST_API_KEY,
                             NULL};
    if (c->controlpanel) {
        snprintf(body, sizeof body,
                 "{\"tenant_id\":\"%s\",\"occurred_at\":%lld,\"payload\":{\"MemberAdded\":{\"member_id\":\"m-%d\","
                 "\"first_name\":\"Ada\",\"last_name\":\"Lovelace\",\"email\":\"ada@example.com\",\"role\":\"admin\"}}}",
                 TALLY_TEST_TENANT, tally_test_now_ms(), c->seq);
        snprintf(url, sizeof url, "%s/v1/controlpanel/events", gw.base_url);
    } else {
        tally_test_usage_report(body, sizeof body, c->seq, 10, 0, 0, 5);
        snprintf(url, sizeof url, "%s/v1/usage/reports", gw.base_url);
    }
    c->r = tally_test_http("POST", url, headers, body, strlen(body), 1);
    c->answered_ms = tally_test_mono_ms();
    return NULL;
}

#define CLIENTS 4

/* Starts CLIENTS usage reports, SIGTERMs the gateway while they wait for
 * their acks, and returns the exit status; the answers go into clients. */
static int terminate_while_waiting(client_t clients[CLIENTS], int controlpanel, long long *sigterm_ms)
{
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i].seq = i + 1;
        clients[i].controlpanel = controlpanel;
        cr_assert_eq(pthread_create(&th[i], NULL, post_report, &clients[i]), 0);
    }
    usleep(700000);
    for (int i = 0; i < CLIENTS; i++)
        cr_assert_eq(clients[i].answered_ms, 0, "client %d was answered before the shutdown (%ld): no ack wait",
                     i, clients[i].r.status);
    *sigterm_ms = tally_test_mono_ms();
    int status = tally_test_gateway_terminate(&gw, 60000);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    return status;
}

static void expect_clean_log(void)
{
    const char *log = tally_test_log(gw.proc);
    const char *bad[] = {"AddressSanitizer", "LeakSanitizer", "runtime error:", "MHD_stop_daemon", "PANIC"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_null(strstr(log, bad[i]), "the gateway log holds \"%s\":\n%s", bad[i], log);
}

/* The acks come after the shutdown timeout (the acknowledged producer
 * lingers 5 s), but the shutdown flushes the producers first: every client
 * gets its 202. */
Test(gateway_shutdown, acks_later_than_the_shutdown_timeout_are_answered)
{
    const char *args[] = {"--shutdown-timeout=1s", "--ack-linger=5s", NULL};
    tally_test_gateway_start(&gw, args);
    client_t c[CLIENTS];
    memset(c, 0, sizeof c);
    long long sigterm;
    int status = terminate_while_waiting(c, 0, &sigterm);
    cr_expect_eq(status, 0, "the gateway exited with %d:\n%s", status, tally_test_log(gw.proc));
    for (int i = 0; i < CLIENTS; i++) {
        cr_expect_eq(c[i].r.status, 202, "client %d: %ld %s", i, c[i].r.status, c[i].r.body ? c[i].r.body : "");
        tally_test_response_free(&c[i].r);
    }
    expect_clean_log();
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(gw.usage_topic, CLIENTS, 500, 30000, &recs);
    cr_expect_eq(n, CLIENTS, "%zu of %d acknowledged reports in the topic", n, CLIENTS);
    tally_test_records_free(recs, n);
}

/* Acks that never come before the exit (the Control Panel topic does not
 * exist, so its records wait for it until --ack-timeout; readiness probes
 * the usage topic only): at the shutdown timeout every
 * waiting client gets a 503 JSON error, the gateway exits with 1 (records
 * left unacknowledged) after the producer's late delivery reports, and
 * nothing touches a freed request. */
Test(gateway_shutdown, waiting_requests_get_a_503_at_the_shutdown_timeout)
{
    char missing[160], opt[200];
    tally_test_unique_name("tally.test.gw.missing", missing, sizeof missing);
    snprintf(opt, sizeof opt, "--controlpanel-topic=%s", missing);
    const char *args[] = {"--shutdown-timeout=1s", "--ack-timeout=20s", opt, NULL};
    tally_test_gateway_start(&gw, args);
    client_t c[CLIENTS];
    memset(c, 0, sizeof c);
    long long sigterm;
    int status = terminate_while_waiting(c, 1, &sigterm);
    cr_expect_eq(status, 1, "the gateway exited with %d (1: records unacknowledged):\n%s", status,
                 tally_test_log(gw.proc));
    for (int i = 0; i < CLIENTS; i++) {
        cr_expect_eq(c[i].r.status, 503, "client %d: %ld %s", i, c[i].r.status, c[i].r.body ? c[i].r.body : "");
        cr_expect(c[i].r.body && strstr(c[i].r.body, "\"error\":\"shutting down\""), "client %d: %s", i,
                  c[i].r.body ? c[i].r.body : "(no body)");
        cr_expect(c[i].answered_ms - sigterm < 5000, "client %d answered %lld ms after SIGTERM", i,
                  c[i].answered_ms - sigterm);
        tally_test_response_free(&c[i].r);
    }
    expect_clean_log();
    /* Exit status 1 is this test's expectation, checked above: the
     * fixture's stop, which fails any exit status but 0, must not see it. */
    tally_test_proc_free(gw.proc);
    gw.proc = NULL;
}
