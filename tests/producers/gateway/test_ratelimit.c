/* producers/gateway/ratelimit: a token bucket per client address, on a
 * simulated clock: the burst, then refusal with a Retry-After, refill over
 * time, clients independent of one another (IPv4, IPv6 by /64, text forms),
 * memory fixed however many clients come, exact counts under concurrency,
 * and no trace of a client's address in the limiter's memory. */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char errbuf[512];

static tally_ratelimit_t *limiter(double rate, double burst, size_t capacity, unsigned prefix)
{
    tally_ratelimit_config_t cfg = {.rate_per_second = rate, .burst = burst,
                                    .capacity = capacity, .ipv6_prefix_bits = prefix};
    tally_ratelimit_t *rl = tally_ratelimit_new(&cfg, errbuf, sizeof errbuf);
    cr_assert_not_null(rl, "%s", errbuf);
    return rl;
}

static struct sockaddr_in v4(const char *text)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(40000)};
    cr_assert_eq(inet_pton(AF_INET, text, &a.sin_addr), 1, "%s", text);
    return a;
}

static struct sockaddr_in6 v6(const char *text)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(40000)};
    cr_assert_eq(inet_pton(AF_INET6, text, &a.sin6_addr), 1, "%s", text);
    return a;
}

static bool allow4(tally_ratelimit_t *rl, const char *text, int64_t now, int *retry)
{
    struct sockaddr_in a = v4(text);
    return tally_ratelimit_allow(rl, (const struct sockaddr *)&a, now, retry);
}

static bool allow6(tally_ratelimit_t *rl, const char *text, int64_t now, int *retry)
{
    struct sockaddr_in6 a = v6(text);
    return tally_ratelimit_allow(rl, (const struct sockaddr *)&a, now, retry);
}

/* How many requests in a row pass at time now. */
static int drain4(tally_ratelimit_t *rl, const char *text, int64_t now)
{
    int n = 0;
    while (allow4(rl, text, now, NULL))
        cr_assert_lt(++n, 1000000, "never refused");
    return n;
}

static int drain6(tally_ratelimit_t *rl, const char *text, int64_t now)
{
    int n = 0;
    while (allow6(rl, text, now, NULL))
        cr_assert_lt(++n, 1000000, "never refused");
    return n;
}

static int drain_str(tally_ratelimit_t *rl, const char *text, int64_t now)
{
    int n = 0;
    while (tally_ratelimit_allow_str(rl, text, now, NULL))
        cr_assert_lt(++n, 1000000, "never refused");
    return n;
}

Test(ratelimit, burst_then_refusal_with_retry_after)
{
    tally_ratelimit_t *rl = limiter(1, 5, 1024, 0);
    int64_t t = 1000000;
    for (int i = 0; i < 5; i++)
        cr_assert(allow4(rl, "198.51.100.7", t, NULL), "request %d of the burst refused", i);
    int retry = -1;
    cr_assert_not(allow4(rl, "198.51.100.7", t, &retry));
    cr_assert_eq(retry, 1);
    cr_assert_not(allow4(rl, "198.51.100.7", t, NULL)); /* NULL retry is fine */

    tally_ratelimit_stats_t st;
    tally_ratelimit_stats(rl, &st);
    cr_assert_eq(st.refused, 2);
    cr_assert_eq(st.tracked, 1);
    tally_ratelimit_free(rl);
}

Test(ratelimit, tokens_come_back_at_the_rate_up_to_the_burst)
{
    tally_ratelimit_t *rl = limiter(2, 3, 1024, 0);  /* one token per 500 ms */
    int64_t t = 5000;
    cr_assert_eq(drain4(rl, "192.0.2.1", t), 3);
    cr_assert_not(allow4(rl, "192.0.2.1", t + 499, NULL));
    cr_assert(allow4(rl, "192.0.2.1", t + 500, NULL));
    cr_assert_not(allow4(rl, "192.0.2.1", t + 500, NULL));
    cr_assert_eq(drain4(rl, "192.0.2.1", t + 1500), 2);
    /* A long silence fills the bucket to the burst, not beyond. */
    cr_assert_eq(drain4(rl, "192.0.2.1", t + 3600 * 1000), 3);
    tally_ratelimit_free(rl);
}

Test(ratelimit, retry_after_rounds_up_to_whole_seconds)
{
    tally_ratelimit_t *rl = limiter(0.1, 1, 1024, 0);   /* one per 10 s */
    int retry = 0;
    cr_assert(allow4(rl, "192.0.2.9", 0, NULL));
    cr_assert_not(allow4(rl, "192.0.2.9", 0, &retry));
    cr_assert_eq(retry, 10);
    cr_assert_not(allow4(rl, "192.0.2.9", 2500, &retry));
    cr_assert_eq(retry, 8);                           /* 7.5 s left */
    cr_assert(allow4(rl, "192.0.2.9", 10000, NULL));
    tally_ratelimit_free(rl);
}

Test(ratelimit, a_clock_going_back_refills_nothing)
{
    tally_ratelimit_t *rl = limiter(1, 2, 1024, 0);
    cr_assert_eq(drain4(rl, "192.0.2.5", 100000), 2);
    cr_assert_not(allow4(rl, "192.0.2.5", 50000, NULL));
    cr_assert_not(allow4(rl, "192.0.2.5", 100500, NULL));
    cr_assert(allow4(rl, "192.0.2.5", 101000, NULL));
    tally_ratelimit_free(rl);
}

Test(ratelimit, clients_are_independent)
{
    tally_ratelimit_t *rl = limiter(1, 4, 1024, 0);
    cr_assert_eq(drain4(rl, "203.0.113.1", 0), 4);
    cr_assert_eq(drain4(rl, "203.0.113.2", 0), 4);
    cr_assert_eq(drain6(rl, "2001:db8:1::1", 0), 4);
    cr_assert_eq(drain6(rl, "2001:db8:2::1", 0), 4);
    cr_assert_not(allow4(rl, "203.0.113.1", 0, NULL));
    tally_ratelimit_free(rl);
}

Test(ratelimit, ipv4_forms_share_one_bucket)
{
    tally_ratelimit_t *rl = limiter(1, 6, 1024, 0);
    int64_t t = 0;
    cr_assert(allow4(rl, "203.0.113.50", t, NULL));
    cr_assert(allow6(rl, "::ffff:203.0.113.50", t, NULL));          /* v4-mapped socket */
    cr_assert(tally_ratelimit_allow_str(rl, "203.0.113.50", t, NULL));
    cr_assert(tally_ratelimit_allow_str(rl, " 203.0.113.50\t", t, NULL));
    cr_assert(tally_ratelimit_allow_str(rl, "::ffff:203.0.113.50", t, NULL));
    cr_assert(tally_ratelimit_allow_str(rl, "[::ffff:cb00:7132]", t, NULL));
    cr_assert_not(allow4(rl, "203.0.113.50", t, NULL), "seven requests passed a burst of six");
    tally_ratelimit_free(rl);
}

Test(ratelimit, ipv6_clients_are_grouped_by_their_64_bit_prefix)
{
    tally_ratelimit_t *rl = limiter(1, 4, 1024, 0);
    cr_assert(allow6(rl, "2001:db8:aaaa:1::1", 0, NULL));
    cr_assert(allow6(rl, "2001:db8:aaaa:1:ffff:ffff:ffff:ffff", 0, NULL));
    cr_assert(tally_ratelimit_allow_str(rl, "2001:DB8:AAAA:1:0:0:0:99", 0, NULL));
    cr_assert(tally_ratelimit_allow_str(rl, "[2001:db8:aaaa:1::abcd]", 0, NULL));
    cr_assert_not(allow6(rl, "2001:db8:aaaa:1::2", 0, NULL));
    cr_assert_eq(drain6(rl, "2001:db8:aaaa:2::1", 0), 4);             /* next /64 */
    tally_ratelimit_free(rl);

    rl = limiter(1, 4, 1024, 128);                                    /* per address */
    cr_assert_eq(drain6(rl, "2001:db8:aaaa:1::1", 0), 4);
    cr_assert_eq(drain6(rl, "2001:db8:aaaa:1::2", 0), 4);
    tally_ratelimit_free(rl);

    rl = limiter(1, 4, 1024, 48);                                     /* per /48 */
    cr_assert_eq(drain6(rl, "2001:db8:aaaa:1::1", 0), 4);
    cr_assert_not(allow6(rl, "2001:db8:aaaa:ffff::1", 0, NULL));
    cr_assert_eq(drain6(rl, "2001:db8:aaab::1", 0), 4);
    tally_ratelimit_free(rl);
}

Test(ratelimit, text_that_is_no_address_shares_one_bucket)
{
    tally_ratelimit_t *rl = limiter(1, 3, 1024, 0);
    cr_assert(tally_ratelimit_allow_str(rl, "unknown", 0, NULL));
    cr_assert(tally_ratelimit_allow_str(rl, "198.51.100.1:8080", 0, NULL));
    cr_assert(tally_ratelimit_allow_str(rl, "", 0, NULL));
    cr_assert_not(tally_ratelimit_allow_str(rl, "fe80::1%eth0", 0, NULL));
    cr_assert_not(tally_ratelimit_allow_str(rl, NULL, 0, NULL));
    /* ...and not the bucket of any real address. */
    cr_assert_eq(drain_str(rl, "198.51.100.1", 0), 3);
    tally_ratelimit_free(rl);
}

Test(ratelimit, a_million_clients_keep_memory_fixed, .timeout = 120)
{
    tally_ratelimit_t *rl = limiter(1, 2, 65536, 0);
    size_t footprint = tally_ratelimit_footprint(rl);
    /* 65536 entries of 24 bytes plus locks: about 1.5 MiB, whatever comes. */
    cr_assert_lt(footprint, 2 * 1024 * 1024, "%zu bytes", footprint);
    struct sockaddr_in a = {.sin_family = AF_INET};
    for (uint32_t i = 0; i < 1000000; i++) {
        a.sin_addr.s_addr = htonl(0x0a000000u + i);   /* 10.0.0.0 + i */
        cr_assert(tally_ratelimit_allow(rl, (const struct sockaddr *)&a, i / 1000, NULL),
                  "new client %u refused", i);
    }
    tally_ratelimit_stats_t st;
    tally_ratelimit_stats(rl, &st);
    cr_assert_eq(tally_ratelimit_footprint(rl), footprint);
    cr_assert_eq(st.capacity, 65536);
    cr_assert_leq(st.tracked, st.capacity);
    cr_assert_gt(st.tracked, st.capacity * 9 / 10, "table barely used: %zu", st.tracked);
    cr_assert_eq(st.evictions, 1000000 - st.tracked);

    /* The most recent clients are still tracked: their bucket is spent. */
    a.sin_addr.s_addr = htonl(0x0a000000u + 999999);
    cr_assert(tally_ratelimit_allow(rl, (const struct sockaddr *)&a, 1000, NULL));
    cr_assert_not(tally_ratelimit_allow(rl, (const struct sockaddr *)&a, 1000, NULL));
    tally_ratelimit_free(rl);
}

Test(ratelimit, capacity_is_rounded_up_to_a_power_of_two)
{
    tally_ratelimit_t *rl = limiter(1, 1, 1000, 0);
    tally_ratelimit_stats_t st;
    tally_ratelimit_stats(rl, &st);
    cr_assert_eq(st.capacity, 1024);
    cr_assert_eq(st.tracked, 0);
    tally_ratelimit_free(rl);
}

static bool memory_contains(const void *hay, size_t hay_len, const void *needle, size_t len)
{
    const unsigned char *h = hay;
    for (size_t i = 0; i + len <= hay_len; i++)
        if (memcmp(h + i, needle, len) == 0)
            return true;
    return false;
}

Test(ratelimit, no_client_address_is_kept_in_memory)
{
    static const char *v4_text[] = {"203.0.113.77", "198.51.100.201"};
    static const char *v6_text[] = {"2001:db8:abcd:12:3456:789a:bcde:f012",
                                    "2001:db8:feed:beef::77"};
    tally_ratelimit_t *rl = limiter(1, 3, 4096, 128);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 2; i++) {
            (void)allow4(rl, v4_text[i], round, NULL);
            (void)allow6(rl, v6_text[i], round, NULL);
            (void)tally_ratelimit_allow_str(rl, v4_text[i], round, NULL);
            (void)tally_ratelimit_allow_str(rl, v6_text[i], round, NULL);
        }
    }
    tally_ratelimit_stats_t st;
    tally_ratelimit_stats(rl, &st);
    cr_assert_eq(st.tracked, 4);
    const void *mem = rl;
    size_t len = tally_ratelimit_footprint(rl);
    for (int i = 0; i < 2; i++) {
        struct sockaddr_in a4 = v4(v4_text[i]);
        struct sockaddr_in6 a6 = v6(v6_text[i]);
        cr_assert_not(memory_contains(mem, len, v4_text[i], strlen(v4_text[i])), "%s", v4_text[i]);
        cr_assert_not(memory_contains(mem, len, v6_text[i], strlen(v6_text[i])), "%s", v6_text[i]);
        cr_assert_not(memory_contains(mem, len, &a4.sin_addr, 4), "raw %s", v4_text[i]);
        cr_assert_not(memory_contains(mem, len, &a6.sin6_addr, 16), "raw %s", v6_text[i]);
        cr_assert_not(memory_contains(mem, len, &a6.sin6_addr, 8), "prefix of %s", v6_text[i]);
        cr_assert_not(memory_contains(mem, len, (const char *)&a6.sin6_addr + 8, 8),
                      "interface id of %s", v6_text[i]);
    }
    tally_ratelimit_free(rl);
}

typedef struct {
    tally_ratelimit_t *rl;
    int index;
    int allowed_shared, allowed_own;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    char own[32];
    snprintf(own, sizeof own, "10.9.%d.1", w->index);
    for (int i = 0; i < 500; i++) {
        w->allowed_shared += tally_ratelimit_allow_str(w->rl, "192.0.2.200", 0, NULL);
        w->allowed_own += tally_ratelimit_allow_str(w->rl, own, 0, NULL);
    }
    return NULL;
}

Test(ratelimit, concurrent_requests_never_exceed_the_burst)
{
    tally_ratelimit_t *rl = limiter(1, 1000, 65536, 0);
    worker_t w[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (worker_t){.rl = rl, .index = i};
        cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    int shared = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        shared += w[i].allowed_shared;
        cr_assert_eq(w[i].allowed_own, 500, "thread %d's own client was limited", i);
    }
    cr_assert_eq(shared, 1000, "the shared client got %d of 4000 with a burst of 1000", shared);
    tally_ratelimit_free(rl);
}

Test(ratelimit, other_socket_families_share_one_bucket)
{
    tally_ratelimit_t *rl = limiter(1, 2, 1024, 0);
    struct sockaddr unix_like = {.sa_family = AF_UNIX};
    cr_assert(tally_ratelimit_allow(rl, &unix_like, 0, NULL));
    cr_assert(tally_ratelimit_allow(rl, NULL, 0, NULL));
    cr_assert_not(tally_ratelimit_allow(rl, &unix_like, 0, NULL));
    tally_ratelimit_free(rl);
}

Test(ratelimit, out_of_range_configuration_is_refused)
{
    static const tally_ratelimit_config_t bad[] = {
        {.rate_per_second = 0, .burst = 10, .capacity = 1024},
        {.rate_per_second = -1, .burst = 10, .capacity = 1024},
        {.rate_per_second = 1, .burst = 0.5, .capacity = 1024},
        {.rate_per_second = 1, .burst = 10, .capacity = 0},
        {.rate_per_second = 1, .burst = 10, .capacity = (size_t)1 << 40},
        {.rate_per_second = 1, .burst = 10, .capacity = 1024, .ipv6_prefix_bits = 129},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errbuf[0] = '\0';
        cr_expect_null(tally_ratelimit_new(&bad[i], errbuf, sizeof errbuf), "case %zu", i);
        cr_expect(strstr(errbuf, "rate limit:") != NULL, "case %zu: \"%s\"", i, errbuf);
    }
    tally_ratelimit_free(NULL);
}

Test(ratelimit, the_monotonic_clock_moves_forward)
{
    int64_t a = tally_ratelimit_now_ms();
    int64_t b = tally_ratelimit_now_ms();
    cr_assert_geq(b, a);
    cr_assert_gt(a, 0);
}

/* The limit of failed authentications: check before, take after a failure. */
Test(ratelimit, check_takes_nothing_and_tracks_no_new_client)
{
    tally_ratelimit_t *rl = limiter(1.0 / 3, 3, 64, 0);
    struct sockaddr_in a = v4("192.0.2.7"), b = v4("192.0.2.8");
    const struct sockaddr *sa = (const struct sockaddr *)&a, *sb = (const struct sockaddr *)&b;
    int retry = 0;
    tally_ratelimit_stats_t st;
    for (int i = 0; i < 100; i++)
        cr_assert(tally_ratelimit_check(rl, sa, 1000, &retry), "checking takes a token");
    tally_ratelimit_stats(rl, &st);
    cr_assert_eq(st.tracked, 0, "a check made a client tracked");
    for (int i = 0; i < 3; i++) {
        cr_assert(tally_ratelimit_check(rl, sa, 1000, &retry));
        cr_assert(tally_ratelimit_allow(rl, sa, 1000, &retry), "failure %d", i + 1);
    }
    cr_assert_not(tally_ratelimit_check(rl, sa, 1000, &retry), "3 failures, still let in");
    cr_assert_eq(retry, 3, "Retry-After %d", retry);
    cr_assert(tally_ratelimit_check_str(rl, "192.0.2.8", 1000, &retry), "another client is limited");
    cr_assert(tally_ratelimit_check(rl, sb, 1000, &retry));
    cr_assert_not(tally_ratelimit_check_str(rl, " 192.0.2.7 ", 1000, &retry), "text form of the same address");
    /* One failure is forgiven every 3 s. */
    cr_assert(tally_ratelimit_check(rl, sa, 4000, &retry));
    tally_ratelimit_stats(rl, &st);
    cr_assert_eq(st.tracked, 1);
    tally_ratelimit_free(rl);
}
