/* Unit tests of consumers/webhooks/delivery: the retry policy (full jitter
 * between 0 and a doubling ceiling capped at backoff_max; dead once the
 * next attempt would fall after first_at + retry_for, with the reason;
 * 2xx delivered; 410 dead at once; permanent refusals dead at once) and the
 * state record's round trip and refusals. */
#include "delivery.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static const tally_delivery_policy_t policy = {
    .backoff_min_ms = 5000, .backoff_max_ms = 3600000, .retry_for_ms = 86400000};

Test(delivery, backoff_is_full_jitter_under_a_doubling_capped_ceiling)
{
    cr_assert_eq(tally_delivery_backoff_ms(1, &policy, 1.0), 5000);
    cr_assert_eq(tally_delivery_backoff_ms(2, &policy, 1.0), 10000);
    cr_assert_eq(tally_delivery_backoff_ms(3, &policy, 1.0), 20000);
    cr_assert_eq(tally_delivery_backoff_ms(3, &policy, 0.5), 10000);
    cr_assert_eq(tally_delivery_backoff_ms(3, &policy, 0.0), 0);
    cr_assert_eq(tally_delivery_backoff_ms(10, &policy, 1.0), 2560000);
    cr_assert_eq(tally_delivery_backoff_ms(11, &policy, 1.0), 3600000);
    cr_assert_eq(tally_delivery_backoff_ms(1000, &policy, 1.0), 3600000);
}

static tally_delivery_t pending(int64_t now)
{
    tally_delivery_t d;
    tally_delivery_init_pending(&d, "abc/tenant", "globex", "{\"x\":1}", now);
    return d;
}

Test(delivery, a_2xx_is_delivered_and_drops_the_body)
{
    tally_delivery_t d = pending(1000);
    tally_delivery_outcome_t o = {.http_status = 500};
    tally_delivery_apply(&d, &o, 2000, &policy, 1.0);
    cr_assert_eq(d.state, TALLY_DELIVERY_PENDING);
    cr_assert_eq(d.attempts, 1);
    cr_assert_eq(d.next_at, 7000);
    cr_assert_str_eq(d.reason, "HTTP 500");
    o.http_status = 0;
    o.error = "Operation timed out after 10000 milliseconds";
    tally_delivery_apply(&d, &o, 7000, &policy, 1.0);
    cr_assert_eq(d.next_at, 17000);
    cr_assert_str_eq(d.reason, "Operation timed out after 10000 milliseconds");
    o.http_status = 204;
    tally_delivery_apply(&d, &o, 17000, &policy, 0.3);
    cr_assert_eq(d.state, TALLY_DELIVERY_DELIVERED);
    cr_assert_eq(d.status, 204);
    cr_assert_eq(d.attempts, 3);
    cr_assert_null(d.body);
}

Test(delivery, gone_and_permanent_refusals_are_dead_at_once)
{
    tally_delivery_t d = pending(0);
    tally_delivery_outcome_t gone = {.http_status = 410};
    tally_delivery_apply(&d, &gone, 10, &policy, 1.0);
    cr_assert_eq(d.state, TALLY_DELIVERY_DEAD);
    cr_assert_str_eq(d.reason, "endpoint gone (410)");
    tally_delivery_t e = pending(0);
    tally_delivery_outcome_t refused = {.permanent = 1, .error = "URL refused: the host is a private address"};
    tally_delivery_apply(&e, &refused, 10, &policy, 1.0);
    cr_assert_eq(e.state, TALLY_DELIVERY_DEAD);
    cr_assert_eq(e.attempts, 0);
    cr_assert_str_eq(e.reason, "URL refused: the host is a private address");
    cr_assert_null(e.body);
}

Test(delivery, retries_stop_after_retry_for_with_the_reason)
{
    tally_delivery_t d = pending(0);
    tally_delivery_outcome_t o = {.http_status = 503};
    int64_t now = 0;
    int attempts = 0;
    while (d.state == TALLY_DELIVERY_PENDING) {
        tally_delivery_apply(&d, &o, now, &policy, 1.0);
        attempts++;
        cr_assert_lt(attempts, 100);
        if (d.state == TALLY_DELIVERY_PENDING) {
            cr_assert_leq(d.next_at, policy.retry_for_ms);
            now = d.next_at;
        }
    }
    cr_assert_eq(d.state, TALLY_DELIVERY_DEAD);
    cr_assert_not_null(strstr(d.reason, "gave up after"), "%s", d.reason);
    cr_assert_not_null(strstr(d.reason, "HTTP 503"), "%s", d.reason);
    /* 5+10+...+2560 s, then 1 h waits, until 24 h: 33 attempts. */
    cr_assert_eq(d.attempts, 33, "%d", d.attempts);
}

Test(delivery, states_round_trip_and_malformed_ones_are_refused)
{
    tally_textbuf_t buf = {0};
    tally_delivery_t d = pending(123), back;
    d.attempts = 2;
    d.next_at = 456;
    snprintf(d.reason, sizeof d.reason, "HTTP 500");
    char err[256];
    tally_delivery_encode(&d, &buf);
    cr_assert_eq(tally_delivery_decode(d.key, strlen(d.key), buf.data, buf.len, &back, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(back.state, TALLY_DELIVERY_PENDING);
    cr_assert_str_eq(back.body, "{\"x\":1}");
    cr_assert_eq(back.attempts, 2);
    cr_assert_eq(back.next_at, 456);
    cr_assert_eq(back.first_at, 123);
    cr_assert_str_eq(back.tenant_id, "globex");
    tally_delivery_clear(&back);
    tally_delivery_outcome_t ok = {.http_status = 200};
    tally_delivery_apply(&d, &ok, 999, &policy, 1.0);
    tally_delivery_encode(&d, &buf);
    cr_assert_eq(tally_delivery_decode(d.key, strlen(d.key), buf.data, buf.len, &back, err, sizeof err), 0);
    cr_assert_eq(back.state, TALLY_DELIVERY_DELIVERED);
    cr_assert_eq(back.status, 200);
    cr_assert_eq(back.at, 999);
    cr_assert_null(back.body);
    static const char *const bad[] = {
        "", "[]", "{\"v\":2,\"state\":\"dead\",\"tenant_id\":\"t\",\"attempts\":1,\"first_at\":1,\"at\":1,\"reason\":\"x\"}",
        "{\"v\":1,\"state\":\"lost\",\"tenant_id\":\"t\",\"attempts\":1,\"first_at\":1}",
        "{\"v\":1,\"state\":\"pending\",\"tenant_id\":\"t\",\"attempts\":1,\"first_at\":1}",
        "{\"v\":1,\"state\":\"dead\",\"tenant_id\":\"t\",\"attempts\":-1,\"first_at\":1,\"at\":1,\"reason\":\"x\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_neq(tally_delivery_decode("a/tenant", 8, bad[i], strlen(bad[i]), &back, err, sizeof err), 0, "%s",
                      bad[i]);
    const char *good = "{\"v\":1,\"state\":\"dead\",\"tenant_id\":\"t\",\"attempts\":1,\"first_at\":1,\"at\":1,"
                       "\"reason\":\"x\"}";
    cr_assert_eq(tally_delivery_decode("a/tenant", 8, good, strlen(good), &back, err, sizeof err), 0, "%s", err);
    cr_assert_neq(tally_delivery_decode("a/other", 7, good, strlen(good), &back, err, sizeof err), 0);
    cr_assert_neq(tally_delivery_decode("/tenant", 7, good, strlen(good), &back, err, sizeof err), 0);
    cr_assert_neq(tally_delivery_decode("a/tenant", 8, NULL, 0, &back, err, sizeof err), 0);
    tally_textbuf_free(&buf);
}
