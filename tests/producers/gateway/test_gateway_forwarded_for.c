/* tally-gateway on the real broker: the client address behind
 * --trusted-proxies, from every X-Forwarded-For line (the product route's
 * rate limit shows which address counted). */
#include "gateway_fixture.h"

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

/* ---- X-Forwarded-For behind trusted proxies ------------------------------- */

TestSuite(gateway_forwarded_for, .fini = teardown, .timeout = 120);

/* POSTs an empty product batch with these header lines; returns the status. */
static long post_product_with(const char *const lines[])
{
    const char *headers[8];
    int h = 0;
    headers[h++] = "Content-Type: application/json";
    for (int i = 0; lines[i] && h < 7; i++)
        headers[h++] = lines[i];
    headers[h] = NULL;
    char url[128];
    snprintf(url, sizeof url, "%s/v1/product/events", gw.base_url);
    tally_test_response_t r = tally_test_http("POST", url, headers, "[]", 2, 0);
    long st = r.status;
    tally_test_response_free(&r);
    return st;
}

/* Requests each with a fresh spoofed entry on the first line and the same
 * client address appended by one proxy on a second line: after the burst,
 * that client is limited. */
static int limited_after_spoofing(const char *client)
{
    int limited = 0;
    for (int i = 0; i < 8; i++) {
        char spoof[64], real[64];
        snprintf(spoof, sizeof spoof, "X-Forwarded-For: 198.51.100.%d", 10 + i);
        snprintf(real, sizeof real, "X-Forwarded-For: %s", client);
        const char *lines[] = {spoof, real, NULL};
        limited += post_product_with(lines) == 429;
    }
    return limited;
}

Test(gateway_forwarded_for, the_rightmost_entry_of_all_lines_is_the_client)
{
    const char *args[] = {"--trusted-proxies=1", "--rate=1", "--burst=3", NULL};
    tally_test_gateway_start(&gw, args);
    cr_expect_geq(limited_after_spoofing("203.0.113.7"), 4, "spoofed leftmost entries escape the rate limit");
    /* Another client behind the same proxy has its own budget. */
    const char *other[] = {"X-Forwarded-For: 203.0.113.8", NULL};
    long st = post_product_with(other);
    cr_expect(st != 429 && st != 0, "another client behind the proxy got %ld", st);
    /* An IPv6 client in one line with a spoofed entry before it. */
    int limited = 0;
    for (int i = 0; i < 8; i++) {
        char line[128];
        snprintf(line, sizeof line, "X-Forwarded-For: 2001:db8::%x, 2001:db8:1::7", i + 1);
        const char *lines[] = {line, NULL};
        limited += post_product_with(lines) == 429;
    }
    cr_expect_geq(limited, 4, "an IPv6 client escapes the rate limit");
}

Test(gateway_forwarded_for, without_trusted_proxies_the_socket_address_counts)
{
    const char *args[] = {"--rate=1", "--burst=3", NULL};
    tally_test_gateway_start(&gw, args);
    int limited = 0;
    for (int i = 0; i < 8; i++) {
        char line[64];
        snprintf(line, sizeof line, "X-Forwarded-For: 203.0.113.%d", 10 + i);
        const char *lines[] = {line, NULL};
        limited += post_product_with(lines) == 429;
    }
    cr_expect_geq(limited, 4, "with --trusted-proxies=0 a forged X-Forwarded-For escapes the limit");
}

