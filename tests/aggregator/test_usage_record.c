/* Unit tests of aggregator/usage_record: UsageReport and SeatEventClean
 * values of the real schemas in schemas/ read into the rollup input, and
 * what is refused (another schema, a string holding a NUL). */
#include "usage_record.h"

#include "avro_fields.h"
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "schema_catalog.h"

TestSuite(usage_record);

static tally_catalog_t *load(void)
{
    char dir[1024], err[512];
    cr_assert_not_null(getenv("TALLY_SOURCE_DIR"), "TALLY_SOURCE_DIR is not set");
    snprintf(dir, sizeof dir, "%s/schemas", getenv("TALLY_SOURCE_DIR"));
    tally_catalog_t *cat = tally_catalog_load(dir, err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    return cat;
}

Test(usage_record, reads_a_usage_report)
{
    tally_catalog_t *cat = load();
    const tally_catalog_entry_t *s = tally_catalog_latest(cat, "UsageReport");
    avro_value_t v;
    char err[256];
    tally_usage_record_t rec;

    cr_assert_eq(tally_codec_value_new(s, &v, err, sizeof err), 0, "%s", err);
    tally_test_avro_set_string(&v, "tenant_id", "acme");
    tally_test_avro_set_string(&v, "environment_id", "prod");
    tally_test_avro_set_string(&v, "reporter_id", "3f0e9a53-46a4-4c1e-9a7e-0d6c1e2b9f10");
    tally_test_avro_set_long(&v, "reporter_started_at", 1714521000000);
    tally_test_avro_set_long(&v, "seq", 17);
    tally_test_avro_set_long(&v, "observed_at", 1714521600000);
    tally_test_avro_set_long(&v, "api_calls", 1200);
    tally_test_avro_set_long(&v, "status_4xx", 30);
    tally_test_avro_set_long(&v, "status_5xx", 2);
    tally_test_avro_set_long(&v, "exec_ms", 98765);
    cr_assert_eq(tally_usage_record_read(s->name, &v, &rec, err, sizeof err), 0, "%s", err);
    cr_assert_eq(rec.kind, TALLY_USAGE_RECORD_REPORT);
    cr_assert_str_eq(rec.report.tenant_id, "acme");
    cr_assert_str_eq(rec.report.environment_id, "prod");
    cr_assert_str_eq(rec.report.reporter_id, "3f0e9a53-46a4-4c1e-9a7e-0d6c1e2b9f10");
    cr_assert_eq(rec.report.seq, 17);
    cr_assert_eq(rec.report.observed_at, 1714521600000);
    cr_assert_eq(rec.report.api_calls, 1200);
    cr_assert_eq(rec.report.status_4xx, 30);
    cr_assert_eq(rec.report.status_5xx, 2);
    cr_assert_eq(rec.report.exec_ms, 98765);

    tally_rollup_config_t c = {.open_days = 35};
    tally_rollup_t *r = tally_rollup_new(&c, err, sizeof err);
    cr_assert(r, "%s", err);
    cr_assert_eq(tally_usage_record_apply(r, &rec), TALLY_ROLLUP_APPLIED);
    tally_api_rollup_t a;
    cr_assert(tally_rollup_get_api(r, "acme", "prod", 19844, &a));
    cr_assert_eq(a.api_calls, 1200);
    tally_rollup_free(r);

    /* A string holding a NUL would silently become another id: refused. */
    avro_value_t f;
    cr_assert_eq(avro_value_get_by_name(&v, "tenant_id", &f, NULL), 0);
    cr_assert_eq(avro_value_set_string_len(&f, "ac\0me", 6), 0);
    cr_assert_eq(tally_usage_record_read(s->name, &v, &rec, err, sizeof err), -1);
    cr_assert(strstr(err, "tenant_id"), "%s", err);
    /* The right value under the wrong name. */
    cr_assert_eq(tally_usage_record_read("SeatEventClean", &v, &rec, err, sizeof err), -1);
    cr_assert_eq(tally_usage_record_read("ProductEvent", &v, &rec, err, sizeof err), -1);
    cr_assert(strstr(err, "not a usage record"), "%s", err);
    avro_value_decref(&v);
    tally_catalog_free(cat);
}

Test(usage_record, reads_a_seat_event)
{
    tally_catalog_t *cat = load();
    const tally_catalog_entry_t *s = tally_catalog_latest(cat, "SeatEventClean");
    avro_value_t v, f;
    char err[256];
    tally_usage_record_t rec;

    cr_assert_eq(tally_codec_value_new(s, &v, err, sizeof err), 0, "%s", err);
    tally_test_avro_set_string(&v, "event_id", "0b7f4c8e-2d6a-4f0b-8e1c-5a9d3b7e6f21");
    tally_test_avro_set_string(&v, "tenant_id", "acme");
    tally_test_avro_set_string(&v, "seat_ref", "k1:pseudonym");
    tally_test_avro_set_long(&v, "occurred_at", 1714521600001);
    cr_assert_eq(avro_value_get_by_name(&v, "op", &f, NULL), 0);
    cr_assert_eq(avro_value_set_enum(&f, 1), 0);
    cr_assert_eq(tally_usage_record_read(s->name, &v, &rec, err, sizeof err), 0, "%s", err);
    cr_assert_eq(rec.kind, TALLY_USAGE_RECORD_SEAT);
    cr_assert_str_eq(rec.seat.event_id, "0b7f4c8e-2d6a-4f0b-8e1c-5a9d3b7e6f21");
    cr_assert_str_eq(rec.seat.tenant_id, "acme");
    cr_assert_str_eq(rec.seat.seat_ref, "k1:pseudonym");
    cr_assert_eq(rec.seat.op, TALLY_SEAT_RELEASED);
    cr_assert_eq(rec.seat.occurred_at, 1714521600001);
    cr_assert_eq(avro_value_set_enum(&f, 0), 0);
    cr_assert_eq(tally_usage_record_read(s->name, &v, &rec, err, sizeof err), 0, "%s", err);
    cr_assert_eq(rec.seat.op, TALLY_SEAT_ASSIGNED);
    /* A UsageReport reader finds no such fields. */
    cr_assert_eq(tally_usage_record_read("UsageReport", &v, &rec, err, sizeof err), -1);
    avro_value_decref(&v);
    tally_catalog_free(cat);
}
