/* Unit tests of common/json_avro: for every schema in schemas/ a valid event
 * converts and round-trips (JSON -> Avro -> JSON -> Avro); every kind of bad
 * input is rejected with its exact path and problem and never with the
 * value (bad values carry MARKER and errbuf must not); converters refuse
 * schemas they cannot serve; the reverse direction writes RFC 3339 times,
 * dates and one-key unions. Every conversion runs through both entry
 * points, the jansson tree (tally_json_avro_from_json) and its text
 * (tally_json_avro_from_text), which must agree on the value or the error;
 * what only text can hold (duplicate keys, broken UTF-8, bad escapes,
 * numbers beyond 64 bits) and server-set fields are tested on the text. */
#include "json_avro.h"

#include "timeutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MARKER "SECRET-VALUE-123"
#define CP_BRANCHES                                                                       \
    "TenantRegistered, EnvironmentCreated, EnvironmentDeleted, MemberAdded, MemberRemoved, " \
    "LicenseTermsSet, ApiKeyIssued, ApiKeyRevoked, ConsoleTokenIssued, ConsoleTokenRevoked"

/* ---- fixtures ---- */

typedef struct fixture_t {
    json_t *schema_json;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    tally_json_avro_t *conv;
} fixture_t;

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long size;

    cr_assert(f != NULL, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    cr_assert(size >= 0);
    rewind(f);
    buf = malloc((size_t)size + 1);
    cr_assert(buf != NULL);
    cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    fclose(f);
    *len = (size_t)size;
    return buf;
}

static void fixture_from_text(fixture_t *f, const char *text, size_t len)
{
    char err[512] = "";
    json_error_t jerr;

    memset(f, 0, sizeof *f);
    f->schema_json = json_loadb(text, len, 0, &jerr);
    cr_assert(f->schema_json != NULL, "schema JSON: %s", jerr.text);
    cr_assert_eq(avro_schema_from_json_length(text, len, &f->schema), 0, "avro-c: %s",
                 avro_strerror());
    f->iface = avro_generic_class_from_schema(f->schema);
    cr_assert(f->iface != NULL);
    cr_assert_eq(avro_generic_value_new(f->iface, &f->value), 0);
    f->conv = tally_json_avro_new(f->schema_json, NULL, err, sizeof err);
    cr_assert(f->conv != NULL, "converter: %s", err);
    cr_assert_eq(tally_json_avro_check_schema(f->conv, f->schema, err, sizeof err), 0, "%s", err);
}

static void fixture_open(fixture_t *f, const char *name)
{
    const char *src = getenv("TALLY_SOURCE_DIR");
    char path[1024];
    size_t len;
    char *text;

    cr_assert(src != NULL, "TALLY_SOURCE_DIR is not set");
    /* The latest version, as the gateway converts with. */
    for (int v = 1;; v++) {
        snprintf(path, sizeof path, "%s/schemas/%s/%d.avsc", src, name, v + 1);
        if (access(path, R_OK) != 0) {
            snprintf(path, sizeof path, "%s/schemas/%s/%d.avsc", src, name, v);
            break;
        }
    }
    text = read_text(path, &len);
    fixture_from_text(f, text, len);
    free(text);
}

static void fixture_close(fixture_t *f)
{
    tally_json_avro_free(f->conv);
    avro_value_decref(&f->value);
    avro_value_iface_decref(f->iface);
    avro_schema_decref(f->schema);
    json_decref(f->schema_json);
}

/* Converts ev with tally_json_avro_from_json into value (reset first) and
 * its compact text with tally_json_avro_from_text into a fresh value of
 * iface: both must give the same result and error, or equal values. A
 * tree can carry NUL, which the text reader refuses as a syntax error.
 * Returns from_json's result; err (may be NULL) gets its message. */
static int convert_both(const tally_json_avro_t *conv, avro_value_iface_t *iface, const json_t *ev,
                        avro_value_t *value, char *err, size_t errsize)
{
    char err2[1024] = "", *text = json_dumps(ev, JSON_COMPACT | JSON_ENCODE_ANY);
    avro_value_t other;
    int rc, rc2;

    cr_assert(text != NULL);
    avro_value_reset(value);
    rc = tally_json_avro_from_json(conv, ev, value, err, errsize);
    cr_assert_eq(avro_generic_value_new(iface, &other), 0);
    rc2 = tally_json_avro_from_text(conv, text, strlen(text), &other, NULL, 0, err2, sizeof err2);
    if (strstr(text, "\\u0000") != NULL) {
        cr_assert_eq(rc2, TALLY_JSON_AVRO_ERR_SYNTAX, "NUL escape: from_text gave %d: %s", rc2, err2);
        cr_assert(strstr(err2, "NUL") != NULL, "%s", err2);
    } else {
        cr_assert_eq(rc2, rc, "from_text gave %d (%s), from_json %d (%s)", rc2, err2, rc,
                     err != NULL ? err : "");
        if (rc != 0 && err != NULL)
            cr_assert_str_eq(err2, err, "from_text and from_json differ");
        if (rc == 0)
            cr_assert(avro_value_equal(value, &other), "from_text and from_json values differ");
    }
    avro_value_decref(&other);
    free(text);
    return rc;
}

static json_t *parse_json(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

    cr_assert(j != NULL, "test JSON: %s: %s", jerr.text, text);
    return j;
}

/* ---- one valid event per schema, and its JSON as written back ----
 * tests/data/json_avro/examples.json: {"<Schema>": {"in": event, "out": as
 * written back}}, one entry per schema folder. */

static json_t *examples;

static void load_examples(void)
{
    const char *data = getenv("TALLY_TEST_DATA");
    char path[1024];
    json_error_t jerr;

    cr_assert(data != NULL, "TALLY_TEST_DATA is not set");
    snprintf(path, sizeof path, "%s/json_avro/examples.json", data);
    examples = json_load_file(path, 0, &jerr);
    cr_assert(examples != NULL, "%s: %s", path, jerr.text);
}

static void free_examples(void)
{
    json_decref(examples);
    examples = NULL;
}

TestSuite(json_avro, .init = load_examples, .fini = free_examples);

static const json_t *example(const char *schema, const char *which)
{
    const json_t *j = json_object_get(json_object_get(examples, schema), which);

    cr_assert(j != NULL, "no example \"%s\" for schema %s", which, schema);
    return j;
}

/* A new copy of the schema's valid event. */
static json_t *example_in(const char *schema)
{
    return json_deep_copy(example(schema, "in"));
}

/* in -> Avro -> JSON (must equal out, if given) -> Avro (must equal the
 * first value). Returns the JSON written (new reference). */
static json_t *round_trip(fixture_t *f, const json_t *in, const json_t *expected)
{
    char err[512] = "";
    avro_value_t second;
    json_t *written = NULL;

    cr_assert_eq(convert_both(f->conv, f->iface, in, &f->value, err, sizeof err), 0,
                 "from_json: %s", err);
    cr_assert_eq(tally_json_avro_to_json(f->conv, &f->value, &written, err, sizeof err), 0,
                 "to_json: %s", err);
    if (expected != NULL && !json_equal(written, expected)) {
        char *got = json_dumps(written, JSON_SORT_KEYS);
        cr_assert_fail("written JSON differs: %s", got);
    }
    cr_assert_eq(avro_generic_value_new(f->iface, &second), 0);
    cr_assert_eq(convert_both(f->conv, f->iface, written, &second, err, sizeof err), 0,
                 "second from_json: %s", err);
    cr_assert(avro_value_equal(&f->value, &second), "second Avro value differs");
    avro_value_decref(&second);
    return written;
}

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
    cr_assert_eq(seen, json_object_size(examples), "examples without schemas");
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

static void expect_rejected(fixture_t *f, const json_t *ev, const char *message, const char *what)
{
    char err[1024] = "";
    int rc;

    rc = convert_both(f->conv, f->iface, ev, &f->value, err, sizeof err);
    cr_assert_eq(rc, TALLY_JSON_AVRO_ERR_INVALID, "%s: accepted (rc %d)", what, rc);
    cr_assert(strstr(err, MARKER) == NULL, "%s: error echoes the value: %s", what, err);
    cr_assert(strstr(err, "SECRET") == NULL, "%s: error echoes the value: %s", what, err);
    if (message != NULL)
        cr_assert_str_eq(err, message, "%s", what);
}

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

/* ---- a synthetic schema with the types the catalog does not use yet ---- */

static const char kitchen[] =
    "{\"type\": \"record\", \"name\": \"Kitchen\", \"namespace\": \"t\", \"fields\": ["
    " {\"name\": \"i\", \"type\": \"int\"},"
    " {\"name\": \"f\", \"type\": \"float\"},"
    " {\"name\": \"d\", \"type\": \"double\"},"
    " {\"name\": \"n\", \"type\": \"null\"},"
    " {\"name\": \"u\", \"type\": [\"null\", \"string\", \"long\"], \"default\": null},"
    " {\"name\": \"c1\", \"type\": {\"type\": \"enum\", \"name\": \"Color\","
    "   \"symbols\": [\"RED\", \"GREEN\"]}, \"default\": \"GREEN\"},"
    " {\"name\": \"c2\", \"type\": \"Color\", \"default\": \"RED\"},"
    " {\"name\": \"c3\", \"type\": \"t.Color\", \"default\": \"RED\"},"
    " {\"name\": \"ids\", \"type\": {\"type\": \"map\", \"values\": {\"type\": \"array\","
    "   \"items\": {\"type\": \"string\", \"logicalType\": \"uuid\"}}}, \"default\": {}},"
    " {\"name\": \"odd\", \"type\": {\"type\": \"long\", \"logicalType\": \"time-micros\"},"
    "   \"default\": 7},"
    " {\"name\": \"pair\", \"type\": [{\"type\": \"record\", \"name\": \"A\", \"namespace\": \"x\","
    "   \"fields\": [{\"name\": \"v\", \"type\": \"int\"}]},"
    "   {\"type\": \"record\", \"name\": \"A\", \"namespace\": \"y\","
    "   \"fields\": [{\"name\": \"type\", \"type\": \"string\"}]}],"
    "   \"default\": {\"v\": 1}},"
    " {\"name\": \"list\", \"type\": [\"null\", {\"type\": \"record\", \"name\": \"Node\","
    "   \"fields\": [{\"name\": \"next\", \"type\": [\"null\", \"Node\"], \"default\": null}]}],"
    "   \"default\": null}"
    "]}";

Test(json_avro, other_types_round_trip)
{
    fixture_t f;
    json_t *in, *out, *expected;

    fixture_from_text(&f, kitchen, strlen(kitchen));
    in = parse_json("{\"i\": -2147483648, \"f\": 1.5, \"d\": 1e300, \"n\": null,"
                    " \"u\": {\"long\": 5}, \"c1\": \"RED\","
                    " \"ids\": {\"a\": [\"AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee\"], \"b\": []},"
                    " \"pair\": {\"y.A\": {\"type\": \"z\"}},"
                    " \"list\": {\"next\": {\"next\": null}}}");
    expected = parse_json(
                     "{\"i\": -2147483648, \"f\": 1.5, \"d\": 1e300, \"n\": null,"
                     " \"u\": {\"long\": 5}, \"c1\": \"RED\", \"c2\": \"RED\", \"c3\": \"RED\","
                     " \"ids\": {\"a\": [\"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\"], \"b\": []},"
                     " \"odd\": 7, \"pair\": {\"y.A\": {\"type\": \"z\"}},"
                     " \"list\": {\"next\": {\"next\": null}}}");
    out = round_trip(&f, in, expected);
    json_decref(expected);
    json_decref(out);
    json_decref(in);
    /* defaults: a union's default is its first branch; a record default */
    in = parse_json("{\"i\": 2147483647, \"f\": 0, \"d\": -1, \"n\": null, \"u\": {\"string\": \"s\"}}");
    expected = parse_json(
                     "{\"i\": 2147483647, \"f\": 0.0, \"d\": -1.0, \"n\": null,"
                     " \"u\": {\"string\": \"s\"}, \"c1\": \"GREEN\", \"c2\": \"RED\", \"c3\": \"RED\","
                     " \"ids\": {}, \"odd\": 7, \"pair\": {\"x.A\": {\"v\": 1}}, \"list\": null}");
    out = round_trip(&f, in, expected);
    json_decref(expected);
    json_decref(out);
    json_decref(in);
    fixture_close(&f);
}

/* One value serves event after event without a reset: each conversion
 * overwrites it whole (maps and arrays emptied, unions switched or kept),
 * even after a conversion that failed half way. */
Test(json_avro, value_reuse_without_reset)
{
    const char *const texts[] = {
        "{\"i\": 1, \"f\": 1, \"d\": 1, \"n\": null, \"u\": {\"string\": \"long string value here\"},"
        " \"ids\": {\"a\": [\"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\"], \"b\": []},"
        " \"list\": {\"next\": {\"next\": null}}, \"pair\": {\"y.A\": {\"type\": \"z\"}}}",
        "{\"i\": 2, \"f\": 2, \"d\": 2, \"n\": null, \"u\": {\"long\": 5}, \"ids\": {\"c\": []}}",
        /* fails in ids after filling part of it */
        "{\"i\": 3, \"f\": 3, \"d\": 3, \"n\": null, \"u\": {\"string\": \"s\"},"
        " \"ids\": {\"x\": [\"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\"], \"y\": [\"bad\"]}}",
        "{\"i\": 4, \"f\": 4, \"d\": 4, \"n\": null, \"u\": {\"string\": \"s\"}, \"list\": null}",
        "{\"i\": 5, \"f\": 5, \"d\": 5, \"n\": null}",
        /* maps: the same keys (kept, values overwritten), more, fewer,
         * another order, a key twice where the old map had two keys */
        "{\"i\": 6, \"f\": 6, \"d\": 6, \"n\": null, \"ids\": {\"a\": [], \"b\": []}}",
        "{\"i\": 7, \"f\": 7, \"d\": 7, \"n\": null,"
        " \"ids\": {\"a\": [\"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\"], \"b\": []}}",
        "{\"i\": 8, \"f\": 8, \"d\": 8, \"n\": null, \"ids\": {\"a\": [], \"b\": [], \"c\": []}}",
        "{\"i\": 9, \"f\": 9, \"d\": 9, \"n\": null, \"ids\": {\"a\": []}}",
        "{\"i\": 10, \"f\": 10, \"d\": 10, \"n\": null, \"ids\": {\"a\": [], \"b\": []}}",
        "{\"i\": 11, \"f\": 11, \"d\": 11, \"n\": null, \"ids\": {\"b\": [], \"a\": []}}",
        "{\"i\": 12, \"f\": 12, \"d\": 12, \"n\": null, \"ids\": {\"b\": [], \"b\": []}}",
    };
    fixture_t f;
    char err[512];

    fixture_from_text(&f, kitchen, strlen(kitchen));
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            avro_value_t fresh;
            int rc = tally_json_avro_from_text(f.conv, texts[i], strlen(texts[i]), &f.value, NULL, 0, err,
                                               sizeof err);
            cr_assert_eq(avro_generic_value_new(f.iface, &fresh), 0);
            int rc2 = tally_json_avro_from_text(f.conv, texts[i], strlen(texts[i]), &fresh, NULL, 0, err,
                                                sizeof err);
            cr_assert_eq(rc, rc2, "text %zu", i);
            if (rc == 0)
                cr_assert(avro_value_equal(&f.value, &fresh), "text %zu: reused value differs", i);
            else if (i == 2)
                cr_assert_str_eq(err, "ids.y[0]: not a UUID (expected 8-4-4-4-12 hex digits)");
            else
                cr_assert_str_eq(err, "ids.b: duplicate map key", "text %zu", i);
            avro_value_decref(&fresh);
        }
    fixture_close(&f);
}

Test(json_avro, other_types_bad_inputs)
{
    static const struct {
        const char *json;
        const char *message;
    } cases[] = {
        {"{\"i\": 2147483648}", "i: integer out of range for int (32 bits)"},
        {"{\"i\": -2147483649}", "i: integer out of range for int (32 bits)"},
        {"{\"i\": \"" MARKER "\"}", "i: expected an integer, got a string"},
        {"{\"f\": \"1.5\"}", "f: expected a number, got a string"},
        {"{\"f\": 1e300}", "f: number out of range for float"},
        {"{\"d\": true}", "d: expected a number, got a boolean"},
        {"{\"n\": 0}", "n: expected null, got an integer"},
        {"{\"u\": \"" MARKER "\"}",
         "u: expected an object naming one branch of the union (null, string, long), got a string"},
        {"{\"u\": {\"int\": 1}}", "u: unknown union branch \"int\" (one of null, string, long)"},
        {"{\"u\": {\"type\": \"string\", \"x\": 1}}",
         "u: expected an object with exactly one key naming the branch (null, string, long), "
         "got 2 keys"},
        {"{\"u\": {\"long\": \"" MARKER "\"}}", "u.long: expected an integer, got a string"},
        {"{\"ids\": {\"a\": [\"" MARKER "\"]}}",
         "ids.a[0]: not a UUID (expected 8-4-4-4-12 hex digits)"},
        {"{\"pair\": {\"A\": {\"v\": 1}}}", "pair: unknown union branch \"A\" (one of x.A, y.A)"},
        {"{\"pair\": {\"x.A\": {\"v\": 1}, \"type\": \"x.A\"}}",
         "pair: expected an object with exactly one key naming the branch (x.A, y.A), got 2 keys"},
    };
    fixture_t f;

    fixture_from_text(&f, kitchen, strlen(kitchen));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *ev = parse_json("{\"i\": 1, \"f\": 1, \"d\": 1, \"n\": null}");
        json_t *set = parse_json(cases[i].json);
        char what[32];

        json_object_update(ev, set);
        snprintf(what, sizeof what, "kitchen case %zu", i);
        expect_rejected(&f, ev, cases[i].message, what);
        json_decref(set);
        json_decref(ev);
    }
    fixture_close(&f);
}

Test(json_avro, nesting_deeper_than_the_limit_is_rejected)
{
    fixture_t f;
    json_t *ev, *chain = json_null();
    char err[1024] = "";
    const char *tail = ": nested deeper than 32 levels";

    fixture_from_text(&f, kitchen, strlen(kitchen));
    for (int i = 0; i < 40; i++)
        chain = json_pack("{so}", "next", chain);
    ev = json_pack("{sisisisnso}", "i", 1, "f", 1, "d", 1, "n", "list", chain);
    cr_assert_eq(convert_both(f.conv, f.iface, ev, &f.value, err, sizeof err),
                 TALLY_JSON_AVRO_ERR_INVALID);
    cr_assert(strncmp(err, "list.next.next.", 15) == 0, "%s", err);
    cr_assert(strlen(err) > strlen(tail) && strcmp(err + strlen(err) - strlen(tail), tail) == 0,
              "%s", err);
    json_decref(ev);
    fixture_close(&f);
}

Test(json_avro, options_set_the_limits)
{
    tally_json_avro_options_t opts = {.max_string_bytes = 40, .max_map_entries = 1,
                                      .max_array_items = 1, .max_map_key_bytes = 2};
    char err[512] = "";
    fixture_t f;
    tally_json_avro_t *conv;
    json_t *ev;

    fixture_open(&f, "ProductEvent");
    conv = tally_json_avro_new(f.schema_json, &opts, err, sizeof err);
    cr_assert(conv != NULL, "%s", err);
    ev = example_in("ProductEvent");
    json_object_set_new(ev, "event", json_string("12345678901234567890123456789012345678901"));
    cr_assert_eq(convert_both(conv, f.iface, ev, &f.value, err, sizeof err),
                 TALLY_JSON_AVRO_ERR_INVALID);
    cr_assert_str_eq(err, "event: string longer than 40 bytes");
    json_object_set_new(ev, "event", json_string("1234567890123456789012345678901234567890"));
    cr_assert_eq(convert_both(conv, f.iface, ev, &f.value, err, sizeof err),
                 TALLY_JSON_AVRO_ERR_INVALID);
    cr_assert_str_eq(err, "properties: map has more than 1 entries");
    json_object_set_new(ev, "properties", json_pack("{ss}", "abc", "v"));
    cr_assert_eq(convert_both(conv, f.iface, ev, &f.value, err, sizeof err),
                 TALLY_JSON_AVRO_ERR_INVALID);
    cr_assert_str_eq(err, "properties[#0]: map key longer than 2 bytes");
    json_object_set_new(ev, "properties", json_pack("{ss}", "ab", "v"));
    cr_assert_eq(convert_both(conv, f.iface, ev, &f.value, NULL, 0), 0);
    /* no error buffer at all is fine */
    json_object_set_new(ev, "event", json_integer(1));
    cr_assert_eq(convert_both(conv, f.iface, ev, &f.value, NULL, 0),
                 TALLY_JSON_AVRO_ERR_INVALID);
    json_decref(ev);
    tally_json_avro_free(conv);
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

/* ---- the text entry point: what only text can hold ---- */

/* text copied into a heap buffer of exactly its length (no terminator), so
 * that the sanitizer build catches a read past the end. */
static int text_into(fixture_t *f, const tally_json_avro_t *conv, const char *text, size_t len,
                     const tally_json_avro_fill_t *fill, size_t n_fill, char *err, size_t errsize)
{
    char *copy = malloc(len ? len : 1);
    int rc;

    cr_assert(copy != NULL);
    memcpy(copy, text, len);
    avro_value_reset(&f->value);
    rc = tally_json_avro_from_text(conv, copy, len, &f->value, fill, n_fill, err, errsize);
    free(copy);
    return rc;
}

static int text_of(fixture_t *f, const char *text, char *err, size_t errsize)
{
    return text_into(f, f->conv, text, strlen(text), NULL, 0, err, errsize);
}

/* The example event's text with its last '}' replaced by tail (a JSON
 * member list starting with ',' and ending with '}'), keys in the example's
 * order. */
static char *example_text(const char *schema, const char *drop, const char *tail)
{
    json_t *ev = example_in(schema);
    char *text, *out;
    size_t len;

    if (drop != NULL)
        cr_assert_eq(json_object_del(ev, drop), 0);
    text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    cr_assert(text != NULL);
    len = strlen(text);
    out = malloc(len + strlen(tail) + 1);
    cr_assert(out != NULL);
    memcpy(out, text, len - 1);
    strcpy(out + len - 1, tail);
    free(text);
    return out;
}

static void expect_text_rejected(fixture_t *f, const char *text, int code, const char *message)
{
    char err[1024] = "";
    int rc = text_of(f, text, err, sizeof err);

    cr_assert_eq(rc, code, "%s: rc %d (%s)", text, rc, err);
    cr_assert(strstr(err, "SECRET") == NULL, "error echoes the value: %s", err);
    if (message != NULL)
        cr_assert_str_eq(err, message, "%s", text);
}

Test(json_avro, text_duplicate_keys_are_rejected)
{
    fixture_t f;
    char *t;

    fixture_open(&f, "ProductEvent");
    t = example_text("ProductEvent", NULL, ",\"install_id\":\"SECRET-1\"}");
    expect_text_rejected(&f, t, TALLY_JSON_AVRO_ERR_INVALID, "duplicate field \"install_id\"");
    free(t);
    /* the same key spelled with an escape is the same key */
    t = example_text("ProductEvent", NULL, ",\"ins\\u0074all_id\":\"SECRET-1\"}");
    expect_text_rejected(&f, t, TALLY_JSON_AVRO_ERR_INVALID, "duplicate field \"install_id\"");
    free(t);
    t = example_text("ProductEvent", "properties",
                     ",\"properties\":{\"template\":\"a\",\"template\":\"SECRET-2\"}}");
    expect_text_rejected(&f, t, TALLY_JSON_AVRO_ERR_INVALID, "properties.template: duplicate map key");
    free(t);
    t = example_text("ProductEvent", "properties",
                     ",\"properties\":{\"k\\u0000\":\"a\",\"ok\":\"b\"}}");
    expect_text_rejected(&f, t, TALLY_JSON_AVRO_ERR_SYNTAX, NULL);
    free(t);
    t = example_text("ProductEvent", "error",
                     ",\"error\":{\"message\":\"m\",\"message\":\"SECRET-3\"}}");
    expect_text_rejected(&f, t, TALLY_JSON_AVRO_ERR_INVALID, "error: duplicate field \"message\"");
    free(t);
    fixture_close(&f);

    fixture_open(&f, "ControlPanelEvent");
    t = example_text("ControlPanelEvent", "payload",
                     ",\"payload\":{\"type\":\"MemberRemoved\",\"member_id\":\"m\",\"type\":\"x\"}}");
    expect_text_rejected(&f, t, TALLY_JSON_AVRO_ERR_INVALID,
                         "payload.MemberRemoved: duplicate field \"type\"");
    free(t);
    t = example_text("ControlPanelEvent", "payload",
                     ",\"payload\":{\"type\":\"MemberRemoved\",\"member_id\":\"m\",\"member_id\":\"n\"}}");
    expect_text_rejected(&f, t, TALLY_JSON_AVRO_ERR_INVALID,
                         "payload.MemberRemoved: duplicate field \"member_id\"");
    free(t);
    fixture_close(&f);
}

/* Not JSON: a syntax error naming line, column and the kind of problem,
 * whatever part of the text fits the schema. */
Test(json_avro, text_that_is_not_json_is_a_syntax_error)
{
    static const struct {
        const char *text;
        const char *problem; /* a substring of the message */
    } cases[] = {
        {"{\"event_id\": \"SECRET", "unterminated string"},
        {"{\"event\": \"x\",}", "trailing comma"},
        {"{\"properties\": {\"a\": \"b\",}}", "trailing comma"},
        {"{'event': 'SECRET'}", "object key"},
        {"{event: SECRET}", "object key"},
        {"{\"seq\": 01}", "leading zero"},
        {"{\"seq\": +1}", "unexpected character"},
        {"{\"seq\": .5}", "unexpected character"},
        {"{\"seq\": 1.}", "digit must follow"},
        {"{\"seq\": 1e}", "exponent"},
        {"{\"seq\": -}", "invalid number"},
        {"{\"seq\": 9223372036854775808}", "64 bits"},
        {"{\"seq\": -9223372036854775809}", "64 bits"},
        {"{\"seq\": 1e400}", "range of a double"},
        {"{\"seq\": tru}", "literal"},
        {"{\"seq\": nul}", "literal"},
        {"\xEF\xBB\xBF{}", "unexpected character"},
        {"{\"event\": \"\xC3\x28SECRET\"}", "UTF-8"},
        {"{\"event\": \"\xC0\xAFSECRET\"}", "UTF-8"},
        {"{\"event\": \"\xE0\x80\xAFSECRET\"}", "UTF-8"},
        {"{\"event\": \"\xED\xA0\x80SECRET\"}", "UTF-8"},
        {"{\"event\": \"\xF4\x90\x80\x80SECRET\"}", "UTF-8"},
        {"{\"event\": \"\xF8\x88\x80\x80\x80SECRET\"}", "UTF-8"},
        {"{\"event\": \"\x80SECRET\"}", "UTF-8"},
        {"{\"event\": \"\xE2\x82\"}", "UTF-8"},
        {"{\"\xFFSECRET\": 1}", "UTF-8"},
        {"{\"event\": \"\\ud800SECRET\"}", "surrogate"},
        {"{\"event\": \"\\udc00SECRET\"}", "surrogate"},
        {"{\"event\": \"\\ud800\\u0041SECRET\"}", "surrogate"},
        {"{\"event\": \"a\\u0000SECRET\"}", "NUL"},
        {"{\"event\": \"\\xSECRET\"}", "invalid escape"},
        {"{\"event\": \"\\u12G4SECRET\"}", "\\u escape"},
        {"{\"event\": \"\x01SECRET\"}", "control character"},
        {"{\"event\": \"a\tSECRET\"}", "control character"},
        {"{} {}", "data after"},
        {"{}SECRET", "data after"},
        {"{\"SECRET\": 1} x", "data after"},
        {"{\"event\": 5, \"x\": }", "unexpected character"},
        {"", "end of input"},
        {"   ", "end of input"},
        {"{\"event\"", "end of input"},
        {"{\"event\" 5}", "':'"},
        {"{\"a\":1 \"b\":2}", "expected ','"},
        {"[1 2]", "expected ','"},
    };
    fixture_t f;

    fixture_open(&f, "UsageReport");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        int rc = text_of(&f, cases[i].text, err, sizeof err);

        cr_assert_eq(rc, TALLY_JSON_AVRO_ERR_SYNTAX, "case %zu (%s): rc %d: %s", i, cases[i].text, rc,
                     err);
        cr_assert(strncmp(err, "invalid JSON at line 1 column ", 30) == 0, "case %zu: %s", i, err);
        cr_assert(strstr(err, cases[i].problem) != NULL, "case %zu: %s", i, err);
        cr_assert(strstr(err, "SECRET") == NULL, "case %zu echoes the value: %s", i, err);
    }
    /* where: line and column (bytes) of the offending byte */
    expect_text_rejected(&f, "{\"seq\":\n   01}", TALLY_JSON_AVRO_ERR_SYNTAX,
                         "invalid JSON at line 2 column 4: invalid number (leading zero)");
    /* nesting deeper than the reader's limit where a string belongs */
    {
        size_t n = 3000, len = 0;
        char *deep = malloc(2 * n + 32);
        cr_assert(deep != NULL);
        len += (size_t)sprintf(deep, "{\"tenant_id\":");
        memset(deep + len, '[', n);
        len += n;
        memset(deep + len, ']', n);
        len += n;
        deep[len++] = '}';
        char err[512] = "";
        cr_assert_eq(text_into(&f, f.conv, deep, len, NULL, 0, err, sizeof err),
                     TALLY_JSON_AVRO_ERR_SYNTAX);
        cr_assert(strstr(err, "depth") != NULL, "%s", err);
        free(deep);
    }
    fixture_close(&f);
}

/* The shape of a container first, as the tree walk reported it: an unknown
 * field or too many entries before a bad value inside. */
Test(json_avro, text_reports_unknown_fields_before_bad_values)
{
    fixture_t f;
    char *t;

    fixture_open(&f, "ProductEvent");
    expect_text_rejected(&f, "{\"event_id\": 5, \"SECRET-1\": 1, \"other\": 2}", TALLY_JSON_AVRO_ERR_INVALID,
                         "unknown field (name not shown: not a valid Avro name)");
    expect_text_rejected(&f, "{\"event_id\": 5, \"age\": 1}", TALLY_JSON_AVRO_ERR_INVALID,
                         "unknown field \"age\"");
    expect_text_rejected(&f, "{\"error\": {\"message\": 5, \"code\": 1}, \"event_id\": 5}",
                         TALLY_JSON_AVRO_ERR_INVALID, "error: unknown field \"code\"");
    t = example_text("ProductEvent", NULL, ",\"nope\":1}");
    expect_text_rejected(&f, t, TALLY_JSON_AVRO_ERR_INVALID, "unknown field \"nope\"");
    free(t);
    fixture_close(&f);
}

Test(json_avro, text_escapes_and_utf8_are_decoded)
{
    fixture_t f;
    avro_value_t field;
    const char *s;
    size_t size;
    char err[512] = "";
    char *t;
    const char expect[] = "caf\xC3\xA9 \xF0\x9F\x98\x80 \"q\" \\ / \b\f\n\r\t \xE2\x82\xAC\xC3\xA9";

    fixture_open(&f, "ProductEvent");
    t = example_text("ProductEvent", "install_id",
                     ",\"\\u0069nstall_id\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t "
                     "\xE2\x82\xAC\xC3\xA9\"}");
    cr_assert_eq(text_of(&f, t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(avro_value_get_by_name(&f.value, "install_id", &field, NULL), 0);
    cr_assert_eq(avro_value_get_string(&field, &s, &size), 0);
    cr_assert_eq(size, sizeof expect);
    cr_assert_eq(memcmp(s, expect, sizeof expect), 0);
    free(t);
    /* an upper-case UUID given with escapes is stored in lower case */
    t = example_text("ProductEvent", "event_id",
                     ",\"event_id\":\"\\u0037F0C4E0A-1B2C-4D3E-8F90-A1B2C3D4E5F6\"}");
    cr_assert_eq(text_of(&f, t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(avro_value_get_by_name(&f.value, "event_id", &field, NULL), 0);
    cr_assert_eq(avro_value_get_string(&field, &s, &size), 0);
    cr_assert_str_eq(s, "7f0c4e0a-1b2c-4d3e-8f90-a1b2c3d4e5f6");
    free(t);
    fixture_close(&f);
}

/* String limits count decoded bytes: 20 x "\u00e9" is 40 bytes. */
Test(json_avro, text_limits_count_decoded_bytes)
{
    tally_json_avro_options_t opts = {.max_string_bytes = 40};
    char err[512] = "", text[512];
    fixture_t f;
    tally_json_avro_t *conv;

    fixture_open(&f, "SeatEvent");
    conv = tally_json_avro_new(f.schema_json, &opts, err, sizeof err);
    cr_assert(conv != NULL, "%s", err);
    for (int n = 20; n <= 21; n++) {
        size_t len = (size_t)snprintf(text, sizeof text,
                                      "{\"event_id\":\"7f0c4e0a-1b2c-4d3e-8f90-a1b2c3d4e5f6\","
                                      "\"tenant_id\":\"t\",\"op\":\"ASSIGNED\",\"occurred_at\":1,"
                                      "\"user_id\":\"");
        for (int i = 0; i < n; i++)
            len += (size_t)snprintf(text + len, sizeof text - len, "\\u00e9");
        len += (size_t)snprintf(text + len, sizeof text - len, "\"}");
        int rc = text_into(&f, conv, text, len, NULL, 0, err, sizeof err);
        if (n == 20)
            cr_assert_eq(rc, 0, "%s", err);
        else
            cr_assert_str_eq(err, "user_id: string longer than 40 bytes");
    }
    tally_json_avro_free(conv);
    fixture_close(&f);
}

Test(json_avro, text_numbers)
{
    static const struct {
        const char *text;
        const char *message; /* NULL: accepted */
    } cases[] = {
        {"{\"i\": -0, \"f\": -0.0, \"d\": 0e0, \"n\": null}", NULL},
        {"{\"i\": 1, \"f\": 3.4e38, \"d\": 1.7976931348623157e308, \"n\": null}", NULL},
        {"{\"i\": 1, \"f\": 1, \"d\": 4.9e-324, \"n\": null}", NULL},
        {"{\"i\": 1, \"f\": 1E-2, \"d\": -1E+2, \"n\": null}", NULL},
        {"{\"i\": 1.0, \"f\": 1, \"d\": 1, \"n\": null}", "i: expected an integer, got a real number"},
        {"{\"i\": 1e2, \"f\": 1, \"d\": 1, \"n\": null}", "i: expected an integer, got a real number"},
        {"{\"i\": 1, \"f\": 3.5e38, \"d\": 1, \"n\": null}", "f: number out of range for float"},
        {"{\"i\": 1, \"f\": 1, \"d\": 1, \"n\": null, \"u\": {\"long\": 9223372036854775807}}", NULL},
        {"{\"i\": 1, \"f\": 1, \"d\": 1, \"n\": null, \"u\": {\"long\": -9223372036854775808}}", NULL},
        {"{\"i\": 1, \"f\": 1, \"d\": 1, \"n\": null, \"u\": {\"long\": 1.5}}",
         "u.long: expected an integer, got a real number"},
    };
    fixture_t f;

    fixture_from_text(&f, kitchen, strlen(kitchen));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        int rc = text_of(&f, cases[i].text, err, sizeof err);

        if (cases[i].message == NULL)
            cr_assert_eq(rc, 0, "case %zu: %s", i, err);
        else
            cr_assert_str_eq(err, cases[i].message, "case %zu", i);
    }
    {
        avro_value_t field;
        int64_t l;
        int b;
        char err[512] = "";
        cr_assert_eq(text_of(&f, cases[8].text, err, sizeof err), 0, "%s", err);
        cr_assert_eq(avro_value_get_by_name(&f.value, "u", &field, NULL), 0);
        cr_assert_eq(avro_value_get_discriminant(&field, &b), 0);
        cr_assert_eq(b, 2);
        cr_assert_eq(avro_value_get_current_branch(&field, &field), 0);
        cr_assert_eq(avro_value_get_long(&field, &l), 0);
        cr_assert_eq(l, INT64_MIN);
    }
    fixture_close(&f);
}

Test(json_avro, text_union_forms)
{
    fixture_t f;
    char err[512] = "";
    char *t;

    fixture_open(&f, "ControlPanelEvent");
    /* whitespace everywhere, an escaped branch name, "type" last */
    t = example_text("ControlPanelEvent", "payload",
                     " , \"payload\" : { \"\\u004DemberRemoved\" : { \"member_id\" : \"m\" } } \n}");
    cr_assert_eq(text_of(&f, t, err, sizeof err), 0, "%s", err);
    free(t);
    t = example_text("ControlPanelEvent", "payload",
                     ",\"payload\":{\"member_id\":\"m\",\"type\":\"tally.MemberRemoved\"}}");
    cr_assert_eq(text_of(&f, t, err, sizeof err), 0, "%s", err);
    free(t);
    t = example_text("ControlPanelEvent", "payload", ",\"payload\":{\"MemberRemoved\":{\"member_id\":\"m\"},}}");
    expect_text_rejected(&f, t, TALLY_JSON_AVRO_ERR_SYNTAX, NULL);
    free(t);
    t = example_text("ControlPanelEvent", "payload", ",\"payload\":{\"type\":[],\"member_id\":\"m\"}}");
    expect_text_rejected(&f, t, TALLY_JSON_AVRO_ERR_INVALID,
                         "payload.type: expected a string naming a branch (" CP_BRANCHES "), got an array");
    free(t);
    fixture_close(&f);
}

/* A fill's make: numbered ids, counting its calls. */
static void make_id(void *arg, char *buf, size_t size)
{
    int *made = arg;
    snprintf(buf, size, "\"00000000-0000-4000-8000-%012d\"", ++*made);
}

/* Server-set fields: always (the sender's value is read and ignored) or
 * only when missing; checked like the sender's values. */
Test(json_avro, text_server_set_fields)
{
    const tally_json_avro_fill_t fill[] = {
        {"received_at", "1714566896001", NULL, NULL, true},
        {"event_id", "\"AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee\"", NULL, NULL, false},
    };
    int made = 0;
    const tally_json_avro_fill_t lazy[] = {
        {"received_at", "1714566896001", NULL, NULL, true},
        {"event_id", NULL, make_id, &made, false},
    };
    fixture_t f;
    avro_value_t field;
    const char *s;
    size_t size;
    int64_t ms;
    char err[512] = "";
    char *t;

    fixture_open(&f, "ProductEvent");
    /* the sender's received_at (even of the wrong type) is replaced, its
     * event_id is kept */
    t = example_text("ProductEvent", "received_at", ",\"received_at\":\"SECRET\"}");
    cr_assert_eq(text_into(&f, f.conv, t, strlen(t), fill, 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(avro_value_get_by_name(&f.value, "received_at", &field, NULL), 0);
    cr_assert_eq(avro_value_get_long(&field, &ms), 0);
    cr_assert_eq(ms, 1714566896001);
    cr_assert_eq(avro_value_get_by_name(&f.value, "event_id", &field, NULL), 0);
    cr_assert_eq(avro_value_get_string(&field, &s, &size), 0);
    cr_assert_str_eq(s, "7f0c4e0a-1b2c-4d3e-8f90-a1b2c3d4e5f6");
    cr_assert_eq(text_into(&f, f.conv, t, strlen(t), lazy, 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(made, 0, "the sender's id is kept: nothing made");
    free(t);
    /* missing in the text: both from the fill */
    {
        json_t *ev = example_in("ProductEvent");
        json_object_del(ev, "received_at");
        json_object_del(ev, "event_id");
        t = json_dumps(ev, JSON_COMPACT);
        json_decref(ev);
    }
    cr_assert_eq(text_into(&f, f.conv, t, strlen(t), fill, 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(avro_value_get_by_name(&f.value, "event_id", &field, NULL), 0);
    cr_assert_eq(avro_value_get_string(&field, &s, &size), 0);
    cr_assert_str_eq(s, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    /* made only when missing */
    cr_assert_eq(text_into(&f, f.conv, t, strlen(t), lazy, 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(made, 1);
    cr_assert_eq(avro_value_get_by_name(&f.value, "event_id", &field, NULL), 0);
    cr_assert_eq(avro_value_get_string(&field, &s, &size), 0);
    cr_assert_str_eq(s, "00000000-0000-4000-8000-000000000001");
    /* without the fill, event_id is required */
    cr_assert_eq(text_into(&f, f.conv, t, strlen(t), fill, 1, err, sizeof err), TALLY_JSON_AVRO_ERR_INVALID);
    cr_assert_str_eq(err, "event_id: required field is missing");
    free(t);
    /* a replaced value is still JSON, and still given once */
    t = example_text("ProductEvent", "received_at", ",\"received_at\":[1,}");
    cr_assert_eq(text_into(&f, f.conv, t, strlen(t), fill, 2, err, sizeof err), TALLY_JSON_AVRO_ERR_SYNTAX);
    free(t);
    t = example_text("ProductEvent", "received_at", ",\"received_at\":1,\"received_at\":2}");
    cr_assert_eq(text_into(&f, f.conv, t, strlen(t), fill, 2, err, sizeof err), TALLY_JSON_AVRO_ERR_INVALID);
    cr_assert_str_eq(err, "duplicate field \"received_at\"");
    free(t);
    /* the caller's mistakes are internal errors */
    t = example_text("ProductEvent", NULL, "}");
    {
        const tally_json_avro_fill_t bad_value[] = {{"received_at", "\"yesterday\"", NULL, NULL, true}};
        const tally_json_avro_fill_t bad_field[] = {{"arrived_at", "1", NULL, NULL, true}};
        cr_assert_eq(text_into(&f, f.conv, t, strlen(t), bad_value, 1, err, sizeof err),
                     TALLY_JSON_AVRO_ERR_INTERNAL);
        cr_assert_str_eq(err, "received_at: not an RFC 3339 timestamp: not in the form "
                              "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM) (in the server-set value)");
        cr_assert_eq(text_into(&f, f.conv, t, strlen(t), bad_field, 1, err, sizeof err),
                     TALLY_JSON_AVRO_ERR_INTERNAL);
    }
    free(t);
    fixture_close(&f);
}

/* The text need not end with NUL; nothing past len is read. */
Test(json_avro, text_is_read_within_its_length)
{
    fixture_t f;
    char err[512] = "";
    char *t = example_text("SeatEvent", NULL, "}   trailing bytes that are not JSON");
    size_t len = strchr(t, '}') - t;

    /* example_text's last '}' is the only one: the event ends there */
    fixture_open(&f, "SeatEvent");
    cr_assert_eq(text_into(&f, f.conv, t, len + 1, NULL, 0, err, sizeof err), 0, "%s", err);
    cr_assert_eq(text_into(&f, f.conv, t, len, NULL, 0, err, sizeof err), TALLY_JSON_AVRO_ERR_SYNTAX);
    cr_assert_eq(text_into(&f, f.conv, t, len / 2, NULL, 0, err, sizeof err), TALLY_JSON_AVRO_ERR_SYNTAX);
    free(t);
    fixture_close(&f);
}
