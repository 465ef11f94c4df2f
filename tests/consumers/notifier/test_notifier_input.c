/* Unit tests of consumers/notifier/notifier_input: rollups and Control
 * Panel events reach the crossing core; what is not for the notifier is
 * ignored; what cannot be read is refused and changes nothing. */
#include "codec.h"
#include "fixtures.h"
#include "notifier_input.h"
#include "timeutil.h"

#include <criterion/criterion.h>
#include <string.h>

typedef struct {
    tally_catalog_t *cat;
    tally_notifier_input_t *in;
    tally_crossing_t *cx;
    tally_alert_list_t out;
} fx_t;

static fx_t fx;

static void setup(void)
{
    char err[512];
    tally_alert_rules_t r = {.n = {3, 1, 1}, .percent = {{80, 100, 150}, {100}, {100}}};
    fx.cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(fx.cat, "%s", err);
    fx.in = tally_notifier_input_new(fx.cat, err, sizeof err);
    cr_assert_not_null(fx.in, "%s", err);
    fx.cx = tally_crossing_new(&r);
    memset(&fx.out, 0, sizeof fx.out);
}

static void teardown(void)
{
    tally_alert_list_free(&fx.out);
    tally_crossing_free(fx.cx);
    tally_notifier_input_free(fx.in);
    tally_catalog_free(fx.cat);
}

TestSuite(notifier_input, .init = setup, .fini = teardown);

static avro_value_t value_of(const char *name)
{
    char err[512];
    avro_value_t v;
    cr_assert_eq(tally_codec_value_new(tally_catalog_latest(fx.cat, name), &v, err, sizeof err), 0, "%s", err);
    return v;
}

static void set(avro_value_t *rec, const char *field, const char *s, int64_t n)
{
    avro_value_t f;
    cr_assert_eq(avro_value_get_by_name(rec, field, &f, NULL), 0, "%s", field);
    if (s != NULL)
        cr_assert_eq(avro_value_set_string(&f, s), 0);
    else if (avro_value_get_type(&f) == AVRO_INT32)
        cr_assert_eq(avro_value_set_int(&f, (int32_t)n), 0);
    else
        cr_assert_eq(avro_value_set_long(&f, n), 0);
}

/* Encodes v (released) into buf; returns its length. */
static size_t encode(const char *name, avro_value_t *v, char *buf, size_t size)
{
    char err[512];
    const void *out;
    size_t len;
    tally_encoder_t *enc = tally_encoder_new(tally_catalog_latest(fx.cat, name));
    cr_assert_eq(tally_encoder_encode(enc, v, &out, &len, err, sizeof err), 0, "%s", err);
    cr_assert(len <= size);
    memcpy(buf, out, len);
    tally_encoder_free(enc);
    avro_value_decref(v);
    return len;
}

static size_t cp_event(const char *kind, void (*fill)(avro_value_t *b), char *buf, size_t size)
{
    avro_value_t v = value_of("ControlPanelEvent"), f, b;
    int idx;
    set(&v, "event_id", "00000000-0000-4000-8000-000000000001", 0);
    set(&v, "tenant_id", "t1", 0);
    set(&v, "occurred_at", NULL, 1000);
    set(&v, "received_at", NULL, 1000);
    cr_assert_eq(avro_value_get_by_name(&v, "payload", &f, NULL), 0);
    cr_assert_not_null(avro_schema_union_branch_by_name(avro_value_get_schema(&f), &idx, kind));
    cr_assert_eq(avro_value_set_branch(&f, idx, &b), 0);
    fill(&b);
    return encode("ControlPanelEvent", &v, buf, size);
}

static void terms_fill(avro_value_t *b)
{
    set(b, "seats_max", NULL, 10);
    set(b, "monthly_api_calls_max", NULL, 1000);
    set(b, "daily_api_calls_max_nonprod", NULL, 100);
    set(b, "valid_from", NULL, tally_days_from_civil(2026, 12, 1));
    set(b, "valid_until", NULL, tally_days_from_civil(2027, 11, 30));
}

static void bad_terms_fill(avro_value_t *b)
{
    terms_fill(b);
    set(b, "valid_until", NULL, tally_days_from_civil(2026, 11, 30));   /* before valid_from */
}

static void rules_fill(avro_value_t *b)
{
    avro_value_t arr, item;
    cr_assert_eq(avro_value_get_by_name(b, "api_calls_percent", &arr, NULL), 0);
    cr_assert_eq(avro_value_append(&arr, &item, NULL), 0);
    cr_assert_eq(avro_value_set_int(&item, 50), 0);
}

static void bad_rules_fill(avro_value_t *b)
{
    avro_value_t arr, item;
    cr_assert_eq(avro_value_get_by_name(b, "seats_percent", &arr, NULL), 0);
    cr_assert_eq(avro_value_append(&arr, &item, NULL), 0);
    cr_assert_eq(avro_value_set_int(&item, 0), 0);
}

static void member_fill(avro_value_t *b)
{
    set(b, "member_id", "m1", 0);
}

static size_t api_rollup(int64_t calls, char *buf, size_t size)
{
    avro_value_t v = value_of("ApiUsageRollup");
    set(&v, "tenant_id", "t1", 0);
    set(&v, "environment_id", "prod", 0);
    set(&v, "day", NULL, tally_days_from_civil(2026, 12, 3));
    set(&v, "api_calls", NULL, calls);
    set(&v, "updated_at", NULL, 77);
    return encode("ApiUsageRollup", &v, buf, size);
}

Test(notifier_input, terms_rules_and_rollups_reach_the_crossing_core)
{
    char buf[2048], err[512];
    size_t len = cp_event("LicenseTermsSet", terms_fill, buf, sizeof buf);
    cr_assert_eq(tally_notifier_input_controlpanel(fx.in, fx.cx, buf, len, &fx.out, err, sizeof err),
                 TALLY_INPUT_APPLIED, "%s", err);
    len = api_rollup(600, buf, sizeof buf);
    cr_assert_eq(tally_notifier_input_rollup(fx.in, fx.cx, buf, len, &fx.out, err, sizeof err), TALLY_INPUT_APPLIED,
                 "%s", err);
    cr_assert_eq(fx.out.count, 0, "60 %% of the default thresholds: nothing");
    len = cp_event("AlertRulesSet", rules_fill, buf, sizeof buf);
    cr_assert_eq(tally_notifier_input_controlpanel(fx.in, fx.cx, buf, len, &fx.out, err, sizeof err),
                 TALLY_INPUT_APPLIED, "%s", err);
    cr_assert_eq(fx.out.count, 1, "the tenant's 50 %% threshold is reached at once");
    cr_assert_eq(fx.out.items[0].threshold, 50);
    cr_assert_eq(fx.out.items[0].at, 1000, "at the rule event's time");
    len = cp_event("MemberRemoved", member_fill, buf, sizeof buf);
    cr_assert_eq(tally_notifier_input_controlpanel(fx.in, fx.cx, buf, len, &fx.out, err, sizeof err),
                 TALLY_INPUT_IGNORED);
}

Test(notifier_input, what_cannot_be_read_is_refused_and_changes_nothing)
{
    char buf[2048], err[512];
    size_t len = cp_event("LicenseTermsSet", terms_fill, buf, sizeof buf);
    cr_assert_eq(tally_notifier_input_controlpanel(fx.in, fx.cx, buf, len, &fx.out, err, sizeof err), 0);
    len = cp_event("LicenseTermsSet", bad_terms_fill, buf, sizeof buf);
    cr_assert_eq(tally_notifier_input_controlpanel(fx.in, fx.cx, buf, len, &fx.out, err, sizeof err), -1);
    cr_assert(strstr(err, "LicenseTermsSet") != NULL, "%s", err);
    len = cp_event("AlertRulesSet", bad_rules_fill, buf, sizeof buf);
    cr_assert_eq(tally_notifier_input_controlpanel(fx.in, fx.cx, buf, len, &fx.out, err, sizeof err), -1);
    len = api_rollup(900, buf, sizeof buf);
    cr_assert_eq(tally_notifier_input_rollup(fx.in, fx.cx, buf, len - 1, &fx.out, err, sizeof err), -1);
    cr_assert_eq(tally_notifier_input_rollup(fx.in, fx.cx, "garbage", 7, &fx.out, err, sizeof err), -1);
    /* A Control Panel event on the rollups topic is not a rollup. */
    size_t cl = cp_event("MemberRemoved", member_fill, buf, sizeof buf);
    cr_assert_eq(tally_notifier_input_rollup(fx.in, fx.cx, buf, cl, &fx.out, err, sizeof err), -1);
    cr_assert(strstr(err, "not a rollup") != NULL, "%s", err);
    cr_assert_eq(fx.out.count, 0);
    /* The terms in force are still the good ones: 900 of 1000 is 80 %. */
    len = api_rollup(900, buf, sizeof buf);
    cr_assert_eq(tally_notifier_input_rollup(fx.in, fx.cx, buf, len, &fx.out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(fx.out.count, 1);
    cr_assert_eq(fx.out.items[0].limit, 1000);
    cr_assert_eq(fx.out.items[0].at, 77);
}
