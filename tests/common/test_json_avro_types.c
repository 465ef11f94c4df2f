/* Unit tests of common/json_avro on a synthetic schema with the types the
 * catalog does not use yet (int, float, double, null, enums by every name,
 * maps of arrays of UUIDs, a time-micros long, unions of records of one
 * name in two namespaces, a recursive record): round trips, value reuse,
 * bad inputs, nesting and the converter's limits. */
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

/* ---- a synthetic schema with the types the catalog does not use yet ---- */

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

