/* producers/client/reporter: counter lines parsed strictly, increments and
 * absolute totals applied without ever going backwards or overflowing,
 * reports carrying the totals with a growing seq, and the state surviving
 * a save and load. */
#include "reporter.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char err[256];

static void parse(const char *line, tally_counters_t *c, unsigned *mask)
{
    cr_assert_eq(tally_counters_parse(line, strlen(line), c, mask, err, sizeof err), 0, "%s: %s", line, err);
}

static void parse_fails(const char *line, const char *message)
{
    tally_counters_t c;
    unsigned mask;
    cr_assert_eq(tally_counters_parse(line, strlen(line), &c, &mask, err, sizeof err), -1, "%s", line);
    cr_assert_not_null(strstr(err, message), "%s: %s", line, err);
}

Test(reporter, counter_lines)
{
    tally_counters_t c;
    unsigned mask;
    parse("api_calls=10 status_4xx=1 status_5xx=0 exec_ms=1234", &c, &mask);
    cr_assert_eq(mask, 0xfu);
    cr_assert_eq(c.api_calls, 10);
    cr_assert_eq(c.status_4xx, 1);
    cr_assert_eq(c.exec_ms, 1234);
    parse("  exec_ms=5,api_calls=2\r", &c, &mask);
    cr_assert_eq(mask, TALLY_COUNTER_EXEC_MS | TALLY_COUNTER_API_CALLS);
    cr_assert_eq(c.api_calls, 2);
    parse("", &c, &mask);
    cr_assert_eq(mask, 0);
    parse("# api_calls=5", &c, &mask);
    cr_assert_eq(mask, 0, "a comment");
}

Test(reporter, bad_counter_lines)
{
    parse_fails("calls=1", "unknown counter \"calls\"");
    parse_fails("api_calls", "expected api_calls=<count>");
    parse_fails("api_calls=", "not a non-negative integer");
    parse_fails("api_calls=-3", "not a non-negative integer");
    parse_fails("api_calls=1.5", "not a non-negative integer");
    parse_fails("api_calls=99999999999999999999", "too large");
    parse_fails("api_calls=1 api_calls=2", "given twice");
}

static tally_reporter_t fresh(void)
{
    tally_reporter_t r;
    tally_reporter_init(&r, "tenant-1", "env-1", 1000);
    return r;
}

Test(reporter, increments_add_up)
{
    tally_reporter_t r = fresh();
    tally_counters_t c = {.api_calls = 10, .status_4xx = 2, .exec_ms = 50};
    cr_assert_eq(tally_reporter_apply(&r, &c, 0xf, false, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tally_reporter_apply(&r, &c, TALLY_COUNTER_API_CALLS, false, err, sizeof err), 0);
    cr_assert_eq(r.totals.api_calls, 20);
    cr_assert_eq(r.totals.status_4xx, 2, "only the fields present");
    cr_assert_eq(r.totals.exec_ms, 50);
}

Test(reporter, impossible_totals_change_nothing)
{
    tally_reporter_t r = fresh();
    tally_counters_t c = {.api_calls = 5, .status_4xx = 3};
    cr_assert_eq(tally_reporter_apply(&r, &c, 0x3, false, err, sizeof err), 0);
    tally_counters_t more = {.status_5xx = 3};
    cr_assert_eq(tally_reporter_apply(&r, &more, TALLY_COUNTER_STATUS_5XX, false, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "exceed api_calls"));
    cr_assert_eq(r.totals.status_5xx, 0);
    r.totals.exec_ms = INT64_MAX - 1;
    tally_counters_t big = {.exec_ms = 2};
    cr_assert_eq(tally_reporter_apply(&r, &big, TALLY_COUNTER_EXEC_MS, false, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "overflow"));
    cr_assert_eq(r.totals.exec_ms, INT64_MAX - 1);
}

Test(reporter, absolute_totals_only_grow)
{
    tally_reporter_t r = fresh();
    tally_counters_t c = {.api_calls = 100, .status_4xx = 5};
    cr_assert_eq(tally_reporter_apply(&r, &c, 0x3, true, err, sizeof err), 0);
    cr_assert_eq(r.totals.api_calls, 100);
    tally_counters_t back = {.api_calls = 99};
    cr_assert_eq(tally_reporter_apply(&r, &back, TALLY_COUNTER_API_CALLS, true, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "--reset"));
    cr_assert_eq(r.totals.api_calls, 100);
    tally_counters_t same = {.api_calls = 100};
    cr_assert_eq(tally_reporter_apply(&r, &same, TALLY_COUNTER_API_CALLS, true, err, sizeof err), 0);
}

Test(reporter, reports_carry_totals_and_a_growing_seq)
{
    tally_reporter_t r = fresh();
    r.totals.api_calls = 7;
    json_t *a = tally_reporter_next_report(&r, 2000), *b = tally_reporter_next_report(&r, 3000);
    cr_assert_eq(json_integer_value(json_object_get(a, "seq")), 1);
    cr_assert_eq(json_integer_value(json_object_get(b, "seq")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(a, "reporter_id")), r.reporter_id);
    cr_assert_eq(json_integer_value(json_object_get(a, "reporter_started_at")), 1000);
    cr_assert_eq(json_integer_value(json_object_get(b, "observed_at")), 3000);
    cr_assert_eq(json_integer_value(json_object_get(b, "api_calls")), 7);
    cr_assert_str_eq(json_string_value(json_object_get(b, "tenant_id")), "tenant-1");
    cr_assert_str_eq(json_string_value(json_object_get(b, "environment_id")), "env-1");
    json_decref(a);
    json_decref(b);
}

Test(reporter, state_survives_save_and_load)
{
    char dir[64], path[128];
    snprintf(dir, sizeof dir, "/tmp/tally-test-reporter-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/sub/reporter.json", dir);
    tally_reporter_t r = fresh(), back;
    cr_assert_eq(tally_reporter_load(path, &back, err, sizeof err), TALLY_REPORTER_NONE);
    r.seq = 41;
    r.totals = (tally_counters_t){.api_calls = 1000, .status_4xx = 10, .status_5xx = 2, .exec_ms = 99999};
    snprintf(r.counter_file, sizeof r.counter_file, "/var/log/cms/counters");
    r.counter_file_ino = 1234;
    r.counter_file_offset = 567;
    cr_assert_eq(tally_reporter_save(path, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tally_reporter_load(path, &back, err, sizeof err), 0, "%s", err);
    cr_assert_eq(memcmp(&back.totals, &r.totals, sizeof r.totals), 0);
    cr_assert_str_eq(back.reporter_id, r.reporter_id);
    cr_assert_eq(back.started_at_ms, 1000);
    cr_assert_eq(back.seq, 41);
    cr_assert_str_eq(back.counter_file, "/var/log/cms/counters");
    cr_assert_eq(back.counter_file_ino, 1234);
    cr_assert_eq(back.counter_file_offset, 567);

    FILE *f = fopen(path, "w");
    fputs("{\"reporter_id\":\"not-a-uuid\"}", f);
    fclose(f);
    cr_assert_eq(tally_reporter_load(path, &back, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "reporter_id"), "%s", err);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
