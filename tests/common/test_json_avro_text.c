/* Unit tests of common/json_avro's text entry point
 * (tally_json_avro_from_text): what only text can hold (duplicate keys,
 * broken UTF-8, bad escapes, numbers beyond 64 bits), its limits, union
 * forms, server-set fields, and reading within the text's length. */
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

