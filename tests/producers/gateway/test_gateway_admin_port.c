/* tally-gateway on the real broker: /healthz, /readyz and /metrics on
 * --admin-port (the ingest port then answers 404 on them), or on the
 * ingest port by default. */
#include "gateway_fixture.h"
#include "services.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
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

/* ---- the admin routes on their own port ----------------------------------- */

TestSuite(gateway_admin_port, .fini = teardown, .timeout = 120);

/* A free port for the admin server (tests/support/services.h). */
static int admin_port(void)
{
    int port = tally_test_free_port();
    cr_assert_gt(port, 0, "no free port");
    return port;
}

static long get_status(const char *base, const char *path)
{
    char url[160];
    snprintf(url, sizeof url, "%s%s", base, path);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 1);
    long st = r.status;
    tally_test_response_free(&r);
    return st;
}

Test(gateway_admin_port, admin_routes_move_off_the_ingest_port)
{
    char opt[64];
    snprintf(opt, sizeof opt, "--admin-port=%d", admin_port());
    const char *args[] = {opt, "--admin-bind=127.0.0.1", NULL};
    tally_test_gateway_start(&gw, args);
    cr_assert_str_neq(gw.admin_url, gw.base_url);
    const char *paths[] = {"/healthz", "/readyz", "/metrics"};
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(get_status(gw.base_url, paths[i]), 404, "%s on the ingest port", paths[i]);
        cr_expect_eq(get_status(gw.admin_url, paths[i]), 200, "%s on the admin port", paths[i]);
    }
    cr_expect_eq(get_status(gw.admin_url, "/v1/usage/reports"), 404, "the admin port serves no ingest route");
    tally_test_gateway_expect_usage_served(&gw, "with an admin port");
    char url[160];
    snprintf(url, sizeof url, "%s/metrics", gw.admin_url);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_expect(strstr(r.body, "tally_gateway_requests_total{route=\"/v1/usage/reports\",status=\"202\"} 1"),
              "the admin port's metrics are the gateway's: %s", r.body);
    /* The librdkafka the process runs with, as the test's own (the same
     * build; tests/common/test_build_info.c checks it is the expected one). */
    char want[160];
    snprintf(want, sizeof want, "tally_build_info{version=\"%s\",librdkafka=\"%s\"} 1\n", TALLY_VERSION,
             rd_kafka_version_str());
    cr_expect(strstr(r.body, want), "no %s in the metrics: %s", want, r.body);
    tally_test_response_free(&r);
    snprintf(want, sizeof want, "tally-gateway %s starting (librdkafka %s)", TALLY_VERSION, rd_kafka_version_str());
    cr_expect(strstr(tally_test_log(gw.proc), want), "no \"%s\" in the startup log:\n%s", want,
              tally_test_log(gw.proc));
}

Test(gateway_admin_port, by_default_the_ingest_port_serves_them)
{
    tally_test_gateway_start(&gw, NULL);
    cr_expect_str_eq(gw.admin_url, gw.base_url);
    const char *paths[] = {"/healthz", "/readyz", "/metrics"};
    for (int i = 0; i < 3; i++)
        cr_expect_eq(get_status(gw.base_url, paths[i]), 200, "%s on the ingest port", paths[i]);
}

Test(gateway_admin_port, set_from_the_environment)
{
    char port[16];
    snprintf(port, sizeof port, "%d", admin_port());
    setenv("TALLY_ADMIN_PORT", port, 1);
    setenv("TALLY_ADMIN_BIND", "127.0.0.1", 1);
    tally_test_gateway_start(&gw, NULL);
    unsetenv("TALLY_ADMIN_PORT");
    unsetenv("TALLY_ADMIN_BIND");
    cr_assert_str_neq(gw.admin_url, gw.base_url);
    cr_expect_eq(get_status(gw.base_url, "/metrics"), 404, "/metrics on the ingest port");
    cr_expect_eq(get_status(gw.admin_url, "/metrics"), 200, "/metrics on TALLY_ADMIN_PORT");
}
