/* The real `tally` binary with the gateway down, then back: events wait in
 * the spool with the event_id they were given, `tally flush` delivers each
 * exactly once (a repeated flush sends nothing; an interrupted one never
 * loses an event, and a SIGTERM never duplicates one), the spool is capped
 * by dropping the oldest, Retry-After and backoff are honoured, and a
 * refused credential keeps the events. */
#include "cli_harness.h"

static tally_catalog_t *cat;
static cli_env_t env;
static char down_flag[128];
static tally_test_gateway_t gw;   /* started by the tests that need it */
static char up[128];              /* --gateway=<its URL> */

static void start_gateway(const char *const extra_args[])
{
    tally_test_gateway_start(&gw, extra_args);
    snprintf(up, sizeof up, "--gateway=%s", gw.base_url);
}

static void setup(void)
{
    char err[512];
    cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    cli_env_init(&env);
    snprintf(down_flag, sizeof down_flag, "--gateway=http://127.0.0.1:%d", cli_closed_port());
}

static void teardown(void)
{
    if (gw.proc != NULL)
        tally_test_gateway_stop(&gw);
    tally_catalog_free(cat);
    cli_env_cleanup(&env);
}

TestSuite(cli_spool, .init = setup, .fini = teardown, .timeout = 300);

static const char *const keys_env[] = {"TALLY_API_KEY=" TALLY_TEST_API_KEY,
                                       "TALLY_ADMIN_TOKEN=" TALLY_TEST_ADMIN_TOKEN, NULL};

/* This installation's events in the product topic. */
static json_t *product_events(size_t want, int idle_ms)
{
    json_t *ids = cli_install_ids(&env), *got = cli_topic_events(cat, gw.product_topic, "install_id", ids, want, idle_ms);
    json_decref(ids);
    return got;
}

static long spooled(void)
{
    const char *args[] = {"spool", NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, args);
    cr_assert_eq(r.status, 0);
    long n = cli_spool_events(r.out);
    cli_result_free(&r);
    return n;
}

/* n product events, NDJSON, each with a distinct property. */
static char *product_lines(int n, const char *tag)
{
    char *s = malloc((size_t)n * 96 + 1);
    size_t off = 0;
    for (int i = 0; i < n; i++)
        off += (size_t)sprintf(s + off, "{\"event\":\"deploy.start\",\"properties\":{\"region\":\"%s-%d\"}}\n", tag, i);
    s[off] = '\0';
    return s;
}

/* The event_ids in a --debug text, as a new array of strings. */
static json_t *ids_of(const char *debug)
{
    json_t *events = cli_sent_events(debug), *ids = json_array();
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        json_array_append(ids, json_object_get(ev, "event_id"));
    }
    json_decref(events);
    return ids;
}

/* Every id of want is in got exactly `times` times (0: at least once). */
static void assert_ids(json_t *got, json_t *want, size_t times)
{
    size_t i;
    json_t *id;
    json_array_foreach(want, i, id) {
        size_t n = cli_count(got, "event_id", json_string_value(id));
        if (times == 0)
            cr_assert_geq(n, 1, "event %s lost", json_string_value(id));
        else
            cr_assert_eq(n, times, "event %s arrived %zu times", json_string_value(id), n);
    }
}

Test(cli_spool, gateway_down_spools_and_flush_delivers_each_event_exactly_once)
{
    /* Down: every kind goes to the spool, exit 5. */
    char *lines = product_lines(3, "down");
    const char *p[] = {down_flag, "--debug", "send", "product", NULL};
    cli_result_t r = cli_run(&env, lines, NULL, p);
    cr_assert_eq(r.status, 5, "exit 5: spooled for a retry");
    cr_assert_not_null(strstr(r.err, "wait in the spool"), "%s", r.err);
    json_t *product_ids = ids_of(r.err);
    cr_assert_eq(json_array_size(product_ids), 3);
    cli_result_free(&r);
    free(lines);

    char seats[512];
    snprintf(seats, sizeof seats,
             "[{\"tenant_id\":\"%s\",\"user_id\":\"u-1\",\"op\":\"ASSIGNED\"},"
             "{\"tenant_id\":\"%s\",\"user_id\":\"u-2\",\"op\":\"ASSIGNED\"}]",
             TALLY_TEST_TENANT, TALLY_TEST_TENANT);
    const char *s[] = {down_flag, "--debug", "send", "seat", seats, NULL};
    r = cli_run(&env, NULL, keys_env, s);
    cr_assert_eq(r.status, 5);
    json_t *seat_ids = ids_of(r.err);
    cr_assert_eq(json_array_size(seat_ids), 2);
    cli_result_free(&r);

    char cp[256];
    snprintf(cp, sizeof cp, "{\"tenant_id\":\"%s\",\"payload\":{\"TenantRegistered\":{\"name\":\"Acme\"}}}",
             TALLY_TEST_TENANT);
    const char *c[] = {down_flag, "--debug", "send", "controlpanel", cp, NULL};
    r = cli_run(&env, NULL, keys_env, c);
    cr_assert_eq(r.status, 5);
    json_t *cp_ids = ids_of(r.err);
    cli_result_free(&r);
    cr_assert_eq(spooled(), 6, "the spool survives the processes that wrote it");

    /* Back: flush delivers everything, once. */
    start_gateway(NULL);
    const char *f[] = {up, "flush", "--verbose", NULL};
    r = cli_run(&env, NULL, keys_env, f);
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.err, "6 event(s) delivered"), "%s", r.err);
    cli_result_free(&r);
    cr_assert_eq(spooled(), 0);
    long before = cli_gateway_requests(&gw, "/v1/product/events") + cli_gateway_requests(&gw, "/v1/usage/seats") +
                  cli_gateway_requests(&gw, "/v1/controlpanel/events");
    r = cli_run(&env, NULL, keys_env, f);
    cr_assert_eq(r.status, 0, "a repeated flush is a no-op");
    cli_result_free(&r);
    cr_assert_eq(cli_gateway_requests(&gw, "/v1/product/events") + cli_gateway_requests(&gw, "/v1/usage/seats") +
                     cli_gateway_requests(&gw, "/v1/controlpanel/events"),
                 before, "nothing sent again");

    json_t *got = product_events(3, 2000);
    cr_assert_eq(json_array_size(got), 3);
    assert_ids(got, product_ids, 1);
    json_decref(got);
    got = cli_topic_events(cat, gw.usage_topic, "event_id", seat_ids, 2, 1000);
    cr_assert_eq(json_array_size(got), 2);
    assert_ids(got, seat_ids, 1);
    json_decref(got);
    got = cli_topic_events(cat, gw.controlpanel_topic, "event_id", cp_ids, 1, 1000);
    cr_assert_eq(json_array_size(got), 1);
    assert_ids(got, cp_ids, 1);
    json_decref(got);
    json_decref(product_ids);
    json_decref(seat_ids);
    json_decref(cp_ids);
}

/* Spools n single-event segments with the gateway down; their ids. */
static json_t *spool_many(int n)
{
    char *lines = product_lines(n, "many");
    const char *args[] = {down_flag, "--debug", "--batch-size=1", "send", "product", NULL};
    cli_result_t r = cli_run(&env, lines, NULL, args);
    cr_assert_eq(r.status, 5);
    json_t *ids = ids_of(r.err);
    cr_assert_eq(json_array_size(ids), (size_t)n);
    cli_result_free(&r);
    free(lines);
    return ids;
}

/* Starts a flush of the spool one event a request and stops it with sig
 * once part of the spool was delivered. */
static void interrupt_flush(int total, int sig)
{
    char spool_dir[256];
    snprintf(spool_dir, sizeof spool_dir, "%s/tally/spool", env.state);
    const char *f[] = {up, "flush", "--batch-size=1", NULL};
    cli_proc_t p = cli_spawn(&env, NULL, NULL, f);
    long long end = cli_mono_ms() + 60000;
    for (;;) {
        int left = 0;
        DIR *d = opendir(spool_dir);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL)
            left += strncmp(de->d_name, "seg-", 4) == 0;
        if (d)
            closedir(d);
        if (left < total * 9 / 10)
            break;
        cr_assert_lt(cli_mono_ms(), end, "the flush made no progress");
        usleep(2000);
    }
    kill(p.pid, sig);
    cli_result_t r = cli_wait(&p, 30000);
    cr_assert_eq(r.status, sig == SIGKILL ? 128 + SIGKILL : 5, "interrupted with events left: %d", r.status);
    cli_result_free(&r);
}

Test(cli_spool, sigterm_stops_a_flush_cleanly_and_nothing_is_sent_twice)
{
    const int n = 400;
    json_t *ids = spool_many(n);
    const char *fast[] = {"--rate=1000000", "--burst=1000000", NULL};
    start_gateway(fast);
    interrupt_flush(n, SIGTERM);
    long left = spooled();
    cr_assert_gt(left, 0, "stopped before the end (else this test proves nothing)");
    cr_assert_lt(left, n);

    const char *f[] = {up, "flush", NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, f);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    cr_assert_eq(spooled(), 0);
    json_t *got = product_events((size_t)n, 3000);
    cr_assert_eq(json_array_size(got), (size_t)n, "each event once: the request in flight finished first");
    assert_ids(got, ids, 1);
    json_decref(got);
    json_decref(ids);
}

Test(cli_spool, a_killed_flush_loses_nothing_and_repeats_at_most_the_request_in_flight)
{
    const int n = 400;
    json_t *ids = spool_many(n);
    const char *fast[] = {"--rate=1000000", "--burst=1000000", NULL};
    start_gateway(fast);
    interrupt_flush(n, SIGKILL);
    cr_assert_gt(spooled(), 0, "killed before the end");

    const char *f[] = {up, "flush", NULL};
    for (int i = 0; i < 2; i++) {
        cli_result_t r = cli_run(&env, NULL, NULL, f);
        cr_assert_eq(r.status, 0);
        cli_result_free(&r);
    }
    cr_assert_eq(spooled(), 0);
    json_t *got = product_events((size_t)n, 3000);
    assert_ids(got, ids, 0);
    /* SIGKILL between the gateway's 202 and the spool update resends that
     * one request, with the same event_id: the pipeline counts it once. */
    cr_assert_leq(json_array_size(got), (size_t)n + 1, "%zu records", json_array_size(got));
    json_decref(got);
    json_decref(ids);
}

Test(cli_spool, the_cap_drops_the_oldest_events_with_a_warning)
{
    char *old = product_lines(4, "old"), *recent = product_lines(4, "new");
    const char *args[] = {down_flag, "--debug", "--batch-size=1", "--spool-max-events=5", "send", "product", NULL};
    cli_result_t r = cli_run(&env, old, NULL, args);
    cr_assert_eq(r.status, 5);
    json_t *old_ids = ids_of(r.err);
    cli_result_free(&r);
    r = cli_run(&env, recent, NULL, args);
    cr_assert_eq(r.status, 5);
    cr_assert_not_null(strstr(r.err, "the spool is full (at most 5 events"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "dropped the 3 oldest event(s)"), "%s", r.err);
    json_t *new_ids = ids_of(r.err);
    cli_result_free(&r);
    free(old);
    free(recent);
    cr_assert_eq(spooled(), 5);

    /* Bytes cap too: a tiny one keeps at most what fits. */
    const char *tiny[] = {down_flag, "--batch-size=1", "--spool-max-bytes=1KiB", "send", "product",
                          "{\"event\":\"deploy.end\"}", NULL};
    r = cli_run(&env, NULL, NULL, tiny);
    cr_assert_eq(r.status, 5);
    cr_assert_not_null(strstr(r.err, "dropped"), "%s", r.err);
    cli_result_free(&r);
    const char *st[] = {"spool", NULL};
    r = cli_run(&env, NULL, NULL, st);
    const char *bytes = strstr(r.out, "\nbytes: ");
    cr_assert_not_null(bytes);
    cr_assert_leq(strtol(bytes + 8, NULL, 10), 1024, "%s", r.out);
    long kept = cli_spool_events(r.out);
    cli_result_free(&r);

    start_gateway(NULL);
    const char *f[] = {up, "flush", NULL};
    r = cli_run(&env, NULL, NULL, f);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    json_t *got = product_events((size_t)kept, 2000);
    cr_assert_eq(json_array_size(got), (size_t)kept);
    cr_assert_eq(cli_count(got, "event", "deploy.end"), 1, "the newest event is kept");
    size_t i;
    json_t *id;
    json_array_foreach(old_ids, i, id) {
        if (i < 3)
            cr_assert_eq(cli_count(got, "event_id", json_string_value(id)), 0, "the oldest were dropped");
    }
    /* The newest of the 4 recent ones survive the byte cap. */
    cr_assert_eq(cli_count(got, "event_id", json_string_value(json_array_get(new_ids, 3))), 1);
    json_decref(got);
    json_decref(old_ids);
    json_decref(new_ids);
}

Test(cli_spool, retry_after_is_honoured_and_retry_for_delivers_in_the_foreground)
{
    const char *slow[] = {"--rate=1", "--burst=1", NULL};
    start_gateway(slow);
    char *lines = product_lines(3, "rl");
    const char *once[] = {up, "--batch-size=1", "send", "product", NULL};
    cli_result_t r = cli_run(&env, lines, NULL, once);
    cr_assert_eq(r.status, 5, "429: spooled");
    cr_assert_not_null(strstr(r.err, "HTTP 429"), "%s", r.err);
    cli_result_free(&r);
    const char *st[] = {up, "spool", NULL};
    r = cli_run(&env, NULL, NULL, st);
    cr_assert_not_null(strstr(r.out, "next attempt after"), "%s", r.out);
    cli_result_free(&r);

    /* Within the backoff, a new event waits in the spool without a try. */
    long before = cli_gateway_requests(&gw, "/v1/product/events");
    const char *more[] = {up, "--verbose", "send", "product", "{\"event\":\"deploy.end\"}", NULL};
    r = cli_run(&env, NULL, NULL, more);
    cr_assert_eq(r.status, 5);
    cr_assert_not_null(strstr(r.err, "spooling without trying"), "%s", r.err);
    cli_result_free(&r);
    cr_assert_eq(cli_gateway_requests(&gw, "/v1/product/events"), before);

    long long t0 = cli_mono_ms();
    const char *f[] = {up, "--batch-size=1", "--retry-for=60s", "--retry-base=100ms", "flush", NULL};
    r = cli_run(&env, NULL, NULL, f);
    cr_assert_eq(r.status, 0, "--retry-for delivered everything");
    cli_result_free(&r);
    cr_assert_geq(cli_mono_ms() - t0, 1000, "waited for Retry-After (1 s a request at this rate)");
    cr_assert_eq(spooled(), 0);
    json_t *got = product_events(4, 1500);
    cr_assert_eq(json_array_size(got), 4, "each event once");
    json_decref(got);
    free(lines);
}

Test(cli_spool, a_refused_credential_keeps_the_events_until_a_good_one_comes)
{
    char seat[256];
    start_gateway(NULL);
    snprintf(seat, sizeof seat, "{\"tenant_id\":\"%s\",\"user_id\":\"u-9\",\"op\":\"RELEASED\"}", TALLY_TEST_TENANT);
    const char *wrong[] = {"TALLY_API_KEY=tk_live_not_a_key_at_all_000", NULL};
    const char *s[] = {up, "--debug", "send", "seat", seat, NULL};
    cli_result_t r = cli_run(&env, NULL, wrong, s);
    cr_assert_eq(r.status, 4, "exit 4: refused, kept");
    cr_assert_not_null(strstr(r.err, "HTTP 401"));
    json_t *ids = ids_of(r.err);
    cli_result_free(&r);
    cr_assert_eq(spooled(), 1);

    const char *f[] = {up, "flush", NULL};
    r = cli_run(&env, NULL, wrong, f);
    cr_assert_eq(r.status, 0, "the refused key is not tried again");
    cli_result_free(&r);
    r = cli_run(&env, NULL, keys_env, f);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    cr_assert_eq(spooled(), 0);
    json_t *got = cli_topic_events(cat, gw.usage_topic, "event_id", ids, 1, 1500);
    assert_ids(got, ids, 1);
    json_decref(got);
    json_decref(ids);
}

Test(cli_spool, events_wait_for_their_own_key_unless_any_key)
{
    char seat[256];
    snprintf(seat, sizeof seat, "{\"tenant_id\":\"%s\",\"user_id\":\"u-7\",\"op\":\"ASSIGNED\"}", TALLY_TEST_TENANT);
    const char *rotated[] = {"TALLY_API_KEY=tk_live_old_key_before_rotation", NULL};
    const char *s[] = {down_flag, "send", "seat", seat, NULL};
    cli_result_t r = cli_run(&env, NULL, rotated, s);
    cr_assert_eq(r.status, 5);
    cli_result_free(&r);

    start_gateway(NULL);
    const char *f[] = {up, "flush", NULL};
    r = cli_run(&env, NULL, keys_env, f);
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.err, "need another API key"), "%s", r.err);
    cli_result_free(&r);
    cr_assert_eq(cli_gateway_requests(&gw, "/v1/usage/seats"), 0, "not sent with another tenant's key");
    const char *any[] = {up, "flush", "--any-key", NULL};
    r = cli_run(&env, NULL, keys_env, any);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    cr_assert_eq(spooled(), 0);
}
