/* The real `tally` binary against a real gateway: the three ways to opt
 * out of product analytics each send nothing (the gateway counts no
 * request and the topic holds nothing of it), the first-run notice shows
 * once, --debug shows exactly what is sent, --dry-run sends nothing, and
 * bad input fails with a clear message and exit status 2 before anything
 * is sent. */
#include "cli_harness.h"

static tally_test_gateway_t gw;
static tally_catalog_t *cat;
static cli_env_t env;
static char gateway_flag[128];

static void setup(void)
{
    char err[512];
    cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    tally_test_gateway_start(&gw, NULL);
    cli_env_init(&env);
    snprintf(gateway_flag, sizeof gateway_flag, "--gateway=%s", gw.base_url);
}

static void teardown(void)
{
    tally_test_gateway_stop(&gw);
    tally_catalog_free(cat);
    cli_env_cleanup(&env);
}

TestSuite(cli_telemetry, .init = setup, .fini = teardown, .timeout = 180);

#define PRODUCT_ROUTE "/v1/product/events"

/* This installation's events in the product topic. */
static json_t *product_events(size_t want, int idle_ms)
{
    json_t *ids = cli_install_ids(&env), *got = cli_topic_events(cat, gw.product_topic, "install_id", ids, want, idle_ms);
    json_decref(ids);
    return got;
}

/* Sends one product event named name; returns the result. */
static cli_result_t send_product(const char *const extra_env[], const char *name, const char *flag)
{
    char body[256];
    snprintf(body, sizeof body, "{\"event\":\"%s\",\"properties\":{\"region\":\"eu-west\"}}", name);
    const char *args[] = {gateway_flag, "send", "product", body, flag, NULL};
    return cli_run(&env, NULL, extra_env, args);
}

/* An opted-out send exits 0, says why with --verbose, and the gateway
 * never hears of it; opted back in, the next event arrives alone. */
static void assert_opt_out(const char *const opt_env[], const char *why)
{
    long before = cli_gateway_requests(&gw, PRODUCT_ROUTE);
    cli_result_t r = send_product(opt_env, "deploy.start", "--verbose");
    cr_assert_eq(r.status, 0, "opted out is not an error");
    cr_assert_not_null(strstr(r.err, "product analytics are off"), "--verbose says nothing was sent");
    cr_assert_not_null(strstr(r.err, why), "--verbose says why: %s", why);
    cr_assert_null(strstr(r.err, "notice"), "no first-run notice for analytics that are off");
    cli_result_free(&r);
    cr_assert_eq(cli_gateway_requests(&gw, PRODUCT_ROUTE), before, "no request reached the gateway");

    r = send_product(NULL, "deploy.end", NULL);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    json_t *got = product_events(1, 2000);
    cr_assert_eq(cli_count(got, "event", "deploy.start"), 0, "the opted-out event is not in the topic");
    cr_assert_eq(cli_count(got, "event", "deploy.end"), 1, "with analytics on, the event arrives once");
    json_decref(got);
}

Test(cli_telemetry, do_not_track_sends_nothing)
{
    const char *e[] = {"DO_NOT_TRACK=1", NULL};
    assert_opt_out(e, "DO_NOT_TRACK");
}

Test(cli_telemetry, tally_telemetry_0_sends_nothing)
{
    const char *e[] = {"TALLY_TELEMETRY=0", NULL};
    assert_opt_out(e, "TALLY_TELEMETRY=0");
}

Test(cli_telemetry, telemetry_disable_sends_nothing_but_its_last_marker)
{
    /* An installation that sent before, then opts out. */
    cli_result_t r = send_product(NULL, "project.create.start", NULL);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    const char *dis[] = {gateway_flag, "telemetry", "disable", NULL};
    r = cli_run(&env, NULL, NULL, dis);
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.out, "disabled"));
    cli_result_free(&r);
    const char *st[] = {"telemetry", "status", NULL};
    r = cli_run(&env, NULL, NULL, st);
    cr_assert_not_null(strstr(r.out, "product analytics: off (disabled with `tally telemetry disable`)"), "%s",
                       r.out);
    cli_result_free(&r);

    long before = cli_gateway_requests(&gw, PRODUCT_ROUTE);
    r = send_product(NULL, "deploy.start", "--verbose");
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.err, "disabled with `tally telemetry disable`"));
    cli_result_free(&r);
    cr_assert_eq(cli_gateway_requests(&gw, PRODUCT_ROUTE), before, "no request after the opt-out");

    json_t *got = product_events(2, 2000);
    cr_assert_eq(json_array_size(got), 2, "the event before, and the catalog's telemetry.disabled marker");
    cr_assert_eq(cli_count(got, "event", "project.create.start"), 1);
    cr_assert_eq(cli_count(got, "event", "telemetry.disabled"), 1, "opt-out rates are known (catalog)");
    cr_assert_eq(cli_count(got, "event", "deploy.start"), 0, "nothing after the opt-out");
    json_decref(got);

    /* Back on: telemetry.enabled, then events flow again. */
    const char *en[] = {gateway_flag, "telemetry", "enable", NULL};
    r = cli_run(&env, NULL, NULL, en);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    r = send_product(NULL, "deploy.end", NULL);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    got = product_events(4, 2000);
    cr_assert_eq(cli_count(got, "event", "telemetry.enabled"), 1);
    cr_assert_eq(cli_count(got, "event", "deploy.end"), 1);
    json_decref(got);
}

Test(cli_telemetry, no_marker_when_the_environment_already_opted_out)
{
    cli_result_t r = send_product(NULL, "project.create.start", NULL);
    cli_result_free(&r);
    long before = cli_gateway_requests(&gw, PRODUCT_ROUTE);
    const char *e[] = {"DO_NOT_TRACK=1", NULL};
    const char *dis[] = {gateway_flag, "telemetry", "disable", NULL};
    r = cli_run(&env, NULL, e, dis);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    cr_assert_eq(cli_gateway_requests(&gw, PRODUCT_ROUTE), before, "DO_NOT_TRACK: not even the marker");
}

Test(cli_telemetry, opting_out_discards_spooled_product_events)
{
    char down[128];
    snprintf(down, sizeof down, "--gateway=http://127.0.0.1:%d", cli_closed_port());
    const char *args[] = {down, "send", "product", "{\"event\":\"deploy.start\"}", NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, args);
    cr_assert_eq(r.status, 5, "spooled while the gateway is down");
    cli_result_free(&r);

    const char *e[] = {"TALLY_TELEMETRY=0", NULL};
    const char *flush[] = {gateway_flag, "flush", "--verbose", NULL};
    r = cli_run(&env, NULL, e, flush);
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.err, "discarded 1 spooled product event"), "%s", r.err);
    cli_result_free(&r);
    const char *flush2[] = {gateway_flag, "flush", NULL};
    r = cli_run(&env, NULL, NULL, flush2);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    cr_assert_eq(cli_gateway_requests(&gw, PRODUCT_ROUTE), 0, "the event spooled before the opt-out never went");
}

Test(cli_telemetry, first_run_notice_shows_once)
{
    /* Opted out: no notice, and none remembered. */
    const char *dnt[] = {"DO_NOT_TRACK=1", NULL};
    cli_result_t r = send_product(dnt, "deploy.start", NULL);
    cr_assert_null(strstr(r.err, "notice"));
    cli_result_free(&r);

    r = send_product(NULL, "deploy.start", NULL);
    cr_assert_eq(r.status, 0);
    const char *notice = strstr(r.err, "notice");
    cr_assert_not_null(notice, "the first run shows the notice on stderr");
    cr_assert_not_null(strstr(r.err, "tally telemetry disable"), "it says how to opt out");
    cr_assert_not_null(strstr(r.err, "DO_NOT_TRACK=1"));
    cr_assert_not_null(strstr(r.err, "TALLY_TELEMETRY=0"));
    cr_assert_not_null(strstr(r.err, "installation"), "it says what is collected");
    cr_assert_str_empty(r.out, "stdout stays clean for scripts");
    cli_result_free(&r);

    for (int i = 0; i < 2; i++) {
        r = send_product(NULL, "deploy.end", NULL);
        cr_assert_eq(r.status, 0);
        cr_assert_null(strstr(r.err, "notice"), "shown once: %s", r.err);
        cli_result_free(&r);
    }
    json_t *got = product_events(3, 2000);
    cr_assert_eq(json_array_size(got), 3);
    /* One installation; its first event says so. */
    const char *install = json_string_value(json_object_get(json_array_get(got, 0), "install_id"));
    size_t i, first = 0;
    json_t *ev;
    json_array_foreach(got, i, ev) {
        cr_assert_str_eq(json_string_value(json_object_get(ev, "install_id")), install);
        first += json_is_true(json_object_get(ev, "new_user")) ? 1 : 0;
    }
    cr_assert_eq(first, 1, "new_user on the first run only");
    json_decref(got);
}

Test(cli_telemetry, debug_prints_exactly_what_is_sent_and_sends_it)
{
    cli_result_t r = send_product(NULL, "deploy.start", "--debug");
    cr_assert_eq(r.status, 0);
    char want[160];
    snprintf(want, sizeof want, "> POST %s/v1/product/events\n", gw.base_url);
    cr_assert_not_null(strstr(r.err, want), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "> Content-Type: application/json\n"));
    cr_assert_not_null(strstr(r.err, "< 202\n"), "the answer too");
    json_t *sent = cli_sent_events(r.err);
    cr_assert_eq(json_array_size(sent), 1);
    cli_result_free(&r);

    json_t *got = product_events(1, 1500);
    cr_assert_eq(json_array_size(got), 1);
    json_t *a = json_array_get(sent, 0), *b = json_array_get(got, 0);
    static const char *const same[] = {"event_id", "event", "source", "install_id"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        cr_assert_str_eq(json_string_value(json_object_get(a, same[i])), json_string_value(json_object_get(b, same[i])),
                         "%s", same[i]);
    cr_assert(json_equal(json_object_get(a, "properties"), json_object_get(b, "properties")));
    cr_assert_eq(json_integer_value(json_object_get(a, "occurred_at")), cli_time_ms(json_object_get(b, "occurred_at")),
                 "the time the client filled in");
    json_decref(sent);
    json_decref(got);
}

Test(cli_telemetry, debug_never_shows_a_credential)
{
    char body[256];
    snprintf(body, sizeof body, "{\"tenant_id\":\"%s\",\"user_id\":\"user-1\",\"op\":\"ASSIGNED\"}", TALLY_TEST_TENANT);
    const char *e[] = {"TALLY_API_KEY=" TALLY_TEST_API_KEY, NULL};
    const char *args[] = {gateway_flag, "--debug", "send", "seat", body, NULL};
    cli_result_t r = cli_run(&env, NULL, e, args);
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.err, "> Authorization: Bearer (hidden: the API key)"));
    cr_assert_null(strstr(r.err, TALLY_TEST_API_KEY), "the key never shows");
    cli_result_free(&r);
}

Test(cli_telemetry, dry_run_prints_and_sends_spools_records_nothing)
{
    const char *args[] = {gateway_flag, "--dry-run", "send", "product", "{\"event\":\"deploy.start\"}", NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, args);
    cr_assert_eq(r.status, 0);
    json_t *sent = cli_sent_events(r.out);
    cr_assert_eq(json_array_size(sent), 1, "the request is printed on stdout: %s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(sent, 0), "event")), "deploy.start");
    json_decref(sent);
    cli_result_free(&r);
    cr_assert_eq(cli_gateway_requests(&gw, PRODUCT_ROUTE), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/tally/config.json", env.config);
    cr_assert_neq(access(path, F_OK), 0, "nothing recorded: the notice shows again on a real run");
    snprintf(path, sizeof path, "%s/tally", env.state);
    cr_assert_neq(access(path, F_OK), 0, "no spool written");
}

Test(cli_telemetry, bad_input_fails_clearly_and_sends_nothing)
{
    static const struct {
        const char *kind, *input, *message;
    } cases[] = {
        {"product", "{\"event\": \"deploy.start\"", "invalid JSON"},
        {"product", "{\"event\":\"deploy.start\"}\n{\"event\": }\n", "line 2"},
        {"product", "[{\"event\":\"deploy.start\"}, 42]", "item 1 of the array is not a JSON object"},
        {"product", "{\"properties\":{}}", "missing key \"event\""},
        {"product", "{\"event\":\"deploy.start\",\"event_id\":\"not-a-uuid\"}", "must be a UUID"},
        {"product", "", "empty: no event"},
        {"seat", "{\"tenant_id\":\"t\",\"user_id\":\"u\"}", "missing key \"op\""},
        {"usage", "{\"tenant_id\":\"t\",\"environment_id\":\"e\"}", "missing key \"reporter_id\""},
        {"controlpanel", "{\"tenant_id\":\"t\"}", "missing key \"payload\""},
        {"products", "{}", "unknown kind \"products\""},
    };
    const char *e[] = {"TALLY_API_KEY=" TALLY_TEST_API_KEY, "TALLY_ADMIN_TOKEN=" TALLY_TEST_ADMIN_TOKEN, NULL};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {gateway_flag, "send", cases[i].kind, NULL};
        cli_result_t r = cli_run(&env, cases[i].input, e, args); /* from stdin */
        cr_assert_eq(r.status, 2, "case %zu: exit 2", i);
        cr_assert_not_null(strstr(r.err, cases[i].message), "case %zu: %s", i, r.err);
        cli_result_free(&r);
    }
    /* Credentials and commands. */
    const char *seat[] = {gateway_flag, "send", "seat", "{\"tenant_id\":\"t\",\"user_id\":\"u\",\"op\":\"ASSIGNED\"}", NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, seat);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "--api-key or TALLY_API_KEY"));
    cli_result_free(&r);
    const char *none[] = {gateway_flag, NULL};
    r = cli_run(&env, NULL, NULL, none);
    cr_assert_eq(r.status, 2);
    cli_result_free(&r);
    const char *flag[] = {"--no-such-flag", "flush", NULL};
    r = cli_run(&env, NULL, NULL, flag);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "unknown flag"));
    cli_result_free(&r);
    cr_assert_eq(cli_gateway_requests(&gw, PRODUCT_ROUTE), 0, "nothing was sent");
    cr_assert_eq(cli_gateway_requests(&gw, "/v1/usage/seats"), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/tally/spool", env.state);
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            cr_assert_neq(strncmp(de->d_name, "seg-", 4), 0, "nothing was spooled");
        closedir(d);
    }
}

Test(cli_telemetry, events_the_gateway_rejects_are_reported_and_dropped)
{
    const char *args[] = {gateway_flag, "send", "product",
                          "[{\"event\":\"deploy.start\"},{\"event\":\"no.such.event\"}]", NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, args);
    cr_assert_eq(r.status, 3, "exit 3: an event was rejected");
    cr_assert_not_null(strstr(r.err, "rejected by the gateway (event: not an event of the catalog); dropped"), "%s",
                       r.err);
    cli_result_free(&r);
    const char *spool[] = {"spool", NULL};
    r = cli_run(&env, NULL, NULL, spool);
    cr_assert_eq(cli_spool_events(r.out), 0, "a rejected event is not retried");
    cli_result_free(&r);
    json_t *got = product_events(1, 1500);
    cr_assert_eq(json_array_size(got), 1, "the good one of the batch went through");
    json_decref(got);
}
