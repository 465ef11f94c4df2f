/* Unit tests of consumers/notifier/alert_record: a tally_alert_t becomes a
 * UsageAlert record that the codec reads back field for field, with and
 * without an environment. */
#include "alert_record.h"
#include "codec.h"
#include "fixtures.h"

#include <criterion/criterion.h>
#include <string.h>

static void round_trip(const tally_catalog_t *cat, tally_alert_encoder_t *enc, const tally_alert_t *a)
{
    char err[512];
    const void *buf;
    size_t len;
    cr_assert_eq(tally_alert_encode(enc, a, &buf, &len, err, sizeof err), 0, "%s", err);
    tally_decoder_t *dec = tally_decoder_new_any(cat);
    avro_value_t *v, f, b;
    const tally_catalog_entry_t *w;
    const char *s;
    size_t sz;
    int idx;
    int32_t t;
    int64_t x;
    cr_assert_eq(tally_decoder_decode(dec, buf, len, &v, &w, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(w->name, "UsageAlert");
    cr_assert_eq(avro_value_get_by_name(v, "alert_id", &f, NULL), 0);
    cr_assert_eq(avro_value_get_string(&f, &s, &sz), 0);
    cr_assert_str_eq(s, a->alert_id);
    cr_assert_eq(avro_value_get_by_name(v, "tenant_id", &f, NULL), 0);
    cr_assert_eq(avro_value_get_string(&f, &s, &sz), 0);
    cr_assert_str_eq(s, a->tenant);
    cr_assert_eq(avro_value_get_by_name(v, "environment_id", &f, NULL), 0);
    cr_assert_eq(avro_value_get_current_branch(&f, &b), 0);
    if (a->environment == NULL) {
        cr_assert_eq(avro_value_get_type(&b), AVRO_NULL);
    } else {
        cr_assert_eq(avro_value_get_string(&b, &s, &sz), 0);
        cr_assert_str_eq(s, a->environment);
    }
    cr_assert_eq(avro_value_get_by_name(v, "metric", &f, NULL), 0);
    cr_assert_eq(avro_value_get_enum(&f, &idx), 0);
    cr_assert_str_eq(avro_schema_enum_get(avro_value_get_schema(&f), idx), tally_alert_metric_name(a->metric));
    cr_assert_eq(avro_value_get_by_name(v, "state", &f, NULL), 0);
    cr_assert_eq(avro_value_get_enum(&f, &idx), 0);
    cr_assert_str_eq(avro_schema_enum_get(avro_value_get_schema(&f), idx), tally_alert_state_name(a->state));
    cr_assert_eq(avro_value_get_by_name(v, "threshold", &f, NULL), 0);
    cr_assert_eq(avro_value_get_int(&f, &t), 0);
    cr_assert_eq(t, a->threshold);
    cr_assert_eq(avro_value_get_by_name(v, "value", &f, NULL), 0);
    cr_assert_eq(avro_value_get_long(&f, &x), 0);
    cr_assert_eq(x, a->value);
    cr_assert_eq(avro_value_get_by_name(v, "limit", &f, NULL), 0);
    cr_assert_eq(avro_value_get_long(&f, &x), 0);
    cr_assert_eq(x, a->limit);
    cr_assert_eq(avro_value_get_by_name(v, "at", &f, NULL), 0);
    cr_assert_eq(avro_value_get_long(&f, &x), 0);
    cr_assert_eq(x, a->at);
    cr_assert_eq(avro_value_get_by_name(v, "period", &f, NULL), 0);
    cr_assert_eq(avro_value_get_string(&f, &s, &sz), 0);
    cr_assert_str_eq(s, a->period);
    tally_decoder_free(dec);
}

Test(alert_record, every_field_round_trips_with_and_without_an_environment)
{
    char err[512];
    tally_catalog_t *cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    tally_alert_encoder_t *enc = tally_alert_encoder_new(cat, err, sizeof err);
    cr_assert_not_null(enc, "%s", err);
    tally_alert_t a = {.alert_id = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0", .tenant = "t1", .environment = NULL,
                       .metric = TALLY_ALERT_SEATS_PEAK, .threshold = 100, .value = INT64_MAX, .limit = 0,
                       .period = "2026-12", .state = TALLY_ALERT_RESOLVED, .crossing_no = 2, .at = 1765000000123};
    round_trip(cat, enc, &a);
    a.environment = "dev";
    a.metric = TALLY_ALERT_NONPROD_DAILY_API_CALLS;
    a.state = TALLY_ALERT_TRIGGERED;
    snprintf(a.period, sizeof a.period, "2026-12-31");
    round_trip(cat, enc, &a);
    a.environment = NULL;
    a.metric = TALLY_ALERT_MONTHLY_API_CALLS;
    round_trip(cat, enc, &a);   /* the reused value carries nothing over */
    tally_alert_encoder_free(enc);
    tally_catalog_free(cat);
}
