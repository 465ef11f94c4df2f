/* tally-gateway on the real broker: slow uploads from many client
 * addresses that announce (and hold) more than the memory budget leave
 * authenticated usage reports served; a trickling upload is cut off at
 * --request-deadline. */
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

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert_gt(n, 0, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

/* ---- slow uploads and the memory budget ----------------------------------- */

TestSuite(gateway_slow_uploads, .fini = teardown, .timeout = 180);

#define UPLOADERS 16
#define BODY_KIB 256

/* A product upload announcing BODY_KIB KiB from 127.0.0.<host>, of which
 * sent bytes are sent now and the rest never. */
static int slow_upload(int host, size_t sent)
{
    char src[32], head[256];
    snprintf(src, sizeof src, "127.0.0.%d", host);
    int fd = tally_test_gateway_connect(&gw, src);
    int n = snprintf(head, sizeof head,
                     "POST /v1/product/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n",
                     BODY_KIB * 1024);
    send_all(fd, head, (size_t)n);
    char *body = malloc(sent);
    cr_assert_not_null(body);
    memset(body, ' ', sent);
    body[0] = '[';
    send_all(fd, body, sent);
    free(body);
    return fd;
}

/* tally_gateway_body_bytes: the memory bodies hold now. */
static long long body_bytes(void)
{
    char url[160];
    snprintf(url, sizeof url, "%s/metrics", gw.admin_url);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    const char *at = r.body ? strstr(r.body, "\ntally_gateway_body_bytes ") : NULL;
    cr_assert_not_null(at, "no tally_gateway_body_bytes in /metrics");
    long long v = atoll(at + strlen("\ntally_gateway_body_bytes "));
    tally_test_response_free(&r);
    return v;
}

/* Waits up to 3 s for the bodies' memory to drop to at most want. */
static long long body_bytes_drop_to(long long want)
{
    long long v = body_bytes();
    for (int i = 0; i < 30 && v > want; i++) {
        usleep(100000);
        v = body_bytes();
    }
    return v;
}

Test(gateway_slow_uploads, usage_is_served_while_slow_uploads_announce_more_than_the_budget)
{
    const char *args[] = {"--memory-budget=1MiB", "--max-body=256KiB", NULL};
    tally_test_gateway_start(&gw, args);
    int fds[2 * UPLOADERS];
    /* 16 x 256 KiB announced, a byte sent: 4 MiB against a 1 MiB budget. */
    for (int i = 0; i < UPLOADERS; i++)
        fds[i] = slow_upload(2 + i, 1);
    usleep(300000);
    tally_test_gateway_expect_usage_served(&gw, "16 trickling uploads announcing 4 MiB");
    /* The usage report's own body may be charged until the gateway
     * frees it, a moment after its answer: wait for it to go. */
    long long held = body_bytes_drop_to(UPLOADERS * 4096);
    cr_expect_leq(held, UPLOADERS * 4096, "16 one-byte bodies hold %lld bytes: charged for what they announced", held);
    /* Then 16 more that sent all but the end of their body: they hold
     * memory for real, and the product route cannot take all of it. */
    for (int i = 0; i < UPLOADERS; i++)
        fds[UPLOADERS + i] = slow_upload(40 + i, BODY_KIB * 1024 - 100);
    usleep(500000);
    tally_test_gateway_expect_usage_served(&gw, "16 more uploads holding 4 MiB");
    held = body_bytes_drop_to(1024 * 1024 * 3 / 4);
    cr_expect_leq(held, 1024 * 1024 * 3 / 4, "product uploads hold %lld bytes, over 3/4 of the budget", held);
    for (int i = 0; i < 2 * UPLOADERS; i++)
        close(fds[i]);
    held = body_bytes_drop_to(0);
    cr_expect_eq(held, 0, "closed uploads still hold %lld bytes", held);
}

Test(gateway_slow_uploads, a_slow_upload_is_cut_off_at_the_request_deadline)
{
    const char *args[] = {"--request-deadline=2s", "--timeout=30s", NULL};
    tally_test_gateway_start(&gw, args);
    int fd = slow_upload(3, 1);
    long long start = tally_test_mono_ms();
    /* A byte every 100 ms: never idle, so only the deadline can stop it. */
    int closed = 0;
    while (!closed && tally_test_mono_ms() - start < 8000) {
        usleep(100000);
        closed = send(fd, " ", 1, MSG_NOSIGNAL) != 1;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (!closed && poll(&pfd, 1, 0) == 1) {
            char tmp[4096];
            closed = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT) <= 0;
        }
    }
    long long took = tally_test_mono_ms() - start;
    cr_expect(closed, "the upload still runs after %lld ms", took);
    cr_expect(took >= 1800 && took <= 3500, "cut off after %lld ms, the deadline is 2 s", took);
    cr_log_info("a trickling upload was cut off after %lld ms (--request-deadline=2s)", took);
    close(fd);
    long long held = body_bytes_drop_to(0);
    cr_expect_eq(held, 0, "the upload cut off still holds %lld bytes", held);
    tally_test_gateway_expect_usage_served(&gw, "after the deadline");
}

