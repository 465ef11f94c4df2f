/* The real tally-webhooks against the local broker and a local receiver
 * (tests/support/webhook_receiver):
 *   - a receiver that refuses connections, times out and answers 500 gets
 *     retries with backoff, and each alert exactly once after it recovers;
 *     every delivery ends `delivered` in tally.webhooks.deliveries;
 *   - kill -9 mid-stream, several times: no alert lost, none delivered
 *     twice but those in flight at a kill (at most one per kill, with one
 *     attempt in flight at a time), all `delivered` at the end;
 *   - tenant endpoints (sealed secrets) are delivered; private, link-local,
 *     IPv4-mapped and loopback URLs are refused at delivery, `dead` with the
 *     reason, and nothing reaches them. */
#define _GNU_SOURCE
#include "webhooks_fixture.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures.h"
#include "subprocess.h"
#include "topic_reader.h"
#include "webhook_receiver.h"

#define VENDOR_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define TENANT_SECRET "whsec_dGVuYW50LXNlY3JldC1mb3ItdGVzdHMtMDAwMQ=="

TestSuite(webhooks, .timeout = 300);

/* Waits up to ms for cond; fails the test with what otherwise. */
#define WAIT_FOR(cond, ms, ...)                                                                                    \
    do {                                                                                                           \
        long long end_ = tally_test_mono_ms() + (ms);                                                              \
        while (!(cond)) {                                                                                          \
            cr_assert_lt(tally_test_mono_ms(), end_, __VA_ARGS__);                                                 \
            usleep(20000);                                                                                         \
        }                                                                                                          \
    } while (0)

static size_t min_attempts(tally_test_receiver_t *r, int n)
{
    size_t least = (size_t)-1;
    for (int i = 1; i <= n; i++) {
        char id[40];
        wh_alert_id(i, id);
        size_t a = tally_test_receiver_attempts_of(r, id);
        least = a < least ? a : least;
    }
    return least;
}

static void assert_all_delivered(wh_fixture_t *f, int n, const char *target)
{
    json_t *states = wh_states(f);
    for (int i = 1; i <= n; i++) {
        char id[40], key[64];
        wh_alert_id(i, id);
        snprintf(key, sizeof key, "%s/%s", id, target);
        json_t *s = json_object_get(states, key);
        cr_assert_not_null(s, "no state for %s", key);
        cr_assert_str_eq(json_string_value(json_object_get(s, "state")), "delivered", "%s: %s", key,
                         json_dumps(s, 0));
    }
    json_decref(states);
}

Test(webhooks, failing_then_recovering_receiver_gets_retries_and_each_alert_once)
{
    wh_fixture_t f;
    wh_init(&f, 2, VENDOR_SECRET "\n");
    tally_test_receiver_t *r = tally_test_receiver_start(VENDOR_SECRET);
    tally_test_receiver_set_mode(r, TALLY_TEST_RECV_500, 0);
    char vendor[128], secret[256];
    snprintf(vendor, sizeof vendor, "--vendor-url=%s", tally_test_receiver_url(r));
    snprintf(secret, sizeof secret, "--vendor-secret-file=%s", f.vendor_secret_path);
    const char *extra[] = {vendor, secret, "--webhook-allow-http-loopback", NULL};
    tally_test_proc_t *p = wh_start(&f, extra);
    enum { N = 5 };
    for (int i = 1; i <= N; i++) {
        char id[40];
        wh_alert_id(i, id);
        wh_send_alert(&f, id, i % 2 ? "globex" : "initech", 80);
    }
    /* 500s: at least two attempts of each. */
    WAIT_FOR(min_attempts(r, N) >= 2, 60000, "not every alert was retried after a 500\n%s", tally_test_log(p));
    /* Time-outs: the receiver holds requests past the 1 s timeout. */
    size_t before = tally_test_receiver_attempts(r);
    tally_test_receiver_set_mode(r, TALLY_TEST_RECV_HANG, 1500);
    WAIT_FOR(tally_test_receiver_attempts(r) >= before + N, 60000, "no attempt after the time-outs");
    /* Refused connections. */
    tally_test_receiver_set_mode(r, TALLY_TEST_RECV_REFUSE, 0);
    usleep(1500 * 1000);
    cr_assert_eq(tally_test_receiver_accepted(r), 0);
    /* Recovery: each alert exactly once. */
    tally_test_receiver_set_mode(r, TALLY_TEST_RECV_OK, 0);
    WAIT_FOR(tally_test_receiver_accepted(r) == N, 60000, "not every alert arrived after recovery\n%s",
             tally_test_log(p));
    usleep(1500 * 1000); /* longer than the largest backoff: a resend would show */
    cr_assert_eq(tally_test_receiver_accepted(r), N);
    cr_assert_eq(tally_test_receiver_duplicates(r), 0, "an alert was delivered twice");
    cr_assert_eq(tally_test_receiver_bad(r), 0, "a signature did not verify");
    /* Backoff, not a tight loop: with ceilings 100, 200, 400 ms (then 400)
     * over the ~5 s of failures, and 1 s time-outs, an alert cannot have
     * been tried more than ~30 times; a sender without backoff makes
     * hundreds of attempts. */
    for (int i = 1; i <= N; i++) {
        char id[40];
        wh_alert_id(i, id);
        size_t a = tally_test_receiver_attempts_of(r, id);
        fprintf(stderr, "retry test: %s: %zu attempts, %zu accepted\n", id, a, tally_test_receiver_accepted_of(r, id));
        cr_assert_geq(a, 3, "%s: %zu attempts", id, a);
        cr_assert_leq(a, 40, "%s: %zu attempts: no backoff?", id, a);
        cr_assert_eq(tally_test_receiver_accepted_of(r, id), 1);
    }
    cr_assert_eq(tally_test_signal(p, SIGTERM), 0);
    cr_assert_eq(tally_test_wait(p, 30000), 0, "%s", tally_test_log(p));
    assert_all_delivered(&f, N, "vendor");
    /* The refused connections were attempts too: the recorded count is
     * higher than what reached the receiver. */
    json_t *states = wh_states(&f);
    for (int i = 1; i <= N; i++) {
        char id[40], key[64];
        wh_alert_id(i, id);
        snprintf(key, sizeof key, "%s/vendor", id);
        json_int_t recorded = json_integer_value(json_object_get(json_object_get(states, key), "attempts"));
        fprintf(stderr, "retry test: %s: %lld attempts recorded\n", id, (long long)recorded);
        cr_assert_gt((size_t)recorded, tally_test_receiver_attempts_of(r, id), "%s: no attempt while refused", id);
    }
    json_decref(states);
    tally_test_proc_free(p);
    tally_test_receiver_free(r);
    wh_cleanup(&f);
}

Test(webhooks, kill_9_mid_stream_loses_nothing_and_resends_nothing_delivered)
{
    wh_fixture_t f;
    wh_init(&f, 2, VENDOR_SECRET "\n");
    tally_test_receiver_t *r = tally_test_receiver_start(VENDOR_SECRET);
    char vendor[128], secret[256];
    snprintf(vendor, sizeof vendor, "--vendor-url=%s", tally_test_receiver_url(r));
    snprintf(secret, sizeof secret, "--vendor-secret-file=%s", f.vendor_secret_path);
    const char *extra[] = {vendor, secret, "--webhook-allow-http-loopback", "--max-in-flight=1", NULL};
    enum { N = 60, KILLS = 3 };
    int sent = 0, kills = 0;
    tally_test_proc_t *p = wh_start(&f, extra);
    while (kills < KILLS) {
        for (int i = 0; i < N / (KILLS + 1); i++) {
            char id[40];
            wh_alert_id(++sent, id);
            wh_send_alert(&f, id, sent % 3 ? "globex" : "initech", 100);
        }
        /* Kill while deliveries go on. */
        size_t at = tally_test_receiver_accepted(r);
        WAIT_FOR(tally_test_receiver_accepted(r) > at, 60000, "nothing delivered before kill %d\n%s", kills + 1,
                 tally_test_log(p));
        cr_assert_eq(tally_test_signal(p, SIGKILL), 0);
        cr_assert_eq(tally_test_wait(p, 10000), 128 + SIGKILL);
        tally_test_proc_free(p);
        kills++;
        p = wh_start(&f, extra);
    }
    while (sent < N) {
        char id[40];
        wh_alert_id(++sent, id);
        wh_send_alert(&f, id, "globex", 150);
    }
    WAIT_FOR(tally_test_receiver_accepted(r) == N, 120000, "alerts lost: %zu of %d arrived\n%s",
             tally_test_receiver_accepted(r), N, tally_test_log(p));
    usleep(1000 * 1000);
    size_t dup = tally_test_receiver_duplicates(r);
    fprintf(stderr, "kill test: %d kills, %d alerts, %zu arrived, %zu sent twice, %zu attempts\n", kills, N,
            tally_test_receiver_accepted(r), dup, tally_test_receiver_attempts(r));
    cr_assert_eq(kills, KILLS);
    cr_assert_eq(tally_test_receiver_accepted(r), N);
    cr_assert_leq(dup, (size_t)kills, "more resends than kills: a delivered alert was sent again");
    cr_assert_eq(tally_test_receiver_bad(r), 0);
    cr_assert_eq(tally_test_signal(p, SIGTERM), 0);
    cr_assert_eq(tally_test_wait(p, 30000), 0, "%s", tally_test_log(p));
    assert_all_delivered(&f, N, "vendor");
    tally_test_proc_free(p);
    tally_test_receiver_free(r);
    wh_cleanup(&f);
}

Test(webhooks, tenant_endpoints_are_delivered_and_private_addresses_refused_dead)
{
    wh_fixture_t f;
    wh_init(&f, 2, VENDOR_SECRET "\n");
    tally_test_receiver_t *r = tally_test_receiver_start(TENANT_SECRET);
    wh_send_endpoint(&f, "good", tally_test_receiver_url(r), TENANT_SECRET);
    wh_send_endpoint(&f, "private", "https://10.0.0.1/hook", TENANT_SECRET);
    wh_send_endpoint(&f, "metadata", "https://169.254.169.254/latest/meta-data/", TENANT_SECRET);
    wh_send_endpoint(&f, "mapped", "https://[::ffff:10.0.0.1]/hook", TENANT_SECRET);
    wh_send_endpoint(&f, "cgnat", "https://100.64.0.7/hook", TENANT_SECRET);
    wh_send_endpoint(&f, "removed", "https://example.com/hook", TENANT_SECRET);
    wh_send_endpoint(&f, "removed", "", "");
    /* Without --webhook-allow-http-loopback the loopback receiver is refused
     * too: first run with it off. */
    tally_test_proc_t *p = wh_start(&f, NULL);
    static const char *const tenants[] = {"good", "private", "metadata", "mapped", "cgnat", "removed", "none"};
    for (int i = 0; i < 7; i++) {
        char id[40];
        wh_alert_id(i + 1, id);
        wh_send_alert(&f, id, tenants[i], 80);
    }
    char key[64];
    wh_alert_id(5, key);
    strcat(key, "/tenant");
    json_t *states = NULL;
    long long end = tally_test_mono_ms() + 60000;
    for (;;) {
        states = wh_states(&f);
        size_t dead = 0;
        const char *k;
        json_t *s;
        json_object_foreach(states, k, s) dead += strcmp(json_string_value(json_object_get(s, "state")), "dead") == 0;
        if (dead == 5)
            break;
        json_decref(states);
        cr_assert_lt(tally_test_mono_ms(), end, "not every refused delivery is dead\n%s", tally_test_log(p));
        usleep(200000);
    }
    static const char *const want[] = {"loopback", "private", "link-local", "private", "CGNAT"};
    for (int i = 0; i < 5; i++) {
        char id[40], k[64];
        wh_alert_id(i + 1, id);
        snprintf(k, sizeof k, "%s/tenant", id);
        json_t *s = json_object_get(states, k);
        cr_assert_not_null(s, "no state for %s", k);
        cr_assert_str_eq(json_string_value(json_object_get(s, "state")), "dead");
        const char *reason = json_string_value(json_object_get(s, "reason"));
        cr_assert_not_null(strstr(reason, "URL refused"), "%s: %s", tenants[i], reason);
        cr_assert_not_null(strstr(reason, want[i]), "%s: %s", tenants[i], reason);
    }
    /* An endpoint removed, or never set: no delivery at all. */
    cr_assert_eq(json_object_size(states), 5, "%s", json_dumps(states, 0));
    json_decref(states);
    cr_assert_eq(tally_test_receiver_attempts(r), 0);
    cr_assert_eq(tally_test_signal(p, SIGTERM), 0);
    cr_assert_eq(tally_test_wait(p, 30000), 0, "%s", tally_test_log(p));
    tally_test_proc_free(p);

    /* In local mode the loopback receiver gets the tenant's alert, signed
     * with the tenant's own (sealed) secret. */
    const char *local[] = {"--webhook-allow-http-loopback", NULL};
    p = wh_start(&f, local);
    char id[40];
    wh_alert_id(100, id);
    wh_send_alert(&f, id, "good", 100);
    WAIT_FOR(tally_test_receiver_accepted(r) == 1, 60000, "the tenant's alert did not arrive\n%s", tally_test_log(p));
    cr_assert_eq(tally_test_receiver_accepted_of(r, id), 1);
    cr_assert_eq(tally_test_receiver_bad(r), 0);
    cr_assert_null(strstr(tally_test_log(p), "dGVuYW50"), "the secret shows in the log");
    /* Neither the delivery states nor the control panel hold the secret. */
    const char *topics[] = {f.deliveries, f.cp};
    for (int t = 0; t < 2; t++) {
        tally_test_record_t *recs = NULL;
        size_t n = tally_test_topic_read(topics[t], 1, 500, 30000, &recs);
        cr_assert_gt(n, 0);
        for (size_t i = 0; i < n; i++)
            cr_assert_null(memmem(recs[i].value, recs[i].len, "dGVuYW50", 8), "the secret is in %s", topics[t]);
        tally_test_records_free(recs, n);
    }
    cr_assert_eq(tally_test_signal(p, SIGTERM), 0);
    cr_assert_eq(tally_test_wait(p, 30000), 0, "%s", tally_test_log(p));
    tally_test_proc_free(p);
    tally_test_receiver_free(r);
    wh_cleanup(&f);
}

/* Configuration errors are refused at startup with exit 2 and a reason:
 * a vendor URL without its secret, a vendor URL the policy refuses, a
 * webhook key file others may read. */
Test(webhooks, bad_configuration_is_refused_at_startup)
{
    wh_fixture_t f;
    wh_init(&f, 1, VENDOR_SECRET "\n");
    char secret[256], keys[256];
    snprintf(secret, sizeof secret, "--vendor-secret-file=%s", f.vendor_secret_path);
    snprintf(keys, sizeof keys, "--webhook-keys=%s", f.keys_path);
    struct {
        const char *args[4];
        const char *says;
    } cases[] = {
        {{"--vendor-url=https://hooks.example.com/", NULL}, "go together"},
        {{"--vendor-url=http://hooks.example.com/", secret, NULL}, "--vendor-url refused"},
        {{"--vendor-url=https://10.1.2.3/", secret, NULL}, "private"},
        {{"--vendor-url=https://user:pw@hooks.example.com/", secret, NULL}, "credentials"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[8];
        int n = 0;
        argv[n++] = (char *)tally_test_bin("tally-webhooks");
        for (int j = 0; cases[i].args[j] != NULL; j++)
            argv[n++] = (char *)cases[i].args[j];
        argv[n] = NULL;
        tally_test_proc_t *p = tally_test_spawn(argv, NULL, 0, NULL, 0);
        cr_assert_eq(tally_test_wait(p, 20000), 2, "%zu: %s", i, tally_test_log(p));
        cr_assert_not_null(strstr(tally_test_log(p), cases[i].says), "%zu: %s", i, tally_test_log(p));
        cr_assert_null(strstr(tally_test_log(p), "MfKQ9r8G"), "the secret shows: %s", tally_test_log(p));
        tally_test_proc_free(p);
    }
    /* A librdkafka setting it does not know reaches the worker's clients too
     * and is refused there, by name. */
    char brokers[256];
    snprintf(brokers, sizeof brokers, "--brokers=%s", tally_test_brokers());
    char schemas[600];
    snprintf(schemas, sizeof schemas, "--schemas=%s", tally_test_source_path("schemas"));
    char *xargv[] = {(char *)tally_test_bin("tally-webhooks"), brokers, schemas, "-X", "no.such.setting=1", NULL};
    tally_test_proc_t *x = tally_test_spawn(xargv, NULL, 0, NULL, 0);
    cr_assert_eq(tally_test_wait(x, 30000), 1, "%s", tally_test_log(x));
    cr_assert_not_null(strstr(tally_test_log(x), "-X no.such.setting"), "%s", tally_test_log(x));
    tally_test_proc_free(x);
    cr_assert_eq(chmod(f.keys_path, 0644), 0);
    char *argv[] = {(char *)tally_test_bin("tally-webhooks"), keys, NULL};
    tally_test_proc_t *p = tally_test_spawn(argv, NULL, 0, NULL, 0);
    cr_assert_eq(tally_test_wait(p, 20000), 2, "%s", tally_test_log(p));
    cr_assert_not_null(strstr(tally_test_log(p), "chmod 600"), "%s", tally_test_log(p));
    tally_test_proc_free(p);
    wh_cleanup(&f);
}
