/* Unit tests of common/json_avro: for every schema in schemas/ a valid event
 * converts and round-trips (JSON -> Avro -> JSON -> Avro); every kind of bad
 * input is rejected with its exact path and problem and never with the
 * value (bad values carry MARKER and errbuf must not); converters refuse
 * schemas they cannot serve; the reverse direction writes RFC 3339 times,
 * dates and one-key unions. Every conversion runs through both entry
 * points, the jansson tree (tally_json_avro_from_json) and its text
 * (tally_json_avro_from_text), which must agree on the value or the error;
 * what only text can hold (duplicate keys, broken UTF-8, bad escapes,
 * numbers beyond 64 bits) and server-set fields are tested on the text
 * (test_json_avro_text.c), the types the catalog does not use yet in
 * test_json_avro_types.c; json_avro_fixture.h holds what they share. */
#include "json_avro.h"
#include "json_avro_fixture.h"

#include "timeutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(json_avro, .init = json_avro_examples_load, .fini = json_avro_examples_free);

/* Every schema folder has an example, and the example round-trips. */
Test(json_avro, every_schema_converts_and_round_trips)
{
    const char *src = getenv("TALLY_SOURCE_DIR");
    char dir[1024];
    struct dirent *de;
    size_t seen = 0;
    DIR *d;

    cr_assert(src != NULL);
    snprintf(dir, sizeof dir, "%s/schemas", src);
    d = opendir(dir);
    cr_assert(d != NULL);
    while ((de = readdir(d)) != NULL) {
        char path[1400];
        fixture_t f;
        json_t *in;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/1.avsc", dir, de->d_name);
        if (access(path, R_OK) != 0)
            continue;
        fixture_open(&f, de->d_name);
        in = example_in(de->d_name);
        json_decref(round_trip(&f, in, example(de->d_name, "out")));
        json_decref(in);
        fixture_close(&f);
        seen++;
    }
    closedir(d);
    cr_assert_eq(seen, json_avro_examples_count(), "examples without schemas");
}

/* Reusing one value for many events (reset between) neither leaks nor
 * carries data over. */
Test(json_avro, value_reuse_across_events)
{
    fixture_t f;
    json_t *a = example_in("ProductEvent");
    json_t *b = example_in("ProductEventClean");
    char err[256];

    fixture_open(&f, "ProductEvent");
    json_object_del(b, "install_ref");
    json_object_set_new(b, "install_id", json_string("i2"));
    for (int i = 0; i < 2000; i++) {
        json_t *out;

        cr_assert_eq(convert_both(f.conv, f.iface, i % 2 ? a : b, &f.value, err, sizeof err),
                     0, "%s", err);
        cr_assert_eq(tally_json_avro_to_json(f.conv, &f.value, &out, err, sizeof err), 0);
        cr_assert_eq(json_object_size(json_object_get(out, "properties")), i % 2 ? 2 : 0);
        cr_assert(json_is_null(json_object_get(out, "error")) == !(i % 2));
        json_decref(out);
    }
    json_decref(a);
    json_decref(b);
    fixture_close(&f);
}

/* ---- ControlPanelEvent unions: every branch, every accepted form ---- */

static const char *const cp_payloads[][2] = {
    {"TenantRegistered", "{\"name\": \"Acme\"}"},
    {"EnvironmentCreated",
     "{\"environment_id\": \"e1\", \"name\": \"prod\", \"kind\": \"production\", \"owner\": \"m1\"}"},
    {"EnvironmentDeleted", "{\"environment_id\": \"e1\"}"},
    {"MemberAdded",
     "{\"member_id\": \"m1\", \"first_name\": \"A\", \"last_name\": \"B\", \"email\": \"a@b.c\","
     " \"role\": \"viewer\"}"},
    {"MemberRemoved", "{\"member_id\": \"m1\"}"},
    {"LicenseTermsSet",
     "{\"seats_max\": 10, \"monthly_api_calls_max\": 1000000, \"daily_api_calls_max_nonprod\": 5000,"
     " \"features\": [\"sso\", \"audit\"], \"valid_from\": \"2024-01-01\", \"valid_until\": 20088}"},
    {"ApiKeyIssued", "{\"key_id\": \"k1\", \"environment_id\": \"e1\", \"key_sha256\": \"ab\"}"},
    {"ApiKeyRevoked", "{\"key_id\": \"k1\"}"},
    /* version 2 */
    {"ConsoleTokenIssued",
     "{\"token_id\": \"7e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b\", \"member_id\": \"m1\", \"token_sha256\": \"ab\","
     " \"expires_at\": \"2024-03-02T00:00:00Z\"}"},
    {"ConsoleTokenRevoked", "{\"token_id\": \"7e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b\"}"},
    /* version 3 */
    {"LicenseIssued",
     "{\"license_id\": \"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0\", \"kind\": \"personal_dev\", \"member_id\": \"m1\","
     " \"valid_from\": \"2026-12-07T00:00:00Z\", \"valid_until\": \"2027-01-06T00:00:00Z\", \"key_id\": \"k\","
     " \"payload_sha256\": \"ab\", \"payload\": \"{}\"}"},
    {"LicenseRevoked", "{\"license_id\": \"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0\", \"reason\": \"left\"}"},
    /* version 4 */
    {"AlertRulesSet", "{\"api_calls_percent\": [80, 100, 150], \"nonprod_daily_percent\": [100], \"seats_percent\": []}"},
    {"WebhookEndpointSet", "{\"url\": \"https://hooks.example.com/t\", \"secret_sealed\": \"AAEC\", \"key_id\": \"wh-1\"}"},
};

static json_t *cp_event(json_t *payload)
{
    json_t *ev = example_in("ControlPanelEvent");

    json_object_set_new(ev, "payload", payload);
    return ev;
}

Test(json_avro, union_branches_in_tagged_full_name_and_flat_forms)
{
    fixture_t f;

    fixture_open(&f, "ControlPanelEvent");
    for (size_t i = 0; i < sizeof cp_payloads / sizeof cp_payloads[0]; i++) {
        const char *name = cp_payloads[i][0];
        char full[64];
        json_t *body = parse_json(cp_payloads[i][1]);
        json_t *tagged = cp_event(json_pack("{sO}", name, body));
        json_t *written = round_trip(&f, tagged, NULL);
        json_t *wp = json_object_get(written, "payload");
        avro_value_t first, branch;
        int disc;

        /* written in the one-key form with the short name */
        cr_assert_eq(json_object_size(wp), 1);
        cr_assert(json_object_get(wp, name) != NULL, "%s", name);
        cr_assert_eq(avro_value_get_by_name(&f.value, "payload", &first, NULL), 0);
        cr_assert_eq(avro_value_get_discriminant(&first, &disc), 0);
        cr_assert_eq(disc, (int)i);
        cr_assert_eq(avro_value_get_current_branch(&first, &branch), 0);

        /* the full name and the flat form give the same value */
        snprintf(full, sizeof full, "tally.%s", name);
        json_t *by_full = cp_event(json_pack("{sO}", full, body));
        json_t *flat_body = json_deep_copy(body);
        json_object_set_new(flat_body, "type", json_string(name));
        json_t *flat = cp_event(flat_body);
        json_t *flat_full = cp_event(json_deep_copy(flat_body));
        json_object_set_new(json_object_get(flat_full, "payload"), "type", json_string(full));
        json_t *forms[] = {by_full, flat, flat_full};
        for (size_t k = 0; k < 3; k++) {
            json_t *again = round_trip(&f, forms[k], NULL);
            cr_assert(json_equal(again, written), "%s form %zu", name, k);
            json_decref(again);
            json_decref(forms[k]);
        }
        json_decref(written);
        json_decref(tagged);
        json_decref(body);
    }
    fixture_close(&f);
}

Test(json_avro, defaults_fill_missing_fields)
{
    fixture_t f;
    char err[512];
    json_t *ev, *out, *terms;

    fixture_open(&f, "ControlPanelEvent");
    ev = cp_event(parse_json("{\"LicenseTermsSet\": {\"seats_max\": 1, \"monthly_api_calls_max\": 2,"
                             " \"daily_api_calls_max_nonprod\": 3, \"valid_from\": 19844,"
                             " \"valid_until\": \"2025-05-01\"}}"));
    cr_assert_eq(convert_both(f.conv, f.iface, ev, &f.value, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tally_json_avro_to_json(f.conv, &f.value, &out, err, sizeof err), 0, "%s", err);
    terms = json_object_get(json_object_get(out, "payload"), "LicenseTermsSet");
    cr_assert(json_is_array(json_object_get(terms, "features")));
    cr_assert_eq(json_array_size(json_object_get(terms, "features")), 0);
    cr_assert_str_eq(json_string_value(json_object_get(terms, "valid_from")), "2024-05-01");
    json_decref(out);
    json_decref(ev);
    fixture_close(&f);
}

/* ---- bad inputs ---- */



/* tests/data/json_avro/bad_inputs.json: [{"schema", "set" (merged
 * recursively into the schema's example), "del" (a top-level key removed),
 * "error" (the whole expected message)}]. */
Test(json_avro, bad_inputs_name_the_path_and_problem_never_the_value)
{
    const char *data = getenv("TALLY_TEST_DATA");
    char path[1024];
    json_error_t jerr;
    json_t *cases, *c;
    size_t i;

    snprintf(path, sizeof path, "%s/json_avro/bad_inputs.json", data ? data : ".");
    cases = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    cr_assert(json_is_array(cases), "%s: %s", path, jerr.text);
    cr_assert_geq(json_array_size(cases), 40);
    json_array_foreach(cases, i, c) {
        const char *schema = json_string_value(json_object_get(c, "schema"));
        const char *del = json_string_value(json_object_get(c, "del"));
        json_t *set = json_object_get(c, "set");
        json_t *ev = example_in(schema);
        char what[128];
        fixture_t f;

        if (set != NULL)
            cr_assert_eq(json_object_update_recursive(ev, set), 0);
        if (del != NULL)
            cr_assert_eq(json_object_del(ev, del), 0);
        snprintf(what, sizeof what, "case %zu (%s)", i, schema);
        fixture_open(&f, schema);
        expect_rejected(&f, ev, json_string_value(json_object_get(c, "error")), what);
        json_decref(ev);
        fixture_close(&f);
    }
    json_decref(cases);
}

/* Cases easier to build in code than as a merge. */
Test(json_avro, bad_inputs_built_in_code)
{
    fixture_t f;
    json_t *ev, *props, *big;
    char *s;

    fixture_open(&f, "ProductEvent");
    /* a string over the cap, the marker inside */
    ev = example_in("ProductEvent");
    s = malloc(70001);
    cr_assert(s != NULL);
    memset(s, 'x', 70000);
    memcpy(s + 100, MARKER, strlen(MARKER));
    s[70000] = '\0';
    json_object_set_new(ev, "install_id", json_string(s));
    expect_rejected(&f, ev, "install_id: string longer than 65536 bytes", "long string");
    /* a map key over the cap */
    props = json_object();
    json_object_set_new(props, s + 69000, json_string("v"));
    json_object_set_new(ev, "install_id", json_string("i"));
    json_object_set_new(ev, "properties", props);
    expect_rejected(&f, ev, "properties[#0]: map key longer than 256 bytes", "long key");
    /* keys holding NUL (jansson's parser refuses them, but a json_t can
     * carry them): an unknown field and a bad map key */
    json_object_set_new(ev, "properties", json_object());
    json_object_setn_new(ev, "event_id\0" MARKER, strlen(MARKER) + 9, json_string("x"));
    expect_rejected(&f, ev, "unknown field (name not shown: not a valid Avro name)", "NUL in key");
    json_object_deln(ev, "event_id\0" MARKER, strlen(MARKER) + 9);
    json_object_setn_new(json_object_get(ev, "properties"), "k\0" MARKER, strlen(MARKER) + 2,
                         json_string("v"));
    expect_rejected(&f, ev, "properties[#0]: map key contains a NUL character", "NUL in map key");
    /* too many map entries */
    props = json_object();
    for (int i = 0; i < 65; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(props, key, json_string(MARKER));
    }
    json_object_set_new(ev, "properties", props);
    expect_rejected(&f, ev, "properties: map has more than 64 entries", "big map");
    /* deep JSON where a string belongs */
    big = json_string(MARKER);
    for (int i = 0; i < 1000; i++)
        big = json_pack("[o]", big);
    json_object_set_new(ev, "properties", json_pack("{so}", "template", big));
    expect_rejected(&f, ev, "properties.template: expected a string, got an array", "deep json");
    /* the root is not an object */
    json_decref(ev);
    ev = json_pack("[s]", MARKER);
    expect_rejected(&f, ev, "expected an object, got an array", "root array");
    json_decref(ev);
    free(s);
    fixture_close(&f);

    fixture_open(&f, "ControlPanelEvent");
    /* an array over the cap */
    big = json_array();
    for (int i = 0; i < 257; i++)
        json_array_append_new(big, json_string(MARKER));
    ev = cp_event(json_pack("{s{sisisisOsisi}}", "LicenseTermsSet", "seats_max", 1,
                            "monthly_api_calls_max", 2, "daily_api_calls_max_nonprod", 3,
                            "features", big, "valid_from", 1, "valid_until", 2));
    expect_rejected(&f, ev, "payload.LicenseTermsSet.features: array has more than 256 items",
                    "long array");
    json_array_clear(big);
    json_array_append_new(big, json_string("sso"));
    json_array_append_new(big, json_stringn(MARKER "\0", strlen(MARKER) + 1));
    expect_rejected(&f, ev, "payload.LicenseTermsSet.features[1]: string contains a NUL character",
                    "NUL in array item");
    json_array_set_new(big, 1, json_integer(7));
    expect_rejected(&f, ev, "payload.LicenseTermsSet.features[1]: expected a string, got an integer",
                    "int in array");
    json_array_set_new(big, 1, json_string("audit"));
    json_object_set_new(json_object_get(json_object_get(ev, "payload"), "LicenseTermsSet"),
                        "valid_until", json_string("2024-02-30"));
    expect_rejected(&f, ev,
                    "payload.LicenseTermsSet.valid_until: not a date: no such date (month or day "
                    "out of range)", "bad date in union branch");
    json_decref(ev);
    json_decref(big);

    /* unknown branches, by a showable and an unshowable name; zero keys */
    ev = cp_event(json_pack("{s{}}", "Nope"));
    expect_rejected(&f, ev, "payload: unknown union branch \"Nope\" (one of " CP_BRANCHES ")",
                    "unknown branch");
    json_decref(ev);
    ev = cp_event(json_pack("{s{}}", MARKER));
    expect_rejected(&f, ev, "payload: unknown union branch (one of " CP_BRANCHES ")",
                    "unknown unshowable branch");
    json_decref(ev);
    ev = cp_event(json_object());
    expect_rejected(&f, ev, "payload: expected an object with exactly one key naming the branch ("
                    CP_BRANCHES "), got 0 keys", "no branch");
    json_decref(ev);
    /* the flat form: bad tag, unknown tag, missing field, unknown field */
    ev = cp_event(json_pack("{si}", "type", 5));
    expect_rejected(&f, ev, "payload.type: expected a string naming a branch (" CP_BRANCHES
                    "), got an integer", "flat int tag");
    json_decref(ev);
    ev = cp_event(json_pack("{sssi}", "type", MARKER, "seats_max", 1));
    expect_rejected(&f, ev, "payload.type: not a branch of the union (one of " CP_BRANCHES ")",
                    "flat unknown tag");
    json_decref(ev);
    ev = cp_event(json_pack("{ss}", "type", "MemberRemoved"));
    expect_rejected(&f, ev, "payload.MemberRemoved.member_id: required field is missing",
                    "flat missing field");
    json_decref(ev);
    ev = cp_event(json_pack("{sssssi}", "type", "MemberRemoved", "member_id", "m", "age", 5));
    expect_rejected(&f, ev, "payload.MemberRemoved: unknown field \"age\"", "flat unknown field");
    json_decref(ev);
    ev = cp_event(json_pack("{sss{ss}}", "type", "MemberRemoved", "MemberRemoved", "member_id",
                            MARKER));
    expect_rejected(&f, ev, "payload.MemberRemoved: unknown field \"MemberRemoved\"",
                    "flat and tagged at once");
    json_decref(ev);
    ev = cp_event(json_pack("{s{ssssssss}}", "EnvironmentCreated", "environment_id", "e",
                            "name", "n", "kind", MARKER, "owner", "o"));
    expect_rejected(&f, ev, "payload.EnvironmentCreated.kind: not a symbol of EnvironmentKind "
                    "(one of production, staging, development)", "bad enum in branch");
    json_decref(ev);
    fixture_close(&f);
}

/* ---- schemas a converter refuses; values of another schema ---- */

Test(json_avro, refuses_schemas_it_cannot_serve)
{
    static const struct {
        const char *schema;
        const char *message;
    } cases[] = {
        {"\"string\"", "schema (root): the schema must be a record, not string"},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"b\", \"type\": \"bytes\"}]}",
         "schema b: type bytes is not supported"},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"x\", \"type\": \"Nope\"}]}",
         "schema x: unknown type name \"Nope\""},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"x\","
         " \"type\": [\"null\", [\"int\"]]}]}",
         "schema x: a union cannot hold a union"},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"x\","
         " \"type\": [\"int\", \"int\"]}]}",
         "schema x: union has two branches of type int"},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"x\", \"type\": \"int\"},"
         " {\"name\": \"x\", \"type\": \"int\"}]}",
         "schema (root): record R has two fields \"x\""},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"x\", \"type\": \"int\","
         " \"default\": \"a\"}]}",
         "R.x: expected an integer, got a string (in the schema's default)"},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"x\","
         " \"type\": [\"null\", \"int\"], \"default\": 1}]}",
         "R.x: expected null, got an integer (in the schema's default)"},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"x\","
         " \"type\": {\"type\": \"long\", \"logicalType\": \"timestamp-millis\"}, \"default\": -5}]}",
         "R.x: timestamp outside 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z (in the "
         "schema's default)"},
        {"{\"type\": \"record\", \"name\": \"R\"}", "schema (root): record R needs a \"fields\" array"},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"e\", \"type\":"
         " {\"type\": \"enum\", \"name\": \"E\", \"symbols\": []}}]}",
         "schema e: enum E needs a non-empty \"symbols\" array"},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"r\", \"type\": \"R\"},"
         " {\"name\": \"s\", \"type\": {\"type\": \"record\", \"name\": \"R\", \"fields\": []}}]}",
         "schema s: type \"R\" is defined twice"},
        {"not json", NULL},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        tally_json_avro_t *conv =
            tally_json_avro_new_text(cases[i].schema, strlen(cases[i].schema), NULL, err, sizeof err);

        cr_assert(conv == NULL, "schema %zu accepted", i);
        if (cases[i].message != NULL)
            cr_assert_str_eq(err, cases[i].message, "schema %zu", i);
        else
            cr_assert(strncmp(err, "schema is not JSON", 18) == 0, "%s", err);
    }
    tally_json_avro_free(NULL);
}

Test(json_avro, detects_values_and_schemas_of_another_shape)
{
    fixture_t seat, clean;
    json_t *ev = example_in("SeatEvent");
    json_t *out = (json_t *)1;
    char err[512] = "";

    fixture_open(&seat, "SeatEvent");
    fixture_open(&clean, "SeatEventClean");
    cr_assert_eq(tally_json_avro_check_schema(seat.conv, clean.schema, err, sizeof err),
                 TALLY_JSON_AVRO_ERR_INTERNAL);
    cr_assert_str_eq(err, "avro-c schema differs at (root): named SeatEventClean, expected "
                          "tally.SeatEvent");
    cr_assert_eq(tally_json_avro_from_json(seat.conv, ev, &clean.value, err, sizeof err),
                 TALLY_JSON_AVRO_ERR_INTERNAL);
    cr_assert_str_eq(err, "value is not a tally.SeatEvent record");
    cr_assert_eq(tally_json_avro_from_text(seat.conv, "{}", 2, &clean.value, NULL, 0, err, sizeof err),
                 TALLY_JSON_AVRO_ERR_INTERNAL);
    cr_assert_str_eq(err, "value is not a tally.SeatEvent record");
    cr_assert_eq(tally_json_avro_to_json(seat.conv, &clean.value, &out, err, sizeof err),
                 TALLY_JSON_AVRO_ERR_INTERNAL);
    cr_assert(out == NULL);
    json_decref(ev);
    fixture_close(&clean);
    fixture_close(&seat);
}

/* ---- the reverse direction's own errors ---- */

Test(json_avro, to_json_rejects_values_json_cannot_carry)
{
    fixture_t f;
    json_t *ev = example_in("SeatRollup"), *out = NULL;
    avro_value_t field;
    char err[512] = "";

    fixture_open(&f, "SeatRollup");
    cr_assert_eq(convert_both(f.conv, f.iface, ev, &f.value, err, sizeof err), 0, "%s", err);
    cr_assert_eq(avro_value_get_by_name(&f.value, "updated_at", &field, NULL), 0);
    cr_assert_eq(avro_value_set_long(&field, TALLY_TIME_MAX_MS + 1), 0);
    cr_assert_eq(tally_json_avro_to_json(f.conv, &f.value, &out, err, sizeof err),
                 TALLY_JSON_AVRO_ERR_INVALID);
    cr_assert_str_eq(err, "updated_at: timestamp outside years 0000-9999");
    cr_assert(out == NULL);
    /* before 1970 is written (only reading rejects it) */
    cr_assert_eq(avro_value_set_long(&field, -1), 0);
    cr_assert_eq(tally_json_avro_to_json(f.conv, &f.value, &out, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(json_string_value(json_object_get(out, "updated_at")),
                     "1969-12-31T23:59:59.999Z");
    json_decref(out);
    cr_assert_eq(avro_value_set_long(&field, 0), 0);
    cr_assert_eq(avro_value_get_by_name(&f.value, "day", &field, NULL), 0);
    cr_assert_eq(avro_value_set_int(&field, INT32_MAX), 0);
    cr_assert_eq(tally_json_avro_to_json(f.conv, &f.value, &out, err, sizeof err),
                 TALLY_JSON_AVRO_ERR_INVALID);
    cr_assert_str_eq(err, "day: date outside years 0000-9999");
    cr_assert_eq(avro_value_set_int(&field, 0), 0);
    cr_assert_eq(avro_value_get_by_name(&f.value, "tenant_id", &field, NULL), 0);
    cr_assert_eq(avro_value_set_string(&field, "\xff\xfe"), 0);
    cr_assert_eq(tally_json_avro_to_json(f.conv, &f.value, &out, err, sizeof err),
                 TALLY_JSON_AVRO_ERR_INVALID);
    cr_assert_str_eq(err, "tenant_id: string is not valid UTF-8");
    json_decref(ev);
    fixture_close(&f);
}

