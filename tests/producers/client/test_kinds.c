/* producers/client/kinds: routes and credentials per kind; keys only the
 * sender knows are required, the rest is filled in; a client-assigned
 * event_id is a fresh UUID v4 per event and never overrides one given. */
#include "ids.h"
#include "kinds.h"

#include <criterion/criterion.h>
#include <string.h>

static char err[256];
static const tally_fill_t fill = {.now_ms = 1767225600000, .install_id = "inst-1", .new_user = true, .ci = true};

static json_t *obj(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    cr_assert_not_null(j, "%s", text);
    return j;
}

Test(kinds, names_routes_credentials)
{
    tally_kind_t k;
    cr_assert_eq(tally_kind_parse("seat", &k), 0);
    cr_assert_eq(k, TALLY_KIND_SEAT);
    cr_assert_str_eq(tally_kind_path(k), "/v1/usage/seats");
    cr_assert_eq(tally_kind_credential(TALLY_KIND_PRODUCT), TALLY_CREDENTIAL_NONE);
    cr_assert_eq(tally_kind_credential(TALLY_KIND_USAGE), TALLY_CREDENTIAL_API_KEY);
    cr_assert_eq(tally_kind_credential(TALLY_KIND_CONTROLPANEL), TALLY_CREDENTIAL_ADMIN_TOKEN);
    cr_assert_str_eq(tally_kind_path(TALLY_KIND_CONTROLPANEL), "/v1/controlpanel/events");
    cr_assert_eq(tally_kind_parse("Seat", &k), -1);
    cr_assert_eq(tally_kind_parse("", &k), -1);
}

Test(kinds, product_events_are_filled_in)
{
    json_t *e = obj("{\"event\":\"deploy.start\"}");
    cr_assert_eq(tally_kind_prepare(TALLY_KIND_PRODUCT, e, &fill, err, sizeof err), 0, "%s", err);
    cr_assert(tally_ids_is_uuid(json_string_value(json_object_get(e, "event_id"))));
    cr_assert_str_eq(json_string_value(json_object_get(e, "source")), "CLI");
    cr_assert_eq(json_integer_value(json_object_get(e, "occurred_at")), fill.now_ms);
    cr_assert_str_eq(json_string_value(json_object_get(e, "install_id")), "inst-1");
    cr_assert(json_is_true(json_object_get(e, "new_user")));
    cr_assert(json_is_true(json_object_get(e, "ci")));
    json_decref(e);
}

Test(kinds, given_values_win)
{
    json_t *e = obj("{\"event\":\"admin.started\",\"source\":\"ADMIN\",\"event_id\":\"0D9C3F3E-5A6B-4C7D-8E9F-0A1B2C3D4E5F\","
                    "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"install_id\":\"mine\",\"ci\":false}");
    cr_assert_eq(tally_kind_prepare(TALLY_KIND_PRODUCT, e, &fill, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(json_string_value(json_object_get(e, "event_id")), "0D9C3F3E-5A6B-4C7D-8E9F-0A1B2C3D4E5F");
    cr_assert_str_eq(json_string_value(json_object_get(e, "source")), "ADMIN");
    cr_assert_str_eq(json_string_value(json_object_get(e, "occurred_at")), "2026-01-01T00:00:00Z");
    cr_assert_str_eq(json_string_value(json_object_get(e, "install_id")), "mine");
    cr_assert_null(json_object_get(e, "new_user"), "new_user only goes with an install_id the client filled in");
    cr_assert(json_is_false(json_object_get(e, "ci")));
    json_decref(e);
}

Test(kinds, every_event_gets_its_own_id)
{
    json_t *a = obj("{\"tenant_id\":\"t\",\"user_id\":\"u\",\"op\":\"ASSIGNED\"}"), *b = json_deep_copy(a);
    cr_assert_eq(tally_kind_prepare(TALLY_KIND_SEAT, a, &fill, err, sizeof err), 0);
    cr_assert_eq(tally_kind_prepare(TALLY_KIND_SEAT, b, &fill, err, sizeof err), 0);
    const char *ia = json_string_value(json_object_get(a, "event_id")),
               *ib = json_string_value(json_object_get(b, "event_id"));
    cr_assert(tally_ids_is_uuid(ia));
    cr_assert_str_neq(ia, ib);
    cr_assert_eq(ia[14], '4', "version 4");
    cr_assert(strchr("89ab", ia[19]) != NULL, "RFC 4122 variant");
    cr_assert_eq(json_integer_value(json_object_get(a, "occurred_at")), fill.now_ms);
    json_decref(a);
    json_decref(b);
}

Test(kinds, usage_reports_get_observed_at_and_no_event_id)
{
    json_t *e = obj("{\"tenant_id\":\"t\",\"environment_id\":\"e\",\"reporter_id\":\"r\",\"reporter_started_at\":1,"
                    "\"seq\":1,\"api_calls\":1,\"status_4xx\":0,\"status_5xx\":0,\"exec_ms\":1}");
    cr_assert_eq(tally_kind_prepare(TALLY_KIND_USAGE, e, &fill, err, sizeof err), 0, "%s", err);
    cr_assert_eq(json_integer_value(json_object_get(e, "observed_at")), fill.now_ms);
    cr_assert_null(json_object_get(e, "event_id"), "the schema has none: seq and cumulative counters dedupe");
    json_decref(e);
}

Test(kinds, missing_keys_are_named)
{
    static const struct {
        tally_kind_t kind;
        const char *json, *key;
    } cases[] = {
        {TALLY_KIND_PRODUCT, "{}", "\"event\""},
        {TALLY_KIND_PRODUCT, "{\"event\":null}", "\"event\""},
        {TALLY_KIND_SEAT, "{\"tenant_id\":\"t\",\"op\":\"ASSIGNED\"}", "\"user_id\""},
        {TALLY_KIND_USAGE, "{\"tenant_id\":\"t\",\"environment_id\":\"e\",\"reporter_id\":\"r\"}", "\"reporter_started_at\""},
        {TALLY_KIND_CONTROLPANEL, "{\"payload\":{}}", "\"tenant_id\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *e = obj(cases[i].json);
        cr_assert_eq(tally_kind_prepare(cases[i].kind, e, &fill, err, sizeof err), -1, "case %zu", i);
        cr_assert_not_null(strstr(err, "missing key"), "%s", err);
        cr_assert_not_null(strstr(err, cases[i].key), "case %zu: %s", i, err);
        json_decref(e);
    }
}

Test(kinds, bad_event_ids_and_names_are_refused)
{
    json_t *e = obj("{\"event\":\"x\",\"event_id\":\"42\"}");
    cr_assert_eq(tally_kind_prepare(TALLY_KIND_PRODUCT, e, &fill, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "UUID"));
    json_decref(e);
    e = obj("{\"event\":7}");
    cr_assert_eq(tally_kind_prepare(TALLY_KIND_PRODUCT, e, &fill, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "must be a string"));
    json_decref(e);
}
