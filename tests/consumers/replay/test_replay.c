/* tally-replay on the real broker and PostgreSQL, black box: usage records
 * produced with the codec to unique topics go through the real pipeline
 * (tally-aggregator, then tally-materializer into a fresh database), then
 * the tally-replay binary audits, rebuilds and exports.
 *
 *   - a clean pipeline audits clean (exit 0), whole and per tenant;
 *   - rows altered, deleted or added by hand are found and named (tenant,
 *     environment, day, field, expected against materialized), exit 1;
 *   - usage records that were never materialized are found;
 *   - --from reads a warm-up before the window, compares whole days only,
 *     and flags what it cannot vouch for instead of failing;
 *   - clear errors: broker or database unreachable, missing topic, bad
 *     time or period, unknown tenant.
 *
 * Rebuild and swap are test_replay_rebuild.c's, export
 * test_replay_export.c's; replay_fixture.h holds what they share.
 */
#include "replay_fixture.h"

/* ---- audit -------------------------------------------------------------------- */

TestSuite(replay, .init = replay_setup, .fini = replay_teardown, .timeout = 240);

Test(replay, clean_pipeline_audits_clean)
{
    basic_usage(&P);
    pipe_run(&P);
    long long api = rows_in(&P, "api_usage_daily"), seats = rows_in(&P, "seat_usage_daily");
    cr_assert_gt(api, 8, "the pipeline materialized %lld API rows", api);
    cr_assert_gt(seats, 2);

    run_t r = REPLAY(&P, "audit");
    cr_assert_eq(r.status, 0, "audit of a clean pipeline: status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    cr_assert(strstr(r.out, "RESULT: identical"), "%s", r.out);
    run_free(&r);

    r = REPLAY(&P, "audit", "--json");
    cr_assert_eq(r.status, 0, "%s", r.log);
    json_t *j = parse_json(&r);
    cr_assert(json_is_true(json_object_get(j, "identical")));
    json_t *rows = json_object_get(j, "rows");
    cr_assert_eq(json_integer_value(json_object_get(rows, "recomputed")), api + seats);
    cr_assert_eq(json_integer_value(json_object_get(rows, "materialized")), api + seats);
    cr_assert_eq(json_integer_value(json_object_get(rows, "unverifiable")), 0);
    json_t *recs = json_object_get(j, "records");
    cr_assert_eq(json_integer_value(json_object_get(recs, "read")), (json_int_t)P.usage);
    cr_assert_eq(json_integer_value(json_object_get(recs, "duplicate")), 1);
    cr_assert_eq(json_integer_value(json_object_get(recs, "stale")), 1);
    json_decref(j);
    run_free(&r);

    r = REPLAY(&P, "audit", "--tenant", "globex", "--json");
    cr_assert_eq(r.status, 0, "%s", r.log);
    j = parse_json(&r);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "rows"), "materialized")),
                 mat_scalar(P.mat.conn, "SELECT (SELECT count(*) FROM tally.api_usage_daily WHERE tenant_id = "
                                        "'globex') + (SELECT count(*) FROM tally.seat_usage_daily WHERE tenant_id = "
                                        "'globex')"));
    json_decref(j);
    run_free(&r);
}

Test(replay, altered_rows_are_found_and_named)
{
    basic_usage(&P);
    pipe_run(&P);
    long long calls = mat_scalar(P.mat.conn, "SELECT api_calls FROM tally.api_usage_daily WHERE tenant_id = 'acme' "
                                             "AND environment_id = 'prod' AND day = '2024-03-02'");
    long long peak = mat_scalar(P.mat.conn, "SELECT seats_peak FROM tally.seat_usage_daily WHERE tenant_id = 'acme' "
                                            "AND day = '2024-03-01'");
    mat_exec(P.mat.conn, "UPDATE tally.api_usage_daily SET api_calls = api_calls + 7 WHERE tenant_id = 'acme' AND "
                         "environment_id = 'prod' AND day = '2024-03-02'");
    mat_exec(P.mat.conn, "DELETE FROM tally.seat_usage_daily WHERE tenant_id = 'acme' AND day = '2024-03-01'");
    mat_exec(P.mat.conn, "INSERT INTO tally.api_usage_daily VALUES ('globex', 'dev', '2024-03-03', 5, 0, 0, 9, "
                         "'2024-03-03T10:00:00Z', 0, 0)");

    run_t r = REPLAY(&P, "audit");
    cr_assert_eq(r.status, 1, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    char exp[32], act[32];
    snprintf(exp, sizeof exp, " %lld ", calls);
    snprintf(act, sizeof act, " %lld", calls + 7);
    cr_assert(LINE_WITH(r.out, "differs", "api_usage_daily", "acme", "prod", "2024-03-02", "api_calls", exp, act),
              "the altered value is named:\n%s", r.out);
    cr_assert(LINE_WITH(r.out, "missing", "seat_usage_daily", "acme", "2024-03-01", "seats_peak"), "%s", r.out);
    cr_assert(LINE_WITH(r.out, "unexpected", "api_usage_daily", "globex", "dev", "2024-03-03", "api_calls"), "%s",
              r.out);
    cr_assert(strstr(r.out, "RESULT: 3 row(s) differ"), "%s", r.out);
    run_free(&r);

    r = REPLAY(&P, "audit", "--json");
    cr_assert_eq(r.status, 1);
    json_t *j = parse_json(&r), *e, *m;
    cr_assert(json_is_false(json_object_get(j, "identical")));
    cr_assert_eq(json_array_size(json_object_get(j, "differences")), 3, "%s", r.out);
    json_t *d = find_diff(j, "differs", "acme", "prod", "2024-03-02");
    cr_assert_not_null(d, "%s", r.out);
    cr_assert_eq(json_array_size(json_object_get(d, "fields")), 1, "only api_calls differs: %s", r.out);
    diff_field(d, "api_calls", &e, &m);
    cr_assert_eq(json_integer_value(e), calls);
    cr_assert_eq(json_integer_value(m), calls + 7);
    d = find_diff(j, "missing", "acme", NULL, "2024-03-01");
    cr_assert_not_null(d, "%s", r.out);
    diff_field(d, "seats_peak", &e, &m);
    cr_assert_eq(json_integer_value(e), peak);
    cr_assert(json_is_null(m));
    cr_assert_not_null(find_diff(j, "unexpected", "globex", "dev", "2024-03-03"));
    json_decref(j);
    run_free(&r);

    /* Per tenant: only that tenant's differences. */
    r = REPLAY(&P, "audit", "--tenant", "globex", "--json");
    cr_assert_eq(r.status, 1);
    j = parse_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "differences")), 1, "%s", r.out);
    json_decref(j);
    run_free(&r);
}

Test(replay, records_never_materialized_are_found)
{
    basic_usage(&P);
    pipe_run(&P);
    long long calls = mat_scalar(P.mat.conn, "SELECT api_calls FROM tally.api_usage_daily WHERE tenant_id = "
                                             "'globex' AND environment_id = 'prod' AND day = '2024-03-03'");
    /* After the pipeline stopped: a new reporter's first report on a day
     * that has a row, and a report on a day that has none. */
    rep_t late;
    rep_init(&late, "globex", "prod", 77, AT(3, 20));
    late.seq = 1;
    late.c[0] = 50;
    send_report_raw(&P, &late, AT(3, 21), 0);
    rep_t fresh;
    rep_init(&fresh, "globex", "eu", 78, AT(6, 1));
    fresh.seq = 1;
    fresh.c[0] = 12;
    send_report_raw(&P, &fresh, AT(6, 2), 0);
    rd_kafka_flush(P.prod.rk, 30000);

    run_t r = REPLAY(&P, "audit", "--json");
    cr_assert_eq(r.status, 1, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    json_t *j = parse_json(&r), *e, *m;
    cr_assert_eq(json_array_size(json_object_get(j, "differences")), 2, "%s", r.out);
    json_t *d = find_diff(j, "differs", "globex", "prod", "2024-03-03");
    cr_assert_not_null(d, "%s", r.out);
    diff_field(d, "api_calls", &e, &m);
    cr_assert_eq(json_integer_value(e), calls + 50);
    cr_assert_eq(json_integer_value(m), calls);
    d = find_diff(j, "missing", "globex", "eu", "2024-03-06");
    cr_assert_not_null(d, "%s", r.out);
    diff_field(d, "api_calls", &e, &m);
    cr_assert_eq(json_integer_value(e), 12);
    json_decref(j);
    run_free(&r);
}

/* Twenty days, the record timestamps those of the events, so that
 * offsets-for-times finds them. */
static void long_usage(pipe_t *p)
{
    rep_t e, f, g;
    rep_init(&e, "initech", "prod", 11, AT(1, 0));
    rep_init(&f, "initech", "prod", 12, AT(1, 0));
    rep_init(&g, "umbrella", "prod", 13, AT(1, 0));
    for (int half = 0; half < 40; half++) {
        int day = 1 + half / 2, hour = half % 2 ? 18 : 6;
        int64_t at = AT(day, hour);
        send_report(p, &e, at, at, half);
        send_report(p, &g, at + 1000, at + 1000, half);
        /* f reports on day 1, is silent for two weeks, comes back on day 17:
         * the aggregator has expired it and counts its whole total again. */
        if (day == 1 || day == 17 || day == 18)
            send_report(p, &f, at + 2000, at + 2000, half);
    }
    send_seat(p, "initech", "seat-1", 21, 1, AT(2, 9), AT(2, 9));
    send_seat(p, "initech", "seat-2", 22, 1, AT(16, 9), AT(16, 9));
    rd_kafka_flush(p->prod.rk, 30000);
}

TestSuite(replay_from, .init = replay_setup_forever, .fini = replay_teardown, .timeout = 240);

Test(replay_from, from_time_compares_whole_days_after_a_warmup)
{
    long_usage(&P);
    pipe_run(&P);

    /* The default warm-up (9 days) starts the read on March 6: every
     * reporter has a baseline; f, back on day 17, had certainly expired. */
    run_t r = REPLAY(&P, "audit", "--from", "2024-03-15", "--json");
    cr_assert_eq(r.status, 0, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    json_t *j = parse_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "first_day")), "2024-03-15");
    size_t i;
    json_t *part;
    int partial = 0;
    json_array_foreach(json_object_get(j, "partitions"), i, part)
    {
        if (json_integer_value(json_object_get(part, "records")) > 0) {
            cr_assert(json_is_false(json_object_get(part, "whole")), "%s", r.out);
            cr_assert_gt(json_integer_value(json_object_get(part, "start")), 0);
            partial++;
        }
    }
    cr_assert_gt(partial, 0);
    cr_assert_lt(json_integer_value(json_object_get(json_object_get(j, "records"), "read")), (json_int_t)P.usage,
                 "the read starts after the beginning");
    /* Only the seat row of March 16 is out of reach (seat-1 dates from March 2). */
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "rows"), "unverifiable")), 1, "%s", r.out);
    json_decref(j);
    run_free(&r);

    /* A two-day warm-up does not vouch for f: its row of day 17 is flagged,
     * not reported as a difference. */
    r = REPLAY(&P, "audit", "--from", "2024-03-15T00:00:00Z", "--warmup", "48h", "--json");
    cr_assert_eq(r.status, 0, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    j = parse_json(&r);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "rows"), "unverifiable")), 2, "%s", r.out);
    json_decref(j);
    run_free(&r);

    /* Rows altered inside and before the window. */
    mat_exec(P.mat.conn, "UPDATE tally.api_usage_daily SET exec_ms = exec_ms + 1 WHERE tenant_id = 'umbrella' AND "
                         "day = '2024-03-16'");
    mat_exec(P.mat.conn, "UPDATE tally.api_usage_daily SET api_calls = 1 WHERE tenant_id = 'umbrella' AND "
                         "day = '2024-03-05'");
    r = REPLAY(&P, "audit", "--from", "2024-03-15", "--json");
    cr_assert_eq(r.status, 1, "%s", r.log);
    j = parse_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "differences")), 1, "%s", r.out);
    cr_assert_not_null(find_diff(j, "differs", "umbrella", "prod", "2024-03-16"), "%s", r.out);
    json_decref(j);
    run_free(&r);

    /* --from 12:00 starts at the next midnight; --to ends at the last one. */
    r = REPLAY(&P, "audit", "--from", "2024-03-14T12:00:00Z", "--to", "2024-03-16T06:00:00Z", "--json");
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.log);
    j = parse_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "first_day")), "2024-03-15");
    cr_assert_str_eq(json_string_value(json_object_get(j, "last_day")), "2024-03-15");
    json_decref(j);
    run_free(&r);

    /* The whole log finds both. */
    r = REPLAY(&P, "audit", "--json");
    cr_assert_eq(r.status, 1);
    j = parse_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "differences")), 2, "%s", r.out);
    cr_assert_not_null(find_diff(j, "differs", "umbrella", "prod", "2024-03-05"), "%s", r.out);
    json_decref(j);
    run_free(&r);
}

/* ---- errors ------------------------------------------------------------------------------ */

Test(replay, errors_are_clear)
{
    run_t r = REPLAY_BARE("--help");
    cr_assert_eq(r.status, 0);
    run_free(&r);

    char pg[512];
    snprintf(pg, sizeof pg, "--pg-url=%s", tally_test_pg_url(P.mat.db));
    mat_migrate(P.mat.conn);

    r = REPLAY_BARE("audit", "--brokers=127.0.0.1:1", "--connect-timeout=1s", pg);
    cr_assert_eq(r.status, 3, "%s", r.log);
    cr_assert(strstr(r.log, "cannot reach the Kafka broker at 127.0.0.1:1"), "%s", r.log);
    run_free(&r);

    r = REPLAY_BARE("audit", "--pg-url=postgresql://postgres@127.0.0.1:1/tally");
    cr_assert_eq(r.status, 3, "%s", r.log);
    cr_assert(strstr(r.log, "cannot connect to PostgreSQL"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "audit", "--usage-topic=replay.no.such.topic");
    cr_assert_eq(r.status, 3, "%s", r.log);
    cr_assert(strstr(r.log, "topic replay.no.such.topic does not exist"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "audit", "--tenant", "nobody");
    cr_assert_eq(r.status, 2, "%s", r.log);
    cr_assert(strstr(r.log, "unknown tenant nobody"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "export", "--tenant", "nobody", "--period", "2024-03");
    cr_assert_eq(r.status, 2, "%s", r.log);
    cr_assert(strstr(r.log, "unknown tenant nobody"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "audit", "--from", "2024-03-32");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.log, "bad time --from=2024-03-32"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "audit", "--from", "2024-03-10", "--to", "2024-03-01");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.log, "not before --to"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "export", "--tenant", "acme", "--period", "2024-13");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.log, "bad --period=2024-13"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "rebuild", "--schema", "tally");
    cr_assert_eq(r.status, 2);
    run_free(&r);

    r = REPLAY(&P, "replay");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.log, "unknown command"), "%s", r.log);
    run_free(&r);
}
