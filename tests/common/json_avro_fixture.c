/* The fixtures of the json_avro suites (json_avro_fixture.h). */
#include "json_avro_fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- fixtures ---- */

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

void fixture_from_text(fixture_t *f, const char *text, size_t len)
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

void fixture_open(fixture_t *f, const char *name)
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

void fixture_close(fixture_t *f)
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
int convert_both(const tally_json_avro_t *conv, avro_value_iface_t *iface, const json_t *ev,
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

json_t *parse_json(const char *text)
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

void json_avro_examples_load(void)
{
    const char *data = getenv("TALLY_TEST_DATA");
    char path[1024];
    json_error_t jerr;

    cr_assert(data != NULL, "TALLY_TEST_DATA is not set");
    snprintf(path, sizeof path, "%s/json_avro/examples.json", data);
    examples = json_load_file(path, 0, &jerr);
    cr_assert(examples != NULL, "%s: %s", path, jerr.text);
}

void json_avro_examples_free(void)
{
    json_decref(examples);
    examples = NULL;
}

size_t json_avro_examples_count(void)
{
    return json_object_size(examples);
}

const json_t *example(const char *schema, const char *which)
{
    const json_t *j = json_object_get(json_object_get(examples, schema), which);

    cr_assert(j != NULL, "no example \"%s\" for schema %s", which, schema);
    return j;
}

/* A new copy of the schema's valid event. */
json_t *example_in(const char *schema)
{
    return json_deep_copy(example(schema, "in"));
}

/* in -> Avro -> JSON (must equal out, if given) -> Avro (must equal the
 * first value). Returns the JSON written (new reference). */
json_t *round_trip(fixture_t *f, const json_t *in, const json_t *expected)
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


void expect_rejected(fixture_t *f, const json_t *ev, const char *message, const char *what)
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

const char kitchen[] =
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
