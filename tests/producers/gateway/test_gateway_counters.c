/* tally-gateway on the real broker: usage counters bounded at
 * TALLY_USAGE_COUNTER_MAX (2^50), larger ones refused with 422 naming the
 * field, and the check itself overflow-free (INT64_MAX everywhere: run it
 * in the sanitizer build, where a signed overflow aborts the gateway). */
#include "gateway_fixture.h"
#include "ingest.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static tally_test_gateway_t gw;

static void teardown(void)
{
    tally_test_gateway_stop(&gw);
}

/* ---- usage counters: bounded, overflow-free ------------------------------ */

TestSuite(gateway_counters, .fini = teardown, .timeout = 120);

static void expect_usage(long long api, long long s4, long long s5, long long exec, long want, const char *field)
{
    char body[1024];
    tally_test_usage_report(body, sizeof body, 1, api, s4, s5, exec);
    tally_test_response_t r = tally_test_gateway_post_usage(&gw, body);
    cr_expect_eq(r.status, want, "api_calls=%lld status_4xx=%lld status_5xx=%lld exec_ms=%lld: %ld %s", api, s4, s5,
                 exec, r.status, r.body);
    if (field)
        cr_expect(r.body && strstr(r.body, field), "the 422 names %s: %s", field, r.body);
    tally_test_response_free(&r);
}

/* The bound the README documents. */
_Static_assert(TALLY_USAGE_COUNTER_MAX == 1LL << 50, "the documented usage counter bound is 2^50");

Test(gateway_counters, bounded_at_the_documented_maximum)
{
    tally_test_gateway_start(&gw, NULL);
    const long long max = TALLY_USAGE_COUNTER_MAX, over = max + 1;
    expect_usage(max, 0, 0, max, 202, NULL);
    expect_usage(max, max / 2, max / 2, max, 202, NULL);
    expect_usage(over, 0, 0, 0, 422, "api_calls");
    expect_usage(10, 0, 0, over, 422, "exec_ms");
    expect_usage(over, over, 0, 0, 422, "api_calls");
    expect_usage(max, over, 0, 0, 422, "status_4xx");
    expect_usage(max, 0, over, 0, 422, "status_5xx");
    expect_usage(max, max, max, 0, 422, "status_4xx + status_5xx");
    /* INT64_MAX everywhere: refused, and no signed overflow on the way
     * (the sanitizer build aborts the gateway on one). */
    expect_usage(INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, 422, "api_calls");
    expect_usage(max, INT64_MAX, INT64_MAX, 0, 422, "status_4xx");
    expect_usage(1, 0, INT64_MAX, 0, 422, "status_5xx");
    int status = tally_test_gateway_terminate(&gw, 30000);
    cr_expect_eq(status, 0, "the gateway exited with %d:\n%s", status, tally_test_log(gw.proc));
}

