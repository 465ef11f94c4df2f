/* tally-gateway's acknowledged routes have a producer of their own for
 * requests of one record (--ack-linger): a usage report is answered after
 * the broker's ack without waiting for the product events' linger (-X
 * linger.ms), and --ack-linger is what that producer lingers, whatever -X
 * says; a request of several records takes the batching producer. --help
 * names the option; a malformed or out-of-range value is refused (exit
 * status 2) before anything starts. */
#include "gateway_fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static tally_test_gateway_t gw;

static void teardown(void)
{
    tally_test_gateway_stop(&gw);
}

TestSuite(gateway_ack_linger, .fini = teardown, .timeout = 180);

/* Posts usage reports seq first..first+n-1, each on its own request,
 * asserting 202; returns the slowest answer, ms. */
static long long slowest_report(int first, int n)
{
    long long slowest = 0;
    for (int seq = first; seq < first + n; seq++) {
        char body[1024];
        tally_test_usage_report(body, sizeof body, seq, 10 * seq, 0, 0, seq);
        long long t0 = tally_test_mono_ms();
        tally_test_response_t r = tally_test_gateway_post_usage(&gw, body);
        long long took = tally_test_mono_ms() - t0;
        cr_assert_eq(r.status, 202, "usage report %d: status %ld (%s)", seq, r.status, r.body ? r.body : "");
        tally_test_response_free(&r);
        if (took > slowest)
            slowest = took;
    }
    return slowest;
}

Test(gateway_ack_linger, help_names_it_and_bad_values_are_refused)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' --help | grep -q -- '--ack-linger=DURATION'", tally_test_bin("tally-gateway"));
    int st = tally_test_system("tally-gateway", cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "--help does not name --ack-linger=DURATION");

    const char *bad[] = {"--ack-linger=5x", "--ack-linger=6s", "--ack-linger=-1ms", "--ack-linger=",
                         "--ack-linger=1.5ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "'%s' '%s' --port=0 --brokers=127.0.0.1:1 >/dev/null 2>&1",
                 tally_test_bin("tally-gateway"), bad[i]);
        st = tally_test_system("tally-gateway", cmd);
        cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: exit status %d, not 2", bad[i],
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    snprintf(cmd, sizeof cmd, "TALLY_ACK_LINGER=soon '%s' --port=0 --brokers=127.0.0.1:1 >/dev/null 2>&1",
             tally_test_bin("tally-gateway"));
    st = tally_test_system("tally-gateway", cmd);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "TALLY_ACK_LINGER=soon: not refused with status 2");
}

/* The product producer lingers a whole second: with one producer for
 * everything (the gateway before --ack-linger) every usage report waited
 * that second for its ack. */
Test(gateway_ack_linger, usage_reports_do_not_wait_for_the_product_linger)
{
    const char *args[] = {"-X", "linger.ms=1000", NULL};
    tally_test_gateway_start(&gw, args);
    (void)slowest_report(1, 1);   /* the first may wait for the topic's metadata */
    long long slowest = slowest_report(2, 5);
    cr_expect_lt(slowest, 500, "a usage report took %lld ms: it waited for the product events' linger", slowest);
}

/* -X linger.ms=0 does not reach the acknowledged producer: --ack-linger
 * does, so each report now waits about its 600 ms. */
Test(gateway_ack_linger, ack_linger_sets_the_acknowledged_producer)
{
    const char *args[] = {"-X", "linger.ms=0", "--ack-linger=600ms", NULL};
    tally_test_gateway_start(&gw, args);
    (void)slowest_report(1, 1);
    for (int seq = 2; seq < 5; seq++) {
        char body[1024];
        tally_test_usage_report(body, sizeof body, seq, 10 * seq, 0, 0, seq);
        long long t0 = tally_test_mono_ms();
        tally_test_response_t r = tally_test_gateway_post_usage(&gw, body);
        long long took = tally_test_mono_ms() - t0;
        cr_assert_eq(r.status, 202, "usage report %d: status %ld", seq, r.status);
        tally_test_response_free(&r);
        cr_expect_geq(took, 450, "usage report %d answered in %lld ms: --ack-linger=600ms was not applied", seq,
                      took);
    }
}

/* A request of several usage reports fills batches of its own: it goes
 * through the product producer (-X linger.ms=0 here), not the one
 * lingering --ack-linger=600ms, and is still answered after the ack. */
Test(gateway_ack_linger, batches_take_the_batching_producer)
{
    const char *args[] = {"-X", "linger.ms=0", "--ack-linger=600ms", NULL};
    tally_test_gateway_start(&gw, args);
    (void)slowest_report(1, 1);
    for (int seq = 10; seq < 50; seq += 10) {
        char body[4096], one[1024];
        size_t len = 0;
        body[len++] = '[';
        for (int i = 0; i < 3; i++) {
            tally_test_usage_report(one, sizeof one, seq + i, 10 * (seq + i), 0, 0, seq + i);
            len += (size_t)snprintf(body + len, sizeof body - len, "%s%s", i ? "," : "", one);
        }
        snprintf(body + len, sizeof body - len, "]");
        long long t0 = tally_test_mono_ms();
        tally_test_response_t r = tally_test_gateway_post_usage(&gw, body);
        long long took = tally_test_mono_ms() - t0;
        cr_assert_eq(r.status, 202, "batch %d: status %ld (%s)", seq, r.status, r.body ? r.body : "");
        tally_test_response_free(&r);
        /* The first batch may wait for the topic's metadata on that producer. */
        if (seq > 10)
            cr_expect_lt(took, 450, "a batch of 3 reports took %lld ms: it went through the --ack-linger producer",
                         took);
    }
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(gw.usage_topic, 13, 500, 30000, &recs);
    cr_expect_eq(n, 13, "%zu of 13 acknowledged reports in the topic", n);
    tally_test_records_free(recs, n);
}
