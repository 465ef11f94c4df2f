/*
 * json_avro_fixture.h: what the suites of common/json_avro share
 * (test_json_avro.c: schemas, unions, bad inputs, refusals;
 * test_json_avro_types.c: the types the catalog does not use yet;
 * test_json_avro_text.c: what only text can hold): a converter for a
 * schema, both entry points run and compared, the example events of
 * tests/data/json_avro/examples.json, round trips and rejections. Each
 * suite declares
 *   TestSuite(json_avro, .init = json_avro_examples_load, .fini = json_avro_examples_free);
 */
#ifndef TALLY_TEST_JSON_AVRO_FIXTURE_H
#define TALLY_TEST_JSON_AVRO_FIXTURE_H

#include "json_avro.h"

#include <avro.h>
#include <jansson.h>
#include <stddef.h>

/* A value that must never appear in an error text. */
#define MARKER "SECRET-VALUE-123"
#define CP_BRANCHES                                                                       \
    "TenantRegistered, EnvironmentCreated, EnvironmentDeleted, MemberAdded, MemberRemoved, " \
    "LicenseTermsSet, ApiKeyIssued, ApiKeyRevoked, ConsoleTokenIssued, ConsoleTokenRevoked, LicenseIssued, LicenseRevoked, AlertRulesSet, " \
    "WebhookEndpointSet"

typedef struct fixture_t {
    json_t *schema_json;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    tally_json_avro_t *conv;
} fixture_t;

/* A converter, its schema and a value for the schema text[0..len). */
void fixture_from_text(fixture_t *f, const char *text, size_t len);

/* The same for the latest version of schemas/<name>/ (the one the gateway
 * converts with). */
void fixture_open(fixture_t *f, const char *name);

void fixture_close(fixture_t *f);

/* Converts ev with tally_json_avro_from_json into value (reset first) and
 * its compact text with tally_json_avro_from_text into a fresh value of
 * iface: both must give the same result and error, or equal values.
 * Returns from_json's result; err (may be NULL) gets its message. */
int convert_both(const tally_json_avro_t *conv, avro_value_iface_t *iface, const json_t *ev, avro_value_t *value,
                 char *err, size_t errsize);

/* text as JSON (any value, NUL allowed); a new reference. */
json_t *parse_json(const char *text);

/* The examples of tests/data/json_avro/examples.json, loaded and freed by
 * the suites' TestSuite. */
void json_avro_examples_load(void);
void json_avro_examples_free(void);

/* How many schemas have an example. */
size_t json_avro_examples_count(void);

/* The schema's example which ("in": an event, "out": it as written back);
 * borrowed. */
const json_t *example(const char *schema, const char *which);

/* A new copy of the schema's valid event. */
json_t *example_in(const char *schema);

/* in -> Avro -> JSON (must equal out, if given) -> Avro (must equal the
 * first value). Returns the JSON written (new reference). */
json_t *round_trip(fixture_t *f, const json_t *in, const json_t *expected);

/* A synthetic schema with the types the catalog does not use yet (int,
 * float, double, null, an enum by every name, a map of arrays of UUIDs, a
 * time-micros long, a union of two records named A, a recursive record). */
extern const char kitchen[];

/* ev must be rejected as invalid, with message (NULL: any) and never the
 * value (MARKER) in the error. */
void expect_rejected(fixture_t *f, const json_t *ev, const char *message, const char *what);

#endif /* TALLY_TEST_JSON_AVRO_FIXTURE_H */
