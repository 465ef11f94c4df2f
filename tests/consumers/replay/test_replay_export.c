/* tally-replay export on the real broker and PostgreSQL, black box
 * (replay_fixture.h): its totals equal the rollups' and its offset ranges
 * hold the records it names. */
#include "replay_fixture.h"

TestSuite(replay, .init = replay_setup, .fini = replay_teardown, .timeout = 240);

/* ---- export --------------------------------------------------------------------------- */

/* The usage records of the topic at partition, offsets first..last, that
 * are reports of tenant/env observed on day (or seat events of tenant on
 * day when env is NULL). */
static long long count_records(const agg_record_t *recs, size_t n, tally_decoder_t *dec, int partition,
                               long long first, long long last, const char *tenant, const char *env, int32_t day)
{
    long long count = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].partition != partition || recs[i].offset < first || recs[i].offset > last)
            continue;
        char err[256];
        avro_value_t *v;
        const tally_catalog_entry_t *w;
        tally_usage_record_t ur;
        cr_assert_eq(tally_decoder_decode(dec, recs[i].value, recs[i].len, &v, &w, err, sizeof err), 0, "%s", err);
        cr_assert_eq(tally_usage_record_read(w->name, v, &ur, err, sizeof err), 0, "%s", err);
        if (env != NULL && ur.kind == TALLY_USAGE_RECORD_REPORT && strcmp(ur.report.tenant_id, tenant) == 0 &&
            strcmp(ur.report.environment_id, env) == 0 && tally_utc_day(ur.report.observed_at) == day)
            count++;
        if (env == NULL && ur.kind == TALLY_USAGE_RECORD_SEAT && strcmp(ur.seat.tenant_id, tenant) == 0 &&
            tally_utc_day(ur.seat.occurred_at) == day)
            count++;
    }
    return count;
}

Test(replay, export_totals_equal_the_rollups_and_offsets_hold_the_records)
{
    basic_usage(&P);
    pipe_run(&P);
    run_t r = REPLAY(&P, "export", "--tenant", "acme", "--period", "2024-03", "--format", "json");
    cr_assert_eq(r.status, 0, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    json_t *j = parse_json(&r), *row;
    agg_record_t *recs;
    size_t n = agg_read_all(P.agg.usage, &recs), i;
    tally_decoder_t *dec = tally_decoder_new_any(P.cat);
    int api_rows = 0, seat_rows = 0, totals = 0;
    json_array_foreach(json_object_get(j, "rows"), i, row)
    {
        const char *kind = json_string_value(json_object_get(row, "kind"));
        const char *env = json_string_value(json_object_get(row, "environment_id"));
        cr_assert_str_eq(json_string_value(json_object_get(row, "check")), "ok", "%s", r.out);
        json_t *src = json_object_get(row, "source");
        if (strcmp(kind, "api") == 0 || strcmp(kind, "seats") == 0) {
            const char *day = json_string_value(json_object_get(row, "day"));
            int64_t d;
            cr_assert_eq(tally_date_parse(day, strlen(day), &d), 0);
            int seat = strcmp(kind, "seats") == 0;
            /* The figure is the materialized rollup's. */
            if (seat) {
                cr_assert_eq(json_integer_value(json_object_get(row, "seats_peak")),
                             mat_scalar(P.mat.conn, "SELECT seats_peak FROM tally.seat_usage_daily WHERE tenant_id = "
                                                    "'acme' AND day = '%s'", day));
                seat_rows++;
            } else {
                cr_assert_eq(json_integer_value(json_object_get(row, "api_calls")),
                             mat_scalar(P.mat.conn, "SELECT api_calls FROM tally.api_usage_daily WHERE tenant_id = "
                                                    "'acme' AND environment_id = '%s' AND day = '%s'", env, day));
                api_rows++;
            }
            /* The offsets name records of that key, at both ends, at
             * least as many as counted, all of them with those ignored. */
            cr_assert_str_eq(json_string_value(json_object_get(src, "topic")), P.agg.usage);
            int part = (int)json_integer_value(json_object_get(src, "partition"));
            long long first = json_integer_value(json_object_get(src, "first_offset"));
            long long last = json_integer_value(json_object_get(src, "last_offset"));
            long long records = json_integer_value(json_object_get(row, "records"));
            long long ignored = json_integer_value(json_object_get(row, "ignored"));
            const char *e = seat ? NULL : env;
            cr_assert_gt(records, 0);
            cr_assert_eq(count_records(recs, n, dec, part, first, first, "acme", e, (int32_t)d), 1, "%s %s", kind, day);
            cr_assert_eq(count_records(recs, n, dec, part, last, last, "acme", e, (int32_t)d), 1, "%s %s", kind, day);
            cr_assert_geq(count_records(recs, n, dec, part, first, last, "acme", e, (int32_t)d), records);
            cr_assert_eq(count_records(recs, n, dec, part, 0, LLONG_MAX, "acme", e, (int32_t)d), records + ignored,
                         "%s %s", kind, day);
        } else if (strcmp(kind, "api_total") == 0) {
            const char *where = strcmp(env, "*") == 0 ? "" : " AND environment_id = '";
            cr_assert_str_eq(json_string_value(json_object_get(row, "period")), "2024-03");
            static const char *const cols[] = {"api_calls", "status_4xx", "status_5xx", "exec_ms"};
            for (int c = 0; c < 4; c++)
                cr_assert_eq(json_integer_value(json_object_get(row, cols[c])),
                             mat_scalar(P.mat.conn, "SELECT sum(%s) FROM tally.api_usage_daily WHERE tenant_id = "
                                                    "'acme' AND day BETWEEN '2024-03-01' AND '2024-03-31'%s%s%s",
                                        cols[c], where, *where ? env : "", *where ? "'" : ""),
                             "%s total of %s", cols[c], env);
            totals++;
        } else {
            cr_assert_str_eq(kind, "seats_total");
            cr_assert_eq(json_integer_value(json_object_get(row, "seats_peak")),
                         mat_scalar(P.mat.conn, "SELECT max(seats_peak) FROM tally.seat_usage_daily WHERE tenant_id = "
                                                "'acme'"));
        }
    }
    cr_assert_eq(api_rows, mat_scalar(P.mat.conn, "SELECT count(*) FROM tally.api_usage_daily WHERE tenant_id = 'acme'"));
    cr_assert_eq(seat_rows, mat_scalar(P.mat.conn, "SELECT count(*) FROM tally.seat_usage_daily WHERE tenant_id = "
                                                   "'acme'"));
    cr_assert_eq(totals, 3, "prod, staging and all");
    tally_decoder_free(dec);
    agg_records_free(recs, n);
    json_decref(j);
    run_free(&r);

    /* CSV: a header and the same rows; the default is a table. */
    r = REPLAY(&P, "export", "--tenant", "acme", "--period", "2024-03", "--format", "csv");
    cr_assert_eq(r.status, 0, "%s", r.log);
    cr_assert_eq(strncmp(r.out, "kind,tenant_id,environment_id,day,api_calls,", 44), 0, "%s", r.out);
    cr_assert(LINE_WITH(r.out, "api,acme,prod,2024-03-02,"), "%s", r.out);
    cr_assert(LINE_WITH(r.out, "api_total,acme,*,2024-03,"), "%s", r.out);
    run_free(&r);
    r = REPLAY(&P, "export", "--tenant", "acme", "--period", "2024-03");
    cr_assert_eq(r.status, 0, "%s", r.log);
    cr_assert(LINE_WITH(r.out, "api", "acme", "staging", "2024-03-01", P.agg.usage, "ok"), "%s", r.out);
    run_free(&r);

    /* A figure altered in the read model is checked against the log. */
    mat_exec(P.mat.conn, "UPDATE tally.api_usage_daily SET api_calls = 0 WHERE tenant_id = 'acme' AND "
                         "environment_id = 'staging' AND day = '2024-03-01'");
    r = REPLAY(&P, "export", "--tenant", "acme", "--period", "2024-03", "--format", "csv");
    cr_assert_eq(r.status, 1, "%s", r.log);
    cr_assert(LINE_WITH(r.out, "api,acme,staging,2024-03-01,", ",differs"), "%s", r.out);
    run_free(&r);
}
