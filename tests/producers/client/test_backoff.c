/* producers/client/backoff: exponential delays with equal jitter, capped,
 * never below Retry-After; the state is per gateway and survives a
 * restart. */
#include "backoff.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Test(backoff, doubles_per_failure_with_jitter_in_the_upper_half)
{
    for (int n = 1; n <= 6; n++) {
        int64_t cap = 1000LL << (n - 1);
        cr_assert_eq(tally_backoff_delay_ms(n, 1000, 3600000, -1, 0.0), cap / 2, "least: half");
        cr_assert_eq(tally_backoff_delay_ms(n, 1000, 3600000, -1, 1.0), cap, "most: all");
        int64_t mid = tally_backoff_delay_ms(n, 1000, 3600000, -1, 0.5);
        cr_assert(mid > cap / 2 && mid < cap);
    }
}

Test(backoff, is_capped)
{
    cr_assert_eq(tally_backoff_delay_ms(50, 1000, 60000, -1, 1.0), 60000);
    cr_assert_eq(tally_backoff_delay_ms(1000, 1000, 60000, -1, 0.0), 30000, "no overflow after many failures");
}

Test(backoff, never_sooner_than_retry_after)
{
    cr_assert_eq(tally_backoff_delay_ms(1, 1000, 60000, 5000, 0.0), 5000);
    cr_assert_eq(tally_backoff_delay_ms(1, 1000, 60000, 0, 1.0), 1000);
}

Test(backoff, random_jitter_spreads_clients)
{
    tally_backoff_t b;
    memset(&b, 0, sizeof b);
    int64_t seen[20];
    int distinct = 0;
    for (int i = 0; i < 20; i++) {
        b.failures = 4;
        tally_backoff_failed(&b, 0, 1000, 3600000, -1, "x");
        cr_assert(b.next_attempt_ms >= 8000 && b.next_attempt_ms <= 16000, "%lld", (long long)b.next_attempt_ms);
        int dup = 0;
        for (int k = 0; k < i; k++)
            dup |= seen[k] == b.next_attempt_ms;
        distinct += !dup;
        seen[i] = b.next_attempt_ms;
    }
    cr_assert_gt(distinct, 10, "jitter: clients do not retry in lockstep");
}

Test(backoff, state_is_saved_per_gateway)
{
    char dir[64], path[128], err[256];
    snprintf(dir, sizeof dir, "/tmp/tally-test-backoff-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/retry.json", dir);
    tally_backoff_t b, c;
    tally_backoff_load(path, "http://a", &b);
    cr_assert_eq(b.failures, 0, "no file: healthy");
    tally_backoff_failed(&b, 1000, 1000, 60000, 30000, "connection refused");
    tally_backoff_failed(&b, 1000, 1000, 60000, -1, "connection refused");
    cr_assert_eq(tally_backoff_save(path, &b, err, sizeof err), 0, "%s", err);
    tally_backoff_load(path, "http://a", &c);
    cr_assert_eq(c.failures, 2);
    cr_assert_eq(c.next_attempt_ms, b.next_attempt_ms);
    cr_assert_str_eq(c.last_error, "connection refused");
    tally_backoff_load(path, "http://b", &c);
    cr_assert_eq(c.failures, 0, "another gateway is not in backoff");
    tally_backoff_succeeded(&b);
    cr_assert_eq(b.failures, 0);
    cr_assert_eq(b.next_attempt_ms, 0);
    unlink(path);
    rmdir(dir);
}
